//! Losses and regularisation, built from autograd ops only.

//! Losses and regularisation, built from autograd ops (and, for binary cross-entropy, one fused
//! op whose value and gradient stay finite and exact for logits of any size).
//!
//! Every loss but the historical [`softmax_cross_entropy`] and [`softmax_cross_entropy_soft`]
//! takes a [`Reduction`] with PyTorch's meaning, and checks that the prediction and the target
//! have exactly the same shape: nothing broadcasts, so a `[4, 1]` prediction against a `[4]`
//! target panics instead of silently comparing every prediction with every target.

use crate::Module;
use tapegrad_autograd::ops::elementwise::{Unary, UnaryRule};
use tapegrad_autograd::{ClassLabel, Float, InputGrad, Op, Output, Tape, Tensor, Var};

/// How a loss turns its per-element (or, for cross-entropy, per-row) values into its result,
/// as PyTorch's `reduction` argument.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Reduction, mse_loss};
/// let tape = Tape::<f64>::new();
/// let pred = tape.leaf(Tensor::from_vec([3], vec![1.0, 2.0, 3.0]));
/// let target = tape.constant(Tensor::from_vec([3], vec![1.0, 0.0, 0.0]));
/// // Squared errors 0, 4 and 9.
/// assert_eq!(mse_loss(pred, target, Reduction::None).value().data(), &[0.0, 4.0, 9.0]);
/// assert_eq!(mse_loss(pred, target, Reduction::Sum).item(), 13.0);
/// assert_eq!(mse_loss(pred, target, Reduction::Mean).item(), 13.0 / 3.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// The mean over every element (for cross-entropy: over the rows), PyTorch's default.
    #[default]
    Mean,
    /// The sum over every element.
    Sum,
    /// No reduction: one loss per element, in the prediction's shape (for cross-entropy: one per
    /// row, shape `[batch]`).
    None,
}

impl Reduction {
    /// Applies the reduction to per-element losses.
    fn apply<'t, T: Float>(self, losses: Var<'t, T>) -> Var<'t, T> {
        match self {
            Reduction::Mean => losses.mean(),
            Reduction::Sum => losses.sum(),
            Reduction::None => losses,
        }
    }
}

/// Panics naming the loss and both shapes unless they are equal.
fn same_shape<T: Float>(loss: &str, what: &str, pred: Var<'_, T>, target: Var<'_, T>) {
    let (p, t) = (pred.shape(), target.shape());
    assert!(p == t, "{loss}: {what} {p} vs target {t}: shapes differ (losses do not broadcast)");
}

/// Mean squared error, PyTorch's `mse_loss`: the elementwise `(pred - target)^2`, reduced.
///
/// The gradient with respect to `pred` is `2 (pred - target)` per element (divided by the
/// element count for [`Reduction::Mean`]).
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Reduction, mse_loss};
/// let tape = Tape::<f64>::new();
/// let pred = tape.leaf(Tensor::from_rows(&[[1.0], [3.0]]));
/// let loss = mse_loss(pred, tape.constant(Tensor::from_rows(&[[0.0], [1.0]])), Reduction::Mean);
/// assert_eq!(loss.item(), 2.5); // (1 + 4) / 2
/// assert_eq!(loss.backward()[pred].data(), &[1.0, 2.0]); // 2 (pred - target) / 2
/// ```
///
/// # Panics
/// If `pred` and `target` differ in shape (`mse_loss: prediction [4, 1] vs target [4]: ...`),
/// or, with [`Reduction::Mean`], if they are empty.
pub fn mse_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, reduction: Reduction) -> Var<'t, T> {
    same_shape("mse_loss", "prediction", pred, target);
    reduction.apply((pred - target).square())
}

/// Mean absolute error, PyTorch's `l1_loss`: the elementwise `|pred - target|`, reduced. Its
/// gradient is `sign(pred - target)`, 0 where they are equal (as in PyTorch).
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Reduction, l1_loss};
/// let tape = Tape::<f64>::new();
/// let pred = tape.leaf(Tensor::from_vec([2], vec![1.0, -3.0]));
/// let loss = l1_loss(pred, tape.constant(Tensor::from_vec([2], vec![0.5, 1.0])), Reduction::Sum);
/// assert_eq!(loss.item(), 4.5); // 0.5 + 4
/// assert_eq!(loss.backward()[pred].data(), &[1.0, -1.0]);
/// ```
///
/// # Panics
/// If `pred` and `target` differ in shape, or, with [`Reduction::Mean`], if they are empty.
pub fn l1_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, reduction: Reduction) -> Var<'t, T> {
    same_shape("l1_loss", "prediction", pred, target);
    reduction.apply((pred - target).abs())
}

/// The Huber and smooth-L1 penalties of an error `d`, which agree up to the factor `delta`:
/// Huber is `d^2 / 2` for `|d| < delta` and `delta (|d| - delta / 2)` beyond, with derivative `d`
/// or `delta sign(d)`; smooth L1 is Huber divided by `beta = delta`, `d^2 / (2 beta)` or
/// `|d| - beta / 2`, with derivative `d / beta` or `sign(d)`.
struct Robust<T> {
    threshold: T,
    /// Divides by the threshold (smooth L1) instead of multiplying the linear part (Huber).
    smooth_l1: bool,
}

