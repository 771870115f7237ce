//! Picking one entry per row by class index, and the negative log-likelihood built on it.

use crate::{Float, InputGrad, Op, Output, Shape, Tensor, Var};
use std::fmt::Display;

/// A class label: an index from 0, given as any integer type (`usize`, `u32`, `i64`, ...), or a
/// reference to one, so that `&[u8]` labels or a `Vec<i32>` of them work as they are.
pub trait ClassLabel: Copy + Display {
    /// The class index, or `None` for a negative label.
    fn class_index(self) -> Option<usize>;
}

macro_rules! class_label {
    ($($t:ty),*) => {$(
        impl ClassLabel for $t {
            #[inline]
            fn class_index(self) -> Option<usize> {
                usize::try_from(self).ok()
            }
        }
    )*};
}

class_label!(usize, u64, u32, u16, u8, isize, i64, i32, i16, i8);

impl<L: ClassLabel> ClassLabel for &L {
    #[inline]
    fn class_index(self) -> Option<usize> {
        (*self).class_index()
    }
}

/// Labels at `rows`, in that order: the labels of a mini-batch, gathered as
/// [`Tape::gather_rows`](crate::Tape::gather_rows) gathers its features.
///
/// ```
/// use tapegrad_autograd::ops::pick::gather_labels;
/// let labels = [3u8, 1, 4, 1, 5];
/// assert!(gather_labels(&labels, &[4, 0]).eq([5, 3]));
/// ```
///
/// # Panics
/// When the iterator reaches a row that is out of range.
pub fn gather_labels<'a, L: Copy>(labels: &'a [L], rows: &'a [usize]) -> impl ExactSizeIterator<Item = L> + 'a {
    rows.iter().map(move |&i| match labels.get(i) {
        Some(&l) => l,
        None => panic!("gather_labels: row {i} is out of range for {} labels", labels.len()),
    })
}

/// `(rows, classes)` of a `[batch, classes]` matrix.
fn batch_dims<T: Float>(x: &Tensor<T>, op: &str) -> (usize, usize) {
    match x.shape().dims() {
        &[n, c] => (n, c),
        _ => panic!("{op}: expected a [batch, classes] matrix, got shape {}", x.shape()),
    }
}

/// The class index of `label`, checked to be below `classes`.
#[inline]
fn class_of(label: impl ClassLabel, row: usize, classes: usize, op: &str) -> usize {
    match label.class_index() {
        Some(k) if k < classes => k,
        _ => panic!("{op}: label {label} at row {row} is out of range for {classes} classes"),
    }
}

/// `y_i = x[i, label_i]` for `x: [n, c]`: `dx[i, label_i] = g_i`, zero elsewhere.
pub struct Pick {
    /// One class index per row.
    pub labels: Vec<usize>,
}

impl Pick {
    /// `(rows, classes)` of `x`, after checking it is a matrix with one in-range label per row.
    fn check<T: Float>(&self, x: &Tensor<T>) -> (usize, usize) {
        let (n, c) = batch_dims(x, "pick");
        let labels = &self.labels;
        assert_eq!(labels.len(), n, "pick: {} labels for {n} rows (shape {})", labels.len(), x.shape());
        labels.iter().enumerate().for_each(|(row, &l)| _ = class_of(l, row, c, "pick"));
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

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
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

    /// `dx = scatter(g, labels, classes of x)`.
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let classes = x[0].shape().last_dim();
        vec![wanted[0].then(|| g.apply(Scatter { labels: self.labels.clone(), classes }, &[]))]
    }
}

/// `y[i, labels_i] = x_i`, zero elsewhere, for `x: [n]` and `y: [n, classes]` (the gradient of
/// [`Pick`]): `dx_i = g[i, labels_i]`.
pub struct Scatter {
    /// One class index per row.
    pub labels: Vec<usize>,
    /// The number of columns of the output.
    pub classes: usize,
}

