//! Compositions: values used twice, a diamond, a long chain, a two-layer MLP's loss, and the
//! store's rules (backward twice, constants, leaves off the path, a reused tape).

mod common;

use common::{check, rng, uniform, weighted_sum};
use rand::RngExt;
use tapegrad::autograd::{GradcheckOptions, Tape, Tensor, Var};

#[test]
fn a_var_multiplied_by_itself() {
    let mut rng = rng(100);
    let x = uniform([3, 4], -2.0, 2.0, &mut rng);
    check("x * x", |v| weighted_sum(v[0] * v[0]), std::slice::from_ref(&x));
    // Both operand slots of one op point at the same node: the two contributions must add up
    // to the square's gradient 2x (exactly, as x + x is exact in binary).
    let tape = Tape::<f64>::new();
    let xv = tape.leaf(x.clone());
    let by_mul = (xv * xv).sum().backward()[xv].clone();
    let by_square = xv.square().sum().backward()[xv].clone();
    assert_eq!(by_mul, by_square);
    assert_eq!(by_mul, x.scale(2.0));
}

#[test]
fn a_var_added_to_itself() {
    let mut rng = rng(101);
    let x = uniform([2, 5], -2.0, 2.0, &mut rng);
    check("x + x", |v| weighted_sum(v[0] + v[0]), std::slice::from_ref(&x));
    // d sum(x + x) / dx = 2 everywhere.
    let tape = Tape::<f64>::new();
    let xv = tape.leaf(x);
    assert_eq!(xv.add(xv).sum().backward()[xv], Tensor::full([2, 5], 2.0));
}

#[test]
fn a_square_matrix_times_itself() {
    // d(A A) involves A on both sides: dA = G A^T + A^T G.
    let mut rng = rng(102);
    let a = uniform([4, 4], -1.0, 1.0, &mut rng);
    check("A A", |v| weighted_sum(v[0].matmul(v[0])), &[a]);
}

#[test]
fn a_var_used_many_times() {
    // x feeds six different ops that meet again: six contributions to accumulate.
    let mut rng = rng(103);
    let x = uniform([3, 3], 0.5, 2.0, &mut rng);
    check(
        "fan-out of six",
        |v| {
            let x = v[0];
            weighted_sum(x.tanh() * x.sigmoid() + x.log() - x.square().scale(0.3) + x.exp() / x)
        },
        &[x],
    );
}

#[test]
fn a_diamond() {
    // a -> b = tanh(a), a -> c = exp(a), (b, c) -> d = b * c: d's gradient reaches a twice.
    let mut rng = rng(104);
    let a = uniform([3, 4], -1.5, 1.5, &mut rng);
    check("diamond", |v| weighted_sum(v[0].tanh() * v[0].exp()), std::slice::from_ref(&a));
    // By hand: dd/da = c (1 - b^2) + b c. A backward that assigned instead of adding would
    // return only one of the two terms.
    let tape = Tape::<f64>::new();
    let av = tape.leaf(a.clone());
    let got = (av.tanh() * av.exp()).sum().backward()[av].clone();
    let want: Vec<f64> = a.data().iter().map(|&a| a.exp() * (1.0 - a.tanh().powi(2)) + a.tanh() * a.exp()).collect();
    // Both sides round each of a few operations: a few ulps of values up to e^1.5 = 4.5.
    common::assert_close("diamond by hand", got.data(), &want, 1e-14);
}

#[test]
fn a_diamond_whose_branches_have_different_shapes() {
    // b = column sums of a ([4]), c = sigmoid(a) ([3, 4]), d = c * b broadcast over rows: one
    // route back to a goes through a broadcast and a reduction, the other elementwise.
    let mut rng = rng(105);
    let a = uniform([3, 4], -1.5, 1.5, &mut rng);
    check("diamond with a broadcast", |v| weighted_sum(v[0].sigmoid() * v[0].sum_axis(0)), &[a]);
}

#[test]
fn a_chain_of_ten_ops() {
    let mut rng = rng(106);
    let x = uniform([4, 3], -1.0, 1.0, &mut rng);
    let w = uniform([3], 0.5, 1.5, &mut rng);
    check(
        "ten-op chain",
        |v| {
            let y = v[0]
                .scale(0.7) // 1
                .add_scalar(0.3) // 2
                .tanh() // 3
                .square() // 4
                .add_scalar(1.0) // 5: >= 1, so the log below stays finite
                .log() // 6
                .sigmoid() // 7
                .mul(v[1]) // 8
                .exp() // 9
                .neg(); // 10
            weighted_sum(y)
        },
        &[x, w],
    );
}

