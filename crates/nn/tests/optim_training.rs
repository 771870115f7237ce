//! The optimisers driving real models: weight decay against the L2 penalty, the tape against the
//! hand-derived backprop, and every optimiser training a small MLP.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tapegrad_autograd::{Tape, Tensor};
use tapegrad_nn::manual::ManualBackprop;
use tapegrad_nn::{Activation, Adam, Init, Mlp, Module, Optimizer, Sgd, l2_penalty, softmax_cross_entropy};

/// Two classes in the plane split by the line `x + y/2 = 0`, with no point closer to it than
/// 0.2 (in `x + y/2`), so a linear model can separate them with a margin.
fn separable(n: usize, rng: &mut StdRng) -> (Tensor<f64>, Vec<usize>) {
    let (mut xs, mut labels) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
    while labels.len() < n {
        let (a, b) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
        let s: f64 = a + 0.5 * b;
        if s.abs() >= 0.2 {
            xs.extend([a, b]);
            labels.push(usize::from(s > 0.0));
        }
    }
    (Tensor::from_vec([n, 2], xs), labels)
}

fn loss(mlp: &Mlp<f64>, x: &Tensor<f64>, labels: &[usize]) -> f64 {
    let tape = Tape::new();
    softmax_cross_entropy(mlp.forward(tape.constant(x)), labels).item()
}

/// Full-batch training with `opt`; returns the loss before and after.
fn train(
    mlp: &mut Mlp<f64>,
    opt: &mut dyn Optimizer<f64>,
    x: &Tensor<f64>,
    labels: &[usize],
    steps: usize,
) -> (f64, f64) {
    let before = loss(mlp, x, labels);
    let mut tape = Tape::new();
    for _ in 0..steps {
        tape.reset();
        let grads = softmax_cross_entropy(mlp.forward(tape.constant(x)), labels).backward();
        opt.step(mlp, &grads);
    }
    (before, loss(mlp, x, labels))
}

#[test]
fn every_optimiser_trains_a_small_mlp() {
    let mut rng = StdRng::seed_from_u64(7);
    let (x, labels) = separable(32, &mut rng);
    let mlp = Mlp::new(&[2, 8, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
    let optimisers: [(&str, Box<dyn Optimizer<f64>>); 6] = [
        ("sgd", Box::new(Sgd::new(0.5))),
        ("sgd+momentum", Box::new(Sgd::new(0.5).momentum(0.9))),
        ("sgd+nesterov", Box::new(Sgd::new(0.5).momentum(0.9).nesterov(true))),
        ("sgd+momentum+decay", Box::new(Sgd::new(0.5).momentum(0.9).weight_decay(1e-4))),
        ("adam", Box::new(Adam::new(0.05))),
        ("adamw", Box::new(Adam::new(0.05).weight_decay(0.01))),
    ];
    // Seen: from 0.559 down by 115x (plain SGD) to 51000x (momentum); 10x leaves room for any
    // reordering of float operations, and no broken update gets there.
    for (name, mut opt) in optimisers {
        let mut model = mlp.clone();
        let (before, after) = train(&mut model, opt.as_mut(), &x, &labels, 200);
        assert!(after < before / 10.0, "{name}: loss {before} -> {after} in 200 steps");
    }

    // Seeded data and initialisation, single-threaded kernels: a rerun is bit-identical.
    let (mut first, mut second) = (mlp.clone(), mlp);
    train(&mut first, &mut Adam::new(0.05), &x, &labels, 20);
    train(&mut second, &mut Adam::new(0.05), &x, &labels, 20);
    assert_eq!(first, second);
}

/// Max absolute difference between two models' parameters.
fn max_diff(a: &Mlp<f64>, b: &Mlp<f64>) -> f64 {
    a.parameters()
        .iter()
        .zip(b.parameters())
        .flat_map(|(p, q)| p.param.data().iter().zip(q.param.data()).map(|(x, y)| (x - y).abs()).collect::<Vec<_>>())
        .fold(0.0, f64::max)
}

#[test]
fn sgd_weight_decay_equals_an_l2_penalty_in_the_loss() {
    let mut rng = StdRng::seed_from_u64(11);
    let (x, labels) = separable(16, &mut rng);
    let mut decayed = Mlp::new(&[2, 5, 3, 2], Activation::Tanh, Init::GlorotNormal, &mut rng);
    // Nonzero biases, so that decaying them by mistake would show.
    for layer in decayed.layers_mut() {
        *layer.bias.value_mut() = Tensor::rand_uniform([layer.outputs()], -0.5, 0.5, &mut rng);
    }
    let mut penalised = decayed.clone();
    let mut plain = decayed.clone();
    let (lr, lambda) = (0.3, 0.05);

    let tape = Tape::new();
    let grads = softmax_cross_entropy(decayed.forward(tape.constant(&x)), &labels).backward();
    Sgd::new(lr).weight_decay(lambda).step(&mut decayed, &grads);

    let tape = Tape::new();
    let grads = softmax_cross_entropy(plain.forward(tape.constant(&x)), &labels).backward();
    Sgd::new(lr).step(&mut plain, &grads);

    let tape = Tape::new();
    let ce = softmax_cross_entropy(penalised.forward(tape.constant(&x)), &labels);
    let grads = (ce + l2_penalty(&penalised, &tape, lambda)).backward();
    Sgd::new(lr).step(&mut penalised, &grads);

    // Both compute w - lr (grad + lambda w); the tape gets lambda w as (2 w)(0.5 lambda), the
    // same product, so only the order of the sums in the gradient can differ: an ulp or two
    // (at most 4e-16 for these parameters, all below 2; seen: 1.4e-17).
    let diff = max_diff(&decayed, &penalised);
    assert!(diff <= 1e-15, "weight decay vs L2: parameters differ by {diff:e}");
    // And the decay did something: lr lambda |w| is up to about 0.02 here.
    assert!(max_diff(&decayed, &plain) > 1e-3);
}

#[test]
fn hand_derived_gradients_drive_the_same_optimisers() {
    let mut rng = StdRng::seed_from_u64(5);
    let (x, labels) = separable(24, &mut rng);
    let mlp = Mlp::new(&[2, 6, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
    let mut by_tape = mlp.clone();
    let mut by_hand = mlp;
    let (mut opt_tape, mut opt_hand) = (Sgd::new(0.2).momentum(0.9), Sgd::new(0.2).momentum(0.9));
    let mut bp = ManualBackprop::new();
    let mut tape = Tape::new();
    for _ in 0..20 {
        tape.reset();
        let grads = softmax_cross_entropy(by_tape.forward(tape.constant(&x)), &labels).backward();
        opt_tape.step(&mut by_tape, &grads);
        drop(grads);

        bp.run(&by_hand, &x, &labels, 0.0);
        let grads = bp.gradients();
        opt_hand.update(&mut by_hand.parameters_mut(), &grads);
    }
    // Today the two are bit-identical (the same float operations in the same order). Should an
    // op's kernel change, the gradients would still agree to an ulp or so (about 1e-16 here) per
    // step; momentum 0.9 multiplies a difference by at most 10, and 20 steps of lr 0.2 add
    // 0.2 * 20 * 10 * 1e-16 = 4e-15 at most.
    let diff = max_diff(&by_tape, &by_hand);
    assert!(diff <= 1e-14, "tape vs hand-derived training: parameters differ by {diff:e}");
}