impl<T: Float> UnaryRule<T> for Robust<T> {
    fn name(&self) -> String {
        if self.smooth_l1 { format!("smooth_l1({})", self.threshold) } else { format!("huber({})", self.threshold) }
    }
    fn f(&self, d: T) -> T {
        let (a, c, half) = (d.abs(), self.threshold, T::from_f64(0.5));
        match (a < c, self.smooth_l1) {
            (true, false) => half * d * d,
            (true, true) => half * d * d / c,
            (false, false) => c * (a - half * c),
            (false, true) => a - half * c,
        }
    }
    fn df(&self, d: T, _y: T) -> T {
        let c = self.threshold;
        let sign = if d > T::ZERO {
            T::ONE
        } else if d < T::ZERO {
            -T::ONE
        } else {
            T::ZERO
        };
        match (d.abs() < c, self.smooth_l1) {
            (true, false) => d,
            (true, true) => d / c,
            (false, false) => c * sign,
            (false, true) => sign,
        }
    }
}

/// The Huber loss, PyTorch's `huber_loss`: with `d = pred - target`, `d^2 / 2` where
/// `|d| < delta` and `delta (|d| - delta / 2)` elsewhere, reduced. Quadratic near 0 and linear in
/// the tails, so outliers pull with a force of at most `delta`.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Reduction, huber_loss};
/// let tape = Tape::<f64>::new();
/// let pred = tape.leaf(Tensor::from_vec([2], vec![0.5, 4.0]));
/// let loss = huber_loss(pred, tape.constant(Tensor::zeros([2])), 1.0, Reduction::None);
/// // 0.5^2 / 2 inside, 1 (4 - 1/2) outside.
/// assert_eq!(loss.value().data(), &[0.125, 3.5]);
/// ```
///
/// # Panics
/// If `delta` is not positive and finite, if `pred` and `target` differ in shape, or, with
/// [`Reduction::Mean`], if they are empty.
pub fn huber_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, delta: T, reduction: Reduction) -> Var<'t, T> {
    assert!(delta > T::ZERO && delta.is_finite(), "huber_loss: delta must be positive and finite, got {delta}");
    same_shape("huber_loss", "prediction", pred, target);
    reduction.apply((pred - target).apply(Unary(Robust { threshold: delta, smooth_l1: false }), &[]))
}

/// The smooth-L1 loss, PyTorch's `smooth_l1_loss`: with `d = pred - target`, `d^2 / (2 beta)`
/// where `|d| < beta` and `|d| - beta / 2` elsewhere, reduced; [`huber_loss`] divided by
/// `beta`. `beta = 0` is the L1 loss, as in PyTorch.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Reduction, smooth_l1_loss};
/// let tape = Tape::<f64>::new();
/// let pred = tape.leaf(Tensor::from_vec([2], vec![0.5, 4.0]));
/// let loss = smooth_l1_loss(pred, tape.constant(Tensor::zeros([2])), 2.0, Reduction::None);
/// // 0.5^2 / 4 inside, 4 - 1 outside.
/// assert_eq!(loss.value().data(), &[0.0625, 3.0]);
/// ```
///
/// # Panics
/// If `beta` is negative or not finite, if `pred` and `target` differ in shape, or, with
/// [`Reduction::Mean`], if they are empty.
pub fn smooth_l1_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, beta: T, reduction: Reduction) -> Var<'t, T> {
    assert!(beta >= T::ZERO && beta.is_finite(), "smooth_l1_loss: beta must be non-negative and finite, got {beta}");
    same_shape("smooth_l1_loss", "prediction", pred, target);
    if beta == T::ZERO {
        return reduction.apply((pred - target).abs());
    }
    reduction.apply((pred - target).apply(Unary(Robust { threshold: beta, smooth_l1: true }), &[]))
}

/// `ln(1 + e^{-|x|})`, through f64's `ln_1p` (exact for f64, more than accurate for f32).
fn log1p_exp_neg_abs<T: Float>(x: T) -> T {
    T::from_f64((-x.to_f64().abs()).exp().ln_1p())
}

/// `1 / (1 + e^{-x})` without overflow for either sign of `x`.
fn sigmoid<T: Float>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

/// Binary cross-entropy of logits `x` against targets `t`, one value per element; the inputs are
/// `[x, t]`. With a positive-class weight `p` (1 when absent), per element:
/// `l = (1 - t) x + w softplus(-x)` with `w = 1 + (p - 1) t`; for `p = 1` that is computed as
/// `max(x, 0) - x t + ln(1 + e^{-|x|})`, which cancels nothing for large `|x|`.
/// `dl/dx = (1 - t) - w sigmoid(-x)` (`sigmoid(x) - t` for `p = 1`),
/// `dl/dt = -x + (p - 1) softplus(-x)` (`-x` for `p = 1`).
struct BceWithLogits<T> {
    /// One weight per class (the last axis), or one for all; empty for none.
    pos_weight: Vec<T>,
}

