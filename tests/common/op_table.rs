//! The one table of the built-in ops that drives `gradcheck_ops.rs` (seeded fixed shapes),
//! `prop_ops.rs` (generated shapes and values) and the random graphs of `prop_graphs.rs`.
//!
//! Adding an op is one entry in [`op_table!`] below: its shape relation ([`Shapes`]), the domain
//! of each input ([`Domain`]), the recorded function, optionally the tape-free `Tensor` function
//! of the same name (the property then checks that both give the same value) and optionally how
//! random graphs use it ([`GraphRule`]). Each suite gets one test per entry, named after it.
//!
//! **Shapes.** Fixed cases: rank 0 to 3 with axes of 1 to 5, every broadcast of
//! [`broadcast_pairs`], matrices `1 x 1`, `1 x n`, `n x 1`, and products past the GEMM cutoff.
//! Generated cases: ranks 0 to 3; each axis of a vector or matrix is 1 a quarter of the time and
//! otherwise 2 to 16, so `1 x n`, `n x 1` and `1 x 1` come up often; rank-3 axes stop at 4 to keep
//! a case cheap. Binary ops get every broadcast: each operand keeps or drops (to 1) each axis of
//! a common output shape, and may drop leading axes.
//!
//! **Values**, chosen so that a failure means a wrong gradient, not a bad finite difference
//! (the stencil samples `x ± 2 eps`, `eps = 1e-3`):
//! - smooth ops: uniform in `[-2, 2]`; sigmoid, tanh, silu, softplus and log_sigmoid in
//!   `[-5, 5]`, softmax in `[-6, 6]`; gelu in `[-3, 3]`, since further left its gradient falls
//!   below 1e-5 and the stencil's rounding (about 1e-11 on a readout of many entries) would be
//!   a relative error past the tolerance;
//! - relu, leaky_relu, elu and abs: magnitude in `[KINK_MARGIN, 2] = [0.05, 2]` with a random sign, so no sample
//!   crosses the kink at 0 (the margin is 25 times the stencil's reach), and both slopes are
//!   exercised;
//! - log: in `[0.1, 4]`, positive; its fifth derivative `24 / x^5` stays small enough there for
//!   the stencil's `eps^4` truncation error to sit far below the tolerance;
//! - div and recip: divisors of magnitude in `[0.25, 2]`, either sign, so `a / b` and `-a / b^2`
//!   stay moderate;
//! - sqrt, rsqrt and powf(0.5): in `[0.1, 4]` like log (rsqrt's fifth derivative, about
//!   `30 x^-5.5`, is the largest there; the stencil's error `eps^4 f^(5) / 30` it causes is at
//!   most 2e-8 of the gradient at 0.1);
//! - powf with the case's exponent in `[-3, 3)`: in `[0.5, 4]`; powi(3) and powi(0) in `[-2, 2]`,
//!   powi(-2) and powi(-3): magnitude in `[0.5, 2]`, either sign;
//! - sin and cos: in `[-4, 4]`, more than a period.
//!
//! Each op's output `y` is read out as `sum(y * c)` for fixed distinct weights `c` (see
//! [`weighted_sum`]), so that a backward routing `g[i]` to the wrong entry is caught.

use super::{
    KINK_MARGIN, away_from_zero, check, check_second_order, gradcheck_case, proptest_config, random_shape, rng,
    uniform, weighted_sum,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;
use rand::{RngExt, rngs::StdRng};
use std::fmt;
use tapegrad::autograd::ops::activation::NormalCdf;
use tapegrad::autograd::ops::broadcast::Expand;
use tapegrad::autograd::ops::elementwise::Unary;
use tapegrad::autograd::ops::pick::Scatter;
use tapegrad::autograd::ops::reduce::RepeatAxis;
use tapegrad::autograd::{Shape, Tape, Tensor, Var};
use tapegrad::nn::{softmax_cross_entropy, softmax_cross_entropy_soft};

/// The recorded op: inputs as vars, in the order of [`OpRow::domains`].
pub type VarFn = for<'t> fn(&[Var<'t, f64>], &Args) -> Var<'t, f64>;
/// An op's expression in a random graph, on operands `a` and `b` (`b` is `a` for one input).
pub type GraphFn = for<'t> fn(Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>;
/// The same op without a tape.
pub type TensorFn = fn(&[&Tensor<f64>], &Args) -> Tensor<f64>;

/// One op of the table.
pub struct OpRow {
    /// The name of its tests.
    pub name: &'static str,
    /// How its input shapes relate (and so how many inputs it takes).
    pub shapes: Shapes,
    /// Where each input's values are drawn from.
    pub domains: &'static [Domain],
    /// The op on a tape.
    pub var: VarFn,
    /// The tape-free `Tensor` method of the same name, if there is one.
    pub tensor: Option<TensorFn>,
    /// How random graphs use the op, if they do.
    pub graph: Option<GraphRule>,
}

