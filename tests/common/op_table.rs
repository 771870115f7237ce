//! The one table of the built-in ops that drives `gradcheck_ops.rs` (seeded fixed shapes),
//! `prop_ops.rs` (generated shapes and values) and the random graphs of `prop_graphs.rs`.
//!
//! Adding an op is one entry in [`op_table!`] below: its shape relation ([`Shapes`]), the domain
//! of each input ([`Domain`]), the recorded function, optionally the tape-free `Tensor` function
//! of the same name (the property then checks that both give the same value) and optionally how
//! random graphs use it ([`GraphRule`]). Each suite gets one test per entry, named after it.
//!
//! **Shapes.** Fixed cases: rank 0 to 3 with axes of 1 to 5, every broadcast of
//! [`broadcast_pairs`], matrices `1 x 1`, `1 x n`, `n x 1`, and products past the GEMM cutoff;
//! batched products with one batch, axes of 1 and empty axes.
//! Generated cases: ranks 0 to 3; each axis of a vector or matrix is 1 a quarter of the time and
//! otherwise 2 to 16, so `1 x n`, `n x 1` and `1 x 1` come up often; rank-3 axes stop at 4 to keep
//! a case cheap; batched products draw each axis from 0 to 4 (the batch from 0 to 3), empty ones
//! included. Binary ops get every broadcast: each operand keeps or drops (to 1) each axis of
//! a common output shape, and may drop leading axes.
//!
//! The shape ops and the axis reductions also get empty tensors: their fixed cases are a scalar
//! (where the op takes one), a vector, `1 x n`, `n x 1`, a matrix, rank 3, `[m, 0, n]` and `[0]`
//! ([`fixed_shapes`]), and their generated shapes have an axis of length 0 an eighth of the time
//! ([`shape_or_empty`]). Concat joins 1 to 4 inputs, some of length 0 along the axis; stack 1 to 4;
//! narrow and slice get empty and whole ranges; `mean_axis` never reduces an empty axis (it
//! panics there), `sum_axis` does.
//!
//! **Values**, chosen so that a failure means a wrong gradient, not a bad finite difference
//! (the stencil samples `x ± 2 eps`, `eps = 1e-3`):
//! - smooth ops: uniform in `[-2, 2]`; sigmoid, tanh, silu, softplus and log_sigmoid in
//!   `[-5, 5]`, softmax in `[-6, 6]`; gelu, gelu_tanh and erf in `[-3, 3]`, since further out
//!   their gradients fall below 1e-4 (gelu's below 1e-5 on the left) and the stencil's rounding
//!   (about 1e-11 on a readout of many entries) would be a relative error past the tolerance;
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
//! - clamp(-1, 1), clamp_min(-1) and clamp_max(1): in `[-2, 2]`, pushed `KINK_MARGIN` away from
//!   the bounds -1 and 1, so no sample crosses a kink;
//! - maximum and minimum: one operand in the even cells of width 1/4 of `[-2, 2.25]`, the other
//!   in the odd ones, each cell's last fifth empty, so every pair the broadcast meets differs by
//!   at least `KINK_MARGIN` (a tie is a kink) and either operand wins;
//! - logsumexp: in `[-2, 2]`, not softmax's `[-6, 6]`: its gradient is a softmax itself, whose
//!   smallest entries (`e^-12 / n` there) are where the stencil's rounding is a large relative
//!   error; max_axis, min_axis and std_axis: distinct values at least 0.006 apart
//!   (`Domain::Distinct`), so no near-tie moves an arg-max and no lane has near-zero spread;
//!   var_axis and std_axis (correction 1) on axes of length 2 or more (`Shapes::LongAxis`);
//! - pow: bases in `[0.5, 2.5)` (positive: `ln a` in its exponent partial), exponents in
//!   `[-2, 2)`; select: both operands in `[-2, 2]`, and a random mask that broadcasts with them
//!   (`Shapes::Select`).
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
use rand::seq::SliceRandom;
use rand::{RngExt, rngs::StdRng};
use std::fmt;
use std::ops::Range;
use tapegrad::autograd::ops::activation::NormalCdf;
use tapegrad::autograd::ops::elementwise::Unary;
use tapegrad::autograd::ops::pick::Scatter;
use tapegrad::autograd::ops::reduce::RepeatAxis;
use tapegrad::autograd::{Mask, Tape, Tensor, Var};
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
    /// The axis of `sum_axis`, `mean_axis`, `flip`, `concat`, `narrow`, ...
    pub axis: usize,
    /// One class per row, for `pick`, `nll` and cross-entropy.
    pub labels: Vec<usize>,
    /// The target shape of `reshape` and `broadcast_to`.
    pub shape: Vec<usize>,
    /// The range of `narrow` and `slice` along `axis`.
    pub range: Range<usize>,
    /// The permutation of `permute`, or the two axes of `swap_axes`.
    pub axes: Vec<usize>,
    /// The mask of `select`.
    pub mask: Option<Mask>,
}

/// The arguments of an op in a random graph: halving, reducing over rows, flipping rows.
pub const GRAPH_ARGS: Args =
    Args { scalar: 0.5, axis: 0, labels: Vec::new(), shape: Vec::new(), range: 0..0, axes: Vec::new(), mask: None };

/// The longest axis a random graph (`prop_graphs.rs`) makes: its leaves' sizes stop here, and
/// no op there grows an axis past it (concat is only applied up to it), so a graph's values keep
/// at most `GRAPH_MAX_DIM^2` elements, which its rounding bound counts on.
pub const GRAPH_MAX_DIM: usize = 5;

