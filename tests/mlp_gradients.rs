//! The MLP's tape gradients against its hand-derived backprop (`nn::manual`) and against finite
//! differences: for depths 1 to 3, every named activation in every hidden position (depth 3
//! pairs each with another), with and without L2, batch sizes 1 and 17.

use tapegrad::autograd::{Float, GradcheckOptions, Tape, Tensor, Var, gradcheck, numeric_gradient};
use tapegrad::nn::manual::ManualBackprop;
use tapegrad::nn::{Activation, Init, Linear, Mlp, Module, l2_penalty, softmax_cross_entropy};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const INPUTS: usize = 5;
const CLASSES: usize = 3;

fn sizes(depth: usize) -> Vec<usize> {
    let mut s = vec![INPUTS];
    s.extend(std::iter::repeat_n(4, depth - 1));
    s.push(CLASSES);
    s
}

/// The loss the tape records: mean cross-entropy plus `0.5 lambda sum ||W||^2`.
fn tape_loss<'t, T: Float>(mlp: &Mlp<T>, tape: &'t Tape<T>, x: &Tensor<T>, labels: &[usize], lambda: T) -> Var<'t, T> {
    let ce = softmax_cross_entropy(mlp.forward(tape.constant(x)), labels);
    if lambda == T::ZERO { ce } else { ce + l2_penalty(mlp, tape, lambda) }
}

/// The tape's gradients, in the order of `Module::parameters` (that of `ManualBackprop`).
fn tape_gradients<T: Float>(mlp: &Mlp<T>, x: &Tensor<T>, labels: &[usize], lambda: T) -> Vec<Tensor<T>> {
    let tape = Tape::new();
    let grads = tape_loss(mlp, &tape, x, labels, lambda).backward();
    mlp.parameters().iter().map(|p| grads[p.param].clone()).collect()
}

/// The same loss written out from the parameter leaves `[W_1, b_1, W_2, b_2, ...]`, for the
/// finite-difference checks, which perturb those leaves.
fn loss_of<'t>(
    params: &[Var<'t, f64>],
    acts: &[Activation],
    x: &Tensor<f64>,
    labels: &[usize],
    lambda: f64,
) -> Var<'t, f64> {
    let tape = params[0].tape();
    let last = params.len() / 2 - 1;
    let mut h = tape.constant(x);
    for (l, wb) in params.chunks_exact(2).enumerate() {
        h = h.matmul(wb[0]).add(wb[1]);
        if l < last {
            h = acts[l].forward(h);
        }
    }
    let ce = softmax_cross_entropy(h, labels);
    if lambda == 0.0 {
        return ce;
    }
    let squares = params.iter().step_by(2).map(|w| w.square().sum()).reduce(|a, b| a + b).expect("a weight");
    ce + squares.scale(0.5 * lambda)
}

/// The smallest |z| over the hidden pre-activations: a relu kink within a finite-difference
/// step of some z would make the numerical derivative wrong, not the tape.
fn min_abs_hidden_preactivation(mlp: &Mlp<f64>, x: &Tensor<f64>) -> f64 {
    let mut min = f64::INFINITY;
    let mut h = x.clone();
    let layers = mlp.layers();
    for (layer, act) in layers.iter().zip(mlp.activations()) {
        let z = h.matmul(&layer.weight).add(&layer.bias);
        min = z.data().iter().fold(min, |m, v| m.min(v.abs()));
        h = act.apply(&z);
    }
    min
}

/// A model and batch for one case. With a kinked activation (relu, leaky relu), seeds are tried
/// in order until every hidden pre-activation is at least 0.02 from 0: a five-point step of
/// 2 eps = 2e-3 in a weight moves z by at most 2e-3 |a| (|a| < 3 here), so no step then
/// crosses the kink. (ELU's kink is in its second derivative only, which the differences
/// tolerate.)
fn case(depth: usize, acts: &[Activation], batch: usize) -> (Mlp<f64>, Tensor<f64>, Vec<usize>) {
    let kinked = acts.iter().any(|a| matches!(a, Activation::Relu | Activation::LeakyRelu(_)));
    for seed in 0u64.. {
        let mut rng = StdRng::seed_from_u64(seed * 1000 + (depth * 100 + batch) as u64);
        let mut mlp = Mlp::with_activations(&sizes(depth), acts.to_vec(), Init::GlorotNormal, &mut rng);
        // Nonzero biases, so their gradients are exercised from a generic point.
        for layer in mlp.layers_mut() {
            let n = layer.outputs();
            *layer.bias.value_mut() = Tensor::rand_uniform([n], -0.5, 0.5, &mut rng);
        }
        let x = Tensor::rand_normal([batch, INPUTS], 0.0, 1.0, &mut rng);
        let labels: Vec<usize> = (0..batch).map(|_| rng.random_range(0..CLASSES)).collect();
        if !kinked || min_abs_hidden_preactivation(&mlp, &x) > 0.02 {
            return (mlp, x, labels);
        }
    }
    unreachable!()
}

