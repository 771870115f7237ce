//! User-defined ops through the public extension points: an [`Op`] implemented from scratch
//! (softplus, and a two-input hypot), and an elementwise [`UnaryRule`] plugged into [`Unary`].
//! Each is gradchecked alone and inside a larger graph.

mod common;

use common::{away_from_zero, check, rng, uniform, weighted_sum};
use rand::RngExt;
use std::sync::{Arc, Mutex};
use tapegrad::autograd::ops::elementwise::{Unary, UnaryRule};
use tapegrad::autograd::{Float, InputGrad, Op, Output, Tape, Tensor, Var, eval};

/// `y = ln(1 + e^x)`, `dy/dx = sigmoid(x)`.
struct Softplus;

impl<T: Float> Op<T> for Softplus {
    fn name(&self) -> String {
        "softplus".into()
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        // max(x, 0) + ln(1 + e^-|x|): the exponent is never positive, so no overflow.
        out.assign(x.shape(), x.data().iter().map(|&x| x.max(T::ZERO) + (T::ONE + (-x.abs()).exp()).ln()));
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        gx.add(inputs[0].data().iter().zip(g.data()).map(|(&x, &g)| {
            // sigmoid(x) = 1 / (1 + e^-x), written with e^-|x| for the same reason as above.
            let e = (-x.abs()).exp();
            let s = if x >= T::ZERO { T::ONE / (T::ONE + e) } else { e / (T::ONE + e) };
            g * s
        }));
    }
}

/// `z = sqrt(a^2 + b^2)` elementwise (same shapes): `dz/da = a / z`, `dz/db = b / z`.
///
/// It also writes down which inputs backward was asked a gradient for, to check the contract
/// that a constant input arrives as `None`.
struct Hypot {
    asked: Arc<Mutex<Vec<[bool; 2]>>>,
}

impl<T: Float> Op<T> for Hypot {
    fn name(&self) -> String {
        "hypot".into()
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let (a, b) = (inputs[0], inputs[1]);
        assert_eq!(a.shape(), b.shape(), "hypot: {} and {}: shapes differ", a.shape(), b.shape());
        out.assign(a.shape(), a.data().iter().zip(b.data()).map(|(&a, &b)| (a * a + b * b).sqrt()));
    }

    fn backward(&self, inputs: &[&Tensor<T>], z: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        self.asked.lock().unwrap().push([grads[0].is_some(), grads[1].is_some()]);
        for (k, slot) in grads.iter_mut().enumerate() {
            let Some(gk) = slot else { continue };
            // The add-into way (`tensor()`), where Softplus uses `add`: both must accumulate.
            let gk = gk.tensor().data_mut();
            for (((gk, &v), &z), &g) in gk.iter_mut().zip(inputs[k].data()).zip(z.data()).zip(g.data()) {
                *gk += g * v / z;
            }
        }
    }
}

fn hypot<'t>(a: Var<'t, f64>, b: Var<'t, f64>) -> Var<'t, f64> {
    a.apply(Hypot { asked: Arc::default() }, &[b])
}

/// `y = x^3`, `dy/dx = 3 x^2`, as an elementwise rule: no backward to write.
struct Cube;

impl<T: Float> UnaryRule<T> for Cube {
    fn name(&self) -> String {
        "cube".into()
    }
    fn f(&self, x: T) -> T {
        x * x * x
    }
    fn df(&self, x: T, _y: T) -> T {
        T::from_f64(3.0) * x * x
    }
}

#[test]
fn softplus_values_and_gradients_by_hand() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([3], vec![0.0, 3f64.ln(), -(3f64.ln())]));
    let y = x.apply(Softplus, &[]);
    // ln(1 + e^0) = ln 2, ln(1 + 3) = ln 4, ln(1 + 1/3) = ln(4/3);
    // sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4.
    common::assert_close("softplus", y.value().data(), &[2f64.ln(), 4f64.ln(), (4.0f64 / 3.0).ln()], 1e-15);
    common::assert_close("softplus'", y.sum().backward()[x].data(), &[0.5, 0.75, 0.25], 1e-15);
}

