//! The same graphs in f32 and f64: the gradients must agree to what f32 rounding allows.
//!
//! **Inputs.** Drawn in f64, then rounded to f32 and back, so both runs start from exactly the
//! same numbers and any difference comes from arithmetic precision alone.
//!
//! **Tolerance.** `|a - b| <= 1e-4 * max(|a|, |b|, 1e-2)`, with `a` from f32 and `b` from f64.
//! f32 rounds each operation to a relative `2^-24 = 6e-8` (its epsilon is `1.2e-7`). A gradient
//! entry of these graphs is a sum of a few dozen products that went through about ten ops
//! forward and back, so about a hundred roundings, `~1e-5` relative to the size of the summed
//! terms in the worst case and `~1e-6` typically (errors of random sign grow like a square
//! root). The sum can be smaller than its terms (cancellation): the relative error is
//! multiplied by that ratio, the condition number of the entry. `1e-4` allows a condition
//! number of 10 at the worst-case rounding, or 100 at the typical one. For entries far smaller
//! than the typical gradient (O(0.1) here), that ratio is unbounded and the relative error means
//! nothing: the floor `1e-2` turns the test into an absolute one for them, `1e-6`, still ten
//! f32 epsilons of the terms they were summed from.

mod common;

use common::{rng, uniform};
use rand::RngExt;
use tapegrad::autograd::{Float, Tape, Tensor, Var};

/// Relative tolerance between f32 and f64 results (see the module docs).
const REL: f64 = 1e-4;
/// Below this magnitude the comparison becomes absolute: `REL * FLOOR = 1e-6`.
const FLOOR: f64 = 1e-2;

/// Rounds an f64 tensor to the nearest f32 values, kept in f64.
fn f32_exact(t: Tensor<f64>) -> Tensor<f64> {
    t.cast::<f32>().cast::<f64>()
}

/// The loss and the gradient of every input, computed in precision `T` and returned in f64.
fn loss_and_grads<T: Float>(
    inputs: &[Tensor<f64>],
    f: impl for<'t> Fn(&[Var<'t, T>]) -> Var<'t, T>,
) -> (f64, Vec<Tensor<f64>>) {
    let tape = Tape::<T>::new();
    let v: Vec<Var<'_, T>> = inputs.iter().map(|t| tape.leaf(t.cast::<T>())).collect();
    let loss = f(&v);
    let grads = loss.backward();
    (loss.item().to_f64(), v.iter().map(|&p| grads[p].cast::<f64>()).collect())
}

/// Asserts the f32 and f64 results agree within the tolerance, and returns the largest
/// `|a - b| / (REL * max(|a|, |b|, FLOOR))` seen: 1 would be right at the tolerance.
#[track_caller]
fn assert_agree(what: &str, single: &(f64, Vec<Tensor<f64>>), double: &(f64, Vec<Tensor<f64>>)) -> f64 {
    let mut worst: f64 = 0.0;
    let mut compare = |name: String, a: f64, b: f64| {
        let ratio = (a - b).abs() / (REL * a.abs().max(b.abs()).max(FLOOR));
        assert!(ratio <= 1.0, "{what} {name}: f32 {a:e} vs f64 {b:e} ({ratio:.2} x the tolerance)");
        worst = worst.max(ratio);
    };
    compare("loss".into(), single.0, double.0);
    for (k, (a, b)) in single.1.iter().zip(&double.1).enumerate() {
        assert_eq!(a.shape(), b.shape());
        for (j, (&a, &b)) in a.data().iter().zip(b.data()).enumerate() {
            compare(format!("input {k} entry {j}"), a, b);
        }
    }
    println!("{what}: worst f32/f64 gap {worst:.3} x the tolerance");
    worst
}

/// A two-layer tanh MLP's mean cross-entropy; `v = [x, w1, b1, w2, b2]`.
fn mlp_loss<'t, T: Float>(v: &[Var<'t, T>], labels: &[usize]) -> Var<'t, T> {
    v[0].matmul(v[1]).add(v[2]).tanh().matmul(v[3]).add(v[4]).log_softmax().nll(labels)
}

#[test]
fn mlp_loss_gradients_agree_between_f32_and_f64() {
    let mut rng = rng(200);
    // Large enough (32 * 16 * 24 multiply-adds > 4096) that the products go through the packed
    // GEMM kernels, sgemm and dgemm, which are separate code.
    let (batch, inputs, hidden, classes) = (32, 16, 24, 10);
    let params: Vec<Tensor<f64>> = [
        uniform([batch, inputs], -1.0, 1.0, &mut rng),
        uniform([inputs, hidden], -1.0, 1.0, &mut rng),
        uniform([hidden], -0.5, 0.5, &mut rng),
        uniform([hidden, classes], -1.0, 1.0, &mut rng),
        uniform([classes], -0.5, 0.5, &mut rng),
    ]
    .into_iter()
    .map(f32_exact)
    .collect();
    let labels: Vec<usize> = (0..batch).map(|_| rng.random_range(0..classes)).collect();

    let single = loss_and_grads::<f32>(&params, |v| mlp_loss(v, &labels));
    let double = loss_and_grads::<f64>(&params, |v| mlp_loss(v, &labels));
    assert_agree("MLP loss", &single, &double);
    // The comparison is not vacuous: the f32 run really rounded to f32.
    assert_ne!(single.0, double.0, "the f32 loss is bit-identical to the f64 one");
}

#[test]
fn ten_op_chain_gradients_agree_between_f32_and_f64() {
    let mut rng = rng(201);
    let x = f32_exact(uniform([5, 4], -1.0, 1.0, &mut rng));
    let w = f32_exact(uniform([4], 0.5, 1.5, &mut rng));
    fn chain<'t, T: Float>(v: &[Var<'t, T>]) -> Var<'t, T> {
        let y = v[0]
            .scale(T::from_f64(0.7))
            .add_scalar(T::from_f64(0.3))
            .tanh()
            .square()
            .add_scalar(T::ONE)
            .log()
            .sigmoid()
            .mul(v[1])
            .exp()
            .neg();
        y.sum()
    }
    let single = loss_and_grads::<f32>(&[x.clone(), w.clone()], chain);
    let double = loss_and_grads::<f64>(&[x, w], chain);
    assert_agree("ten-op chain", &single, &double);
}

#[test]
fn large_logits_give_the_same_cross_entropy_gradient_in_both_precisions() {
    // Logits up to +-90 after the scale: e^90 = 1.2e39 overflows f32 (max 3.4e38), so this also
    // checks that the f32 log-softmax subtracts the row max.
    let mut rng = rng(202);
    let logits = f32_exact(uniform([4, 6], -30.0, 30.0, &mut rng));
    let labels: Vec<usize> = (0..4).map(|_| rng.random_range(0..6)).collect();
    fn loss<'t, T: Float>(v: &[Var<'t, T>], labels: &[usize]) -> Var<'t, T> {
        v[0].scale(T::from_f64(3.0)).log_softmax().nll(labels)
    }
    let single = loss_and_grads::<f32>(std::slice::from_ref(&logits), |v| loss(v, &labels));
    let double = loss_and_grads::<f64>(&[logits], |v| loss(v, &labels));
    assert!(single.0.is_finite() && single.1[0].all_finite());
    assert_agree("cross-entropy of large logits", &single, &double);
}
