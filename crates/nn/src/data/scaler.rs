//! Per-feature standardisation.

use super::DataError;
use tapegrad_autograd::{Float, Tensor};

/// A column whose standard deviation is below `CONSTANT_RELATIVE * epsilon * max|x|` (epsilon
/// of the element type) is treated as constant: its values differ only in their last few bits,
/// so dividing by that spread would blow rounding noise up to the size of a real feature.
pub const CONSTANT_RELATIVE: f64 = 4.0;

/// Standardises each column: `(x - mean) / std`, with the mean and standard deviation of the
/// rows it was fitted on.
///
/// Fit on the training rows only and transform every split with the same scaler, so that the
/// test rows tell nothing about the statistics. The standard deviation is the population one
/// (divide by `n`). A constant column (every fitted value equal, like the always-blank border
/// pixels of the digits) has standard deviation 0; it is divided by 1 instead, so it maps to 0
/// on the fitted rows and stays finite everywhere. So is a nearly constant one, whose standard
/// deviation is below [`CONSTANT_RELATIVE`] epsilons of its largest magnitude, or below the
/// smallest normal number of the element type (`f32::MIN_POSITIVE`, `f64::MIN_POSITIVE`),
/// where it could round to 0 in `T`: such a column is only shifted, `x - mean`.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::data::StandardScaler;
/// // Column 0 has mean 3 and std 2; column 1 is constant.
/// let train = Tensor::from_rows(&[[1.0f64, 5.0], [5.0, 5.0]]);
/// let scaler = StandardScaler::fit(&train)?;
/// assert_eq!(scaler.transform(&train).data(), &[-1.0, 0.0, 1.0, 0.0]);
/// assert_eq!(scaler.transform(&Tensor::from_rows(&[[4.0, 7.0]])).data(), &[0.5, 2.0]);
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StandardScaler<T> {
    mean: Vec<T>,
    scale: Vec<T>,
}

impl<T: Float> StandardScaler<T> {
    /// The per-column mean and standard deviation of `features` (shape `[n, d]`), in two passes
    /// in `f64` over the column divided by its largest magnitude, so that no sum overflows
    /// (`[1e308, 1e308, 0]` in `f64`) and no deviation underflows.
    ///
    /// # Errors
    /// [`DataError::NonFiniteFeature`] naming the first NaN or infinite value (row-major order).
    ///
    /// # Panics
    /// If `features` is not a matrix or has no rows.
    pub fn fit(features: &Tensor<T>) -> Result<Self, DataError> {
        let (rows, cols) = features.shape().matrix("StandardScaler::fit");
        assert!(rows > 0, "StandardScaler::fit: no rows to fit on");
        if let Some(k) = features.data().iter().position(|x| !x.is_finite()) {
            let value = features.data()[k].to_f64();
            return Err(DataError::NonFiniteFeature { row: k / cols, column: k % cols, value });
        }
        let (epsilon, smallest_normal) = if T::NAME == "f32" {
            (f64::from(f32::EPSILON), f64::from(f32::MIN_POSITIVE))
        } else {
            (f64::EPSILON, f64::MIN_POSITIVE)
        };
        let n = rows as f64;
        let mut mean = Vec::with_capacity(cols);
        let mut scale = Vec::with_capacity(cols);
        for j in 0..cols {
            let column = || features.rows().map(|r| r[j].to_f64());
            let first = features.row(0)[j].to_f64();
            if column().all(|x| x == first) {
                // Use the value itself, not a rounded sum / n, so the column maps to exactly 0.
                mean.push(T::from_f64(first));
                scale.push(T::ONE);
                continue;
            }
            // Not all equal, so the largest magnitude is positive; the scaled values are in [-1, 1].
            let max_abs = column().fold(0.0, |a: f64, x| a.max(x.abs()));
            let scaled = || column().map(|x| x / max_abs);
            let m = scaled().sum::<f64>() / n;
            let variance = scaled().map(|u| (u - m) * (u - m)).sum::<f64>() / n;
            let (m, sd) = (m * max_abs, variance.sqrt() * max_abs);
            mean.push(T::from_f64(m));
            let constant = sd < CONSTANT_RELATIVE * epsilon * max_abs || sd < smallest_normal;
            scale.push(if constant { T::ONE } else { T::from_f64(sd) });
        }
        Ok(StandardScaler { mean, scale })
    }

