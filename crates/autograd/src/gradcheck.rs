//! Checking the tape's gradients against finite differences, like `torch.autograd.gradcheck`.
//!
//! Each input entry `x_j` is nudged by `±eps` (and `±2 eps` for the five-point stencil), the
//! function re-evaluated, and the numerical derivative compared with the tape's gradient.
//!
//! **Error measure.** For each entry, with `a` the tape's value and `n` the numerical one, the
//! check passes when `|a - n| <= atol + rtol * max(|a|, |n|)`. The reported relative error is
//! `|a - n| / max(|a|, |n|)` (cs231n's measure), over entries where `max(|a|, |n|) > atol`:
//! below that, both values are at the level of rounding noise and only `atol` is meaningful.
//!
//! **Why these defaults.** In `f64`, a difference quotient has two errors: truncation, which
//! shrinks with `eps`, and rounding, about `ε·|f|/eps` with `ε = 2.2e-16`, which grows as `eps`
//! shrinks. The three-point stencil (PyTorch's, `eps = 1e-6`) balances them near `1e-10·|f|`,
//! too coarse to assert `1e-7` relative error on small gradients. The five-point stencil,
//! `(-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h`, has truncation `O(h^4)`: at `h = 1e-3` both
//! errors are near `1e-13·|f|`, so `rtol = 1e-7` leaves a margin of about 1000. Keep inputs at
//! least `2·eps` away from kinks (relu, abs), where no difference quotient is right.

use crate::{Tape, Tensor, Var};
use std::fmt;

/// Which difference quotient to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stencil {
    /// `(f(x+h) - f(x-h)) / 2h`: error `O(h^2)`; PyTorch's choice.
    ThreePoint,
    /// `(-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h`: error `O(h^4)`.
    FivePoint,
}

/// Settings for [`gradcheck`]; see the module docs for why the defaults are what they are.
#[derive(Clone, Copy, Debug)]
pub struct GradcheckOptions {
    /// The step `h`.
    pub eps: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance, for entries whose gradient is about 0.
    pub atol: f64,
    /// The difference quotient.
    pub stencil: Stencil,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-3, rtol: 1e-7, atol: 1e-9, stencil: Stencil::FivePoint }
    }
}

/// How well one input's gradient matched.
#[derive(Clone, Debug, PartialEq)]
pub struct InputReport {
    /// Largest `|analytic - numeric|` over the entries.
    pub max_abs_err: f64,
    /// Largest relative error (see the module docs), 0 when every entry is below `atol`.
    pub max_rel_err: f64,
    /// Flat index of the entry with the worst tolerance ratio.
    pub worst_index: usize,
    /// The tape's gradient at `worst_index`.
    pub analytic: f64,
    /// The finite-difference gradient at `worst_index`.
    pub numeric: f64,
}

/// The result of a [`gradcheck`]: one [`InputReport`] per input.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckReport {
    /// One per input, in order.
    pub inputs: Vec<InputReport>,
}

impl GradcheckReport {
    /// The largest relative error over all inputs.
    pub fn max_rel_err(&self) -> f64 {
        self.inputs.iter().map(|r| r.max_rel_err).fold(0.0, f64::max)
    }

    /// The largest absolute error over all inputs.
    pub fn max_abs_err(&self) -> f64 {
        self.inputs.iter().map(|r| r.max_abs_err).fold(0.0, f64::max)
    }
}

/// Why a [`gradcheck`] failed.
#[derive(Clone, Debug, PartialEq)]
pub enum GradcheckError {
    /// The function did not return a single value.
    NotScalar {
        /// What it returned.
        shape: Vec<usize>,
    },
    /// The function or a gradient was NaN or infinite at the given input entry.
    NonFinite {
        /// Which input.
        input: usize,
        /// Flat index into that input.
        index: usize,
    },
    /// A gradient entry differs from its finite difference by more than the tolerance.
    Mismatch {
        /// Which input.
        input: usize,
        /// The full report, whose `inputs[input]` names the worst entry.
        report: GradcheckReport,
    },
}

impl fmt::Display for GradcheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradcheckError::NotScalar { shape } => {
                write!(f, "gradcheck: the function returned shape {shape:?}, not a single value")
            }
            GradcheckError::NonFinite { input, index } => {
                write!(f, "gradcheck: non-finite value or gradient at input {input}, entry {index}")
            }
            GradcheckError::Mismatch { input, report } => {
                let r = &report.inputs[*input];
                write!(
                    f,
                    "gradcheck: input {input}, entry {}: tape gradient {:e}, finite difference {:e} (abs err {:e}, rel err {:e})",
                    r.worst_index, r.analytic, r.numeric, r.max_abs_err, r.max_rel_err
                )
            }
        }
    }
}

impl std::error::Error for GradcheckError {}