/// Largest entrywise error of `a` against `b`, relative to `max(|a_i|, |b_i|, floor)`, where
/// `floor` is `floor_fraction` of the largest entry of `b`: an entry that is small because its
/// terms cancel carries rounding error on the scale of the terms, not of their sum.
fn rel_err<T: Float>(a: &Tensor<T>, b: &Tensor<T>, floor_fraction: f64) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let scale = b.data().iter().fold(0.0f64, |m, v| m.max(v.to_f64().abs()));
    let floor = floor_fraction * scale;
    a.data()
        .iter()
        .zip(b.data())
        .map(|(&x, &y)| {
            let (x, y) = (x.to_f64(), y.to_f64());
            (x - y).abs() / x.abs().max(y.abs()).max(floor).max(f64::MIN_POSITIVE)
        })
        .fold(0.0, f64::max)
}

/// The activations of one case's hidden layers: depth 2 takes each named activation in turn,
/// depth 3 pairs activation `i` with `i + 3`, so each appears first and second, beside another.
fn activations(depth: usize, i: usize) -> Vec<Activation> {
    (0..depth - 1).map(|l| Activation::ALL[(i + 3 * l) % Activation::ALL.len()].clone()).collect()
}

fn all_cases() -> impl Iterator<Item = (usize, Vec<Activation>, f64, usize)> {
    (1..=3).flat_map(|depth| {
        // A model of depth 1 has no hidden layer: one choice of activations.
        let choices = if depth == 1 { 1 } else { Activation::ALL.len() };
        (0..choices).flat_map(move |i| {
            [0.0, 0.1]
                .into_iter()
                .flat_map(move |lambda| [1, 17].map(move |b| (depth, activations(depth, i), lambda, b)))
        })
    })
}

#[test]
fn tape_equals_hand_derived_and_both_equal_finite_differences_f64() {
    let opts = GradcheckOptions::default();
    let (mut worst_tape_manual, mut worst_tape_fd, mut worst_manual_fd) = (0.0f64, 0.0f64, 0.0f64);
    let mut cases = 0;
    for (depth, acts, lambda, batch) in all_cases() {
        let (mlp, x, labels) = case(depth, &acts, batch);
        let what = format!("depth {depth}, {acts:?}, lambda {lambda}, batch {batch}");

        let tape = tape_gradients(&mlp, &x, &labels, lambda);
        let mut bp = ManualBackprop::new();
        let manual_loss = bp.run(&mlp, &x, &labels, lambda);
        let manual: Vec<&Tensor<f64>> = bp.gradients();

        // The loss value itself, both ways: the same sums of the same terms, each activation
        // value within an ulp or two of the other's (the formulas differ in rounding only), so
        // 1e-14 relative.
        let tape_loss_value = tape_loss(&mlp, &Tape::new(), &x, &labels, lambda).item();
        assert!(
            (tape_loss_value - manual_loss).abs() <= 1e-14 * manual_loss.abs(),
            "{what}: loss {tape_loss_value} vs {manual_loss}"
        );

        // Tape vs hand-derived: the same sums in (nearly) the same order, so they agree to a few
        // ulps; 1e-12 leaves room for summation-order differences in the L2 and bias terms and
        // for the two independent erfc of gelu (each within a few ulps; see manual.rs).
        for (k, (t, m)) in tape.iter().zip(&manual).enumerate() {
            let e = rel_err(t, m, 1e-3);
            worst_tape_manual = worst_tape_manual.max(e);
            assert!(e <= 1e-12, "{what}: parameter {k}: tape vs hand-derived rel err {e:e}");
        }

        // Both against five-point central differences (see autograd::gradcheck for why 1e-7).
        let params: Vec<Tensor<f64>> = mlp.parameters().iter().map(|p| p.param.value().clone()).collect();
        let report = gradcheck(|v| loss_of(v, &acts, &x, &labels, lambda), &params, &opts)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        worst_tape_fd = worst_tape_fd.max(report.max_rel_err());
        let numeric = numeric_gradient(|v| loss_of(v, &acts, &x, &labels, lambda), &params, &opts);
        for (k, (m, n)) in manual.iter().zip(&numeric).enumerate() {
            for (j, (&a, &b)) in m.data().iter().zip(n.data()).enumerate() {
                let err = (a - b).abs();
                assert!(
                    err <= opts.atol + opts.rtol * a.abs().max(b.abs()),
                    "{what}: param {k}[{j}]: hand-derived {a:e} vs numeric {b:e}"
                );
                if a.abs().max(b.abs()) > opts.atol {
                    worst_manual_fd = worst_manual_fd.max(err / a.abs().max(b.abs()));
                }
            }
        }
        cases += 1;
    }
    // Depth 1 once, depths 2 and 3 once per named activation; two lambdas, two batch sizes.
    assert_eq!(cases, (1 + 2 * Activation::ALL.len()) * 2 * 2);
    println!(
        "{cases} cases: worst rel err tape vs hand-derived {worst_tape_manual:e}, tape vs FD {worst_tape_fd:e}, hand-derived vs FD {worst_manual_fd:e}"
    );
}