/// What an op takes besides its tensors.
#[derive(Clone, Debug, Default)]
pub struct Args {
    /// The constant of `scale` and `add_scalar`.
    pub scalar: f64,
    /// The axis of `sum_axis` and `mean_axis`.
    pub axis: usize,
    /// One class per row, for `pick`, `nll` and cross-entropy.
    pub labels: Vec<usize>,
}

/// The arguments of an op in a random graph: halving, reducing over rows.
pub const GRAPH_ARGS: Args = Args { scalar: 0.5, axis: 0, labels: Vec::new() };

/// How an op's input shapes are built from random sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shapes {
    /// One input of any shape, rank 0 to 3, and a constant in `[-3, 3)`.
    Any,
    /// One input of rank 1 to 3 and one of its axes.
    Axis,
    /// One input of rank 1 to 3, worked on along its last axis.
    Rows,
    /// One matrix.
    Matrix,
    /// Two operands that broadcast.
    Broadcast,
    /// `[m, k]` and `[k, n]`.
    Matmul,
    /// A `[n, c]` matrix and one label in `0..c` per row.
    Labelled,
    /// Two `[n, c]` matrices: scores and target distributions.
    Targets,
}

/// Where an input's values come from.
#[derive(Clone, Copy, Debug)]
pub enum Domain {
    /// Uniform in `[lo, hi)`.
    Range(f64, f64),
    /// Magnitude uniform in `[lo, hi)`, either sign: away from 0 (kinks, divisors).
    AwayFromZero(f64, f64),
    /// Rows that sum to 1, each entry at least `1e-3 / (c + 1e-3)`: soft targets.
    Distribution,
}

/// How a random graph (`prop_graphs.rs`) applies an op, and what it does to the bounds there.
pub struct GraphRule {
    /// The expression as the graph prints it, `$a` and `$b` standing for the operands.
    pub show: &'static str,
    /// The expression, when it is not the op itself with [`GRAPH_ARGS`]: a variant that is
    /// smooth everywhere, say.
    pub apply: Option<GraphFn>,
    /// The output's shape and bounds, or `None` if the op does not apply to these operands.
    pub result: fn(&Info, &Info) -> Option<Info>,
}

/// What a random graph knows of a value: its shape, a bound on its magnitude and one on its
/// derivative with respect to any one leaf entry.
#[derive(Clone, Debug)]
pub struct Info {
    /// The shape.
    pub shape: Vec<usize>,
    /// `max |v|`.
    pub bound: f64,
    /// `max |dv / dx|` over leaf entries `x`.
    pub slope: f64,
}

impl Info {
    fn with(&self, bound: f64, slope: f64) -> Option<Info> {
        Some(Info { shape: self.shape.clone(), bound, slope })
    }
}