    /// `(x - mean) / std` for each column of `features`, which may be other rows than the fitted
    /// ones.
    ///
    /// # Panics
    /// If `features` is not a matrix with as many columns as the fitted one.
    pub fn transform(&self, features: &Tensor<T>) -> Tensor<T> {
        let (_, cols) = features.shape().matrix("StandardScaler::transform");
        assert_eq!(
            cols,
            self.mean.len(),
            "StandardScaler::transform: fitted on {} columns, got {cols}",
            self.mean.len()
        );
        let mut out = features.clone();
        for row in out.data_mut().chunks_exact_mut(cols) {
            for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                let d = *x - m;
                // x - mean overflows when both are near the largest float with opposite signs.
                *x = if d.is_finite() { d / s } else { *x / s - m / s };
            }
        }
        out
    }

    /// A scaler from its parts, as [`mean`](Self::mean) and [`scale`](Self::scale) return them
    /// (what [`io::load_scaler`](crate::io) reads back from a saved model, for instance).
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// use tapegrad_nn::data::StandardScaler;
    /// let fitted = StandardScaler::fit(&Tensor::from_rows(&[[1.0f32, 5.0], [5.0, 5.0]]))?;
    /// let rebuilt = StandardScaler::from_parts(fitted.mean().to_vec(), fitted.scale().to_vec());
    /// assert_eq!(rebuilt, fitted);
    /// # Ok::<(), tapegrad_nn::data::DataError>(())
    /// ```
    ///
    /// # Panics
    /// If `mean` and `scale` differ in length, or a mean is not finite, or a scale is not finite
    /// and positive.
    pub fn from_parts(mean: Vec<T>, scale: Vec<T>) -> Self {
        assert_eq!(
            mean.len(),
            scale.len(),
            "StandardScaler::from_parts: {} means but {} scales",
            mean.len(),
            scale.len()
        );
        if let Some(j) = mean.iter().position(|m| !m.is_finite()) {
            panic!("StandardScaler::from_parts: mean {j} is {}, not finite", mean[j].to_f64());
        }
        if let Some(j) = scale.iter().position(|s| !(s.is_finite() && *s > T::ZERO)) {
            panic!("StandardScaler::from_parts: scale {j} is {}, not finite and positive", scale[j].to_f64());
        }
        StandardScaler { mean, scale }
    }

    /// The fitted mean of each column.
    pub fn mean(&self) -> &[T] {
        &self.mean
    }

    /// What each column is divided by: its standard deviation, or 1 for a (nearly) constant column.
    pub fn scale(&self) -> &[T] {
        &self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn hand_computed_mean_and_std() {
        // Column 0: mean 40 / 8 = 5; squared deviations 9+1+1+1+0+0+4+16 = 32, / 8 = 4, std 2.
        // Column 1: constant 3, so mean 3 and scale 1.
        let col0 = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let rows: Vec<[f64; 2]> = col0.iter().map(|&x| [x, 3.0]).collect();
        let train = Tensor::from_rows(&rows);
        let scaler = StandardScaler::fit(&train).unwrap();
        assert_eq!(scaler.mean(), &[5.0, 3.0]);
        assert_eq!(scaler.scale(), &[2.0, 1.0]);
        let z = scaler.transform(&train);
        let col0_z: Vec<f64> = z.rows().map(|r| r[0]).collect();
        assert_eq!(col0_z, [-1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 1.0, 2.0]);
        assert!(z.rows().all(|r| r[1] == 0.0));
        // Unseen rows use the training statistics; the constant column is only shifted.
        let test = Tensor::from_rows(&[[7.0, 3.0], [5.0, 10.0]]);
        assert_eq!(scaler.transform(&test).data(), &[1.0, 0.0, 0.0, 7.0]);
    }

    #[test]
    fn a_constant_column_of_non_representable_values_maps_to_exactly_zero() {
        // 0.1 summed 7 times and divided by 7 is not 0.1 in floating point.
        let train = Tensor::from_vec([7, 1], vec![0.1f64; 7]);
        assert_ne!((0..7).map(|_| 0.1f64).sum::<f64>() / 7.0, 0.1);
        let z = StandardScaler::fit(&train).unwrap().transform(&train);
        assert!(z.data().iter().all(|&x| x == 0.0));
    }

    #[test]
    fn f32_training_rows_come_out_with_mean_zero_and_std_one() {
        let mut rng = StdRng::seed_from_u64(5);
        let x = Tensor::<f32>::rand_normal([500, 3], 40.0, 7.0, &mut rng);
        let z = StandardScaler::fit(&x).unwrap().transform(&x);
        for j in 0..3 {
            let col: Vec<f64> = z.rows().map(|r| f64::from(r[j])).collect();
            let mean = col.iter().sum::<f64>() / 500.0;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 500.0;
            // The mean and scale are rounded to f32 (relative 6e-8: 2.4e-6 at 40, 3.4e-7 of a
            // standard deviation), and x - mean and the division round by 6e-8 of each z (|z| < 4
            // here): the errors sum to about 1e-6, so 1e-5 has margin and still catches a scale
            // off by one part in 1e5.
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-5, "column {j}: mean {mean}, var {var}");
        }
    }

    /// The mean and population variance of column `j` of `z`, in f64.
    fn moments<T: Float>(z: &Tensor<T>, j: usize) -> (f64, f64) {
        let col: Vec<f64> = z.rows().map(|r| r[j].to_f64()).collect();
        let n = col.len() as f64;
        let mean = col.iter().sum::<f64>() / n;
        (mean, col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
    }

    #[test]
    fn f64_training_rows_come_out_with_mean_zero_and_std_one_at_any_magnitude() {
        let mut rng = StdRng::seed_from_u64(6);
        let base = Tensor::<f64>::rand_normal([400, 1], 3.0, 2.0, &mut rng);
        for magnitude in [1e-300, 1.0, 1e300] {
            let x = Tensor::from_vec([400, 1], base.data().iter().map(|v| v * magnitude).collect());
            let z = StandardScaler::fit(&x).unwrap().transform(&x);
            assert!(z.all_finite(), "magnitude {magnitude}");
            let (mean, var) = moments(&z, 0);
            // A few roundings of 1.1e-16 per value, at |z| < 5, and sums of 400 of them: 1e-13
            // allows 200 ulps, while a scale off by one part in 1e13 would fail.
            assert!(mean.abs() < 1e-13 && (var - 1.0).abs() < 1e-13, "magnitude {magnitude}: {mean}, {var}");
        }
    }

    #[test]
    fn an_f32_column_of_a_subnormal_spread_is_shifted_not_divided_by_zero() {
        // Its standard deviation, 7e-46, rounds to 0 in f32: dividing by it made inf.
        let x = Tensor::from_vec([2, 1], vec![0.0f32, 1e-45]);
        let scaler = StandardScaler::fit(&x).unwrap();
        assert_eq!(scaler.scale(), &[1.0]);
        let z = scaler.transform(&x);
        assert!(z.all_finite(), "{:?}", z.data());
        // Only shifted: the two values stay one smallest subnormal apart.
        assert_eq!(z.data()[1] - z.data()[0], 1e-45);
    }

    #[test]
    fn f64_columns_near_the_largest_float_do_not_overflow() {
        // The sum 2e308 overflows f64; [1e308, 1e308, 0] has mean 2e308/3 and std sqrt(2)/3 1e308.
        let x = Tensor::from_vec([3, 2], vec![1e308, 1e308, 1e308, -1e308, 0.0, -1e308]);
        let scaler = StandardScaler::fit(&x).unwrap();
        // The mean is 2/3 rounded, times 1e308 rounded: within 2 ulps (2.2e-16 relative each).
        let expected_mean = 2.0 / 3.0 * 1e308;
        assert!((scaler.mean()[0] - expected_mean).abs() <= 4.5e-16 * expected_mean, "{:?}", scaler.mean());
        let z = scaler.transform(&x);
        assert!(z.all_finite(), "{:?}", z.data());
        // Column 0 is (1/sqrt 2, 1/sqrt 2, -sqrt 2) exactly; column 1 (mean -1e308/3, where
        // 1e308 - mean overflowed before) is (sqrt 2, -1/sqrt 2, -1/sqrt 2). A few roundings
        // each, at 2.2e-16 relative: 1e-15 absolute.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let expected = [h, 2.0 * h, h, -h, -2.0 * h, -h];
        for (k, (z, e)) in z.data().iter().zip(expected).enumerate() {
            assert!((z - e).abs() < 1e-15, "element {k}: {z} vs {e}");
        }
    }

    #[test]
    fn a_column_that_varies_only_in_its_last_bits_is_treated_as_constant() {
        // 0.1 and the next f64 up: a spread of rounding noise, 7e-17 of the magnitude.
        let up = f64::from_bits(0.1f64.to_bits() + 1);
        let x = Tensor::from_vec([4, 2], vec![0.1, 1.0, up, 1.0001, 0.1, 1.0, up, 1.0001]);
        let scaler = StandardScaler::fit(&x).unwrap();
        assert_eq!(scaler.scale()[0], 1.0);
        // A real spread of 1e-4 relative is scaled as usual: std 5e-5.
        assert!((scaler.scale()[1] - 5e-5).abs() < 1e-12, "{:?}", scaler.scale());
        assert!(scaler.transform(&x).all_finite());
    }

    #[test]
    fn non_finite_features_are_an_error_naming_row_and_column() {
        for (bad, shown) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (f32::NEG_INFINITY, "-inf")] {
            let mut x = Tensor::<f32>::zeros([3, 4]);
            x.data_mut()[2 * 4 + 1] = bad;
            x.data_mut()[2 * 4 + 3] = bad; // a later one is not the one reported
            let err = StandardScaler::fit(&x).unwrap_err();
            assert!(matches!(err, DataError::NonFiniteFeature { row: 2, column: 1, .. }), "{err:?}");
            assert_eq!(
                err.to_string(),
                format!(
                    "StandardScaler::fit: the feature at row 2, column 1 (from 0) is {shown}; features must be finite"
                )
            );
        }
    }

    #[test]
    #[should_panic(expected = "StandardScaler::transform: fitted on 2 columns, got 3")]
    fn transform_checks_the_column_count() {
        let scaler = StandardScaler::fit(&Tensor::from_rows(&[[1.0f32, 2.0]])).unwrap();
        scaler.transform(&Tensor::from_rows(&[[1.0f32, 2.0, 3.0]]));
    }

    #[test]
    #[should_panic(expected = "StandardScaler::fit: no rows to fit on")]
    fn fit_needs_rows() {
        let _ = StandardScaler::fit(&Tensor::<f32>::zeros([0, 4]));
    }
}
