//! Every built-in op against finite differences, over generated shapes and values: at least
//! [`CASES`] cases per op on each run (`gradcheck_ops.rs` checks a few seeded ones by hand).
//!
//! **Shapes.** Ranks 0 to 3; each axis of a vector or matrix is 1 a quarter of the time and
//! otherwise 2 to 16, so `1 x n`, `n x 1` and `1 x 1` come up often; rank-3 axes stop at 4 to keep
//! a case cheap. Binary ops get every broadcast: each operand keeps or drops (to 1) each axis of
//! a common output shape, and may drop leading axes.
//!
//! **Values**, chosen so that a failure means a wrong gradient, not a bad finite difference
//! (the stencil samples `x ± 2 eps`, `eps = 1e-3`):
//! - smooth ops: uniform in `[-2, 2]`; sigmoid and tanh in `[-5, 5]`, log-softmax in `[-6, 6]`;
//! - relu and abs: magnitude in `[KINK_MARGIN, 2] = [0.05, 2]` with a random sign, so no sample
//!   crosses the kink at 0 (the margin is 25 times the stencil's reach);
//! - log: in `[0.1, 4]`, positive; its fifth derivative `24 / x^5` stays small enough there for
//!   the stencil's `eps^4` truncation error to sit far below the tolerance;
//! - div: divisors of magnitude in `[0.25, 2]`, either sign, so `a / b` and `-a / b^2` stay moderate.
//!
//! Each op's output `y` is read out as `sum(y * c)` for fixed distinct weights `c` (see
//! `common::weighted_sum`), so that a backward routing `g[i]` to the wrong entry is caught.

mod common;

use common::{KINK_MARGIN, gradcheck_case, proptest_config, weighted_sum};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use std::fmt;
use tapegrad::autograd::{Tensor, Var};
use tapegrad::nn::{softmax_cross_entropy, softmax_cross_entropy_soft};

/// Cases per op per run.
const CASES: u32 = 200;