impl<T: Float> BceWithLogits<T> {
    /// The weight of element `k` of a tensor whose last axis has `classes` entries.
    fn weight(&self, k: usize, classes: usize) -> Option<T> {
        match self.pos_weight.len() {
            0 => None,
            1 => Some(self.pos_weight[0]),
            _ => Some(self.pos_weight[k % classes]),
        }
    }
}

impl<T: Float> Op<T> for BceWithLogits<T> {
    fn name(&self) -> String {
        "bce_with_logits".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(2)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let (x, t) = (inputs[0], inputs[1]);
        let classes = x.shape().last_dim().max(1);
        let values = x.data().iter().zip(t.data()).enumerate().map(|(k, (&x, &t))| match self.weight(k, classes) {
            None => x.max(T::ZERO) - x * t + log1p_exp_neg_abs(x),
            Some(p) => {
                let softplus_neg = (-x).max(T::ZERO) + log1p_exp_neg_abs(x);
                (T::ONE - t) * x + (T::ONE + (p - T::ONE) * t) * softplus_neg
            }
        });
        out.assign(x.shape(), values);
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let (x, t) = (inputs[0], inputs[1]);
        let classes = x.shape().last_dim().max(1);
        let elements = || x.data().iter().zip(t.data()).zip(g.data()).enumerate();
        if let Some(gx) = &mut grads[0] {
            gx.add(elements().map(|(k, ((&x, &t), &g))| match self.weight(k, classes) {
                // For x >= 0 as 1 - t - sigmoid(-x): the small term stays exact (-e^-40 at
                // x = 40, t = 1, where sigmoid(40) - 1 rounds to 0).
                None if x >= T::ZERO => g * ((T::ONE - t) - sigmoid(-x)),
                None => g * (sigmoid(x) - t),
                Some(p) => g * ((T::ONE - t) - (T::ONE + (p - T::ONE) * t) * sigmoid(-x)),
            }));
        }
        if let Some(gt) = &mut grads[1] {
            gt.add(elements().map(|(k, ((&x, _), &g))| match self.weight(k, classes) {
                None => -g * x,
                Some(p) => g * (-x + (p - T::ONE) * ((-x).max(T::ZERO) + log1p_exp_neg_abs(x))),
            }));
        }
    }
}

/// Binary cross-entropy of `logits` against `targets` in `[0, 1]`, PyTorch's
/// `binary_cross_entropy_with_logits`: per element
/// `-(t ln sigmoid(x) + (1 - t) ln(1 - sigmoid(x)))`, computed as
/// `max(x, 0) - x t + ln(1 + e^{-|x|})`, then reduced.
///
/// One fused op rather than a chain of `sigmoid` and `log`: the value is exact and the gradient
/// `sigmoid(x) - t` finite for logits of any size (`x = 1000` with `t = 1` costs `e^{-1000}`,
/// not `ln(0)`).
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Reduction, binary_cross_entropy_with_logits};
/// let tape = Tape::<f64>::new();
/// let logits = tape.leaf(Tensor::from_vec([3], vec![0.0, 1000.0, -1000.0]));
/// let targets = tape.constant(Tensor::from_vec([3], vec![1.0, 1.0, 1.0]));
/// let loss = binary_cross_entropy_with_logits(logits, targets, Reduction::None);
/// // -ln(1/2), ln(1 + e^-1000) = 0 in f64, and 1000 + ln(1 + e^-1000).
/// assert_eq!(loss.value().data(), &[2f64.ln(), 0.0, 1000.0]);
/// let grads = loss.sum().backward();
/// assert_eq!(grads[logits].data(), &[-0.5, 0.0, -1.0]); // sigmoid(x) - t
/// ```
///
/// # Panics
/// If `logits` and `targets` differ in shape, or, with [`Reduction::Mean`], if they are empty.
pub fn binary_cross_entropy_with_logits<'t, T: Float>(
    logits: Var<'t, T>,
    targets: Var<'t, T>,
    reduction: Reduction,
) -> Var<'t, T> {
    same_shape("binary_cross_entropy_with_logits", "logits", logits, targets);
    reduction.apply(logits.apply(BceWithLogits { pos_weight: Vec::new() }, &[targets]))
}