impl<T: Float> Op<T> for Scatter {
    fn name(&self) -> String {
        "scatter".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let (x, n, c) = (inputs[0], self.labels.len(), self.classes);
        assert_eq!(x.shape().dims(), &[n], "scatter: {n} labels for values of shape {}", x.shape());
        self.labels.iter().enumerate().for_each(|(row, &l)| _ = class_of(l, row, c, "scatter"));
        let y = out.zeros([n, c]);
        for (i, (&l, &v)) in self.labels.iter().zip(x.data()).enumerate() {
            y[i * c + l] = v;
        }
    }

    fn backward(&self, _: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let c = self.classes;
        gx.add(self.labels.iter().enumerate().map(|(i, &l)| g.data()[i * c + l]));
    }

    /// `dx = pick(g, labels)`.
    fn backward_graph<'t>(
        &self,
        _: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| g.apply(Pick { labels: self.labels.clone() }, &[]))]
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

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
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

    /// `dx = g * w` with the constant `w[i, label_i] = -1/N`, zero elsewhere; none for the labels.
    fn backward_graph<'t>(
        &self,
        xl: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        if !wanted[0] {
            return vec![None, None];
        }
        let (n, c) = xl[0].with_value(|x| batch_dims(x, "nll"));
        let mut w = Tensor::zeros([n, c]);
        let scaled = -T::ONE / T::from_f64(n.max(1) as f64);
        xl[1].with_value(|labels| {
            for (i, &l) in labels.data().iter().enumerate() {
                w.data_mut()[i * c + l.to_f64() as usize] = scaled;
            }
        });
        vec![Some(xl[0].tape().constant(w) * g), None]
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `self[i, labels[i]]` for each row `i` of a `[batch, classes]` matrix.
    ///
    /// # Panics
    /// If `self` is not a matrix, the number of labels is not the number of rows, or a label is
    /// out of range: `pick: label 12 at row 3 is out of range for 10 classes`.
    pub fn pick<L: ClassLabel>(self, labels: impl IntoIterator<Item = L>) -> Var<'t, T> {
        let labels = labels.into_iter().map(|l| l.class_index().unwrap_or(usize::MAX)).collect();
        self.apply(Pick { labels }, &[])
    }

    /// Negative log-likelihood of `labels` under row log-probabilities `self`, averaged over
    /// the batch: `-mean_i self[i, labels[i]]`. Apply it to [`log_softmax`](Var::log_softmax)
    /// for cross-entropy.
    ///
    /// # Panics
    /// As [`pick`](Var::pick), with `nll` in the message; also if a label cannot be stored exactly
    /// in `T` (above 2^24 for `f32`).
    pub fn nll<L: ClassLabel>(self, labels: impl IntoIterator<Item = L>) -> Var<'t, T> {
        let (n, c) = self.with_value(|x| batch_dims(x, "nll"));
        let labels = self.tape().constant_with(|slot| {
            let mut values = std::mem::take(slot).into_vec();
            values.clear();
            for (row, label) in labels.into_iter().enumerate() {
                let k = class_of(label, row, c, "nll");
                // The labels go on the tape as floats; one that `T` cannot hold exactly (above
                // 2^24 in f32) would round to another class's index.
                let value = T::from_f64(k as f64);
                if value.to_f64() != k as f64 {
                    panic!(
                        "nll: label {label} at row {row} cannot be stored exactly as {} (class indices above 2^24 need f64)",
                        T::NAME
                    );
                }
                values.push(value);
            }
            assert_eq!(values.len(), n, "nll: {} labels for {n} rows (shape [{n}, {c}])", values.len());
            *slot = Tensor::from_vec([n], values);
        });
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
        let loss = logits.log_softmax().nll([2, 0]);
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
        let fused = x.nll([2, 1]);
        let composed = x.pick([2, 1]).mean().neg();
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
        let loss = x.nll([1, 0]);
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
        let _ = tape.leaf(Tensor::zeros([2, 10])).pick([3, 12]);
    }

    #[test]
    #[should_panic(expected = "pick: 1 labels for 2 rows (shape [2, 10])")]
    fn label_count_must_match_rows() {
        let tape = Tape::<f32>::new();
        let _ = tape.leaf(Tensor::zeros([2, 10])).pick([3]);
    }
}
