//! Generated properties of log-softmax and cross-entropy that hold exactly in math, checked in
//! f32 and f64 to within what rounding allows (bounds derived beside each):
//! - `sum(exp(log_softmax(x)))` is the number of rows whatever `x`, so its gradient is 0;
//! - cross-entropy is unchanged, loss and gradient, when a constant is added to each row;
//! - at extreme logits (+-1e4, near-ties at 1e4, single classes, batches of one) loss and
//!   gradient are finite and match an independent f64 computation.

mod common;

use common::{machine_epsilon, proptest_config};
use proptest::collection::vec;
use proptest::prelude::*;
use tapegrad::autograd::{Float, Tape, Tensor};
use tapegrad::nn::softmax_cross_entropy;

/// Cases per property per run.
const CASES: u32 = 300;

/// The gradient of `sum(exp(log_softmax(x)))` for rows of `classes`, in `T`.
fn grad_of_total_probability<T: Float>(x: &[f64], classes: usize) -> Vec<f64> {
    let tape = Tape::<T>::new();
    let x = tape.leaf(Tensor::from_vec([x.len() / classes, classes], x.iter().map(|&v| T::from_f64(v)).collect()));
    let grads = x.log_softmax().exp().sum().backward();
    grads[x].data().iter().map(|g| g.to_f64()).collect()
}

/// Mean cross-entropy and its gradient, in `T`, returned in f64.
fn cross_entropy<T: Float>(x: &[f64], classes: usize, labels: &[usize]) -> (f64, Vec<f64>) {
    let tape = Tape::<T>::new();
    let x = tape.leaf(Tensor::from_vec([labels.len(), classes], x.iter().map(|&v| T::from_f64(v)).collect()));
    let loss = softmax_cross_entropy(x, labels);
    let grads = loss.backward();
    (loss.item().to_f64(), grads[x].data().iter().map(|g| g.to_f64()).collect())
}

/// Row lengths 1 to 16 and 1 to 6 rows, with 1 often (a single class, a batch of one).
fn rows_and_classes() -> impl Strategy<Value = (usize, usize)> {
    (prop_oneof![1 => Just(1usize), 3 => 2..=6usize], prop_oneof![1 => Just(1usize), 3 => 2..=16usize])
}

/// `n` rows of `c` values from `value`, with one label per row.
fn labelled(value: BoxedStrategy<f64>) -> impl Strategy<Value = (usize, Vec<f64>, Vec<usize>)> {
    rows_and_classes().prop_flat_map(move |(n, c)| (Just(c), vec(value.clone(), n * c), vec(0..c, n)))
}

fn total_probability_has_zero_gradient<T: Float>(x: &[f64], classes: usize) -> Result<(), TestCaseError> {
    // Backward gives p_i - p_i * S with S the computed sum of the row's p: p_i (1 - S) up to one
    // rounding. Each p_i is off by a few ulps and the sum adds one rounding per term, so
    // |1 - S| <= 2 (c + 1) eps, and |gradient| <= 4 (c + 1) eps leaves a factor 2.
    let bound = 4.0 * (classes + 1) as f64 * machine_epsilon::<T>();
    for (k, g) in grad_of_total_probability::<T>(x, classes).into_iter().enumerate() {
        prop_assert!(g.abs() <= bound, "{}: entry {} of the gradient is {:e} > {:e}", T::NAME, k, g, bound);
    }
    Ok(())
}

fn shift_by_integers_changes_nothing<T: Float>(
    x: &[f64],
    classes: usize,
    labels: &[usize],
    shifts: &[f64],
) -> Result<(), TestCaseError> {
    // The logits are multiples of 1/256 below 32 and the shifts integers below 1000: every sum
    // has at most 19 significant bits (11 before the point, 8 after), exact in f32 and f64. Then (x_i + s) - (max + s) is
    // exactly x_i - max, and log-softmax computes everything from those differences, so loss and
    // gradient must be bit-identical.
    let shifted: Vec<f64> = x.iter().enumerate().map(|(k, &v)| v + shifts[k / classes]).collect();
    let (loss, grad) = cross_entropy::<T>(x, classes, labels);
    let (shifted_loss, shifted_grad) = cross_entropy::<T>(&shifted, classes, labels);
    prop_assert_eq!(loss.to_bits(), shifted_loss.to_bits(), "{}: loss {} vs {}", T::NAME, loss, shifted_loss);
    prop_assert_eq!(grad, shifted_grad, "{}: gradient", T::NAME);
    Ok(())
}

fn shift_by_reals_changes_little<T: Float>(
    x: &[f64],
    classes: usize,
    labels: &[usize],
    shifts: &[f64],
) -> Result<(), TestCaseError> {
    // Rounding x_i + s to T moves each logit by at most eps/2 (|x| + |s|); a log-probability is a
    // difference of two such logits and a log-sum-exp that moves as much, so it and the loss
    // move by at most 2 eps (|x| + |s|), and each p = exp(log p) by that relative amount.
    // 8 eps (1 + max |x| + max |s|) covers that and the rounding of both computations.
    let shifted: Vec<f64> = x.iter().enumerate().map(|(k, &v)| v + shifts[k / classes]).collect();
    let scale = 1.0 + x.iter().chain(shifts).map(|v| v.abs()).fold(0.0, f64::max);
    let tol = 8.0 * machine_epsilon::<T>() * scale;
    let (loss, grad) = cross_entropy::<T>(x, classes, labels);
    let (shifted_loss, shifted_grad) = cross_entropy::<T>(&shifted, classes, labels);
    prop_assert!(
        (loss - shifted_loss).abs() <= tol,
        "{}: loss {} vs {} (tolerance {:e})",
        T::NAME,
        loss,
        shifted_loss,
        tol
    );
    for (k, (a, b)) in grad.iter().zip(&shifted_grad).enumerate() {
        prop_assert!(
            (a - b).abs() <= tol,
            "{}: gradient entry {}: {:e} vs {:e} (tolerance {:e})",
            T::NAME,
            k,
            a,
            b,
            tol
        );
    }
    Ok(())
}