/// A generated input: shape and row-major values, printed in full when a case fails (the
/// tensor's own `Debug` elides long axes and rounds).
#[derive(Clone)]
struct Input {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Input {
    fn tensor(&self) -> Tensor<f64> {
        Tensor::from_vec(&self.shape[..], self.data.clone())
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {:?}", self.shape, self.data)
    }
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

/// Values in `[lo, hi)`.
fn range(lo: f64, hi: f64) -> BoxedStrategy<f64> {
    (lo..hi).boxed()
}

/// Values of magnitude in `[lo, hi)` and either sign: away from 0.
fn away_from_zero(lo: f64, hi: f64) -> BoxedStrategy<f64> {
    (lo..hi, any::<bool>()).prop_map(|(m, negative)| if negative { -m } else { m }).boxed()
}

/// An input of a shape drawn from `shape`, with values drawn from `value`.
fn input(shape: BoxedStrategy<Vec<usize>>, value: BoxedStrategy<f64>) -> BoxedStrategy<Input> {
    shape
        .prop_flat_map(move |shape| {
            let n: usize = shape.iter().product();
            vec(value.clone(), n).prop_map(move |data| Input { shape: shape.clone(), data })
        })
        .boxed()
}

type UnaryFn = for<'t> fn(Var<'t, f64>) -> Var<'t, f64>;
type BinaryFn = for<'t> fn(Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>;

fn check_unary(f: UnaryFn, x: &Input) -> Result<(), TestCaseError> {
    gradcheck_case(|v| weighted_sum(f(v[0])), &[x.tensor()]).map(drop)
}

fn check_binary(f: BinaryFn, a: &Input, b: &Input) -> Result<(), TestCaseError> {
    gradcheck_case(|v| weighted_sum(f(v[0], v[1])), &[a.tensor(), b.tensor()]).map(drop)
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

/// Broadcasting operands with values from `lhs` and `rhs`.
fn broadcast_pair(lhs: BoxedStrategy<f64>, rhs: BoxedStrategy<f64>) -> impl Strategy<Value = (Input, Input)> {
    broadcast_shapes()
        .prop_flat_map(move |(sa, sb)| (input(Just(sa).boxed(), lhs.clone()), input(Just(sb).boxed(), rhs.clone())))
}

/// A `[n, c]` matrix of values from `value`, and one label in `0..c` per row.
fn labelled(value: BoxedStrategy<f64>) -> impl Strategy<Value = (Input, Vec<usize>)> {
    (dim(), dim()).prop_flat_map(move |(n, c)| (input(Just(vec![n, c]).boxed(), value.clone()), vec(0..c, n)))
}

proptest! {
    #![proptest_config(proptest_config(CASES))]

    #[test]
    fn scale(x in input(shape(0), range(-2.0, 2.0)), c in -3.0..3.0f64) {
        gradcheck_case(|v| weighted_sum(v[0].scale(c)), &[x.tensor()])?;
    }

    #[test]
    fn add_scalar(x in input(shape(0), range(-2.0, 2.0)), c in -3.0..3.0f64) {
        gradcheck_case(|v| weighted_sum(v[0].add_scalar(c)), &[x.tensor()])?;
    }

    #[test]
    fn neg(x in input(shape(0), range(-2.0, 2.0))) {
        check_unary(|x| x.neg(), &x)?;
        check_unary(|x| -x, &x)?;
    }

    #[test]
    fn square(x in input(shape(0), range(-2.0, 2.0))) {
        check_unary(|x| x.square(), &x)?;
    }

    #[test]
    fn exp(x in input(shape(0), range(-2.0, 2.0))) {
        check_unary(|x| x.exp(), &x)?;
    }

    #[test]
    fn log_of_positive_inputs(x in input(shape(0), range(0.1, 4.0))) {
        check_unary(|x| x.log(), &x)?;
    }

    #[test]
    fn abs_away_from_its_kink(x in input(shape(0), away_from_zero(KINK_MARGIN, 2.0))) {
        check_unary(|x| x.abs(), &x)?;
    }

    #[test]
    fn relu_away_from_its_kink(x in input(shape(0), away_from_zero(KINK_MARGIN, 2.0))) {
        check_unary(|x| x.relu(), &x)?;
    }

    #[test]
    fn sigmoid(x in input(shape(0), range(-5.0, 5.0))) {
        check_unary(|x| x.sigmoid(), &x)?;
    }

    #[test]
    fn tanh(x in input(shape(0), range(-5.0, 5.0))) {
        check_unary(|x| x.tanh(), &x)?;
    }

    #[test]
    fn add_with_broadcasting((a, b) in broadcast_pair(range(-2.0, 2.0), range(-2.0, 2.0))) {
        check_binary(|a, b| a.add(b), &a, &b)?;
        check_binary(|a, b| a + b, &a, &b)?;
    }

    #[test]
    fn sub_with_broadcasting((a, b) in broadcast_pair(range(-2.0, 2.0), range(-2.0, 2.0))) {
        check_binary(|a, b| a.sub(b), &a, &b)?;
        check_binary(|a, b| a - b, &a, &b)?;
    }

    #[test]
    fn mul_with_broadcasting((a, b) in broadcast_pair(range(-2.0, 2.0), range(-2.0, 2.0))) {
        check_binary(|a, b| a.mul(b), &a, &b)?;
        check_binary(|a, b| a * b, &a, &b)?;
    }

    #[test]
    fn div_with_broadcasting((a, b) in broadcast_pair(range(-2.0, 2.0), away_from_zero(0.25, 2.0))) {
        check_binary(|a, b| a.div(b), &a, &b)?;
        check_binary(|a, b| a / b, &a, &b)?;
    }

    #[test]
    fn matmul(
        (a, b) in (dim(), dim(), dim()).prop_flat_map(|(m, k, n)| (
            input(Just(vec![m, k]).boxed(), range(-1.0, 1.0)),
            input(Just(vec![k, n]).boxed(), range(-1.0, 1.0)),
        ))
    ) {
        check_binary(|a, b| a.matmul(b), &a, &b)?;
    }

    #[test]
    fn transpose(x in (dim(), dim()).prop_flat_map(|(m, n)| input(Just(vec![m, n]).boxed(), range(-2.0, 2.0)))) {
        check_unary(|x| x.transpose(), &x)?;
    }

    #[test]
    fn sum(x in input(shape(0), range(-2.0, 2.0))) {
        check_unary(|x| x.sum(), &x)?;
    }

    #[test]
    fn mean(x in input(shape(0), range(-2.0, 2.0))) {
        check_unary(|x| x.mean(), &x)?;
    }

    #[test]
    fn sum_axis(x in input(shape(1), range(-2.0, 2.0)), axis in any::<Index>()) {
        let axis = axis.index(x.shape.len());
        gradcheck_case(|v| weighted_sum(v[0].sum_axis(axis)), &[x.tensor()])?;
    }

    #[test]
    fn mean_axis(x in input(shape(1), range(-2.0, 2.0)), axis in any::<Index>()) {
        let axis = axis.index(x.shape.len());
        gradcheck_case(|v| weighted_sum(v[0].mean_axis(axis)), &[x.tensor()])?;
    }

    #[test]
    fn log_softmax(x in input(shape(1), range(-6.0, 6.0))) {
        check_unary(|x| x.log_softmax(), &x)?;
    }

    #[test]
    fn softmax(x in input(shape(1), range(-6.0, 6.0))) {
        check_unary(|x| x.softmax(), &x)?;
    }

    #[test]
    fn pick((x, labels) in labelled(range(-2.0, 2.0))) {
        gradcheck_case(|v| weighted_sum(v[0].pick(&labels)), &[x.tensor()])?;
    }

    #[test]
    fn nll((x, labels) in labelled(range(-2.0, 2.0))) {
        gradcheck_case(|v| weighted_sum(v[0].nll(&labels)), &[x.tensor()])?;
    }

    #[test]
    fn softmax_cross_entropy_of_logits((x, labels) in labelled(range(-6.0, 6.0))) {
        gradcheck_case(|v| softmax_cross_entropy(v[0], &labels), &[x.tensor()])?;
    }

    #[test]
    fn softmax_cross_entropy_against_soft_targets(
        (x, t) in (dim(), dim()).prop_flat_map(|(n, c)| (
            input(Just(vec![n, c]).boxed(), range(-6.0, 6.0)),
            input(Just(vec![n, c]).boxed(), range(0.0, 1.0)),
        ))
    ) {
        // Rows of the targets scaled to sum to 1 (each has an entry >= 1e-3 below, so no row is 0).
        let mut targets = t.tensor();
        let c = x.shape[1];
        for row in targets.data_mut().chunks_exact_mut(c) {
            row[0] += 1e-3;
            let total: f64 = row.iter().sum();
            row.iter_mut().for_each(|p| *p /= total);
        }
        // With respect to the targets too: the loss is linear in them.
        gradcheck_case(|v| softmax_cross_entropy_soft(v[0], v[1]), &[x.tensor(), targets])?;
    }
}