/// The broadcast of two shapes, if they broadcast (axes matched from the right).
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], k: usize| if k + s.len() >= rank { s[k + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|k| match (dim(a, k), dim(b, k)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

fn broadcast_info(a: &Info, b: &Info, bound: f64, slope: f64) -> Option<Info> {
    Some(Info { shape: broadcast(&a.shape, &b.shape)?, bound, slope })
}

const ANY: &[Domain] = &[Domain::Range(-2.0, 2.0)];
const PAIR: &[Domain] = &[Domain::Range(-2.0, 2.0), Domain::Range(-2.0, 2.0)];
const KINKED: &[Domain] = &[Domain::AwayFromZero(KINK_MARGIN, 2.0)];
const DIVISION: &[Domain] = &[Domain::Range(-2.0, 2.0), Domain::AwayFromZero(0.25, 2.0)];
const MATMUL: &[Domain] = &[Domain::Range(-1.0, 1.0), Domain::Range(-1.0, 1.0)];
const SOFTMAX: &[Domain] = &[Domain::Range(-6.0, 6.0)];
const POSITIVE: &[Domain] = &[Domain::Range(0.1, 4.0)];
const TRIG: &[Domain] = &[Domain::Range(-4.0, 4.0)];

/// Defines one function per entry returning its [`OpRow`], [`all`] and [`for_each_op!`], which
/// calls a macro with every entry's name (so a suite can define one test per op).
macro_rules! op_table {
    ($d:tt $($name:ident { $($field:tt)* })*) => {
        $(
            #[doc = concat!("The `", stringify!($name), "` row.")]
            pub fn $name() -> OpRow {
                OpRow { name: stringify!($name), $($field)* }
            }
        )*

        /// Every row, in table order: random graphs shrink an op towards the first.
        pub fn all() -> Vec<OpRow> {
            vec![$($name()),*]
        }

        /// `for_each_op!(m)` expands to `m! { name name ... }`, one name per row.
        #[allow(unused_macros)]
        macro_rules! for_each_op {
            ($d m:ident) => {
                $d m! { $($name)* }
            };
        }
        #[allow(unused_imports)]
        pub(crate) use for_each_op;
    };
}

// The ops random graphs use come first, simplest first: a graph's ops shrink towards the start.
op_table! { $
    add {
        shapes: Shapes::Broadcast, domains: PAIR, var: |v, _| v[0].add(v[1]), tensor: Some(|t, _| t[0].add(t[1])),
        graph: Some(GraphRule { show: "$a + $b", apply: None, result: sum_of_bounds }),
    }
    mul {
        shapes: Shapes::Broadcast, domains: PAIR, var: |v, _| v[0].mul(v[1]), tensor: Some(|t, _| t[0].mul(t[1])),
        graph: Some(GraphRule {
            show: "$a * $b",
            apply: None,
            result: |a, b| broadcast_info(a, b, a.bound * b.bound, a.bound * b.slope + b.bound * a.slope),
        }),
    }
    neg {
        shapes: Shapes::Any, domains: ANY, var: |v, _| v[0].neg(), tensor: None,
        graph: Some(GraphRule { show: "-$a", apply: None, result: |a, _| a.with(a.bound, a.slope) }),
    }
    sub {
        shapes: Shapes::Broadcast, domains: PAIR, var: |v, _| v[0].sub(v[1]), tensor: Some(|t, _| t[0].sub(t[1])),
        graph: Some(GraphRule { show: "$a - $b", apply: None, result: sum_of_bounds }),
    }
    tanh {
        shapes: Shapes::Any, domains: &[Domain::Range(-5.0, 5.0)], var: |v, _| v[0].tanh(),
        tensor: Some(|t, _| t[0].tanh()),
        graph: Some(GraphRule { show: "tanh($a)", apply: None, result: |a, _| a.with(1.0, a.slope) }),
    }
    sigmoid {
        shapes: Shapes::Any, domains: &[Domain::Range(-5.0, 5.0)], var: |v, _| v[0].sigmoid(),
        tensor: Some(|t, _| t[0].sigmoid()),
        graph: Some(GraphRule { show: "sigmoid($a)", apply: None, result: |a, _| a.with(1.0, a.slope / 4.0) }),
    }
    scale {
        shapes: Shapes::Any, domains: ANY, var: |v, a| v[0].scale(a.scalar), tensor: Some(|t, a| t[0].scale(a.scalar)),
        graph: Some(GraphRule { show: "0.5 * $a", apply: None, result: |a, _| a.with(a.bound / 2.0, a.slope / 2.0) }),
    }
    square {
        shapes: Shapes::Any, domains: ANY, var: |v, _| v[0].square(), tensor: None,
        graph: Some(GraphRule {
            show: "$a^2",
            apply: None,
            result: |a, _| a.with(a.bound * a.bound, 2.0 * a.bound * a.slope),
        }),
    }
    exp {
        shapes: Shapes::Any, domains: ANY, var: |v, _| v[0].exp(), tensor: None,
        graph: Some(GraphRule {
            show: "exp($a)",
            apply: None,
            result: |a, _| a.with(a.bound.exp(), a.bound.exp() * a.slope),
        }),
    }
    log {
        shapes: Shapes::Any, domains: &[Domain::Range(0.1, 4.0)], var: |v, _| v[0].log(), tensor: None,
        // In graphs only as log(x^2 + 1), defined everywhere; d/dx = 2x / (x^2 + 1), at most 1.
        graph: Some(GraphRule {
            show: "log($a^2 + 1)",
            apply: Some(|a, _| a.square().add_scalar(1.0).log()),
            result: |a, _| a.with((a.bound * a.bound).ln_1p(), a.slope),
        }),
    }
    div {
        shapes: Shapes::Broadcast, domains: DIVISION, var: |v, _| v[0].div(v[1]), tensor: None,
        // In graphs only as a / (b^2 + 1), whose divisor stays >= 1;
        // d/db (a / (b^2 + 1)) = -2ab / (b^2 + 1)^2, at most 0.65 |a| in size.
        graph: Some(GraphRule {
            show: "$a / ($b^2 + 1)",
            apply: Some(|a, b| a / b.square().add_scalar(1.0)),
            result: |a, b| broadcast_info(a, b, a.bound, a.slope + 0.65 * a.bound * b.slope),
        }),
    }
    sum_axis {
        shapes: Shapes::Axis, domains: ANY, var: |v, a| v[0].sum_axis(a.axis),
        tensor: Some(|t, a| t[0].sum_axis(a.axis)),
        graph: Some(GraphRule { show: "sum_axis($a, 0)", apply: None, result: |a, _| reduce_rows(a, true) }),
    }
    mean_axis {
        shapes: Shapes::Axis, domains: ANY, var: |v, a| v[0].mean_axis(a.axis), tensor: None,
        graph: Some(GraphRule { show: "mean_axis($a, 0)", apply: None, result: |a, _| reduce_rows(a, false) }),
    }
    transpose {
        shapes: Shapes::Matrix, domains: ANY, var: |v, _| v[0].transpose(), tensor: Some(|t, _| t[0].transpose()),
        graph: Some(GraphRule {
            show: "transpose($a)",
            apply: None,
            result: |a, _| match a.shape[..] {
                [r, c] => Some(Info { shape: vec![c, r], bound: a.bound, slope: a.slope }),
                _ => None,
            },
        }),
    }
    matmul {
        shapes: Shapes::Matmul, domains: MATMUL, var: |v, _| v[0].matmul(v[1]), tensor: Some(|t, _| t[0].matmul(t[1])),
        graph: Some(GraphRule {
            show: "$a @ $b",
            apply: None,
            result: |a, b| match (&a.shape[..], &b.shape[..]) {
                (&[m, k], &[k2, n]) if k == k2 => {
                    let k = k as f64;
                    let slope = k * (a.bound * b.slope + b.bound * a.slope);
                    Some(Info { shape: vec![m, n], bound: k * a.bound * b.bound, slope })
                }
                _ => None,
            },
        }),
    }
    log_softmax {
        shapes: Shapes::Rows, domains: SOFTMAX, var: |v, _| v[0].log_softmax(), tensor: Some(|t, _| t[0].log_softmax()),
        // |x_i - logsumexp(x)| <= 2B + ln(len); each output moves by at most 2 max |dx|.
        graph: Some(GraphRule {
            show: "log_softmax($a)",
            apply: None,
            result: |a, _| a.with(2.0 * a.bound + (*a.shape.last()? as f64).ln(), 2.0 * a.slope),
        }),
    }
    softmax {
        shapes: Shapes::Rows, domains: SOFTMAX, var: |v, _| v[0].softmax(), tensor: Some(|t, _| t[0].softmax()),
        graph: Some(GraphRule {
            show: "softmax($a)",
            apply: None,
            result: |a, _| {
                a.shape.last()?;
                a.with(1.0, 2.0 * a.slope)
            },
        }),
    }
    // Not in random graphs: an intermediate value can land within 2 eps of a kink (relu, abs),
    // and the rest add nothing a graph's ops do not already compose.
    add_scalar { shapes: Shapes::Any, domains: ANY, var: |v, a| v[0].add_scalar(a.scalar), tensor: None, graph: None, }
    neg_operator { shapes: Shapes::Any, domains: ANY, var: |v, _| -v[0], tensor: None, graph: None, }
    abs { shapes: Shapes::Any, domains: KINKED, var: |v, _| v[0].abs(), tensor: None, graph: None, }
    relu {
        shapes: Shapes::Any, domains: KINKED, var: |v, _| v[0].relu(),
        tensor: Some(|t, _| t[0].relu()), graph: None,
    }
    sqrt { shapes: Shapes::Any, domains: POSITIVE, var: |v, _| v[0].sqrt(), tensor: Some(|t, _| t[0].sqrt()), graph: None, }
    rsqrt { shapes: Shapes::Any, domains: POSITIVE, var: |v, _| v[0].rsqrt(), tensor: Some(|t, _| t[0].rsqrt()), graph: None, }
    recip {
        shapes: Shapes::Any, domains: &[Domain::AwayFromZero(0.25, 2.0)], var: |v, _| v[0].recip(),
        tensor: Some(|t, _| t[0].recip()), graph: None,
    }
    // Integer powers on either sign: odd, even, negative and the constant x^0.
    powi_3 { shapes: Shapes::Any, domains: ANY, var: |v, _| v[0].powi(3), tensor: Some(|t, _| t[0].powi(3)), graph: None, }
    powi_0 { shapes: Shapes::Any, domains: ANY, var: |v, _| v[0].powi(0), tensor: Some(|t, _| t[0].powi(0)), graph: None, }
    powi_neg2 {
        shapes: Shapes::Any, domains: &[Domain::AwayFromZero(0.5, 2.0)], var: |v, _| v[0].powi(-2),
        tensor: Some(|t, _| t[0].powi(-2)), graph: None,
    }
    powi_neg3 {
        shapes: Shapes::Any, domains: &[Domain::AwayFromZero(0.5, 2.0)], var: |v, _| v[0].powi(-3),
        tensor: Some(|t, _| t[0].powi(-3)), graph: None,
    }
    // The exponent is the case's constant, in [-3, 3); the base starts at 0.5 so that x^-3 stays moderate.
    powf {
        shapes: Shapes::Any, domains: &[Domain::Range(0.5, 4.0)], var: |v, a| v[0].powf(a.scalar),
        tensor: Some(|t, a| t[0].powf(a.scalar)), graph: None,
    }
    powf_half {
        shapes: Shapes::Any, domains: POSITIVE, var: |v, _| v[0].powf(0.5), tensor: Some(|t, _| t[0].powf(0.5)),
        graph: None,
    }
    sin { shapes: Shapes::Any, domains: TRIG, var: |v, _| v[0].sin(), tensor: Some(|t, _| t[0].sin()), graph: None, }
    cos { shapes: Shapes::Any, domains: TRIG, var: |v, _| v[0].cos(), tensor: Some(|t, _| t[0].cos()), graph: None, }
    add_operator { shapes: Shapes::Broadcast, domains: PAIR, var: |v, _| v[0] + v[1], tensor: None, graph: None, }
    sub_operator { shapes: Shapes::Broadcast, domains: PAIR, var: |v, _| v[0] - v[1], tensor: None, graph: None, }
    mul_operator { shapes: Shapes::Broadcast, domains: PAIR, var: |v, _| v[0] * v[1], tensor: None, graph: None, }
    div_operator { shapes: Shapes::Broadcast, domains: DIVISION, var: |v, _| v[0] / v[1], tensor: None, graph: None, }
    // No tape-free check: `Tensor::sum` adds in another order than the op's kernel, so the two
    // may differ in the last bit.
    sum { shapes: Shapes::Any, domains: ANY, var: |v, _| v[0].sum(), tensor: None, graph: None, }
    mean { shapes: Shapes::Any, domains: ANY, var: |v, _| v[0].mean(), tensor: None, graph: None, }
    pick { shapes: Shapes::Labelled, domains: ANY, var: |v, a| v[0].pick(&a.labels), tensor: None, graph: None, }
    nll { shapes: Shapes::Labelled, domains: ANY, var: |v, a| v[0].nll(&a.labels), tensor: None, graph: None, }
    log_softmax_then_nll {
        shapes: Shapes::Labelled, domains: ANY, var: |v, a| v[0].log_softmax().nll(&a.labels),
        tensor: None, graph: None,
    }
    softmax_cross_entropy_of_logits {
        shapes: Shapes::Labelled, domains: SOFTMAX, var: |v, a| softmax_cross_entropy(v[0], &a.labels),
        tensor: None, graph: None,
    }
    // With respect to the targets too: the loss is linear in them.
    softmax_cross_entropy_against_soft_targets {
        shapes: Shapes::Targets, domains: &[Domain::Range(-6.0, 6.0), Domain::Distribution],
        var: |v, _| softmax_cross_entropy_soft(v[0], v[1]), tensor: None, graph: None,
    }
    // Activations beyond relu / sigmoid / tanh. leaky_relu has a kink at 0 and elu a jump in its
    // second derivative there (which the stencil's truncation error would show), so both keep
    // off 0 like relu.
    leaky_relu {
        shapes: Shapes::Any, domains: KINKED, var: |v, _| v[0].leaky_relu(0.1),
        tensor: Some(|t, _| t[0].leaky_relu(0.1)), graph: None,
    }
    elu { shapes: Shapes::Any, domains: KINKED, var: |v, _| v[0].elu(), tensor: Some(|t, _| t[0].elu()), graph: None, }
    silu { shapes: Shapes::Any, domains: SMOOTH, var: |v, _| v[0].silu(), tensor: Some(|t, _| t[0].silu()), graph: None, }
    softplus { shapes: Shapes::Any, domains: SMOOTH, var: |v, _| v[0].softplus(), tensor: Some(|t, _| t[0].softplus()), graph: None, }
    log_sigmoid { shapes: Shapes::Any, domains: SMOOTH, var: |v, _| v[0].log_sigmoid(), tensor: Some(|t, _| t[0].log_sigmoid()), graph: None, }
    gelu {
        shapes: Shapes::Any, domains: &[Domain::Range(-3.0, 3.0)], var: |v, _| v[0].gelu(),
        tensor: Some(|t, _| t[0].gelu()), graph: None,
    }
    // The ops that recorded gradients are made of, beyond the ones above: their own rules are
    // what a third-order gradient runs through. sum_to of a product that broadcasts, so that
    // its input is a genuine broadcast and both operands get a gradient.
    sum_to {
        shapes: Shapes::Broadcast, domains: PAIR, var: |v, _| (v[0] * v[1]).sum_to(&v[1].shape()),
        tensor: None, graph: None,
    }
    expand {
        shapes: Shapes::Broadcast, domains: PAIR,
        var: |v, _| {
            let shape = Shape::new(&broadcast(v[0].shape().dims(), v[1].shape().dims()).expect("the shapes broadcast"));
            v[0].apply(Expand { shape }, &[]) * v[1]
        },
        tensor: None, graph: None,
    }
    repeat_axis {
        shapes: Shapes::Axis, domains: ANY, var: |v, a| v[0].apply(RepeatAxis { axis: a.axis, len: 3 }, &[]).square(),
        tensor: None, graph: None,
    }
    // Each row's sum scattered to its label's column (pick's gradient).
    scatter {
        shapes: Shapes::Labelled, domains: ANY,
        var: |v, a| {
            let classes = v[0].shape().last_dim();
            v[0].sum_axis(1).apply(Scatter { labels: a.labels.clone(), classes }, &[]).square()
        },
        tensor: None, graph: None,
    }
    normal_cdf {
        shapes: Shapes::Any, domains: &[Domain::Range(-3.0, 3.0)], var: |v, _| v[0].apply(Unary(NormalCdf), &[]),
        tensor: None, graph: None,
    }
}

/// Smooth activations saturate outside `[-5, 5]`, where their gradients become too small for
/// the stencil's rounding.
const SMOOTH: &[Domain] = &[Domain::Range(-5.0, 5.0)];

/// `a + b` or `a - b` in a graph: the bounds add up.
fn sum_of_bounds(a: &Info, b: &Info) -> Option<Info> {
    broadcast_info(a, b, a.bound + b.bound, a.slope + b.slope)
}

/// `sum_axis(0)` (`sum`) or `mean_axis(0)` in a graph: the rows' bounds add up, or average.
fn reduce_rows(a: &Info, sum: bool) -> Option<Info> {
    let (&rows, rest) = a.shape.split_first()?;
    let scale = if sum { rows as f64 } else { 1.0 };
    Some(Info { shape: rest.to_vec(), bound: scale * a.bound, slope: scale * a.slope })
}

/// The rows random graphs use, in table order.
pub fn graph_ops() -> Vec<OpRow> {
    all().into_iter().filter(|row| row.graph.is_some()).collect()
}

/// One case of an op: its inputs, printed in full when a case fails (the tensor's own `Debug`
/// elides long axes and rounds), and its other arguments.
#[derive(Clone)]
pub struct Case {
    /// The inputs, in the order of the row's domains.
    pub inputs: Vec<Tensor<f64>>,
    /// The other arguments.
    pub args: Args,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.inputs {
            write!(f, "{} {:?}; ", x.shape(), x.data())?;
        }
        write!(f, "{:?}", self.args)
    }
}

impl Case {
    fn shapes(&self) -> String {
        let shapes: Vec<String> = self.inputs.iter().map(|x| x.shape().to_string()).collect();
        format!("{} {:?}", shapes.join(" with "), self.args)
    }
}

impl OpRow {
    /// `sum(op(inputs) * c)`, the readout every check differentiates.
    fn readout<'t>(&self, inputs: &[Var<'t, f64>], args: &Args) -> Var<'t, f64> {
        weighted_sum((self.var)(inputs, args))
    }

    /// The op in a random graph, on operands `a` and `b` (`b` is `a` for an op of one input).
    pub fn apply_in_graph<'t>(&self, a: Var<'t, f64>, b: Var<'t, f64>) -> Var<'t, f64> {
        match self.graph.as_ref().and_then(|g| g.apply) {
            Some(apply) => apply(a, b),
            None => (self.var)(&[a, b][..self.domains.len()], &GRAPH_ARGS),
        }
    }

    /// Whether the op takes two tensors.
    pub fn is_binary(&self) -> bool {
        self.domains.len() == 2
    }

    /// Gradchecks the op on its seeded fixed cases with [`check`]'s tolerance; the seed comes
    /// from the name, so adding a row changes no other row's cases.
    #[track_caller]
    pub fn gradcheck_fixed_cases(&self) {
        for (k, case) in self.fixed_cases().into_iter().enumerate() {
            check(&format!("{} #{k} {}", self.name, case.shapes()), |v| self.readout(v, &case.args), &case.inputs);
        }
    }

    /// The second-order checks of `gradgrad_ops.rs` on the op's seeded fixed cases (the same as
    /// [`gradcheck_fixed_cases`](OpRow::gradcheck_fixed_cases)'): [`check_second_order`].
    #[track_caller]
    pub fn gradgradcheck_fixed_cases(&self) {
        for (k, case) in self.fixed_cases().into_iter().enumerate() {
            let what = format!("{} #{k} {}", self.name, case.shapes());
            check_second_order(&what, |v| self.readout(v, &case.args), &case.inputs);
        }
    }

    /// The seeded fixed cases; the seed comes from the name, so adding a row changes no other
    /// row's cases.
    fn fixed_cases(&self) -> Vec<Case> {
        let seed =
            self.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let mut rng = rng(seed);
        let fixed = self.shapes.fixed(&mut rng);
        fixed
            .into_iter()
            .map(|(shapes, args)| {
                let inputs = shapes.iter().zip(self.domains).map(|(s, d)| d.sample(s, &mut rng)).collect();
                Case { inputs, args }
            })
            .collect()
    }

    /// Generated cases of the op, shrinking towards small shapes and values.
    pub fn cases(&self) -> BoxedStrategy<Case> {
        let domains = self.domains;
        self.shapes
            .strategy()
            .prop_flat_map(move |(shapes, args)| {
                let inputs: Vec<_> = shapes.into_iter().zip(domains).map(|(s, d)| d.strategy(s)).collect();
                (inputs, Just(args)).prop_map(|(inputs, args)| Case { inputs, args })
            })
            .boxed()
    }

    /// The property: on `cases` generated cases the op passes [`gradcheck_case`], and its value
    /// on a tape is the tape-free function's, bit for bit (both run the same forward).
    ///
    /// # Panics
    /// With the smallest failing case, if one fails.
    #[track_caller]
    pub fn check_property(&self, cases: u32) {
        let mut runner = TestRunner::new(proptest_config(cases));
        let result = runner.run(&self.cases(), |case| {
            gradcheck_case(|v| self.readout(v, &case.args), &case.inputs)?;
            if let Some(plain) = self.tensor {
                let tape = Tape::new();
                let vars: Vec<_> = case.inputs.iter().map(|x| tape.constant(x.clone())).collect();
                let refs: Vec<_> = case.inputs.iter().collect();
                prop_assert_eq!((self.var)(&vars, &case.args).value(), plain(&refs, &case.args), "tape against Tensor");
            }
            Ok(())
        });
        if let Err(err) = result {
            panic!("{}: {err}", self.name);
        }
    }
}

