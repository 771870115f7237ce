//! Helpers shared by the integration tests: seeded random tensors, the weighted-sum readout and
//! a gradcheck wrapper that asserts the suite's tolerance.
//!
//! Each test binary uses a different subset of these.
#![allow(dead_code)]

pub mod op_table;

use proptest::test_runner::TestCaseError;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use tapegrad::autograd::{Float, GradcheckOptions, Shape, Tape, Tensor, Var, gradcheck, gradgradcheck};

/// The relative error every gradcheck in the suite must stay under.
///
/// The default five-point stencil at `eps = 1e-3` has truncation error `O(eps^4) = 1e-12` and
/// rounding error about `2.2e-16 * |f| / eps = 2e-13 * |f|` in f64, so for the O(1) functions
/// and gradients built here a correct backward lands below 1e-9 (the worst in the suite is
/// 6e-10), while a wrong rule is off by O(1): 1e-7 leaves room for cancellation in small
/// gradient entries and still catches any real mistake.
pub const MAX_REL_ERR: f64 = 1e-7;

/// Smallest distance from 0 for inputs of relu and abs: the stencil samples `x ± 2 eps =
/// x ± 2e-3`, so at 0.05 no sample crosses the kink, where no difference quotient is right.
pub const KINK_MARGIN: f64 = 0.05;

/// A seeded generator, so every run sees the same shapes and values.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Uniform entries in `[lo, hi)`.
pub fn uniform(shape: impl Into<Shape>, lo: f64, hi: f64, rng: &mut StdRng) -> Tensor<f64> {
    Tensor::rand_uniform(shape, lo, hi, rng)
}

/// Entries with a random sign and magnitude in `[lo, hi)`: kept away from 0 (kinks, divisors).
pub fn away_from_zero(shape: impl Into<Shape>, lo: f64, hi: f64, rng: &mut StdRng) -> Tensor<f64> {
    let mut t = Tensor::<f64>::rand_uniform(shape, lo, hi, rng);
    for v in t.data_mut() {
        if rng.random::<bool>() {
            *v = -*v;
        }
    }
    t
}

/// A random shape of rank 0 to 3 with axes of length 1 to 5.
pub fn random_shape(rng: &mut StdRng) -> Vec<usize> {
    let rank = rng.random_range(0..=3);
    (0..rank).map(|_| rng.random_range(1..=5)).collect()
}

/// A fixed weight tensor for `shape`: entries with magnitude in [0.5, 1.5) and random signs,
/// all distinct, drawn from a fixed seed so every evaluation of a gradcheck sees the same one.
pub fn weights(shape: &Shape) -> Tensor<f64> {
    away_from_zero(shape, 0.5, 1.5, &mut rng(0x5eed))
}

/// `sum(y * c)` for the fixed weights `c` of `y`'s shape.
///
/// The upstream gradient of `y` is then `c`, a different value for every entry and never 1: a
/// plain `sum()` would pass a backward that ignores `g`, or that sends `g[i]` to the wrong
/// entry, since every `g[i]` would be 1.
pub fn weighted_sum<'t>(y: Var<'t, f64>) -> Var<'t, f64> {
    let c = y.tape().constant(weights(&y.shape()));
    (y * c).sum()
}

/// Gradchecks `f` at `inputs` with the default options, asserts it passes with a relative
/// error of at most [`MAX_REL_ERR`], prints the error (see it with `--nocapture`) and returns it.
#[track_caller]
pub fn check<F>(what: &str, f: F, inputs: &[Tensor<f64>]) -> f64
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let report = match gradcheck(f, inputs, &GradcheckOptions::default()) {
        Ok(report) => report,
        Err(err) => panic!("{what}: {err}"),
    };
    let rel = report.max_rel_err();
    println!("gradcheck {what}: max rel err {rel:.3e}");
    assert!(rel <= MAX_REL_ERR, "{what}: max rel err {rel:e} > {MAX_REL_ERR:e}: {report:?}");
    rel
}

/// How far the recording backward's first-order gradients ([`Tape::grad`]) may be from the
/// plain backward's, relative to the entry's size (with 1 as the floor of the scale): both
/// evaluate the same formulas in f64, but as separate recorded ops, in another order (a
/// broadcast gradient summed by `sum_to` rather than inside the binary op, `y (1 - y)` as
/// `y * (-y + 1)`), so each entry may differ by a few roundings of its terms (`2.2e-16` each).
/// Over the op table the largest difference is about 4 roundings at first order, 16 at second
/// and 32 at third; 1e-13 leaves room for larger sums and still catches any wrong rule, which
/// is off by O(1).
pub const FIRST_ORDER_TOL: f64 = 1e-13;

