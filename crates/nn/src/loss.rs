//! Losses and regularisation, built from autograd ops only.

use crate::Module;
use tapegrad_autograd::{ClassLabel, Float, Tape, Var};

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
    use tapegrad_autograd::{Tape, Tensor};

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