/// How many fixed cases an op of [`Shapes::Any`], [`Shapes::Matmul`], [`Shapes::Labelled`] or
/// [`Shapes::Targets`] gets.
const FIXED_CASES: usize = 6;

impl Shapes {
    /// The seeded fixed cases' shapes and arguments.
    fn fixed(self, rng: &mut StdRng) -> Vec<(Vec<Vec<usize>>, Args)> {
        let plain = |shapes: Vec<Vec<usize>>| (shapes, Args::default());
        match self {
            Shapes::Any => (0..FIXED_CASES)
                .map(|_| (vec![random_shape(rng)], Args { scalar: rng.random_range(-3.0..3.0), ..Args::default() }))
                .collect(),
            Shapes::Axis => {
                let on_axis = |shape: &[usize], axis| (vec![shape.to_vec()], Args { axis, ..Args::default() });
                let mut out = Vec::new();
                for _ in 0..2 {
                    let dims = [rng.random_range(2..=5), rng.random_range(2..=5), rng.random_range(2..=5)];
                    out.extend((0..3).map(|axis| on_axis(&dims, axis)));
                }
                // Lower ranks: a vector reduces to a scalar, a matrix to a row or a column.
                out.push(on_axis(&[5], 0));
                out.extend((0..2).map(|axis| on_axis(&[3, 4], axis)));
                out
            }
            // A single row, a batch, a rank-3 stack, and one class (log-softmax identically 0).
            Shapes::Rows => {
                let (n, c) = (rng.random_range(2..=6), rng.random_range(2..=6));
                [vec![c], vec![n, c], vec![2, n, c], vec![n, 1]].into_iter().map(|s| plain(vec![s])).collect()
            }
            Shapes::Matrix => {
                let random = (rng.random_range(2..=8), rng.random_range(2..=8));
                [(1, 1), (1, 5), (5, 1), (3, 4), random].into_iter().map(|(m, n)| plain(vec![vec![m, n]])).collect()
            }
            Shapes::Broadcast => (0..2).flat_map(|_| broadcast_pairs(rng)).map(|(a, b)| plain(vec![a, b])).collect(),
            Shapes::Matmul => {
                let mut dims: Vec<(usize, usize, usize)> = (0..FIXED_CASES)
                    .map(|_| (rng.random_range(1..=8), rng.random_range(1..=8), rng.random_range(1..=8)))
                    .collect();
                // Vectors on either side, and products above the kernel's 4096 multiply-add
                // cutoff, so both the direct loops and the packed GEMM (forward and both backward
                // products) are checked; the last is an outer product (k = 1) through the packed kernel.
                dims.extend([(1, 5, 1), (6, 1, 7), (17, 16, 17), (70, 1, 70)]);
                dims.into_iter().map(|(m, k, n)| plain(vec![vec![m, k], vec![k, n]])).collect()
            }
            // Repeated labels are likely: several rows picking the same class must each get
            // their own gradient.
            Shapes::Labelled => (0..FIXED_CASES)
                .map(|_| {
                    let (n, c) = (rng.random_range(1..=6), rng.random_range(1..=6));
                    let labels = (0..n).map(|_| rng.random_range(0..c)).collect();
                    (vec![vec![n, c]], Args { labels, ..Args::default() })
                })
                .collect(),
            Shapes::Targets => (0..FIXED_CASES)
                .map(|_| plain(vec![vec![rng.random_range(1..=6), rng.random_range(1..=6)]; 2]))
                .collect(),
        }
    }