/// [`binary_cross_entropy_with_logits`] with PyTorch's `pos_weight`: the positive term of each
/// element is weighted by `pos_weight[c]`, `c` its position along the last axis (one weight per
/// class of a multi-label `[batch, classes]` problem), or by `pos_weight[0]` when it has a single
/// element. Per element `-(p t ln sigmoid(x) + (1 - t) ln(1 - sigmoid(x)))`; a weight above 1
/// raises recall, below 1 precision. `pos_weight` is a constant: it gets no gradient.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Reduction, binary_cross_entropy_with_logits_weighted};
/// let tape = Tape::<f64>::new();
/// let logits = tape.leaf(Tensor::from_rows(&[[0.0, 0.0]]));
/// let targets = tape.constant(Tensor::from_rows(&[[1.0, 0.0]]));
/// let weights = Tensor::from_vec([2], vec![3.0, 3.0]);
/// let loss = binary_cross_entropy_with_logits_weighted(logits, targets, &weights, Reduction::None);
/// // The positive is weighted: 3 ln 2; the negative is not: ln 2.
/// let ln2 = 2f64.ln();
/// assert!((loss.value().data()[0] - 3.0 * ln2).abs() < 1e-15 && (loss.value().data()[1] - ln2).abs() < 1e-15);
/// ```
///
/// # Panics
/// If `logits` and `targets` differ in shape, if `pos_weight` has neither one element nor one
/// per entry of the last axis, or, with [`Reduction::Mean`], if they are empty.
pub fn binary_cross_entropy_with_logits_weighted<'t, T: Float>(
    logits: Var<'t, T>,
    targets: Var<'t, T>,
    pos_weight: &Tensor<T>,
    reduction: Reduction,
) -> Var<'t, T> {
    const NAME: &str = "binary_cross_entropy_with_logits_weighted";
    same_shape(NAME, "logits", logits, targets);
    let shape = logits.shape();
    let classes = if shape.rank() == 0 { 1 } else { shape.last_dim() };
    let w = pos_weight.numel();
    assert!(
        w == 1 || (w == classes && pos_weight.shape().rank() == 1),
        "{NAME}: pos_weight {} vs logits {shape}: needs one weight, or one per entry of the last axis",
        pos_weight.shape()
    );
    reduction.apply(logits.apply(BceWithLogits { pos_weight: pos_weight.data().to_vec() }, &[targets]))
}

/// Softmax cross-entropy of `logits: [batch, classes]` against class `labels`, PyTorch's
/// `cross_entropy` with class indices: `-log_softmax(logits)[i, labels[i]]` for each row `i`,
/// reduced ([`Reduction::Mean`] averages over the rows, [`Reduction::None`] gives shape
/// `[batch]`). `cross_entropy(logits, labels, Reduction::Mean)` is [`softmax_cross_entropy`].
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Reduction, cross_entropy};
/// let tape = Tape::<f64>::new();
/// let logits = tape.leaf(Tensor::from_rows(&[[0.0, 0.0], [0.0, 0.0]]));
/// let per_row = cross_entropy(logits, [0, 1], Reduction::None);
/// assert_eq!(per_row.value().data(), &[2f64.ln(), 2f64.ln()]);
/// assert_eq!(cross_entropy(logits, [0, 1], Reduction::Sum).item(), 2.0 * 2f64.ln());
/// ```
///
/// # Panics
/// If `logits` is not a matrix, the label count is not its row count (naming both), a label is
/// out of range, or, with [`Reduction::Mean`], there are no rows.
pub fn cross_entropy<'t, T: Float, L: ClassLabel>(
    logits: Var<'t, T>,
    labels: impl IntoIterator<Item = L>,
    reduction: Reduction,
) -> Var<'t, T> {
    let labels: Vec<L> = labels.into_iter().collect();
    let shape = logits.shape();
    let (rows, _) = shape.matrix("cross_entropy");
    assert!(rows == labels.len(), "cross_entropy: logits {shape} vs {} labels: needs one label per row", labels.len());
    assert!(rows > 0 || reduction != Reduction::Mean, "cross_entropy: logits {shape} have no rows to average over");
    match reduction {
        Reduction::Mean => logits.log_softmax().nll(labels),
        Reduction::Sum => -logits.log_softmax().pick(labels).sum(),
        Reduction::None => -logits.log_softmax().pick(labels),
    }
}

/// Softmax cross-entropy of `logits: [batch, classes]` against target distributions of the same
/// shape (each row non-negative and summing to 1, such as label-smoothed one-hot rows), PyTorch's
/// `cross_entropy` with probability targets: `-sum_c targets[i, c] log_softmax(logits)[i, c]`
/// for each row `i`, reduced as [`cross_entropy`]. With [`Reduction::Mean`] it is
/// [`softmax_cross_entropy_soft`] of a matrix.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Reduction, cross_entropy_soft};
/// let tape = Tape::<f64>::new();
/// let logits = tape.leaf(Tensor::from_rows(&[[0.0, 0.0]]));
/// let targets = tape.constant(Tensor::from_rows(&[[0.25, 0.75]]));
/// // Both log-probabilities are ln(1/2), whatever the target weights.
/// assert_eq!(cross_entropy_soft(logits, targets, Reduction::None).value().data(), &[2f64.ln()]);
/// ```
///
/// # Panics
/// If `logits` is not a matrix, `targets` differs from it in shape, or, with
/// [`Reduction::Mean`], there are no rows.
pub fn cross_entropy_soft<'t, T: Float>(logits: Var<'t, T>, targets: Var<'t, T>, reduction: Reduction) -> Var<'t, T> {
    let shape = logits.shape();
    let (rows, _) = shape.matrix("cross_entropy_soft");
    same_shape("cross_entropy_soft", "logits", logits, targets);
    let per_row = -(logits.log_softmax() * targets).sum_axis(1);
    match reduction {
        Reduction::Mean => {
            assert!(rows > 0, "cross_entropy_soft: logits {shape} have no rows to average over");
            per_row.mean()
        }
        Reduction::Sum => per_row.sum(),
        Reduction::None => per_row,
    }
}