/// Compares the tape's gradient of `f` with finite differences at `inputs`.
///
/// `f` receives one leaf var per input (on a fresh tape) and returns a single-value var. Returns
/// the error figures when every entry is within tolerance, and a [`GradcheckError`] naming the
/// worst entry otherwise.
///
/// ```
/// use tapegrad_autograd::{gradcheck, GradcheckOptions, Tensor};
/// let x = Tensor::from_vec([3], vec![0.5, -1.0, 2.0]);
/// let report = gradcheck(|v| v[0].tanh().square().sum(), &[x], &GradcheckOptions::default()).unwrap();
/// assert!(report.max_rel_err() < 1e-9);
/// ```
pub fn gradcheck<F>(f: F, inputs: &[Tensor<f64>], opts: &GradcheckOptions) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let tape = Tape::new();
    let analytic: Vec<Tensor<f64>> = {
        let vars: Vec<Var<'_, f64>> = inputs.iter().map(|t| tape.leaf(t)).collect();
        let out = f(&vars);
        let shape = out.shape();
        if shape.numel() != 1 {
            return Err(GradcheckError::NotScalar { shape: shape.dims().to_vec() });
        }
        let grads = out.backward();
        vars.iter().map(|&v| grads[v].clone()).collect()
    };

    let numeric = numeric_gradient(&f, inputs, opts);
    let mut reports = Vec::with_capacity(inputs.len());
    let mut failed = None;
    for (i, (analytic, numeric)) in analytic.iter().zip(&numeric).enumerate() {
        let mut report =
            InputReport { max_abs_err: 0.0, max_rel_err: 0.0, worst_index: 0, analytic: 0.0, numeric: 0.0 };
        let mut worst_ratio = -1.0;
        for (j, (&a, &n)) in analytic.data().iter().zip(numeric.data()).enumerate() {
            if !n.is_finite() || !a.is_finite() {
                return Err(GradcheckError::NonFinite { input: i, index: j });
            }
            let err = (a - n).abs();
            let scale = a.abs().max(n.abs());
            report.max_abs_err = report.max_abs_err.max(err);
            if scale > opts.atol {
                report.max_rel_err = report.max_rel_err.max(err / scale);
            }
            let ratio = err / (opts.atol + opts.rtol * scale);
            if ratio > worst_ratio {
                worst_ratio = ratio;
                (report.worst_index, report.analytic, report.numeric) = (j, a, n);
            }
        }
        if worst_ratio > 1.0 && failed.is_none() {
            failed = Some(i);
        }
        reports.push(report);
    }
    let report = GradcheckReport { inputs: reports };
    match failed {
        Some(input) => Err(GradcheckError::Mismatch { input, report }),
        None => Ok(report),
    }
}

/// Checks second derivatives: [`gradcheck`] of the gradient's weighted readout
/// `h(x) = sum_k sum(grad_k f(x) * w_k)`, with the gradient recorded by [`Tape::grad`] and
/// fixed weights `w_k` (entries of magnitude 0.5 to 1.5, either sign, all different, so that
/// each gradient entry counts differently). The tape's gradient of `h` is the Hessian applied
/// to the weights, differentiated through the recorded gradient; the finite differences are of
/// the first-order gradient itself. Like PyTorch's `gradgradcheck`.
///
/// The same options apply; `h` involves one more derivative than `f`, so the stencil's
/// truncation error (`eps^4` times a fifth derivative of `h`) is a sixth derivative of `f`:
/// keep inputs where `f` is smooth, and at least `2 eps` from its kinks, as for [`gradcheck`].
///
/// ```
/// use tapegrad_autograd::{gradgradcheck, GradcheckOptions, Tensor};
/// let x = Tensor::from_vec([3], vec![0.5, -1.0, 2.0]);
/// let report = gradgradcheck(|v| v[0].tanh().square().sum(), &[x], &GradcheckOptions::default()).unwrap();
/// assert!(report.max_rel_err() < 1e-8);
/// ```
pub fn gradgradcheck<F>(
    f: F,
    inputs: &[Tensor<f64>],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let weights: Vec<Tensor<f64>> = inputs.iter().enumerate().map(|(k, x)| readout_weights(x, k as u64)).collect();
    gradcheck(|v| gradient_readout(&f, v, &weights), inputs, opts)
}

/// `sum_k sum(grad_k f(v) * weights_k)`, the function [`gradgradcheck`] checks; `f(v)` itself
/// when it is not a single value (for [`gradcheck`] to report) or there are no inputs.
fn gradient_readout<'t, F>(f: &F, v: &[Var<'t, f64>], weights: &[Tensor<f64>]) -> Var<'t, f64>
where
    F: for<'s> Fn(&[Var<'s, f64>]) -> Var<'s, f64>,
{
    let y = f(v);
    let Some(first) = v.first() else { return y };
    if y.shape().numel() != 1 {
        return y;
    }
    let tape = first.tape();
    let grads = tape.grad(y, v);
    let terms = grads.iter().zip(weights).map(|(&g, w)| (g * tape.constant(w)).sum());
    terms.reduce(|a, b| a + b).expect("at least one input")
}