    /// Generated shapes and arguments (see the module docs).
    fn strategy(self) -> BoxedStrategy<(Vec<Vec<usize>>, Args)> {
        let plain = |shapes: Vec<Vec<usize>>| (shapes, Args::default());
        match self {
            Shapes::Any => {
                (shape(0), -3.0..3.0f64).prop_map(|(s, scalar)| (vec![s], Args { scalar, ..Args::default() })).boxed()
            }
            Shapes::Axis => (shape(1), any::<Index>())
                .prop_map(|(s, axis)| {
                    let axis = axis.index(s.len());
                    (vec![s], Args { axis, ..Args::default() })
                })
                .boxed(),
            Shapes::Rows => shape(1).prop_map(move |s| plain(vec![s])).boxed(),
            Shapes::Matrix => (dim(), dim()).prop_map(move |(m, n)| plain(vec![vec![m, n]])).boxed(),
            Shapes::Broadcast => broadcast_shapes().prop_map(move |(a, b)| plain(vec![a, b])).boxed(),
            Shapes::Matmul => {
                (dim(), dim(), dim()).prop_map(move |(m, k, n)| plain(vec![vec![m, k], vec![k, n]])).boxed()
            }
            Shapes::Labelled => (dim(), dim())
                .prop_flat_map(|(n, c)| {
                    vec(0..c, n).prop_map(move |labels| (vec![vec![n, c]], Args { labels, ..Args::default() }))
                })
                .boxed(),
            Shapes::Targets => (dim(), dim()).prop_map(move |(n, c)| plain(vec![vec![n, c]; 2])).boxed(),
        }
    }
}