/// Mean softmax cross-entropy of `logits: [batch, classes]` against class `labels`:
/// `-(1/N) sum_i log_softmax(logits)[i, labels[i]]`.
///
/// Built from the stable `log_softmax` primitive and `nll`, so it is finite for logits of any
/// size and its gradient is exactly `(softmax(logits) - onehot(labels)) / N`.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::softmax_cross_entropy;
/// let tape = Tape::<f64>::new();
/// let logits = tape.leaf(Tensor::from_rows(&[[0.0, 0.0], [1e4, -1e4]]));
/// let loss = softmax_cross_entropy(logits, &[1, 0]);
/// // Row 0: -ln(1/2); row 1: -ln(1) = 0.
/// assert!((loss.item() - 2f64.ln() / 2.0).abs() < 1e-15);
/// ```
///
/// The labels are class indices of any integer type (`&[usize]`, `&[u8]`, `Vec<i64>`, ...), or
/// an iterator of them, such as a mini-batch's from
/// [`gather_labels`](tapegrad_autograd::gather_labels).
///
/// # Panics
/// If `logits` is not a matrix, the label count differs from the row count, or a label is out
/// of range (negative, or not below the number of classes).
pub fn softmax_cross_entropy<'t, T: Float, L: ClassLabel>(
    logits: Var<'t, T>,
    labels: impl IntoIterator<Item = L>,
) -> Var<'t, T> {
    logits.log_softmax().nll(labels)
}

/// Mean softmax cross-entropy against target distributions (one-hot or soft rows, each summing
/// to 1): `-(1/N) sum_i sum_c targets[i, c] log_softmax(logits)[i, c]`.
///
/// # Panics
/// If `targets` and `logits` differ in shape.
pub fn softmax_cross_entropy_soft<'t, T: Float>(logits: Var<'t, T>, targets: Var<'t, T>) -> Var<'t, T> {
    let (ls, ts) = (logits.shape(), targets.shape());
    assert_eq!(ls, ts, "softmax_cross_entropy_soft: logits {ls} vs targets {ts}: shapes differ");
    let rows = ls.dims().first().copied().unwrap_or(1).max(1);
    (logits.log_softmax() * targets).sum().scale(-T::ONE / T::from_f64(rows as f64))
}