/// The second-order checks of one function at `inputs`, asserting each:
/// (a) the recording backward's first-order gradients equal the plain backward's within
/// [`FIRST_ORDER_TOL`];
/// (b) [`gradgradcheck`] passes with a relative error of at most [`MAX_REL_ERR`] (the same
/// stencil argument as [`check`], one derivative up);
/// (c) the second-order gradient of the weighted readout `h = sum(grad * w)` taken by a second
/// recording backward equals the plain backward's through the recorded gradient, within
/// [`FIRST_ORDER_TOL`]: the rules of the ops a gradient records are themselves differentiable;
/// (d) so are theirs: a third recording backward, of `sum(second * w)`, equals the plain
/// backward through the second-order gradient, within the same tolerance.
/// Returns (b)'s relative error.
#[track_caller]
pub fn check_second_order<F>(what: &str, f: F, inputs: &[Tensor<f64>]) -> f64
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let tape = Tape::new();
    let vars: Vec<_> = inputs.iter().map(|x| tape.leaf(x)).collect();
    let y = f(&vars);
    let recorded = tape.grad(y, &vars);
    let plain = y.backward();
    for (k, (g, &v)) in recorded.iter().zip(&vars).enumerate() {
        assert_relatively_close(&format!("{what}: first-order gradient of input {k}"), &g.value(), &plain[v]);
    }
    drop(plain);
    // (c): h = sum_k sum(g_k * w_k) with the readout's fixed weights.
    let h = recorded.iter().map(|&g| weighted_sum(g)).reduce(|a, b| a + b).expect("an op has inputs");
    let second = tape.grad(h, &vars);
    let through = h.backward();
    for (k, (g, &v)) in second.iter().zip(&vars).enumerate() {
        assert_relatively_close(&format!("{what}: second-order gradient of input {k}"), &g.value(), &through[v]);
    }
    drop(through);
    // (d): one order up, with the same weights.
    let h2 = second.iter().map(|&g| weighted_sum(g)).reduce(|a, b| a + b).expect("an op has inputs");
    let third = tape.grad(h2, &vars);
    let through = h2.backward();
    for (k, (g, &v)) in third.iter().zip(&vars).enumerate() {
        assert_relatively_close(&format!("{what}: third-order gradient of input {k}"), &g.value(), &through[v]);
    }
    let report = match gradgradcheck(f, inputs, &GradcheckOptions::default()) {
        Ok(report) => report,
        Err(err) => panic!("{what}: gradgradcheck: {err}"),
    };
    let rel = report.max_rel_err();
    println!("gradgradcheck {what}: max rel err {rel:.3e}");
    assert!(rel <= MAX_REL_ERR, "{what}: gradgradcheck max rel err {rel:e} > {MAX_REL_ERR:e}: {report:?}");
    rel
}

/// `|a - b| <= FIRST_ORDER_TOL * max(1, |a|, |b|)` entrywise, bit-equal where either is not
/// finite.
#[track_caller]
pub fn assert_relatively_close(what: &str, got: &Tensor<f64>, want: &Tensor<f64>) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes");
    let mut worst = 0f64;
    for (k, (&a, &b)) in got.data().iter().zip(want.data()).enumerate() {
        let scale = 1f64.max(a.abs()).max(b.abs());
        let ok = if a.is_finite() && b.is_finite() {
            worst = worst.max((a - b).abs() / scale);
            (a - b).abs() <= FIRST_ORDER_TOL * scale
        } else {
            a.to_bits() == b.to_bits()
        };
        assert!(ok, "{what}[{k}]: recorded {a:e}, plain {b:e} (tolerance {FIRST_ORDER_TOL:e} relative)");
    }
    println!("{what}: largest relative difference {worst:.3e}");
    worst
}

/// `|a - b| <= tol`, with a message naming what was compared.
#[track_caller]
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: {} values, expected {}", got.len(), want.len());
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{k}]: got {g:e}, expected {w:e} (tolerance {tol:e})");
    }
}

/// The settings every property runs with (a fixed seed, no failure files): see `testkit`.
#[allow(unused_imports)]
pub use testkit::proptest_config;

/// The suite's gradcheck of `f` at `inputs` for properties: fails the case (so that proptest
/// shrinks it) instead of panicking, and returns the largest relative error.
///
/// The criterion is gradcheck's own, `|analytic - numeric| <= atol + rtol * scale` with the
/// default `atol = 1e-9` and `rtol = 1e-7 = MAX_REL_ERR`, not [`check`]'s extra bound on the
/// relative error alone: over thousands of generated cases some gradient entries are about
/// 1e-6, where the stencil's rounding error (about 1e-12 absolute) alone is a relative 1e-6,
/// though the gradient is right.
pub fn gradcheck_case<F>(f: F, inputs: &[Tensor<f64>]) -> Result<f64, TestCaseError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let opts = GradcheckOptions::default();
    debug_assert_eq!(opts.rtol, MAX_REL_ERR);
    let report = gradcheck(f, inputs, &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(report.max_rel_err())
}

/// [`gradcheck_case`] for second derivatives: [`gradgradcheck`] with the default options, failing
/// the case instead of panicking; returns the largest relative error.
pub fn gradgradcheck_case<F>(f: F, inputs: &[Tensor<f64>]) -> Result<f64, TestCaseError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let report =
        gradgradcheck(f, inputs, &GradcheckOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(report.max_rel_err())
}

/// Machine epsilon of `T`, the gap between 1 and the next float (`2^-23` for f32, `2^-52` for
/// f64), found by halving so that it works for any [`Float`].
pub fn machine_epsilon<T: Float>() -> f64 {
    let half = T::from_f64(0.5);
    let mut e = T::ONE;
    while T::ONE + e * half > T::ONE {
        e *= half;
    }
    e.to_f64()
}