impl Domain {
    /// A seeded tensor of `shape` from this domain.
    fn sample(self, shape: &[usize], rng: &mut StdRng) -> Tensor<f64> {
        match self {
            Domain::Range(lo, hi) => uniform(shape, lo, hi, rng),
            Domain::AwayFromZero(lo, hi) => away_from_zero(shape, lo, hi, rng),
            Domain::Distribution => normalise_rows(uniform(shape, 0.0, 1.0, rng)),
        }
    }

    /// Generated tensors of `shape` from this domain.
    fn strategy(self, shape: Vec<usize>) -> BoxedStrategy<Tensor<f64>> {
        let value = match self {
            Domain::Range(lo, hi) => (lo..hi).boxed(),
            Domain::AwayFromZero(lo, hi) => {
                (lo..hi, any::<bool>()).prop_map(|(m, negative)| if negative { -m } else { m }).boxed()
            }
            Domain::Distribution => (0.0..1.0f64).boxed(),
        };
        let n: usize = shape.iter().product();
        vec(value, n)
            .prop_map(move |data| {
                let x = Tensor::from_vec(&shape[..], data);
                if matches!(self, Domain::Distribution) { normalise_rows(x) } else { x }
            })
            .boxed()
    }
}

/// Scales each row (last axis) to sum to 1, after adding 1e-3 to its first entry so that no row
/// is 0.
fn normalise_rows(mut x: Tensor<f64>) -> Tensor<f64> {
    let c = *x.shape().dims().last().expect("Domain::Distribution needs rank >= 1");
    for row in x.data_mut().chunks_exact_mut(c) {
        row[0] += 1e-3;
        let total: f64 = row.iter().sum();
        row.iter_mut().for_each(|p| *p /= total);
    }
    x
}