/// The L2 penalty `0.5 * lambda * sum ||W||^2` over the weights of `model` (biases excluded),
/// whose gradient is `lambda * W`, recorded on `tape`. A weight the forward pass already recorded
/// there is the same leaf, so its gradient sums both terms.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Activation, Init, Mlp, l2_penalty, softmax_cross_entropy};
/// use rand::{SeedableRng, rngs::StdRng};
/// let mlp = Mlp::<f64>::new(&[2, 3, 2], Activation::Tanh, Init::GlorotUniform, &mut StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let logits = mlp.forward(tape.constant(Tensor::ones([1, 2])));
/// let loss = softmax_cross_entropy(logits, &[1u8]) + l2_penalty(&mlp, &tape, 1e-2);
/// assert!(loss.item() > 0.0);
/// ```
///
/// # Panics
/// If the model has no weights.
pub fn l2_penalty<'t, T: Float>(model: &(impl Module<T> + ?Sized), tape: &'t Tape<T>, lambda: T) -> Var<'t, T> {
    let params = model.parameters();
    let mut weights = params.iter().filter(|p| p.is_weight).map(|p| tape.param(p.param).square().sum());
    let first = weights.next().expect("l2_penalty: the model has no weights");
    weights.fold(first, |acc, s| acc + s).scale(T::from_f64(0.5) * lambda)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapegrad_autograd::{GradcheckOptions, Tape, Tensor, gradcheck};

    const REDUCTIONS: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::None];

    /// A scalar from any reduction: `None`'s per-element losses are weighted by `1, 2, 3, ...`
    /// so that a gradient mixing up elements would show.
    fn scalar<'t>(loss: Var<'t, f64>, reduction: Reduction) -> Var<'t, f64> {
        match reduction {
            Reduction::None => {
                let n = loss.shape().numel();
                let weights = loss.tape().constant(Tensor::from_vec(loss.shape(), (1..=n).map(|k| k as f64).collect()));
                (loss * weights).sum()
            }
            _ => loss,
        }
    }

    /// Gradchecks a two-input loss with respect to both inputs, for every reduction.
    fn check2(
        name: &str,
        loss: impl for<'t> Fn(Var<'t, f64>, Var<'t, f64>, Reduction) -> Var<'t, f64>,
        a: Tensor<f64>,
        b: Tensor<f64>,
    ) {
        for r in REDUCTIONS {
            let report =
                gradcheck(|v| scalar(loss(v[0], v[1], r), r), &[a.clone(), b.clone()], &GradcheckOptions::default())
                    .unwrap_or_else(|e| panic!("{name} {r:?}: {e}"));
            // The defaults' rtol is 1e-7; the five-point stencil is at 1e-10 or better here.
            assert!(report.max_rel_err() < 1e-7, "{name} {r:?}: {report:?}");
        }
    }

    fn pred_target() -> (Tensor<f64>, Tensor<f64>) {
        // Differences -1.7, 0.3, 2.45, -0.2, 0.9, -3.1: away from 0 and from the Huber/smooth-L1
        // thresholds used below (1 and 0.5) by more than 2 eps = 2e-3, where no difference
        // quotient is right.
        let pred = Tensor::from_rows(&[[0.5, 1.3, 2.0], [-0.4, 0.1, -1.0]]);
        let target = Tensor::from_rows(&[[2.2, 1.0, -0.45], [-0.2, -0.8, 2.1]]);
        (pred, target)
    }

    #[test]
    fn regression_losses_pass_gradcheck_for_both_inputs_and_every_reduction() {
        let (p, t) = pred_target();
        check2("mse_loss", mse_loss, p.clone(), t.clone());
        check2("l1_loss", l1_loss, p.clone(), t.clone());
        check2("huber_loss", |a, b, r| huber_loss(a, b, 1.0, r), p.clone(), t.clone());
        check2("smooth_l1_loss", |a, b, r| smooth_l1_loss(a, b, 0.5, r), p.clone(), t.clone());
        check2("smooth_l1_loss beta 0", |a, b, r| smooth_l1_loss(a, b, 0.0, r), p, t);
    }

    #[test]
    fn bce_with_logits_passes_gradcheck_for_logits_and_targets() {
        let x = Tensor::from_rows(&[[-3.0, 0.4, 7.5], [0.0, -0.6, 2.2]]);
        let t = Tensor::from_rows(&[[0.0, 1.0, 0.3], [0.5, 0.9, 1.0]]);
        check2("bce", binary_cross_entropy_with_logits, x.clone(), t.clone());
        let w = Tensor::from_vec([3], vec![0.5, 2.0, 3.5]);
        check2("bce weighted", |a, b, r| binary_cross_entropy_with_logits_weighted(a, b, &w, r), x.clone(), t.clone());
        let one = Tensor::from_vec([1], vec![4.0]);
        check2("bce one weight", |a, b, r| binary_cross_entropy_with_logits_weighted(a, b, &one, r), x, t);
    }

    #[test]
    fn cross_entropies_pass_gradcheck_for_every_reduction() {
        let logits = Tensor::from_rows(&[[2.0, -1.0, 0.5], [0.0, 3.0, -2.0], [0.3, 0.3, 0.1]]);
        for r in REDUCTIONS {
            gradcheck(
                |v| scalar(cross_entropy(v[0], [2, 1, 0], r), r),
                std::slice::from_ref(&logits),
                &GradcheckOptions::default(),
            )
            .unwrap_or_else(|e| panic!("cross_entropy {r:?}: {e}"));
        }
        let probs = Tensor::from_rows(&[[0.2, 0.3, 0.5], [0.0, 1.0, 0.0], [0.6, 0.1, 0.3]]);
        check2("cross_entropy_soft", cross_entropy_soft, logits, probs);
    }

    #[test]
    fn values_match_the_formulas_on_hand_worked_numbers() {
        let tape = Tape::<f64>::new();
        let pred = tape.leaf(Tensor::from_vec([4], vec![0.0, 1.0, -2.0, 3.5]));
        let target = tape.constant(Tensor::from_vec([4], vec![0.5, 1.0, 1.0, 0.0]));
        // Differences -0.5, 0, -3, 3.5.
        // MSE: (0.25 + 0 + 9 + 12.25) / 4 = 21.5 / 4.
        assert_eq!(mse_loss(pred, target, Reduction::Mean).item(), 5.375);
        // L1: 0.5 + 0 + 3 + 3.5 = 7.
        assert_eq!(l1_loss(pred, target, Reduction::Sum).item(), 7.0);
        // Huber, delta 1: 0.125, 0, 1 (3 - 0.5) = 2.5, 1 (3.5 - 0.5) = 3.
        assert_eq!(huber_loss(pred, target, 1.0, Reduction::None).value().data(), &[0.125, 0.0, 2.5, 3.0]);
        // Huber, delta 4: all inside, d^2 / 2: 0.125, 0, 4.5, 6.125.
        assert_eq!(huber_loss(pred, target, 4.0, Reduction::None).value().data(), &[0.125, 0.0, 4.5, 6.125]);
        // Smooth L1, beta 2: 0.25 / 4, 0, 3 - 1, 3.5 - 1; summed 0.0625 + 2 + 2.5 = 4.5625.
        assert_eq!(smooth_l1_loss(pred, target, 2.0, Reduction::Sum).item(), 4.5625);
        // Huber(delta) = delta * smooth_l1(beta = delta), elementwise.
        let h = huber_loss(pred, target, 2.0, Reduction::None).value();
        let s = smooth_l1_loss(pred, target, 2.0, Reduction::None).value();
        assert_eq!(h.data(), s.scale(2.0).data());
        // Smooth L1 with beta 0 is L1.
        assert_eq!(smooth_l1_loss(pred, target, 0.0, Reduction::Sum).item(), 7.0);
    }

    #[test]
    fn huber_and_smooth_l1_gradients_are_clipped_at_the_threshold() {
        let tape = Tape::<f64>::new();
        let pred = tape.leaf(Tensor::from_vec([3], vec![0.25, 10.0, -10.0]));
        let zero = tape.constant(Tensor::zeros([3]));
        // Huber: d inside, delta sign(d) outside.
        let g = huber_loss(pred, zero, 0.5, Reduction::Sum).backward();
        assert_eq!(g[pred].data(), &[0.25, 0.5, -0.5]);
        // Smooth L1: d / beta inside, sign(d) outside.
        let g = smooth_l1_loss(pred, zero, 0.5, Reduction::Sum).backward();
        assert_eq!(g[pred].data(), &[0.5, 1.0, -1.0]);
    }

    #[test]
    fn bce_values_match_the_definition_and_stay_exact_for_large_logits() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_vec([4], vec![2.0, -1.5, 40.0, -800.0]));
        let t = tape.constant(Tensor::from_vec([4], vec![1.0, 0.25, 1.0, 0.0]));
        let loss = binary_cross_entropy_with_logits(x, t, Reduction::None).value();
        let naive = |x: f64, t: f64| {
            let s = 1.0 / (1.0 + (-x).exp());
            -(t * s.ln() + (1.0 - t) * (1.0 - s).ln())
        };
        // Moderate logits: the textbook formula, to a few ulps.
        for (k, (x, t)) in [(2.0, 1.0), (-1.5, 0.25)].into_iter().enumerate() {
            assert!(
                (loss.data()[k] - naive(x, t)).abs() < 4.0 * f64::EPSILON,
                "{k}: {} vs {}",
                loss.data()[k],
                naive(x, t)
            );
        }
        // x = 40, t = 1: 40 - 40 + ln(1 + e^-40), which is e^-40 = 4.2e-18 to within e^-80; the
        // textbook formula rounds sigmoid(40) to 1 and gets 0 * ln(0) = NaN.
        assert_eq!(loss.data()[2], (-40f64).exp().ln_1p());
        assert!(loss.data()[2] > 4.24e-18 && loss.data()[2] < 4.25e-18);
        assert!(naive(40.0, 1.0).is_nan());
        // x = -800, t = 0: ln(1 + e^-800) rounds to 0 exactly, not the NaN of 0 * ln(0).
        assert_eq!(loss.data()[3], 0.0);
        assert!(naive(-800.0, 0.0).is_nan());
        // Gradients sigmoid(x) - t, finite everywhere.
        let g = binary_cross_entropy_with_logits(x, t, Reduction::Sum).backward();
        let expected = [1.0 / (1.0 + (-2f64).exp()) - 1.0, 1.0 / (1.0 + 1.5f64.exp()) - 0.25];
        for (got, want) in g[x].data().iter().zip(expected) {
            assert!((got - want).abs() < 4.0 * f64::EPSILON, "{got} vs {want}");
        }
        // At x = 40, t = 1 the gradient is -sigmoid(-40) = -e^-40 / (1 + e^-40), not the 0 that
        // sigmoid(40) - 1 rounds to.
        assert_eq!(&g[x].data()[2..], &[-(-40f64).exp() / (1.0 + (-40f64).exp()), 0.0]);
    }

    #[test]
    fn bce_with_logits_in_f32_is_finite_for_huge_logits() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::from_vec([2], vec![1e30f32, -1e30]));
        let t = tape.constant(Tensor::from_vec([2], vec![0.0f32, 1.0]));
        let loss = binary_cross_entropy_with_logits(x, t, Reduction::Sum);
        // Each is the logit's magnitude: max(x, 0) - x t + ln(1 + e^-|x|) = 1e30 + 0.
        assert_eq!(loss.item(), 2e30);
        assert_eq!(loss.backward()[x].data(), &[1.0, -1.0]);
    }

    #[test]
    fn a_unit_pos_weight_is_the_unweighted_loss() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_rows(&[[0.3, -2.0], [5.0, 0.0]]));
        let t = tape.constant(Tensor::from_rows(&[[1.0, 0.0], [0.2, 0.6]]));
        let plain = binary_cross_entropy_with_logits(x, t, Reduction::None).value();
        let ones = Tensor::ones([2]);
        let weighted = binary_cross_entropy_with_logits_weighted(x, t, &ones, Reduction::None).value();
        // (1 - t) x + softplus(-x) = max(x, 0) - x t + ln(1 + e^-|x|): equal up to rounding.
        for (a, b) in plain.data().iter().zip(weighted.data()) {
            assert!((a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn cross_entropy_reductions_agree_with_each_other_and_with_the_mean_loss() {
        let tape = Tape::<f64>::new();
        let logits = tape.leaf(Tensor::from_rows(&[[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]]));
        let per_row = cross_entropy(logits, [2, 1], Reduction::None).value();
        let lsm = logits.value().log_softmax();
        // Row i's loss is -log_softmax[i, label_i].
        assert_eq!(per_row.data(), &[-lsm.data()[2], -lsm.data()[4]]);
        let sum = cross_entropy(logits, [2, 1], Reduction::Sum).item();
        assert_eq!(sum, per_row.data()[0] + per_row.data()[1]);
        let mean = cross_entropy(logits, [2, 1], Reduction::Mean).item();
        assert_eq!(mean, softmax_cross_entropy(logits, [2, 1]).item());
        assert!((mean - sum / 2.0).abs() <= f64::EPSILON * sum);
        let onehot = tape.constant(Tensor::from_rows(&[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]));
        let soft = cross_entropy_soft(logits, onehot, Reduction::None).value();
        assert_eq!(soft.data(), per_row.data());
        assert!((cross_entropy_soft(logits, onehot, Reduction::Mean).item() - mean).abs() <= f64::EPSILON * mean);
    }

    /// The panic message of `f`.
    fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let err = std::panic::catch_unwind(f).expect_err("no panic");
        err.downcast_ref::<String>().cloned().unwrap_or_else(|| err.downcast_ref::<&str>().unwrap().to_string())
    }

    #[test]
    fn every_loss_refuses_a_target_of_another_shape_naming_both() {
        // [4, 1] - [4] would broadcast to [4, 4]: sixteen differences instead of four.
        type Loss = for<'a> fn(Var<'a, f64>, Var<'a, f64>, Reduction) -> Var<'a, f64>;
        let losses: [(&str, &str, Loss); 6] = [
            ("mse_loss", "prediction", mse_loss),
            ("l1_loss", "prediction", l1_loss),
            ("huber_loss", "prediction", |a, b, r| huber_loss(a, b, 1.0, r)),
            ("smooth_l1_loss", "prediction", |a, b, r| smooth_l1_loss(a, b, 1.0, r)),
            ("binary_cross_entropy_with_logits", "logits", binary_cross_entropy_with_logits),
            ("binary_cross_entropy_with_logits_weighted", "logits", |a, b, r| {
                binary_cross_entropy_with_logits_weighted(a, b, &Tensor::ones([1]), r)
            }),
        ];
        for (name, what, loss) in losses {
            for r in REDUCTIONS {
                let message = panic_message(move || {
                    let tape = Tape::<f64>::new();
                    let _ = loss(tape.leaf(Tensor::zeros([4, 1])), tape.constant(Tensor::zeros([4])), r);
                });
                assert_eq!(
                    message,
                    format!("{name}: {what} [4, 1] vs target [4]: shapes differ (losses do not broadcast)")
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "cross_entropy_soft: logits [2, 3] vs target [2, 1]: shapes differ")]
    fn soft_cross_entropy_refuses_a_broadcastable_target() {
        let tape = Tape::<f64>::new();
        let _ =
            cross_entropy_soft(tape.leaf(Tensor::zeros([2, 3])), tape.constant(Tensor::zeros([2, 1])), Reduction::Sum);
    }

    #[test]
    #[should_panic(expected = "cross_entropy: logits [2, 3] vs 3 labels: needs one label per row")]
    fn cross_entropy_needs_one_label_per_row() {
        let tape = Tape::<f64>::new();
        let _ = cross_entropy(tape.leaf(Tensor::zeros([2, 3])), [0, 1, 2], Reduction::None);
    }

    #[test]
    #[should_panic(expected = "pos_weight [3] vs logits [2, 2]: needs one weight, or one per entry of the last axis")]
    fn pos_weight_needs_one_entry_per_class() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::zeros([2, 2]));
        let _ = binary_cross_entropy_with_logits_weighted(x, x, &Tensor::ones([3]), Reduction::Mean);
    }

    #[test]
    #[should_panic(expected = "huber_loss: delta must be positive and finite, got 0")]
    fn huber_needs_a_positive_delta() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::zeros([2]));
        let _ = huber_loss(x, x, 0.0, Reduction::Mean);
    }

    #[test]
    #[should_panic(expected = "smooth_l1_loss: beta must be non-negative and finite, got -1")]
    fn smooth_l1_needs_a_non_negative_beta() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::zeros([2]));
        let _ = smooth_l1_loss(x, x, -1.0, Reduction::Mean);
    }

    #[test]
    fn soft_targets_that_are_one_hot_give_the_hard_label_loss_and_gradient() {
        let tape = Tape::<f64>::new();
        let logits = tape.leaf(Tensor::from_rows(&[[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]]));
        let onehot = tape.constant(Tensor::from_rows(&[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]));
        let hard = softmax_cross_entropy(logits, [2, 1]);
        let soft = softmax_cross_entropy_soft(logits, onehot);
        // Both are -(1/2) (log_softmax[0, 2] + log_softmax[1, 1]); the soft one adds exact zeros.
        assert!((hard.item() - soft.item()).abs() <= 1e-15, "{} vs {}", hard.item(), soft.item());
        let (gh, gs) = (hard.backward(), soft.backward());
        for (a, b) in gh[logits].data().iter().zip(gs[logits].data()) {
            assert!((a - b).abs() <= 1e-15, "{a} vs {b}");
        }
    }

    #[test]
    #[should_panic(expected = "softmax_cross_entropy_soft: logits [2, 3] vs targets [2, 2]: shapes differ")]
    fn soft_targets_must_match_the_logits_shape() {
        let tape = Tape::<f32>::new();
        let logits = tape.leaf(Tensor::zeros([2, 3]));
        let _ = softmax_cross_entropy_soft(logits, tape.constant(Tensor::zeros([2, 2])));
    }
}