#[test]
fn softplus_stays_finite_for_large_inputs() {
    // softplus(x) -> x as x -> +inf and -> 0 as x -> -inf; e^1000 itself would overflow.
    let y = eval(&Softplus, &[&Tensor::from_vec([2], vec![1000.0f32, -1000.0])]);
    assert_eq!(y.data(), &[1000.0, 0.0]);
}

#[test]
fn softplus_gradcheck() {
    let mut rng = rng(300);
    for shape in [vec![5], vec![3, 4], vec![2, 3, 2]] {
        let x = uniform(&shape[..], -4.0, 4.0, &mut rng);
        check(&format!("softplus {shape:?}"), |v| weighted_sum(v[0].apply(Softplus, &[])), &[x]);
    }
}

#[test]
fn softplus_inside_an_mlp_loss() {
    let mut rng = rng(301);
    let inputs = [
        uniform([5, 4], -1.0, 1.0, &mut rng),
        uniform([4, 6], -1.0, 1.0, &mut rng),
        uniform([6], -0.5, 0.5, &mut rng),
        uniform([6, 3], -1.0, 1.0, &mut rng),
        uniform([3], -0.5, 0.5, &mut rng),
    ];
    let labels: Vec<usize> = (0..5).map(|_| rng.random_range(0..3)).collect();
    check(
        "softplus MLP",
        |v| v[0].matmul(v[1]).add(v[2]).apply(Softplus, &[]).matmul(v[3]).add(v[4]).log_softmax().nll(&labels),
        &inputs,
    );
}

#[test]
fn eval_runs_a_custom_op_without_a_tape_and_matches_the_recorded_value() {
    let mut rng = rng(302);
    let x = uniform([3, 3], -2.0, 2.0, &mut rng);
    let tape = Tape::<f64>::new();
    let recorded = tape.leaf(x.clone()).apply(Softplus, &[]).value();
    assert_eq!(eval(&Softplus, &[&x]), recorded);
}

#[test]
fn hypot_gradcheck_with_respect_to_both_inputs() {
    // Inputs at least 0.2 from 0 keep z = |(a, b)| away from the cone's tip, where hypot has no
    // derivative.
    let mut rng = rng(303);
    let a = away_from_zero([3, 4], 0.2, 2.0, &mut rng);
    let b = away_from_zero([3, 4], 0.2, 2.0, &mut rng);
    check("hypot", |v| weighted_sum(hypot(v[0], v[1])), &[a, b]);
}

#[test]
fn hypot_of_a_var_with_itself() {
    // hypot(x, x) = sqrt(2) |x|: both slots point at x and their gradients must add up to
    // sqrt(2) sign(x) (each slot gives x / (sqrt(2) |x|) = sign(x) / sqrt(2)).
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([2], vec![3.0, -0.5]));
    let y = hypot(x, x);
    common::assert_close("hypot(x, x)", y.value().data(), &[3.0 * 2f64.sqrt(), 0.5 * 2f64.sqrt()], 1e-15);
    common::assert_close("d hypot(x, x)", y.sum().backward()[x].data(), &[2f64.sqrt(), -(2f64.sqrt())], 1e-15);
}

#[test]
fn backward_asks_no_gradient_for_a_constant_input() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let tape = Tape::<f64>::new();
    let a = tape.leaf(Tensor::from_vec([2], vec![3.0, 0.6]));
    let b = tape.constant(Tensor::from_vec([2], vec![4.0, 0.8]));
    let z = a.apply(Hypot { asked: Arc::clone(&asked) }, &[b]);
    // hypot(3, 4) = 5 and hypot(0.6, 0.8) = 1; dz/da = a / z = [3/5, 0.6].
    common::assert_close("hypot", z.value().data(), &[5.0, 1.0], 1e-15);
    let grads = z.sum().backward();
    common::assert_close("dz/da", grads[a].data(), &[0.6, 0.6], 1e-15);
    assert_eq!(*asked.lock().unwrap(), vec![[true, false]], "backward calls and which inputs they were asked for");
}

