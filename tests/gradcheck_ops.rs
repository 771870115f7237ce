//! Every built-in op against central finite differences, in f64, over several seeded random
//! shapes and values.
//!
//! Each op's output `y` is read out as `sum(y * c)` for a fixed random `c` (see
//! `common::weighted_sum`), so each output entry sends a different upstream gradient back.

mod common;

use common::{KINK_MARGIN, away_from_zero, check, random_shape, rng, uniform, weighted_sum};
use rand::{RngExt, rngs::StdRng};
use tapegrad::autograd::{Tensor, Var};

/// How many random cases each op gets.
const CASES: u64 = 6;

/// Gradchecks the unary op `f` on `CASES` random shapes (rank 0 to 3), with inputs from `input`.
fn unary(name: &str, seed: u64, input: impl Fn(&[usize], &mut StdRng) -> Tensor<f64>, f: UnaryFn) {
    let mut rng = rng(seed);
    for case in 0..CASES {
        let shape = random_shape(&mut rng);
        let x = input(&shape, &mut rng);
        check(&format!("{name} #{case} {shape:?}"), |v| weighted_sum(f(v[0])), &[x]);
    }
}

type UnaryFn = for<'t> fn(Var<'t, f64>) -> Var<'t, f64>;
type BinaryFn = for<'t> fn(Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>;

fn in_range(lo: f64, hi: f64) -> impl Fn(&[usize], &mut StdRng) -> Tensor<f64> {
    move |shape, rng| uniform(shape, lo, hi, rng)
}

#[test]
fn scale() {
    unary("scale", 1, in_range(-2.0, 2.0), |x| x.scale(-1.7));
}

#[test]
fn add_scalar() {
    unary("add_scalar", 2, in_range(-2.0, 2.0), |x| x.add_scalar(0.3));
}

#[test]
fn neg_method_and_operator() {
    unary("neg", 3, in_range(-2.0, 2.0), |x| x.neg());
    unary("unary -", 4, in_range(-2.0, 2.0), |x| -x);
}

#[test]
fn square() {
    unary("square", 5, in_range(-2.0, 2.0), |x| x.square());
}

#[test]
fn exp() {
    unary("exp", 6, in_range(-2.0, 2.0), |x| x.exp());
}

#[test]
fn log_of_positive_inputs() {
    // ln is only defined for x > 0; [0.5, 2] keeps 1/x and its stencil moderate.
    unary("log", 7, in_range(0.5, 2.0), |x| x.log());
}

#[test]
fn abs_away_from_its_kink() {
    // |x| has no derivative at 0: inputs stay KINK_MARGIN = 0.05 from it (the stencil reaches
    // only 2e-3 either side), on both sides so both slopes +1 and -1 are exercised.
    unary("abs", 8, |s, r| away_from_zero(s, KINK_MARGIN, 2.0, r), |x| x.abs());
}

#[test]
fn relu_away_from_its_kink() {
    // As for abs: relu has a kink at 0, so inputs keep at least 0.05 from it.
    unary("relu", 9, |s, r| away_from_zero(s, KINK_MARGIN, 2.0, r), |x| x.relu());
}

#[test]
fn sigmoid() {
    unary("sigmoid", 10, in_range(-4.0, 4.0), |x| x.sigmoid());
}