/// Pairs of operand shapes covering every broadcast the binary ops allow, with axis lengths
/// `m, n, k` of at least 2 so that a length-1 axis really repeats.
fn broadcast_pairs(rng: &mut StdRng) -> Vec<(Vec<usize>, Vec<usize>)> {
    let (m, n, k) = (rng.random_range(2..=5), rng.random_range(2..=5), rng.random_range(2..=4));
    vec![
        (vec![m, n], vec![m, n]),       // same shape
        (vec![m, n], vec![n]),          // row vector over every row (a bias)
        (vec![m, n], vec![1, n]),       // the same as a [1, n] matrix
        (vec![m, n], vec![m, 1]),       // column over every column
        (vec![m, n], vec![]),           // scalar
        (vec![n], vec![m, n]),          // the broadcast operand on the left
        (vec![1, n], vec![m, 1]),       // both repeat: an outer sum/product
        (vec![k, m, n], vec![m, n]),    // rank 3 with rank 2
        (vec![k, 1, n], vec![1, m, 1]), // repeats on alternate axes
        (vec![], vec![]),               // two scalars
        // Rank 5, past the four axes a shape keeps inline; out shape [2, m, k, 2, n].
        (vec![2, 1, k, 1, n], vec![m, 1, 2, 1]),
    ]
}