/// Fixed weights for input `k` of [`gradgradcheck`]: magnitudes in [0.5, 1.5) with random
/// signs, from a SplitMix64 stream seeded by `k`.
fn readout_weights(x: &Tensor<f64>, k: u64) -> Tensor<f64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(k + 1);
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let values = (0..x.numel()).map(|_| {
        let r = next();
        let magnitude = 0.5 + (r >> 11) as f64 / (1u64 << 53) as f64;
        if r & 1 == 1 { -magnitude } else { magnitude }
    });
    Tensor::from_vec(x.shape().clone(), values.collect())
}

/// The finite-difference gradient of a scalar function of `inputs`, one tensor per input, by
/// the stencil and step in `opts` (tolerances are not used). [`gradcheck`] compares the tape
/// with this; it is public so that other gradients (a hand-derived backprop, say) can be
/// compared with it too.
///
/// # Panics
/// If `f` does not return a single value.
pub fn numeric_gradient<F>(f: F, inputs: &[Tensor<f64>], opts: &GradcheckOptions) -> Vec<Tensor<f64>>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let mut tape = Tape::new();
    let mut point: Vec<Tensor<f64>> = inputs.to_vec();
    let mut eval = |point: &[Tensor<f64>]| -> f64 {
        tape.reset();
        let vars: Vec<Var<'_, f64>> = point.iter().map(|t| tape.leaf(t)).collect();
        f(&vars).item()
    };
    let h = opts.eps;
    let mut grads = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let mut grad = Tensor::zeros(input.shape());
        for j in 0..input.numel() {
            let x = input.data()[j];
            let mut at = |dx: f64| {
                point[i].data_mut()[j] = x + dx;
                eval(&point)
            };
            grad.data_mut()[j] = match opts.stencil {
                Stencil::ThreePoint => (at(h) - at(-h)) / (2.0 * h),
                Stencil::FivePoint => (-at(2.0 * h) + 8.0 * at(h) - 8.0 * at(-h) + at(-2.0 * h)) / (12.0 * h),
            };
            point[i].data_mut()[j] = x;
        }
        grads.push(grad);
    }
    grads
}

#[cfg(test)]
mod tests {
    /// The gradient slots of a test op's backward.
    type Grads<'a> = [Option<InputGrad<'a, f64>>];
    use super::*;
    use crate::{InputGrad, Op, Output, Tensor};

    /// An op with a deliberately wrong backward (twice the true gradient of x^2).
    struct WrongSquare;
    impl Op<f64> for WrongSquare {
        fn name(&self) -> String {
            "wrong_square".into()
        }
        fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
            out.assign(inputs[0].shape(), inputs[0].data().iter().map(|x| x * x));
        }
        fn backward(&self, inputs: &[&Tensor<f64>], _: &Tensor<f64>, g: &Tensor<f64>, grads: &mut Grads<'_>) {
            let gx = grads[0].as_mut().unwrap();
            gx.add(inputs[0].data().iter().zip(g.data()).map(|(x, g)| g * 4.0 * x));
        }
    }

    #[test]
    fn a_wrong_backward_is_caught_and_located() {
        let x = Tensor::from_vec([3], vec![0.5, -2.0, 1.0]);
        let err = gradcheck(|v| v[0].apply(WrongSquare, &[]).sum(), &[x], &GradcheckOptions::default()).unwrap_err();
        let GradcheckError::Mismatch { input, report } = &err else { panic!("{err}") };
        assert_eq!(*input, 0);
        // The largest error is at the largest |x|: 4x vs 2x at x = -2.
        let r = &report.inputs[0];
        assert_eq!(r.worst_index, 1);
        assert!((r.analytic + 8.0).abs() < 1e-12 && (r.numeric + 4.0).abs() < 1e-9, "{r:?}");
        assert!(err.to_string().contains("input 0, entry 1"));
    }

    #[test]
    fn both_stencils_pass_a_smooth_function() {
        let x = Tensor::from_vec([2, 2], vec![0.3, -0.7, 1.1, 0.2]);
        for (stencil, eps, rtol) in [(Stencil::ThreePoint, 1e-6, 1e-5), (Stencil::FivePoint, 1e-3, 1e-7)] {
            let opts = GradcheckOptions { eps, rtol, atol: 1e-9, stencil };
            let r = gradcheck(|v| v[0].sigmoid().mul(v[0]).sum(), std::slice::from_ref(&x), &opts).unwrap();
            assert!(r.max_rel_err() < rtol, "{stencil:?}: {r:?}");
        }
    }

    #[test]
    fn a_non_scalar_function_is_refused() {
        let x = Tensor::from_vec([2], vec![1.0, 2.0]);
        let err = gradcheck(|v| v[0].exp(), &[x], &GradcheckOptions::default()).unwrap_err();
        assert_eq!(err, GradcheckError::NotScalar { shape: vec![2] });
    }
}