#[test]
fn tanh() {
    unary("tanh", 11, in_range(-3.0, 3.0), |x| x.tanh());
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

/// Gradchecks a binary op over [`broadcast_pairs`] for two seeds, with respect to both operands.
fn binary(name: &str, seed: u64, rhs: impl Fn(&[usize], &mut StdRng) -> Tensor<f64>, f: BinaryFn) {
    let mut rng = rng(seed);
    for round in 0..2 {
        for (a_shape, b_shape) in broadcast_pairs(&mut rng) {
            let a = uniform(&a_shape[..], -2.0, 2.0, &mut rng);
            let b = rhs(&b_shape, &mut rng);
            let what = format!("{name} #{round} {a_shape:?} with {b_shape:?}");
            check(&what, |v| weighted_sum(f(v[0], v[1])), &[a, b]);
        }
    }
}

#[test]
fn add_with_broadcasting() {
    binary("add", 20, in_range(-2.0, 2.0), |a, b| a.add(b));
}

#[test]
fn sub_with_broadcasting() {
    binary("sub", 21, in_range(-2.0, 2.0), |a, b| a.sub(b));
}

#[test]
fn mul_with_broadcasting() {
    binary("mul", 22, in_range(-2.0, 2.0), |a, b| a.mul(b));
}

#[test]
fn div_with_broadcasting() {
    // The divisor keeps |b| >= 0.5: d/db (a/b) = -a/b^2 stays moderate and its stencil smooth.
    binary("div", 23, |s, r| away_from_zero(s, 0.5, 2.0, r), |a, b| a.div(b));
}

#[test]
fn binary_operators() {
    binary("+", 24, in_range(-2.0, 2.0), |a, b| a + b);
    binary("-", 25, in_range(-2.0, 2.0), |a, b| a - b);
    binary("*", 26, in_range(-2.0, 2.0), |a, b| a * b);
    binary("/", 27, |s, r| away_from_zero(s, 0.5, 2.0, r), |a, b| a / b);
}

#[test]
fn matmul() {
    let mut rng = rng(30);
    let mut dims: Vec<(usize, usize, usize)> =
        (0..CASES).map(|_| (rng.random_range(1..=8), rng.random_range(1..=8), rng.random_range(1..=8))).collect();
    // Vectors on either side, and products above the kernel's 4096 multiply-add cutoff, so both
    // the direct loops and the packed GEMM (forward and both backward products) are checked; the
    // last is an outer product (k = 1) through the packed kernel.
    dims.extend([(1, 5, 1), (6, 1, 7), (17, 16, 17), (70, 1, 70)]);
    for (m, k, n) in dims {
        let a = uniform([m, k], -1.0, 1.0, &mut rng);
        let b = uniform([k, n], -1.0, 1.0, &mut rng);
        check(&format!("matmul [{m}, {k}] x [{k}, {n}]"), |v| weighted_sum(v[0].matmul(v[1])), &[a, b]);
    }
}

#[test]
fn transpose() {
    let mut rng = rng(31);
    for (m, n) in [(1, 1), (1, 5), (5, 1), (3, 4), (rng.random_range(2..=8), rng.random_range(2..=8))] {
        let x = uniform([m, n], -2.0, 2.0, &mut rng);
        check(&format!("transpose [{m}, {n}]"), |v| weighted_sum(v[0].transpose()), &[x]);
    }
}

#[test]
fn matmul_of_a_transposed_operand() {
    // A^T B: the transpose's backward feeds matmul's, so a stride mix-up in either shows here.
    let mut rng = rng(32);
    let a = uniform([4, 3], -1.0, 1.0, &mut rng);
    let b = uniform([4, 5], -1.0, 1.0, &mut rng);
    check("transpose then matmul", |v| weighted_sum(v[0].transpose().matmul(v[1])), &[a, b]);
}

#[test]
fn sum_and_mean() {
    let mut rng = rng(40);
    for case in 0..CASES {
        let shape = random_shape(&mut rng);
        let x = uniform(&shape[..], -2.0, 2.0, &mut rng);
        check(&format!("sum #{case} {shape:?}"), |v| weighted_sum(v[0].sum()), std::slice::from_ref(&x));
        check(&format!("mean #{case} {shape:?}"), |v| weighted_sum(v[0].mean()), &[x]);
    }
}

#[test]
fn sum_axis_on_every_axis() {
    let mut rng = rng(41);
    for round in 0..2 {
        let dims = [rng.random_range(2..=5), rng.random_range(2..=5), rng.random_range(2..=5)];
        let x = uniform(dims, -2.0, 2.0, &mut rng);
        for axis in 0..3 {
            let what = format!("sum_axis({axis}) #{round} {dims:?}");
            check(&what, |v| weighted_sum(v[0].sum_axis(axis)), std::slice::from_ref(&x));
        }
    }
    // Lower ranks: a vector reduces to a scalar, a matrix to a row or a column.
    let v = uniform([5], -2.0, 2.0, &mut rng);
    check("sum_axis(0) [5]", |x| weighted_sum(x[0].sum_axis(0)), &[v]);
    let m = uniform([3, 4], -2.0, 2.0, &mut rng);
    for axis in 0..2 {
        check(&format!("sum_axis({axis}) [3, 4]"), |x| weighted_sum(x[0].sum_axis(axis)), std::slice::from_ref(&m));
    }
}

#[test]
fn mean_axis_on_every_axis() {
    let mut rng = rng(42);
    let dims = [rng.random_range(2..=5), rng.random_range(2..=5), rng.random_range(2..=5)];
    let x = uniform(dims, -2.0, 2.0, &mut rng);
    for axis in 0..3 {
        check(&format!("mean_axis({axis}) {dims:?}"), |v| weighted_sum(v[0].mean_axis(axis)), std::slice::from_ref(&x));
    }
    let m = uniform([4, 3], -2.0, 2.0, &mut rng);
    for axis in 0..2 {
        check(&format!("mean_axis({axis}) [4, 3]"), |v| weighted_sum(v[0].mean_axis(axis)), std::slice::from_ref(&m));
    }
}

/// Shapes for the ops that work along the last axis: a single row, a batch, a rank-3 stack, and
/// one class (where log-softmax is identically 0).
fn row_shapes(rng: &mut StdRng) -> Vec<Vec<usize>> {
    let (n, c) = (rng.random_range(2..=6), rng.random_range(2..=6));
    vec![vec![c], vec![n, c], vec![2, n, c], vec![n, 1]]
}

#[test]
fn log_softmax() {
    let mut rng = rng(50);
    for shape in row_shapes(&mut rng) {
        let x = uniform(&shape[..], -3.0, 3.0, &mut rng);
        check(&format!("log_softmax {shape:?}"), |v| weighted_sum(v[0].log_softmax()), &[x]);
    }
}

#[test]
fn softmax() {
    let mut rng = rng(51);
    for shape in row_shapes(&mut rng) {
        let x = uniform(&shape[..], -3.0, 3.0, &mut rng);
        check(&format!("softmax {shape:?}"), |v| weighted_sum(v[0].softmax()), &[x]);
    }
}

/// Random `[n, c]` shapes and labels, with repeated labels likely (several rows picking the
/// same class must each get their own gradient).
fn labelled_batches(rng: &mut StdRng) -> Vec<(usize, usize, Vec<usize>)> {
    (0..CASES)
        .map(|_| {
            let (n, c) = (rng.random_range(1..=6), rng.random_range(1..=6));
            let labels = (0..n).map(|_| rng.random_range(0..c)).collect();
            (n, c, labels)
        })
        .collect()
}

#[test]
fn pick() {
    let mut rng = rng(60);
    for (n, c, labels) in labelled_batches(&mut rng) {
        let x = uniform([n, c], -2.0, 2.0, &mut rng);
        check(&format!("pick [{n}, {c}] {labels:?}"), |v| weighted_sum(v[0].pick(&labels)), &[x]);
    }
}

#[test]
fn nll_of_raw_scores_and_of_log_softmax() {
    let mut rng = rng(61);
    for (n, c, labels) in labelled_batches(&mut rng) {
        let x = uniform([n, c], -2.0, 2.0, &mut rng);
        check(&format!("nll [{n}, {c}] {labels:?}"), |v| weighted_sum(v[0].nll(&labels)), std::slice::from_ref(&x));
        check(&format!("cross-entropy [{n}, {c}] {labels:?}"), |v| weighted_sum(v[0].log_softmax().nll(&labels)), &[x]);
    }
}