#[test]
fn a_hundred_thousand_op_chain_needs_no_recursion() {
    // Halving and doubling are exact, so after 50 000 of each the value and the gradient are
    // exactly x and 1. A recursive backward would overflow the 2 MiB test-thread stack here.
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([2], vec![0.75, -3.0]));
    let mut y = x;
    for _ in 0..50_000 {
        y = y.scale(0.5).scale(2.0);
    }
    assert_eq!(tape.len(), 100_001);
    assert_eq!(y.value().data(), &[0.75, -3.0]);
    assert_eq!(y.sum().backward()[x].data(), &[1.0, 1.0]);
}

/// The inputs of a two-layer MLP: `x [6, 5]`, `w1 [5, 8]`, `b1 [8]`, `w2 [8, 4]`, `b2 [4]`, and
/// one label in 0..4 per row.
fn mlp_inputs(seed: u64) -> (Vec<Tensor<f64>>, Vec<usize>) {
    let mut rng = rng(seed);
    let inputs = vec![
        uniform([6, 5], -1.0, 1.0, &mut rng),
        uniform([5, 8], -1.0, 1.0, &mut rng),
        uniform([8], -0.5, 0.5, &mut rng),
        uniform([8, 4], -1.0, 1.0, &mut rng),
        uniform([4], -0.5, 0.5, &mut rng),
    ];
    let labels = (0..6).map(|_| rng.random_range(0..4)).collect();
    (inputs, labels)
}

/// An activation function, for any tape.
type Act = for<'t> fn(Var<'t, f64>) -> Var<'t, f64>;

const TANH: Act = |h| h.tanh();
const RELU: Act = |h| h.relu();
const SIGMOID: Act = |h| h.sigmoid();

/// Mean cross-entropy of a two-layer MLP built from raw ops; `v = [x, w1, b1, w2, b2]`.
fn mlp_loss<'t>(v: &[Var<'t, f64>], labels: &[usize], act: Act) -> Var<'t, f64> {
    let hidden = act(v[0].matmul(v[1]).add(v[2]));
    hidden.matmul(v[3]).add(v[4]).log_softmax().nll(labels)
}

#[test]
fn tanh_mlp_loss_with_respect_to_every_input_and_parameter() {
    let (inputs, labels) = mlp_inputs(110);
    check("tanh MLP", |v| mlp_loss(v, &labels, TANH), &inputs);
}

#[test]
fn relu_mlp_loss_with_respect_to_every_input_and_parameter() {
    // Seed 120 is one whose pre-activations all clear the margin below (the nearest is 0.108).
    let (inputs, labels) = mlp_inputs(120);
    // Precondition: relu has a kink at 0, where no difference quotient is right. The stencil
    // moves one entry of x, w1 or b1 by at most 2 eps, which moves a pre-activation by at most
    // 2 eps (every |x|, |w1| <= 1), so a margin of 10 eps keeps every sample on the same side.
    let eps = GradcheckOptions::default().eps;
    let pre = inputs[0].matmul(&inputs[1]).add(&inputs[2]);
    let closest = pre.data().iter().map(|h| h.abs()).fold(f64::INFINITY, f64::min);
    assert!(closest >= 10.0 * eps, "a pre-activation is {closest:e} from relu's kink, within 10 eps");
    // ... and relu is really exercised: some units on, some off.
    let on = pre.data().iter().filter(|&&h| h > 0.0).count();
    assert!(on > 0 && on < pre.numel(), "{on} of {} units active", pre.numel());
    check("relu MLP", |v| mlp_loss(v, &labels, RELU), &inputs);
}

#[test]
fn backward_twice_gives_identical_gradients() {
    let (inputs, labels) = mlp_inputs(112);
    let tape = Tape::<f64>::new();
    let v: Vec<_> = inputs.iter().map(|t| tape.leaf(t.clone())).collect();
    let loss = mlp_loss(&v, &labels, TANH);
    let first = loss.backward();
    let second = loss.backward();
    for (k, &p) in v.iter().enumerate() {
        // Bit for bit: a second pass that accumulated into the first would give twice the value.
        assert_eq!(first[p], second[p], "input {k}");
        assert!(first[p].data().iter().any(|&g| g != 0.0), "input {k} has an all-zero gradient");
    }
}

