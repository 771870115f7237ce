//! Picking one entry per row by class index, and the negative log-likelihood built on it.

use crate::{Float, InputGrad, Op, Shape, Tensor, Var};

/// `y_i = x[i, label_i]` for `x: [n, c]`: `dx[i, label_i] = g_i`, zero elsewhere.
pub struct Pick {
    /// One class index per row.
    pub labels: Vec<usize>,
}

impl Pick {
    fn check<T: Float>(&self, x: &Tensor<T>) -> (usize, usize) {
        Self::check_labels(&self.labels, x, "pick")
    }

    /// `(rows, classes)` of `x`, after checking it is a matrix with one in-range label per row.
    fn check_labels<T: Float>(labels: &[usize], x: &Tensor<T>, op: &str) -> (usize, usize) {
        let (n, c) = match x.shape().dims() {
            &[n, c] => (n, c),
            _ => panic!("{op}: expected a [batch, classes] matrix, got shape {}", x.shape()),
        };
        assert_eq!(labels.len(), n, "{op}: {} labels for {n} rows (shape {})", labels.len(), x.shape());
        if let Some((row, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= c) {
            panic!("{op}: label {label} at row {row} is out of range for {c} classes");
        }
        (n, c)
    }
}

impl<T: Float> Op<T> for Pick {
    fn name(&self) -> String {
        "pick".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: &mut Tensor<T>) {
        let x = inputs[0];
        let (n, c) = self.check(x);
        out.assign([n], self.labels.iter().enumerate().map(|(i, &l)| x.data()[i * c + l]));
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let c = inputs[0].shape().last_dim();
        // A scatter: the rest of the row gets no contribution, so start from zeros.
        let gx = gx.tensor().data_mut();
        for (i, (&l, &g)) in self.labels.iter().zip(g.data()).enumerate() {
            gx[i * c + l] += g;
        }
    }
}

/// `y = -(1/N) sum_i x[i, label_i]` for `x: [N, c]` (row log-probabilities): the mean negative
/// log-likelihood, `dx[i, label_i] = -g / N`. One node, where `pick`, `mean` and `neg` would be
/// three: it runs once per training step.
///
/// Its inputs are `x` and the labels as an `[N]` constant of class indices stored as floats
/// (exact below 2^24): data on the tape like any other, so that recording the loss every step
/// reuses a tape buffer where a label list inside the op would be a new allocation.
/// [`Var::nll`] records both.
pub struct Nll;

impl Nll {
    /// `(rows, classes)`, after checking `x` is a matrix with one in-range class index per row.
    fn check<T: Float>(x: &Tensor<T>, labels: &Tensor<T>) -> (usize, usize) {
        let (n, c) = match x.shape().dims() {
            &[n, c] => (n, c),
            _ => panic!("nll: expected a [batch, classes] matrix, got shape {}", x.shape()),
        };
        assert_eq!(labels.numel(), n, "nll: {} labels for {n} rows (shape {})", labels.numel(), x.shape());
        // A class index is an integer below c: truncating it gives it back. (A cast, not
        // `fract`, which is a libm call per label on a baseline x86-64 build.)
        let is_class = |l: T| {
            let i = l.to_f64() as usize;
            i < c && i as f64 == l.to_f64()
        };
        if let Some((row, &l)) = labels.data().iter().enumerate().find(|&(_, &l)| !is_class(l)) {
            panic!("nll: label {l} at row {row} is not a class index below {c}");
        }
        (n, c)
    }
}

impl<T: Float> Op<T> for Nll {
    fn name(&self) -> String {
        "nll".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(2)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: &mut Tensor<T>) {
        let (x, labels) = (inputs[0], inputs[1]);
        let (n, c) = Nll::check(x, labels);
        let picked = labels.data().iter().enumerate().map(|(i, &l)| x.data()[i * c + l.to_f64() as usize]);
        out.assign(Shape::scalar(), [-picked.sum::<T>() / T::from_f64(n.max(1) as f64)]);
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        // The labels are piecewise constant: no gradient for them (their slot, if any, stays 0).
        let Some(gx) = &mut grads[0] else { return };
        let (x, labels) = (inputs[0], inputs[1]);
        let c = x.shape().last_dim();
        let scaled = -g.item() / T::from_f64(labels.numel().max(1) as f64);
        // A scatter: the rest of the row gets no contribution, so start from zeros.
        let gx = gx.tensor().data_mut();
        for (i, &l) in labels.data().iter().enumerate() {
            gx[i * c + l.to_f64() as usize] += scaled;
        }
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `self[i, labels[i]]` for each row `i` of a `[batch, classes]` matrix.
    ///
    /// # Panics
    /// If `self` is not a matrix, the number of labels is not the number of rows, or a label is
    /// out of range: `pick: label 12 at row 3 is out of range for 10 classes`.
    pub fn pick(self, labels: &[usize]) -> Var<'t, T> {
        self.apply(Pick { labels: labels.to_vec() }, &[])
    }