/// An axis length: 1 a quarter of the time, else 2 to 16.
fn dim() -> impl Strategy<Value = usize> + Clone {
    prop_oneof![1 => Just(1usize), 3 => 2..=16usize]
}

/// A shape of rank `min_rank` to 3 (see the module docs).
fn shape(min_rank: usize) -> BoxedStrategy<Vec<usize>> {
    let by_rank = [
        Just(vec![]).boxed(),
        dim().prop_map(|n| vec![n]).boxed(),
        (dim(), dim()).prop_map(|(m, n)| vec![m, n]).boxed(),
        vec(1..=4usize, 3).boxed(),
    ];
    proptest::strategy::Union::new(by_rank.into_iter().skip(min_rank)).boxed()
}

/// Two operand shapes that broadcast: each keeps each axis of a common shape or makes it 1, and
/// may drop leading axes (a bias `[n]` against `[m, n]`, a column `[m, 1]`, a scalar, ...).
fn broadcast_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (shape(0), vec(any::<bool>(), 3), vec(any::<bool>(), 3), 0..=3usize, 0..=3usize).prop_map(
        |(out, keep_a, keep_b, drop_a, drop_b)| {
            let operand = |keep: &[bool], drop: usize| -> Vec<usize> {
                let drop = drop.min(out.len());
                out.iter().zip(keep).skip(drop).map(|(&d, &k)| if k { d } else { 1 }).collect()
            };
            (operand(&keep_a, drop_a), operand(&keep_b, drop_b))
        },
    )
}