#[test]
fn tape_equals_hand_derived_f32() {
    let mut worst = 0.0f64;
    for (depth, acts, lambda, batch) in all_cases() {
        let (mlp, x, labels) = case(depth, &acts, batch);
        let mlp32 = Mlp::from_layers_with_activations(
            mlp.layers().iter().map(|l| Linear::from_tensors(l.weight.cast(), l.bias.cast())).collect(),
            acts.clone(),
        );
        let x32 = x.cast::<f32>();
        let tape = tape_gradients(&mlp32, &x32, &labels, lambda as f32);
        let mut bp = ManualBackprop::<f32>::new();
        bp.run(&mlp32, &x32, &labels, lambda as f32);
        for (k, (t, m)) in tape.iter().zip(bp.gradients()).enumerate() {
            // Norm-wise (floor = the largest entry): the tape adds lambda W before a^T delta, the
            // hand-derived code after, so where the two nearly cancel an entry keeps an f32
            // rounding error (1.2e-7 times the terms) that is large relative to the entry itself.
            // Relative to the tensor, a few dozen roundings stay well below 1e-5.
            let e = rel_err(t, m, 1.0);
            worst = worst.max(e);
            assert!(e <= 1e-5, "depth {depth}, {acts:?}, lambda {lambda}, batch {batch}: parameter {k}: rel err {e:e}");
        }
    }
    println!("f32: worst rel err tape vs hand-derived {worst:e}");
}

#[test]
fn hand_derived_refuses_a_custom_activation_by_layer_and_name() {
    let acts = vec![Activation::Relu, Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x)];
    let mlp = Mlp::<f64>::with_activations(&sizes(3), acts, Init::GlorotNormal, &mut StdRng::seed_from_u64(1));
    let x = Tensor::zeros([2, INPUTS]);
    let err = ManualBackprop::new().try_run(&mlp, &x, &[0, 1], 0.0).unwrap_err();
    assert_eq!((err.layer, err.activation.as_str()), (1, "cube"));
    let panic = std::panic::catch_unwind(|| ManualBackprop::new().run(&mlp, &x, &[0, 1], 0.0)).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("ManualBackprop::run: no hand-derived formula for activation 'cube' after hidden layer 1"),
        "{msg}"
    );
}

#[test]
fn a_custom_activation_trains_on_the_tape_and_matches_finite_differences() {
    // softsign, y = x / (1 + |x|), y' = 1 / (1 + |x|)^2, as a closure pair in one hidden layer.
    let softsign =
        Activation::custom("softsign", |x| x / (1.0 + x.abs()), |x| 1.0 / ((1.0 + x.abs()) * (1.0 + x.abs())));
    let acts = vec![Activation::Tanh, softsign];
    let (mlp, x, labels) = case(3, &acts, 7);
    let params: Vec<Tensor<f64>> = mlp.parameters().iter().map(|p| p.param.value().clone()).collect();
    gradcheck(|v| loss_of(v, &acts, &x, &labels, 0.0), &params, &GradcheckOptions::default()).unwrap();
    // And the model's own forward records the same loss as the leaves' version.
    let tape = Tape::new();
    let leaves: Vec<Var<f64>> = params.iter().map(|p| tape.leaf(p)).collect();
    assert_eq!(
        tape_loss(&mlp, &Tape::new(), &x, &labels, 0.0).item(),
        loss_of(&leaves, &acts, &x, &labels, 0.0).item()
    );
}