/// How an op's input shapes are built from random sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shapes {
    /// One input of any shape, rank 0 to 3, and a constant in `[-3, 3)`.
    Any,
    /// One input of rank 1 to 3 and one of its axes, never empty (another axis may be).
    Axis,
    /// One input of rank 1 to 3 and one of its axes, which may be empty.
    AxisOrEmpty,
    /// As [`Shapes::Axis`], the axis of length at least 2: a sample variance needs two values.
    LongAxis,
    /// One input of rank 1 to 3, worked on along its last axis.
    Rows,
    /// One matrix.
    Matrix,
    /// Two operands that broadcast.
    Broadcast,
    /// Two operands and a mask ([`Args::mask`]) that broadcast together.
    Select,
    /// `[m, k]` and `[k, n]`.
    Matmul,
    /// `[b, m, k]` and `[b, k, n]`, or `[b, m, k]` and `[k, n]` when `shared_right`; fixed cases
    /// include `b = 1`, axes of length 1 and of length 0.
    BatchedMatmul {
        /// The right operand is one matrix for every batch.
        shared_right: bool,
    },
    /// A `[n, c]` matrix and one label in `0..c` per row.
    Labelled,
    /// Two `[n, c]` matrices: scores and target distributions.
    Targets,
    /// One input of rank 0 to 3 and a target shape of as many elements (`Args::shape`).
    Reshape,
    /// One input of rank 0 to 3 and a place for a new axis, 0 to the rank.
    NewAxis,
    /// One input of rank 1 to 3 with length 1 along the chosen axis.
    UnitAxis,
    /// One input and a shape it broadcasts to (`Args::shape`).
    BroadcastTo,
    /// 1 to 4 inputs of rank 1 to 3 that agree except along the chosen axis, where each has
    /// length 0 to 4.
    Concat,
    /// 1 to 4 inputs of one shape, rank 0 to 3, and a place for the new axis, 0 to the rank.
    Stack,
    /// One input of rank 1 to 3, one of its axes and a range within it (`Args::range`), empty
    /// or whole now and then.
    Range,
    /// One input of rank 0 to 3 and a permutation of its axes (`Args::axes`).
    Permutation,
    /// One input of rank 1 to 3 and two of its axes (`Args::axes`), equal now and then.
    AxisPair,
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
    /// Uniform in `[lo, hi)`, pushed [`KINK_MARGIN`] away from each of the points: off the kinks
    /// of `clamp`.
    AwayFrom(f64, f64, &'static [f64]),
    /// Uniform in `[-2, 2)`, squeezed into the even (`false`) or the odd (`true`) cells of width
    /// 1/4, leaving each cell's last fifth empty: any even value and any odd one are at least
    /// [`KINK_MARGIN`] apart, so two operands of `maximum` never come near a tie.
    Cells(bool),
    /// Distinct values spread over `[lo, hi)`: a random permutation of the `n` cells of width
    /// `(hi - lo) / n`, one value in the first four fifths of each, so any two are at least
    /// `(hi - lo) / 5n` apart. Off the ties of `max_axis`.
    Distinct(f64, f64),
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
        shapes: Shapes::AxisOrEmpty, domains: ANY, var: |v, a| v[0].sum_axis(a.axis),
        tensor: Some(|t, a| t[0].sum_axis(a.axis)),
        graph: Some(GraphRule { show: "sum_axis($a, 0)", apply: None, result: |a, _| reduce_rows(a, true) }),
    }
    mean_axis {
        shapes: Shapes::Axis, domains: ANY, var: |v, a| v[0].mean_axis(a.axis),
        tensor: Some(|t, a| t[0].mean_axis(a.axis)),
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
    // Batched matmul: one product per batch, and one matrix shared by every batch.
    matmul_batched {
        shapes: Shapes::BatchedMatmul { shared_right: false }, domains: MATMUL, var: |v, _| v[0].matmul(v[1]),
        tensor: Some(|t, _| t[0].matmul(t[1])), graph: None,
    }
    matmul_batch_by_matrix {
        shapes: Shapes::BatchedMatmul { shared_right: true }, domains: MATMUL, var: |v, _| v[0].matmul(v[1]),
        tensor: Some(|t, _| t[0].matmul(t[1])), graph: None,
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
    // Not in random graphs: add_scalar and neg_operator add nothing a graph's ops do not already
    // compose, and an intermediate value can land within 2 eps of the kinks of abs and relu (and
    // of leaky_relu and elu below), where no difference quotient is right. The smooth ones below
    // have graph rules; sqrt, rsqrt and recip only of `x^2 + 1`, like log, since a graph's values
    // take either sign.
    add_scalar { shapes: Shapes::Any, domains: ANY, var: |v, a| v[0].add_scalar(a.scalar), tensor: None, graph: None, }
    neg_operator { shapes: Shapes::Any, domains: ANY, var: |v, _| -v[0], tensor: None, graph: None, }
    abs { shapes: Shapes::Any, domains: KINKED, var: |v, _| v[0].abs(), tensor: None, graph: None, }
    relu {
        shapes: Shapes::Any, domains: KINKED, var: |v, _| v[0].relu(),
        tensor: Some(|t, _| t[0].relu()), graph: None,
    }
    sqrt {
        shapes: Shapes::Any, domains: POSITIVE, var: |v, _| v[0].sqrt(), tensor: Some(|t, _| t[0].sqrt()),
        // d/dx sqrt(x^2 + 1) = x / sqrt(x^2 + 1), at most 1 in size.
        graph: Some(GraphRule {
            show: "sqrt($a^2 + 1)",
            apply: Some(|a, _| a.square().add_scalar(1.0).sqrt()),
            result: |a, _| a.with(a.bound.hypot(1.0), a.slope),
        }),
    }
    rsqrt {
        shapes: Shapes::Any, domains: POSITIVE, var: |v, _| v[0].rsqrt(), tensor: Some(|t, _| t[0].rsqrt()),
        // d/dx (x^2 + 1)^-1/2 = -x (x^2 + 1)^-3/2, at most 0.385 in size (at x^2 = 1/2).
        graph: Some(GraphRule {
            show: "rsqrt($a^2 + 1)",
            apply: Some(|a, _| a.square().add_scalar(1.0).rsqrt()),
            result: |a, _| a.with(1.0, 0.39 * a.slope),
        }),
    }
    recip {
        shapes: Shapes::Any, domains: &[Domain::AwayFromZero(0.25, 2.0)], var: |v, _| v[0].recip(),
        tensor: Some(|t, _| t[0].recip()),
        // d/dx 1 / (x^2 + 1) = -2x / (x^2 + 1)^2, at most 0.65 in size (at x^2 = 1/3).
        graph: Some(GraphRule {
            show: "recip($a^2 + 1)",
            apply: Some(|a, _| a.square().add_scalar(1.0).recip()),
            result: |a, _| a.with(1.0, 0.65 * a.slope),
        }),
    }
    // Integer powers on either sign: odd, even, negative and the constant x^0.
    powi_3 {
        shapes: Shapes::Any, domains: ANY, var: |v, _| v[0].powi(3), tensor: Some(|t, _| t[0].powi(3)),
        graph: Some(GraphRule {
            show: "$a^3",
            apply: None,
            result: |a, _| a.with(a.bound.powi(3), 3.0 * a.bound * a.bound * a.slope),
        }),
    }
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
    sin {
        shapes: Shapes::Any, domains: TRIG, var: |v, _| v[0].sin(), tensor: Some(|t, _| t[0].sin()),
        graph: Some(GraphRule { show: "sin($a)", apply: None, result: |a, _| a.with(a.bound.min(1.0), a.slope) }),
    }
    cos {
        shapes: Shapes::Any, domains: TRIG, var: |v, _| v[0].cos(), tensor: Some(|t, _| t[0].cos()),
        graph: Some(GraphRule { show: "cos($a)", apply: None, result: |a, _| a.with(1.0, a.slope) }),
    }
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
    // The smooth ones in graphs: |silu x| and |gelu x| are at most |x|, softplus and
    // -log_sigmoid at most |x| + ln 2; the slopes are at most 1.1 (silu), 1.13 (gelu) and 1.
    silu {
        shapes: Shapes::Any, domains: SMOOTH, var: |v, _| v[0].silu(), tensor: Some(|t, _| t[0].silu()),
        graph: Some(GraphRule { show: "silu($a)", apply: None, result: |a, _| a.with(a.bound, 1.1 * a.slope) }),
    }
    softplus {
        shapes: Shapes::Any, domains: SMOOTH, var: |v, _| v[0].softplus(), tensor: Some(|t, _| t[0].softplus()),
        graph: Some(GraphRule {
            show: "softplus($a)",
            apply: None,
            result: |a, _| a.with(a.bound + std::f64::consts::LN_2, a.slope),
        }),
    }
    log_sigmoid {
        shapes: Shapes::Any, domains: SMOOTH, var: |v, _| v[0].log_sigmoid(), tensor: Some(|t, _| t[0].log_sigmoid()),
        graph: Some(GraphRule {
            show: "log_sigmoid($a)",
            apply: None,
            result: |a, _| a.with(a.bound + std::f64::consts::LN_2, a.slope),
        }),
    }
    gelu {
        shapes: Shapes::Any, domains: &[Domain::Range(-3.0, 3.0)], var: |v, _| v[0].gelu(),
        tensor: Some(|t, _| t[0].gelu()),
        graph: Some(GraphRule { show: "gelu($a)", apply: None, result: |a, _| a.with(a.bound, 1.13 * a.slope) }),
    }
    // Shape ops. They move values and change none, so in graphs they keep the bounds; there the
    // ones that keep the rank (and, for concat, the axes at most GRAPH_MAX_DIM) are used.
    reshape {
        shapes: Shapes::Reshape, domains: ANY, var: |v, a| v[0].reshape(&a.shape[..]),
        tensor: Some(|t, a| t[0].clone().reshape(&a.shape[..])),
        graph: Some(GraphRule {
            show: "reshape($a, reversed dims)",
            apply: Some(|a, _| a.reshape(a.shape().dims().iter().rev().copied().collect::<Vec<_>>())),
            result: |a, _| Some(Info { shape: a.shape.iter().rev().copied().collect(), ..a.clone() }),
        }),
    }
    unsqueeze {
        shapes: Shapes::NewAxis, domains: ANY, var: |v, a| v[0].unsqueeze(a.axis),
        tensor: Some(|t, a| t[0].clone().unsqueeze(a.axis)), graph: None,
    }
    squeeze {
        shapes: Shapes::UnitAxis, domains: ANY, var: |v, a| v[0].squeeze(a.axis),
        tensor: Some(|t, a| t[0].clone().squeeze(a.axis)), graph: None,
    }
    broadcast_to {
        shapes: Shapes::BroadcastTo, domains: ANY, var: |v, a| v[0].broadcast_to(&a.shape[..]),
        tensor: Some(|t, a| t[0].broadcast_to(&a.shape[..])), graph: None,
    }
    concat {
        shapes: Shapes::Concat, domains: LIST, var: |v, a| Var::concat(v, a.axis),
        tensor: Some(|t, a| Tensor::concat(t, a.axis)),
        graph: Some(GraphRule {
            show: "concat([$a, $b], 0)",
            apply: Some(|a, b| Var::concat(&[a, b], 0)),
            result: |a, b| {
                let (&m, rest) = a.shape.split_first()?;
                let (&k, rest_b) = b.shape.split_first()?;
                (rest == rest_b && m + k <= GRAPH_MAX_DIM).then_some(())?;
                let shape = [&[m + k], rest].concat();
                Some(Info { shape, bound: a.bound.max(b.bound), slope: a.slope.max(b.slope) })
            },
        }),
    }
    stack {
        shapes: Shapes::Stack, domains: LIST, var: |v, a| Var::stack(v, a.axis),
        tensor: Some(|t, a| Tensor::stack(t, a.axis)), graph: None,
    }
    narrow {
        shapes: Shapes::Range, domains: ANY, var: |v, a| v[0].narrow(a.axis, a.range.start, a.range.len()),
        tensor: Some(|t, a| t[0].narrow(a.axis, a.range.start, a.range.len())),
        // All rows but the first: their gradient is 0.
        graph: Some(GraphRule {
            show: "narrow($a, 0, 1, len - 1)",
            apply: Some(|a, _| a.narrow(0, 1, a.shape()[0] - 1)),
            result: |a, _| {
                let (&m, rest) = a.shape.split_first()?;
                (m >= 2).then(|| Info { shape: [&[m - 1], rest].concat(), ..a.clone() })
            },
        }),
    }
    slice {
        shapes: Shapes::Range, domains: ANY, var: |v, a| v[0].slice(a.axis, a.range.clone()),
        tensor: Some(|t, a| t[0].slice(a.axis, a.range.clone())), graph: None,
    }
    flip {
        shapes: Shapes::AxisOrEmpty, domains: ANY, var: |v, a| v[0].flip(a.axis), tensor: Some(|t, a| t[0].flip(a.axis)),
        graph: Some(GraphRule {
            show: "flip($a, 0)",
            apply: None,
            result: |a, _| {
                a.shape.first()?;
                a.with(a.bound, a.slope)
            },
        }),
    }
    swap_axes {
        shapes: Shapes::AxisPair, domains: ANY, var: |v, a| v[0].swap_axes(a.axes[0], a.axes[1]),
        tensor: Some(|t, a| t[0].swap_axes(a.axes[0], a.axes[1])),
        graph: Some(GraphRule {
            show: "swap_axes($a, 0, last)",
            apply: Some(|a, _| a.swap_axes(0, a.shape().rank() - 1)),
            result: |a, _| {
                let mut shape = a.shape.clone();
                let last = shape.len().checked_sub(1)?;
                shape.swap(0, last);
                Some(Info { shape, ..a.clone() })
            },
        }),
    }
    permute {
        shapes: Shapes::Permutation, domains: ANY, var: |v, a| v[0].permute(&a.axes),
        tensor: Some(|t, a| t[0].permute(&a.axes)), graph: None,
    }
    sum_axis_keepdim {
        shapes: Shapes::AxisOrEmpty, domains: ANY, var: |v, a| v[0].sum_axis_keepdim(a.axis),
        tensor: Some(|t, a| t[0].sum_axis_keepdim(a.axis)),
        graph: Some(GraphRule { show: "sum_axis_keepdim($a, 0)", apply: None, result: |a, _| keep_rows(a, true) }),
    }
    mean_axis_keepdim {
        shapes: Shapes::Axis, domains: ANY, var: |v, a| v[0].mean_axis_keepdim(a.axis),
        tensor: Some(|t, a| t[0].mean_axis_keepdim(a.axis)),
        graph: Some(GraphRule { show: "mean_axis_keepdim($a, 0)", apply: None, result: |a, _| keep_rows(a, false) }),
    }
    // Elementwise and reductions
    // gelu_tanh like gelu (the same bounds: |y| <= |x|, slope at most 1.129); erf is bounded by
    // 1 with slope at most 2 / sqrt(pi) = 1.128.
    gelu_tanh {
        shapes: Shapes::Any, domains: &[Domain::Range(-3.0, 3.0)], var: |v, _| v[0].gelu_tanh(),
        tensor: Some(|t, _| t[0].gelu_tanh()),
        graph: Some(GraphRule { show: "gelu_tanh($a)", apply: None, result: |a, _| a.with(a.bound, 1.13 * a.slope) }),
    }
    erf {
        shapes: Shapes::Any, domains: &[Domain::Range(-3.0, 3.0)], var: |v, _| v[0].erf(), tensor: Some(|t, _| t[0].erf()),
        graph: Some(GraphRule { show: "erf($a)", apply: None, result: |a, _| a.with(1.0, 1.13 * a.slope) }),
    }
    // clamp and its one-sided forms keep off their kinks at -1 and 1; maximum and minimum take
    // their operands from interleaved cells, so no pair comes within KINK_MARGIN of a tie. None
    // of them is in random graphs, where a value can land on a kink or a tie (maximum(a, a)).
    clamp {
        shapes: Shapes::Any, domains: CLAMPED, var: |v, _| v[0].clamp(-1.0, 1.0),
        tensor: Some(|t, _| t[0].clamp(-1.0, 1.0)), graph: None,
    }
    clamp_min {
        shapes: Shapes::Any, domains: CLAMPED, var: |v, _| v[0].clamp_min(-1.0),
        tensor: Some(|t, _| t[0].clamp_min(-1.0)), graph: None,
    }
    clamp_max {
        shapes: Shapes::Any, domains: CLAMPED, var: |v, _| v[0].clamp_max(1.0),
        tensor: Some(|t, _| t[0].clamp_max(1.0)), graph: None,
    }
    maximum {
        shapes: Shapes::Broadcast, domains: UNTIED, var: |v, _| v[0].maximum(v[1]),
        tensor: Some(|t, _| t[0].maximum(t[1])), graph: None,
    }
    minimum {
        shapes: Shapes::Broadcast, domains: UNTIED, var: |v, _| v[0].minimum(v[1]),
        tensor: Some(|t, _| t[0].minimum(t[1])), graph: None,
    }
    // select is smooth for a fixed mask: in graphs with a checkerboard of the output's shape.
    select {
        shapes: Shapes::Select, domains: PAIR, var: |v, a| Var::select(a.mask.as_ref().expect("a mask"), v[0], v[1]),
        tensor: Some(|t, a| Tensor::select(a.mask.as_ref().expect("a mask"), t[0], t[1])),
        graph: Some(GraphRule {
            show: "select(checkerboard, $a, $b)",
            apply: Some(|a, b| {
                let out = broadcast(a.shape().dims(), b.shape().dims()).expect("checked by the rule");
                Var::select(&checkerboard(&out), a, b)
            }),
            result: |a, b| broadcast_info(a, b, a.bound.max(b.bound), a.slope.max(b.slope)),
        }),
    }
    // Bases in [0.5, 2.5) and exponents in [-2, 2): a^b between 0.06 and 16. In graphs only as
    // (a^2 + 1)^b, whose base is at least 1: d = y (b 2a / (a^2 + 1) da + ln(a^2 + 1) db), and
    // 2|a| / (a^2 + 1) <= 1.
    pow {
        shapes: Shapes::Broadcast, domains: &[Domain::Range(0.5, 2.5), Domain::Range(-2.0, 2.0)],
        var: |v, _| v[0].pow(v[1]), tensor: Some(|t, _| t[0].pow(t[1])),
        graph: Some(GraphRule {
            show: "($a^2 + 1)^$b",
            apply: Some(|a, b| a.square().add_scalar(1.0).pow(b)),
            result: |a, b| {
                let base = a.bound * a.bound + 1.0;
                let y = base.powf(b.bound);
                broadcast_info(a, b, y, y * (b.bound * a.slope + base.ln() * b.slope))
            },
        }),
    }
    // Reductions along an axis. max and min take distinct values: a near-tie within the
    // stencil's reach would move the arg-max. std's domain is the same, so no lane of two
    // values comes near zero spread, where std = |x_0 - x_1| / sqrt 2 has its kink. In graphs
    // (over rows, GRAPH_ARGS.axis = 0): logsumexp, bounded by B + ln(rows) with slope D (its
    // gradient is a softmax, summing to 1), and the unbiased variance, at most
    // rows B^2 / (rows - 1) with slope 4 rows B D / (rows - 1). max, min (ties, say of a
    // broadcast row) and std (zero spread) stay out.
    max_axis {
        shapes: Shapes::Axis, domains: DISTINCT, var: |v, a| v[0].max_axis(a.axis),
        tensor: Some(|t, a| t[0].max_axis(a.axis)), graph: None,
    }
    max_axis_keepdim {
        shapes: Shapes::Axis, domains: DISTINCT, var: |v, a| v[0].max_axis_keepdim(a.axis),
        tensor: Some(|t, a| t[0].max_axis_keepdim(a.axis)), graph: None,
    }
    min_axis {
        shapes: Shapes::Axis, domains: DISTINCT, var: |v, a| v[0].min_axis(a.axis),
        tensor: Some(|t, a| t[0].min_axis(a.axis)), graph: None,
    }
    min_axis_keepdim {
        shapes: Shapes::Axis, domains: DISTINCT, var: |v, a| v[0].min_axis_keepdim(a.axis),
        tensor: Some(|t, a| t[0].min_axis_keepdim(a.axis)), graph: None,
    }
    logsumexp {
        shapes: Shapes::Axis, domains: ANY, var: |v, a| v[0].logsumexp(a.axis),
        tensor: Some(|t, a| t[0].logsumexp(a.axis)),
        graph: Some(GraphRule {
            show: "logsumexp($a, 0)",
            apply: None,
            result: |a, _| {
                let (&rows, rest) = a.shape.split_first()?;
                Some(Info { shape: rest.to_vec(), bound: a.bound + (rows as f64).ln(), slope: a.slope })
            },
        }),
    }
    logsumexp_keepdim {
        shapes: Shapes::Axis, domains: ANY, var: |v, a| v[0].logsumexp_keepdim(a.axis),
        tensor: Some(|t, a| t[0].logsumexp_keepdim(a.axis)), graph: None,
    }
    var_axis {
        shapes: Shapes::LongAxis, domains: ANY, var: |v, a| v[0].var_axis(a.axis, 1),
        tensor: Some(|t, a| t[0].var_axis(a.axis, 1)),
        graph: Some(GraphRule {
            show: "var_axis($a, 0, 1)",
            apply: Some(|a, _| a.var_axis(0, 1)),
            result: |a, _| {
                let (&rows, rest) = a.shape.split_first()?;
                let r = rows as f64;
                (rows >= 2).then(|| Info {
                    shape: rest.to_vec(),
                    bound: r * a.bound * a.bound / (r - 1.0),
                    slope: 4.0 * r * a.bound * a.slope / (r - 1.0),
                })
            },
        }),
    }
    // The population variance is 0 (and so is its gradient) on an axis of length 1.
    var_axis_population {
        shapes: Shapes::Axis, domains: ANY, var: |v, a| v[0].var_axis(a.axis, 0),
        tensor: Some(|t, a| t[0].var_axis(a.axis, 0)), graph: None,
    }
    var_axis_keepdim {
        shapes: Shapes::LongAxis, domains: ANY, var: |v, a| v[0].var_axis_keepdim(a.axis, 1),
        tensor: Some(|t, a| t[0].var_axis_keepdim(a.axis, 1)), graph: None,
    }
    std_axis {
        shapes: Shapes::LongAxis, domains: DISTINCT, var: |v, a| v[0].std_axis(a.axis, 1),
        tensor: Some(|t, a| t[0].std_axis(a.axis, 1)), graph: None,
    }
    std_axis_keepdim {
        shapes: Shapes::LongAxis, domains: DISTINCT, var: |v, a| v[0].std_axis_keepdim(a.axis, 1),
        tensor: Some(|t, a| t[0].std_axis_keepdim(a.axis, 1)), graph: None,
    }
    // The ops that recorded gradients are made of, beyond the ones above: their own rules are
    // what a third-order gradient runs through. sum_to of a product that broadcasts, so that
    // its input is a genuine broadcast and both operands get a gradient.
    sum_to {
        shapes: Shapes::Broadcast, domains: PAIR, var: |v, _| (v[0] * v[1]).sum_to(&v[1].shape()),
        tensor: None, graph: None,
    }
    // sum_to's gradient, broadcast_to, on every broadcast of a pair.
    broadcast_to_operand {
        shapes: Shapes::Broadcast, domains: PAIR,
        var: |v, _| {
            let shape = broadcast(v[0].shape().dims(), v[1].shape().dims()).expect("the shapes broadcast");
            v[0].broadcast_to(shape) * v[1]
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

/// Off clamp's kinks at -1 and 1 (and those of `clamp_min(-1)` and `clamp_max(1)`).
const CLAMPED: &[Domain] = &[Domain::AwayFrom(-2.0, 2.0, &[-1.0, 1.0])];
/// Operands of maximum and minimum from interleaved cells: never within `KINK_MARGIN` of a tie.
const UNTIED: &[Domain] = &[Domain::Cells(false), Domain::Cells(true)];

/// Distinct values at least `8 / 5n >= 0.006` apart for the at most `n = 256` entries of a
/// case (see [`Domain::Distinct`]): three times the stencil's reach.
const DISTINCT: &[Domain] = &[Domain::Distinct(-4.0, 4.0)];

/// A mask of `shape` that alternates along the flattened elements, starting with `true`.
fn checkerboard(shape: &[usize]) -> Mask {
    Mask::new(shape, (0..shape.iter().product()).map(|k: usize| k.is_multiple_of(2)).collect())
}

/// Up to four inputs of one domain, for concat and stack (a case takes as many as it has shapes).
const LIST: &[Domain] = &[Domain::Range(-2.0, 2.0); 4];

/// `sum_axis_keepdim(0)` or `mean_axis_keepdim(0)` in a graph: as [`reduce_rows`], with the
/// axis kept as 1.
fn keep_rows(a: &Info, sum: bool) -> Option<Info> {
    let reduced = reduce_rows(a, sum)?;
    Some(Info { shape: [&[1], &reduced.shape[..]].concat(), ..reduced })
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

    /// Whether the op takes two tensors, or more (a random graph gives it two).
    pub fn is_binary(&self) -> bool {
        self.domains.len() >= 2
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
            // Every fixed axis has length 2 or more already.
            Shapes::Axis | Shapes::LongAxis => {
                let on_axis = |shape: &[usize], axis| (vec![shape.to_vec()], Args { axis, ..Args::default() });
                let mut out = Vec::new();
                for _ in 0..2 {
                    let dims = [rng.random_range(2..=5), rng.random_range(2..=5), rng.random_range(2..=5)];
                    out.extend((0..3).map(|axis| on_axis(&dims, axis)));
                }
                // Lower ranks: a vector reduces to a scalar, a matrix to a row or a column.
                out.push(on_axis(&[5], 0));
                out.extend((0..2).map(|axis| on_axis(&[3, 4], axis)));
                // Empty tensors, along an axis that is not the empty one: an empty result.
                out.extend([on_axis(&[0, 3], 1), on_axis(&[2, 0, 3], 0), on_axis(&[2, 0, 3], 2)]);
                out
            }
            Shapes::AxisOrEmpty => {
                let mut out = Shapes::Axis.fixed(rng);
                // Along the empty axis itself: zeros of the other axes' shape, or a [2, 1, 3] of them.
                out.extend([(vec![vec![2, 0, 3]], Args { axis: 1, ..Args::default() })]);
                out.push((vec![vec![0]], Args { axis: 0, ..Args::default() }));
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
            // Each broadcast pair with a random mask of their output's shape, some of its axes
            // (at random) made 1 so that the mask repeats too.
            Shapes::Select => broadcast_pairs(rng)
                .into_iter()
                .map(|(a, b)| {
                    let out = broadcast(&a, &b).expect("broadcast_pairs broadcast");
                    let dims: Vec<usize> = out.iter().map(|&d| if rng.random::<bool>() { d } else { 1 }).collect();
                    let bits = (0..dims.iter().product()).map(|_| rng.random::<bool>()).collect();
                    (vec![a, b], Args { mask: Some(Mask::new(&dims[..], bits)), ..Args::default() })
                })
                .collect(),
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
            Shapes::BatchedMatmul { shared_right } => {
                let mut dims: Vec<[usize; 4]> =
                    (0..FIXED_CASES).map(|_| [1, 1, 1, 1].map(|_| rng.random_range(1..=5))).collect();
                // One batch; m, k or n of 1; an empty batch, rows, inner and outer axis (the
                // gradients of an empty product are 0, and the others are empty); and a batch
                // past the GEMM cutoff, so each batch goes through the packed kernel.
                dims.extend([[1, 3, 4, 2], [3, 1, 4, 2], [3, 4, 1, 2], [3, 2, 4, 1], [1, 1, 1, 1]]);
                dims.extend([[0, 2, 3, 2], [2, 0, 3, 2], [2, 3, 0, 2], [2, 3, 2, 0], [2, 17, 16, 17]]);
                dims.into_iter().map(|[b, m, k, n]| plain(batched_pair(shared_right, b, m, k, n))).collect()
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
            Shapes::Reshape => fixed_shapes(rng)
                .into_iter()
                .enumerate()
                .map(|(k, s)| {
                    let at = rng.random_range(0..=s.len());
                    (vec![s.clone()], Args { shape: reshape_target(&s, k % 4, at), ..Args::default() })
                })
                .collect(),
            Shapes::NewAxis => fixed_shapes(rng)
                .into_iter()
                .flat_map(|s| [0, s.len()].map(|axis| (vec![s.clone()], Args { axis, ..Args::default() })))
                .collect(),
            Shapes::UnitAxis => fixed_shapes(rng)
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(|mut s| {
                    let axis = rng.random_range(0..s.len());
                    s[axis] = 1;
                    (vec![s], Args { axis, ..Args::default() })
                })
                .collect(),
            Shapes::BroadcastTo => {
                let mut out: Vec<_> = (0..2)
                    .flat_map(|_| broadcast_pairs(rng))
                    .flat_map(|(a, b)| {
                        let out = broadcast(&a, &b).expect("broadcast_pairs broadcast");
                        [a, b].map(|x| (vec![x], Args { shape: out.clone(), ..Args::default() }))
                    })
                    .collect();
                // To an empty shape: a length-1 axis repeats 0 times.
                out.push((vec![vec![1, 3]], Args { shape: vec![2, 0, 3], ..Args::default() }));
                out
            }
            Shapes::Concat => fixed_shapes(rng)
                .into_iter()
                .filter(|s| !s.is_empty())
                .flat_map(|s| {
                    let axis = rng.random_range(0..s.len());
                    // One input, and three of which the middle one is empty along the axis.
                    [vec![2], vec![rng.random_range(1..=4), 0, rng.random_range(1..=4)]].map(|lens| {
                        let shapes = lens.iter().map(|&len| with_axis(&s, axis, len)).collect();
                        (shapes, Args { axis, ..Args::default() })
                    })
                })
                .collect(),
            Shapes::Stack => fixed_shapes(rng)
                .into_iter()
                .map(|s| {
                    let (count, axis) = (rng.random_range(1..=3), rng.random_range(0..=s.len()));
                    (vec![s; count], Args { axis, ..Args::default() })
                })
                .collect(),
            Shapes::Range => fixed_shapes(rng)
                .into_iter()
                .filter(|s| !s.is_empty())
                .flat_map(|s| {
                    let axis = rng.random_range(0..s.len());
                    let n = s[axis];
                    // A random range (not empty, where the axis is not), the whole axis and an
                    // empty range at its end.
                    let start = rng.random_range(0..n.max(1));
                    let len = rng.random_range(n.min(1)..=n - start.min(n));
                    [start..start + len, 0..n, n..n]
                        .map(|range| (vec![s.clone()], Args { axis, range, ..Args::default() }))
                })
                .collect(),
            Shapes::Permutation => fixed_shapes(rng)
                .into_iter()
                .map(|s| {
                    let mut axes: Vec<usize> = (0..s.len()).collect();
                    axes.shuffle(rng);
                    (vec![s], Args { axes, ..Args::default() })
                })
                .collect(),
            Shapes::AxisPair => fixed_shapes(rng)
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let axes = vec![rng.random_range(0..s.len()), rng.random_range(0..s.len())];
                    (vec![s], Args { axes, ..Args::default() })
                })
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
            Shapes::Axis => (shape_or_empty(1), any::<Index>())
                .prop_map(|(mut s, axis)| {
                    let axis = axis.index(s.len());
                    s[axis] = s[axis].max(1);
                    (vec![s], Args { axis, ..Args::default() })
                })
                .boxed(),
            Shapes::AxisOrEmpty => (shape_or_empty(1), any::<Index>())
                .prop_map(|(s, axis)| {
                    let axis = axis.index(s.len());
                    (vec![s], Args { axis, ..Args::default() })
                })
                .boxed(),
            Shapes::LongAxis => (shape(1), any::<Index>())
                .prop_map(|(mut s, axis)| {
                    let axis = axis.index(s.len());
                    s[axis] = s[axis].max(2);
                    (vec![s], Args { axis, ..Args::default() })
                })
                .boxed(),
            Shapes::Rows => shape(1).prop_map(move |s| plain(vec![s])).boxed(),
            Shapes::Matrix => (dim(), dim()).prop_map(move |(m, n)| plain(vec![vec![m, n]])).boxed(),
            Shapes::Broadcast => broadcast_shapes().prop_map(move |(a, b)| plain(vec![a, b])).boxed(),
            Shapes::Select => (broadcast_shapes(), vec(any::<bool>(), 3))
                .prop_flat_map(|((a, b), keep)| {
                    // The mask keeps or drops (to 1) each axis of the operands' broadcast.
                    let out = broadcast(&a, &b).expect("broadcast_shapes broadcast");
                    let dims: Vec<usize> =
                        out.iter().zip(keep.iter().cycle()).map(|(&d, &k)| if k { d } else { 1 }).collect();
                    let n: usize = dims.iter().product();
                    vec(any::<bool>(), n).prop_map(move |bits| {
                        (vec![a.clone(), b.clone()], Args { mask: Some(Mask::new(&dims[..], bits)), ..Args::default() })
                    })
                })
                .boxed(),
            Shapes::Matmul => {
                (dim(), dim(), dim()).prop_map(move |(m, k, n)| plain(vec![vec![m, k], vec![k, n]])).boxed()
            }
            Shapes::BatchedMatmul { shared_right } => (0..=3usize, 0..=4usize, 0..=4usize, 0..=4usize)
                .prop_map(move |(b, m, k, n)| plain(batched_pair(shared_right, b, m, k, n)))
                .boxed(),
            Shapes::Labelled => (dim(), dim())
                .prop_flat_map(|(n, c)| {
                    vec(0..c, n).prop_map(move |labels| (vec![vec![n, c]], Args { labels, ..Args::default() }))
                })
                .boxed(),
            Shapes::Targets => (dim(), dim()).prop_map(move |(n, c)| plain(vec![vec![n, c]; 2])).boxed(),
            Shapes::Reshape => (shape_or_empty(0), 0..4usize, any::<Index>())
                .prop_map(|(s, how, at)| {
                    let shape = reshape_target(&s, how, at.index(s.len() + 1));
                    (vec![s], Args { shape, ..Args::default() })
                })
                .boxed(),
            Shapes::NewAxis => (shape_or_empty(0), any::<Index>())
                .prop_map(|(s, at)| {
                    let axis = at.index(s.len() + 1);
                    (vec![s], Args { axis, ..Args::default() })
                })
                .boxed(),
            Shapes::UnitAxis => (shape_or_empty(1), any::<Index>())
                .prop_map(|(mut s, at)| {
                    let axis = at.index(s.len());
                    s[axis] = 1;
                    (vec![s], Args { axis, ..Args::default() })
                })
                .boxed(),
            Shapes::BroadcastTo => (shape_or_empty(0), vec(any::<bool>(), 3), 0..=3usize)
                .prop_map(|(out, keep, drop)| {
                    let x =
                        out.iter().zip(&keep).skip(drop.min(out.len())).map(|(&d, &k)| if k { d } else { 1 }).collect();
                    (vec![x], Args { shape: out, ..Args::default() })
                })
                .boxed(),
            Shapes::Concat => (shape_or_empty(1), any::<Index>(), vec(0..=4usize, 1..=4))
                .prop_map(|(s, at, lens)| {
                    let axis = at.index(s.len());
                    let shapes = lens.iter().map(|&len| with_axis(&s, axis, len)).collect();
                    (shapes, Args { axis, ..Args::default() })
                })
                .boxed(),
            Shapes::Stack => (shape_or_empty(0), any::<Index>(), 1..=4usize)
                .prop_map(|(s, at, count)| {
                    let axis = at.index(s.len() + 1);
                    (vec![s; count], Args { axis, ..Args::default() })
                })
                .boxed(),
            Shapes::Range => (shape_or_empty(1), any::<Index>(), any::<Index>(), any::<Index>())
                .prop_map(|(s, at, from, len)| {
                    let axis = at.index(s.len());
                    let n = s[axis];
                    let start = from.index(n + 1);
                    let range = start..start + len.index(n - start + 1);
                    (vec![s], Args { axis, range, ..Args::default() })
                })
                .boxed(),
            Shapes::Permutation => shape_or_empty(0)
                .prop_flat_map(|s| {
                    let axes: Vec<usize> = (0..s.len()).collect();
                    (Just(s), Just(axes).prop_shuffle())
                })
                .prop_map(|(s, axes)| (vec![s], Args { axes, ..Args::default() }))
                .boxed(),
            Shapes::AxisPair => (shape_or_empty(1), any::<Index>(), any::<Index>())
                .prop_map(|(s, a, b)| {
                    let axes = vec![a.index(s.len()), b.index(s.len())];
                    (vec![s], Args { axes, ..Args::default() })
                })
                .boxed(),
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
            Domain::AwayFrom(lo, hi, _) => uniform(shape, lo, hi, rng).map(|v| self.place(v)),
            Domain::Cells(_) => uniform(shape, -2.0, 2.0, rng).map(|v| self.place(v)),
            Domain::Distinct(lo, hi) => {
                use rand::seq::SliceRandom;
                let mut cells: Vec<usize> = (0..shape.iter().product()).collect();
                cells.shuffle(rng);
                let jitter: Vec<f64> = cells.iter().map(|_| rng.random_range(0.0..0.8)).collect();
                Tensor::from_vec(shape, distinct(lo, hi, &cells, &jitter))
            }
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
            Domain::AwayFrom(lo, hi, _) => (lo..hi).prop_map(move |v| self.place(v)).boxed(),
            Domain::Cells(_) => (-2.0..2.0f64).prop_map(move |v| self.place(v)).boxed(),
            Domain::Distinct(lo, hi) => {
                let n: usize = shape.iter().product();
                let cells = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
                return (cells, vec(0.0..0.8f64, n))
                    .prop_map(move |(cells, jitter)| Tensor::from_vec(&shape[..], distinct(lo, hi, &cells, &jitter)))
                    .boxed();
            }
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

impl Domain {
    /// Moves a uniform draw into [`Domain::AwayFrom`]'s or [`Domain::Cells`]'s set.
    fn place(self, v: f64) -> f64 {
        match self {
            Domain::AwayFrom(_, _, points) => points
                .iter()
                .fold(v, |v, &p| if (v - p).abs() < KINK_MARGIN { p + KINK_MARGIN.copysign(v - p) } else { v }),
            Domain::Cells(odd) => {
                let cell = (4.0 * v).floor();
                let frac = 4.0 * v - cell;
                // The next cell up when the parity is wrong: at most 2.25 at the top.
                let cell = if (cell as i64).rem_euclid(2) == i64::from(odd) { cell } else { cell + 1.0 };
                (cell + 0.8 * frac) / 4.0
            }
            _ => v,
        }
    }
}

/// Entry `k` in cell `cells[k]` of `n` across `[lo, hi)`, `jitter[k]` of a cell's width in.
fn distinct(lo: f64, hi: f64, cells: &[usize], jitter: &[f64]) -> Vec<f64> {
    let width = (hi - lo) / cells.len() as f64;
    cells.iter().zip(jitter).map(|(&c, &j)| lo + (c as f64 + j) * width).collect()
}

/// The operand shapes of a batched matmul: `[b, m, k]` and `[b, k, n]`, or `[k, n]` shared.
fn batched_pair(shared_right: bool, b: usize, m: usize, k: usize, n: usize) -> Vec<Vec<usize>> {
    vec![vec![b, m, k], if shared_right { vec![k, n] } else { vec![b, k, n] }]
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

/// A shape of rank `min_rank` to 3 as [`shape`] makes, with one axis of length 0 an eighth of
/// the time.
fn shape_or_empty(min_rank: usize) -> BoxedStrategy<Vec<usize>> {
    (shape(min_rank), proptest::option::weighted(0.125, any::<Index>()))
        .prop_map(|(mut s, empty)| {
            if let Some(at) = empty.filter(|_| !s.is_empty()) {
                let len = s.len();
                s[at.index(len)] = 0;
            }
            s
        })
        .boxed()
}

/// The seeded fixed shapes of the shape ops: a scalar, a vector, `1 x n`, `n x 1`, a matrix, rank
/// 3, and two empty tensors.
fn fixed_shapes(rng: &mut StdRng) -> Vec<Vec<usize>> {
    let (m, n, k) = (rng.random_range(2..=5), rng.random_range(2..=5), rng.random_range(2..=4));
    vec![vec![], vec![n], vec![1, n], vec![n, 1], vec![m, n], vec![k, m, n], vec![m, 0, n], vec![0]]
}

/// `dims` with axis `axis` of length `len`.
fn with_axis(dims: &[usize], axis: usize, len: usize) -> Vec<usize> {
    let mut dims = dims.to_vec();
    dims[axis] = len;
    dims
}

/// A shape of as many elements as `dims`, made in one of four ways: `dims` flattened (`how` 0),
/// reversed (1), with the two axes from `at` merged (2, or `dims` itself below rank 2), or with
/// an axis of length 1 inserted at `at` (3); `at` is at most the rank.
fn reshape_target(dims: &[usize], how: usize, at: usize) -> Vec<usize> {
    let mut out = dims.to_vec();
    match how {
        0 => out = vec![dims.iter().product()],
        1 => out.reverse(),
        2 if dims.len() >= 2 => {
            let i = at.min(dims.len() - 2);
            let merged = out.remove(i + 1);
            out[i] *= merged;
        }
        2 => {}
        _ => out.insert(at, 1),
    }
    out
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