    /// Negative log-likelihood of `labels` under row log-probabilities `self`, averaged over
    /// the batch: `-mean_i self[i, labels[i]]`. Apply it to [`log_softmax`](Var::log_softmax)
    /// for cross-entropy.
    ///
    /// # Panics
    /// As [`pick`](Var::pick), with `nll` in the message; also if a label cannot be stored exactly
    /// in `T` (above 2^24 for `f32`).
    pub fn nll(self, labels: &[usize]) -> Var<'t, T> {
        // Checked here, against the usize labels, for the message `pick` gives.
        self.with_value(|x| Pick::check_labels(labels, x, "nll"));
        // The labels go on the tape as floats; one that `T` cannot hold exactly (above 2^24 in
        // f32) would round to another class's index.
        if let Some((row, &l)) = labels.iter().enumerate().find(|&(_, &l)| T::from_f64(l as f64).to_f64() != l as f64) {
            panic!(
                "nll: label {l} at row {row} cannot be stored exactly as {} (class indices above 2^24 need f64)",
                T::NAME
            );
        }
        let labels = self.tape().constant_map([labels.len()], labels.iter().map(|&l| T::from_f64(l as f64)));
        self.apply(Nll, &[labels])
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    #[test]
    fn cross_entropy_gradient_is_softmax_minus_onehot_over_n() {
        let tape = Tape::<f64>::new();
        let logits = tape.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]));
        let loss = logits.log_softmax().nll(&[2, 0]);
        let grads = loss.backward();
        let p = logits.value().softmax();
        let onehot = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        for ((g, p), y) in grads[logits].data().iter().zip(p.data()).zip(onehot) {
            assert!((g - (p - y) / 2.0).abs() < 1e-15, "{g} vs {}", (p - y) / 2.0);
        }
    }

    #[test]
    fn nll_equals_minus_the_mean_of_the_picked_entries() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_rows(&[[-1.0, -2.0, -3.0], [-0.5, -0.25, -4.0]]));
        let fused = x.nll(&[2, 1]);
        let composed = x.pick(&[2, 1]).mean().neg();
        // -(x[0,2] + x[1,1]) / 2 = -(-3 - 0.25) / 2 = 1.625
        assert_eq!(fused.item(), 1.625);
        assert_eq!(composed.item(), 1.625);
        let (gf, gc) = (fused.backward(), composed.backward());
        assert_eq!(gf[x].data(), gc[x].data());
        assert_eq!(gf[x].data(), &[0.0, 0.0, -0.5, 0.0, -0.5, 0.0]);
    }

    #[test]
    #[should_panic(expected = "nll: label 1.5 at row 1 is not a class index below 3")]
    fn nll_applied_by_hand_rejects_labels_that_are_not_class_indices() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::zeros([2, 3]));
        let labels = tape.constant(Tensor::from_vec([2], vec![0.0, 1.5]));
        let _ = tape.apply(super::Nll, &[x, labels]);
    }

    #[test]
    fn nll_applied_by_hand_rejects_negative_too_large_and_nan_labels_and_takes_the_largest_class() {
        for bad in [-1.0, -0.5, 3.0, 2.5, f64::NAN, f64::INFINITY] {
            let result = std::panic::catch_unwind(|| {
                let tape = Tape::<f64>::new();
                let x = tape.leaf(Tensor::zeros([2, 3]));
                let labels = tape.constant(Tensor::from_vec([2], vec![0.0, bad]));
                let _ = tape.apply(super::Nll, &[x, labels]);
            });
            assert!(result.is_err(), "label {bad} was accepted for 3 classes");
        }
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_rows(&[[-1.0, -2.0, -3.0]]));
        let labels = tape.constant(Tensor::from_vec([1], vec![2.0]));
        assert_eq!(tape.apply(super::Nll, &[x, labels]).item(), 3.0);
    }

    #[test]
    fn nll_records_its_labels_as_a_constant_and_gives_them_no_gradient() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_rows(&[[-1.0, -2.0], [-3.0, -4.0]]));
        let loss = x.nll(&[1, 0]);
        assert_eq!(tape.to_string().lines().nth(1), Some("#1 constant          [2]"));
        assert_eq!(loss.item(), 2.5); // -(-2 - 3) / 2
        // With the labels given as a leaf, their gradient is zero.
        let labels = tape.leaf(Tensor::from_vec([2], vec![1.0, 0.0]));
        let grads = tape.apply(super::Nll, &[x, labels]).backward();
        assert_eq!(grads[labels].data(), &[0.0, 0.0]);
        assert_eq!(grads[x].data(), &[0.0, -0.5, -0.5, 0.0]);
    }

    #[test]
    #[should_panic(expected = "pick: label 12 at row 1 is out of range for 10 classes")]
    fn label_out_of_range_names_label_and_class_count() {
        let tape = Tape::<f32>::new();
        let _ = tape.leaf(Tensor::zeros([2, 10])).pick(&[3, 12]);
    }

    #[test]
    #[should_panic(expected = "pick: 1 labels for 2 rows (shape [2, 10])")]
    fn label_count_must_match_rows() {
        let tape = Tape::<f32>::new();
        let _ = tape.leaf(Tensor::zeros([2, 10])).pick(&[3]);
    }
}