#[test]
fn a_reset_tape_gives_the_same_gradients_as_a_fresh_one() {
    // Recording again on a reset tape reuses every buffer (values and gradients), so a forward
    // or backward that relied on a zeroed buffer would go wrong on the second round only. The
    // second graph differs from the first (other shapes and ops) to mix up the reused buffers' sizes.
    let (inputs, labels) = mlp_inputs(113);
    let fresh = |act: Act, inputs: &[Tensor<f64>]| {
        let tape = Tape::<f64>::new();
        let v: Vec<_> = inputs.iter().map(|t| tape.leaf(t.clone())).collect();
        let grads = mlp_loss(&v, &labels, act).backward();
        v.iter().map(|&p| grads[p].clone()).collect::<Vec<_>>()
    };
    let (other, _) = mlp_inputs(114);
    let other: Vec<Tensor<f64>> = other.iter().map(|t| t.scale(0.5)).collect();

    let mut tape = Tape::<f64>::new();
    for round in 0..3 {
        let (act, at) = if round == 1 { (SIGMOID, &other) } else { (TANH, &inputs) };
        {
            let v: Vec<_> = at.iter().map(|t| tape.leaf(t)).collect();
            let grads = mlp_loss(&v, &labels, act).backward();
            let got: Vec<Tensor<f64>> = v.iter().map(|&p| grads[p].clone()).collect();
            assert_eq!(got, fresh(act, at), "round {round}");
            drop(grads);
        }
        tape.reset();
    }
}

#[test]
fn a_constant_gets_no_gradient_and_does_not_change_the_leaves() {
    let mut rng = rng(115);
    let (xt, wt) = (uniform([3, 4], -1.0, 1.0, &mut rng), uniform([4, 2], -1.0, 1.0, &mut rng));
    let tape = Tape::<f64>::new();
    let x = tape.constant(xt.clone());
    let w = tape.leaf(wt.clone());
    let hidden = x.matmul(w).tanh();
    let grads = hidden.sum().backward();
    assert!(grads.get(x).is_none(), "a constant got a gradient");
    // Intermediate gradients are freed once consumed: only leaves keep one.
    assert!(grads.get(hidden).is_none());
    // Whether x is a constant or a leaf changes nothing for w.
    let tape2 = Tape::<f64>::new();
    let (x2, w2) = (tape2.leaf(xt), tape2.leaf(wt));
    assert_eq!(grads[w], x2.matmul(w2).tanh().sum().backward()[w2]);
}

#[test]
fn a_leaf_off_the_path_to_the_loss_gets_a_zero_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([2], vec![1.0, 2.0]));
    let unused = tape.leaf(Tensor::full([2, 3], 5.0));
    let side = unused.exp().sum(); // recorded, but the loss does not depend on it
    let loss = x.square().sum();
    let after = tape.leaf(Tensor::ones([4])); // recorded after the loss
    let grads = loss.backward();
    assert_eq!(grads[x].data(), &[2.0, 4.0]);
    // Zeros of the leaf's own shape, not a missing entry, so an optimiser can treat every
    // parameter alike.
    assert_eq!(grads[unused], Tensor::zeros([2, 3]));
    assert_eq!(grads[after], Tensor::zeros([4]));
    assert_eq!(side.backward()[x], Tensor::zeros([2]));
}

#[test]
fn a_loss_of_constants_only_gives_every_leaf_zero() {
    let tape = Tape::<f64>::new();
    let w = tape.leaf(Tensor::from_vec([3], vec![1.0, -1.0, 2.0]));
    let c = tape.constant(Tensor::from_vec([3], vec![0.5, 0.25, 4.0]));
    let loss = c.exp().sum();
    let grads = loss.backward();
    assert_eq!(grads[w], Tensor::zeros([3]));
    assert!(grads.get(c).is_none());
}

#[test]
fn a_scalar_leaf_is_its_own_loss() {
    // d x / d x = 1.
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::scalar(-7.0));
    assert_eq!(x.backward()[x].item(), 1.0);
}