/// Loss and gradient of cross-entropy in plain f64 arithmetic, written out here rather than
/// through the library: per row `lse = max + ln sum exp(x - max)`, loss `mean(lse - x_label)`,
/// gradient `(exp(x - lse) - onehot) / n`.
fn reference(x: &[f64], classes: usize, labels: &[usize]) -> (f64, Vec<f64>) {
    let n = labels.len() as f64;
    let (mut loss, mut grad) = (0.0, Vec::with_capacity(x.len()));
    for (row, &label) in x.chunks_exact(classes).zip(labels) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        loss += (lse - row[label]) / n;
        grad.extend(row.iter().enumerate().map(|(j, v)| ((v - lse).exp() - f64::from(j == label)) / n));
    }
    (loss, grad)
}

fn extreme_logits_are_handled<T: Float>(x: &[f64], classes: usize, labels: &[usize]) -> Result<(), TestCaseError> {
    // The reference sees the logits as T holds them, so only T's arithmetic differs. Logits up
    // to 1e4 + 20 lose eps/2 * 1e4 in each difference from the row max: the 8 eps (1 + max |x|)
    // of the shift property bounds the loss and every gradient entry here too.
    let x: Vec<f64> = x.iter().map(|&v| T::from_f64(v).to_f64()).collect();
    let (loss, grad) = cross_entropy::<T>(&x, classes, labels);
    prop_assert!(
        loss.is_finite() && grad.iter().all(|g| g.is_finite()),
        "{}: loss {}, gradient {:?}",
        T::NAME,
        loss,
        grad
    );
    let (want_loss, want_grad) = reference(&x, classes, labels);
    let tol = 8.0 * machine_epsilon::<T>() * (1.0 + x.iter().map(|v| v.abs()).fold(0.0, f64::max));
    prop_assert!((loss - want_loss).abs() <= tol, "{}: loss {} vs {} (tolerance {:e})", T::NAME, loss, want_loss, tol);
    for (k, (g, w)) in grad.iter().zip(&want_grad).enumerate() {
        prop_assert!((g - w).abs() <= tol, "{}: gradient entry {}: {:e} vs {:e}", T::NAME, k, g, w);
    }
    // Each row's gradient sums to 0 (softmax sums to 1, the one-hot too).
    for (r, row) in grad.chunks_exact(classes).enumerate() {
        let sum: f64 = row.iter().sum();
        prop_assert!(sum.abs() <= tol, "{}: row {} of the gradient sums to {:e}", T::NAME, r, sum);
    }
    Ok(())
}

/// Logits from the troublesome places: +-1e4 exactly, ties and near-ties around them, 0, and
/// ordinary values.
fn extreme_logit() -> BoxedStrategy<f64> {
    prop_oneof![
        Just(1e4),
        Just(-1e4),
        Just(0.0),
        -30.0..30.0,
        (1e4 - 20.0)..(1e4 + 20.0),
        (-1e4 - 20.0)..(-1e4 + 20.0),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(proptest_config(CASES))]

    #[test]
    fn total_probability_has_zero_gradient_in_both_precisions(
        (c, x) in rows_and_classes().prop_flat_map(|(n, c)| (Just(c), vec(-40.0..40.0f64, n * c)))
    ) {
        total_probability_has_zero_gradient::<f32>(&x, c)?;
        total_probability_has_zero_gradient::<f64>(&x, c)?;
    }

    #[test]
    fn cross_entropy_ignores_integer_row_shifts_bit_for_bit(
        (c, x, labels) in labelled((-8192..8192i32).prop_map(|k| f64::from(k) / 256.0).boxed()),
        shifts in vec((-1000..=1000i32).prop_map(f64::from), 6),
    ) {
        shift_by_integers_changes_nothing::<f32>(&x, c, &labels, &shifts)?;
        shift_by_integers_changes_nothing::<f64>(&x, c, &labels, &shifts)?;
    }

    #[test]
    fn cross_entropy_ignores_real_row_shifts_up_to_rounding(
        (c, x, labels) in labelled((-20.0..20.0f64).boxed()),
        shifts in vec(prop_oneof![-1.0..1.0f64, -1e4..1e4f64], 6),
    ) {
        shift_by_reals_changes_little::<f32>(&x, c, &labels, &shifts)?;
        shift_by_reals_changes_little::<f64>(&x, c, &labels, &shifts)?;
    }

    #[test]
    fn cross_entropy_of_extreme_logits_is_finite_and_right(
        (c, x, labels) in labelled(extreme_logit())
    ) {
        extreme_logits_are_handled::<f32>(&x, c, &labels)?;
        extreme_logits_are_handled::<f64>(&x, c, &labels)?;
    }
}