#[test]
fn a_unary_rule_becomes_an_op() {
    let mut rng = rng(304);
    let x = uniform([4, 3], -1.5, 1.5, &mut rng);
    check("cube rule", |v| weighted_sum(v[0].apply(Unary(Cube), &[])), std::slice::from_ref(&x));
    // Inside a graph: a cubic feature between two layers, with a shared input.
    let w = uniform([3, 2], -1.0, 1.0, &mut rng);
    check(
        "cube in a graph",
        |v| weighted_sum(v[0].apply(Unary(Cube), &[]).matmul(v[1]).tanh() * v[0].sum_axis(1).sum()),
        &[x.clone(), w],
    );
    // Without a tape, the rule gives the same values: 2^3 = 8, (-1)^3 = -1.
    assert_eq!(Tensor::from_vec([2], vec![2.0, -1.0]).map_rule(Cube).data(), &[8.0, -1.0]);
    // And the same rule works in f32: d/dx x^3 at 2 is 12.
    let tape = Tape::<f32>::new();
    let t = tape.leaf(Tensor::scalar(2.0f32));
    assert_eq!(t.apply(Unary(Cube), &[]).backward()[t].item(), 12.0);
}

#[test]
fn custom_ops_show_their_names_in_the_listing() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::zeros([2]));
    let _ = hypot(x.apply(Softplus, &[]), x.apply(Unary(Cube), &[]));
    let listing = tape.to_string();
    for line in ["#1 softplus #0", "#2 cube     #0", "#3 hypot    #1 #2"] {
        assert!(listing.contains(line), "no {line:?} in\n{listing}");
    }
}

/// `y = x` forward, but a backward that adds nothing: as if dy/dx were 0.
struct Blocks;

impl Op<f64> for Blocks {
    fn name(&self) -> String {
        "blocks".into()
    }
    fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
        out.assign(inputs[0].shape(), inputs[0].data().iter().copied());
    }
    fn backward(&self, _: &[&Tensor<f64>], _: &Tensor<f64>, _: &Tensor<f64>, _: &mut [Option<InputGrad<'_, f64>>]) {}
}

#[test]
fn a_gradient_an_op_never_adds_to_is_zero_even_in_a_reused_buffer() {
    // The first step fills the tape's spare buffers with non-zero gradients; the second hands
    // one of them to `Blocks` unzeroed, and the engine must clear it since nothing was added.
    let mut tape = Tape::<f64>::new();
    let x0 = Tensor::from_vec([3], vec![1.0, -2.0, 0.5]);
    let x = tape.leaf(&x0);
    let grads = (x * x).scale(7.0).sum().backward();
    assert_eq!(grads[x].data(), &[14.0, -28.0, 7.0]);
    drop(grads);
    tape.reset();
    let x = tape.leaf(&x0);
    let h = x.exp(); // an intermediate, so the op's input gradient comes from the spare pool
    let y = (tape.apply(Blocks, &[h]) + x).sum();
    assert_eq!(y.backward()[x].data(), &[1.0, 1.0, 1.0], "only the `+ x` path contributes");
}

/// Adds one value too few.
struct ShortAdd;

impl Op<f64> for ShortAdd {
    fn name(&self) -> String {
        "short_add".into()
    }
    fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
        out.assign(inputs[0].shape(), inputs[0].data().iter().copied());
    }
    fn backward(&self, _: &[&Tensor<f64>], _: &Tensor<f64>, g: &Tensor<f64>, grads: &mut [Option<InputGrad<'_, f64>>]) {
        if let Some(gx) = &mut grads[0] {
            gx.add(g.data()[1..].iter().copied());
        }
    }
}

#[test]
#[should_panic(expected = "InputGrad::add: 2 values for a gradient of shape [3]")]
fn adding_the_wrong_number_of_values_names_both_counts() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::zeros([3]));
    tape.apply(ShortAdd, &[x]).sum().backward();
}
