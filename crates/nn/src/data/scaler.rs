//! Per-feature standardisation.

use autograd::{Float, Tensor};

/// Standardises each column: `(x - mean) / std`, with the mean and standard deviation of the
/// rows it was fitted on.
///
/// Fit on the training rows only and transform every split with the same scaler, so that the
/// test rows tell nothing about the statistics. The standard deviation is the population one
/// (divide by `n`). A constant column (every fitted value equal, like the always-blank border
/// pixels of the digits) has standard deviation 0; it is divided by 1 instead, so it maps to 0
/// on the fitted rows and stays finite everywhere.
///
/// ```
/// use autograd::Tensor;
/// use nn::data::StandardScaler;
/// // Column 0 has mean 3 and std 2; column 1 is constant.
/// let train = Tensor::from_rows(&[[1.0f64, 5.0], [5.0, 5.0]]);
/// let scaler = StandardScaler::fit(&train);
/// assert_eq!(scaler.transform(&train).data(), &[-1.0, 0.0, 1.0, 0.0]);
/// assert_eq!(scaler.transform(&Tensor::from_rows(&[[4.0, 7.0]])).data(), &[0.5, 2.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StandardScaler<T> {
    mean: Vec<T>,
    scale: Vec<T>,
}

impl<T: Float> StandardScaler<T> {
    /// The per-column mean and standard deviation of `features` (shape `[n, d]`), accumulated
    /// in `f64`.
    ///
    /// # Panics
    /// If `features` is not a matrix or has no rows.
    pub fn fit(features: &Tensor<T>) -> Self {
        let (rows, cols) = features.shape().matrix("StandardScaler::fit");
        assert!(rows > 0, "StandardScaler::fit: no rows to fit on");
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
            let m = column().sum::<f64>() / n;
            let variance = column().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
            mean.push(T::from_f64(m));
            scale.push(T::from_f64(variance.sqrt()));
        }
        StandardScaler { mean, scale }
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
                *x = (*x - m) / s;
            }
        }
        out
    }

    /// The fitted mean of each column.
    pub fn mean(&self) -> &[T] {
        &self.mean
    }

    /// What each column is divided by: its standard deviation, or 1 for a constant column.
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
        let scaler = StandardScaler::fit(&train);
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
        let z = StandardScaler::fit(&train).transform(&train);
        assert!(z.data().iter().all(|&x| x == 0.0));
    }

    #[test]
    fn f32_training_rows_come_out_with_mean_zero_and_std_one() {
        let mut rng = StdRng::seed_from_u64(5);
        let x = Tensor::<f32>::rand_normal([500, 3], 40.0, 7.0, &mut rng);
        let z = StandardScaler::fit(&x).transform(&x);
        for j in 0..3 {
            let col: Vec<f64> = z.rows().map(|r| f64::from(r[j])).collect();
            let mean = col.iter().sum::<f64>() / 500.0;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 500.0;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-5, "column {j}: mean {mean}, var {var}");
        }
    }

    #[test]
    #[should_panic(expected = "StandardScaler::transform: fitted on 2 columns, got 3")]
    fn transform_checks_the_column_count() {
        let scaler = StandardScaler::fit(&Tensor::from_rows(&[[1.0f32, 2.0]]));
        scaler.transform(&Tensor::from_rows(&[[1.0f32, 2.0, 3.0]]));
    }

    #[test]
    #[should_panic(expected = "StandardScaler::fit: no rows to fit on")]
    fn fit_needs_rows() {
        StandardScaler::fit(&Tensor::<f32>::zeros([0, 4]));
    }
}
