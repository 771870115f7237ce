//! `Sequential` and its layers: layer norm's fused op against finite differences (f64), a
//! model with every layer kind against finite differences, dropout's modes and statistics,
//! PyTorch's parameter names, and the shape checks.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tapegrad_autograd::{GradcheckOptions, Tape, Tensor, Var, gradcheck, numeric_gradient};
use tapegrad_nn::{
    Activation, Dropout, Init, Layer, LayerNorm, LayerNormOp, Linear, Mlp, Mode, Module, Sequential,
    softmax_cross_entropy,
};

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("expected a panic");
    match err.downcast_ref::<&str>() {
        Some(s) => s.to_string(),
        None => err.downcast_ref::<String>().cloned().expect("a message"),
    }
}

/// `sum(y * c)` for a fixed random `c`: a plain sum would hide layer norm's input gradient,
/// which is zero along the direction of the row mean.
fn weighted<'t>(y: Var<'t, f64>, seed: u64) -> Var<'t, f64> {
    let c = Tensor::rand_uniform(y.shape().clone(), -1.0, 1.0, &mut StdRng::seed_from_u64(seed));
    y.mul(y.tape().constant(c)).sum()
}

#[test]
fn layer_norm_op_matches_finite_differences_in_f64() {
    let mut rng = StdRng::seed_from_u64(10);
    // One feature (variance 0: the output is the bias), a batch of rows, and a 3-d input.
    for (shape, d) in [(vec![3, 1], 1), (vec![5, 4], 4), (vec![2, 3, 6], 6)] {
        let inputs = [
            Tensor::rand_normal(&shape[..], 0.5, 2.0, &mut rng),
            Tensor::rand_uniform([d], 0.5, 1.5, &mut rng),
            Tensor::rand_uniform([d], -0.5, 0.5, &mut rng),
        ];
        for eps in [1e-5, 0.1] {
            // Five-point differences (GradcheckOptions::default: rtol 1e-7, see autograd's
            // gradcheck): layer norm is smooth wherever var + eps > 0.
            gradcheck(
                |v| weighted(v[0].tape().apply(LayerNormOp { eps }, &[v[0], v[1], v[2]]), 3),
                &inputs,
                &GradcheckOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{shape:?}, eps {eps}: {e}"));
        }
    }
}

#[test]
fn layer_norm_values_have_zero_mean_and_unit_variance_before_the_affine() {
    let mut rng = StdRng::seed_from_u64(11);
    let x = Tensor::<f64>::rand_normal([4, 8], 3.0, 5.0, &mut rng);
    let tape = Tape::new();
    let y = LayerNorm::new(8).forward(tape.constant(&x)).value();
    for row in y.data().chunks_exact(8) {
        // mean 0 and biased variance var / (var + eps), var ~ 25: 1 - 1e-5/25 within rounding.
        let mean = row.iter().sum::<f64>() / 8.0;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 8.0;
        assert!(mean.abs() < 1e-15, "{mean}");
        assert!((var - 1.0).abs() < 1e-5, "{var}");
    }
    // The affine part: w * h + b, elementwise per feature.
    let w = Tensor::from_vec([2], vec![2.0, -3.0]);
    let b = Tensor::from_vec([2], vec![0.5, 1.0]);
    let norm = LayerNorm::from_tensors(w, b, 0.0);
    // The row [1, 3]: mean 2, variance 1, h = [-1, 1]: y = [2 (-1) + 0.5, -3 (1) + 1].
    let y = norm.forward(tape.constant(Tensor::from_rows(&[[1.0, 3.0]]))).value();
    assert_eq!(y.data(), &[-1.5, -2.0]);
}

#[test]
fn layer_norm_names_both_shapes_when_the_last_axis_does_not_fit() {
    let msg = panic_message(|| {
        let tape = Tape::<f32>::new();
        LayerNorm::new(4).forward(tape.constant(Tensor::zeros([2, 5])));
    });
    assert_eq!(msg, "layer_norm: input shape [2, 5] does not end in the weight's [4]");
    let msg = panic_message(|| {
        LayerNorm::from_tensors(Tensor::<f32>::ones([3]), Tensor::zeros([4]), 1e-5);
    });
    assert!(msg.contains("LayerNorm::from_tensors: weight shape [3] and bias shape [4] differ"), "{msg}");
}

/// A model with every layer kind: Linear, LayerNorm, each of several activations, Dropout.
fn every_kind(params: &[Tensor<f64>], seed: u64) -> Sequential<f64> {
    let linear = |k: usize| Linear::from_tensors(params[k].clone(), params[k + 1].clone());
    Sequential::new(vec![
        linear(0).into(),
        LayerNorm::from_tensors(params[2].clone(), params[3].clone(), 1e-5).into(),
        Activation::Gelu.into(),
        Dropout::new(0.3, seed).into(),
        linear(4).into(),
        Activation::Silu.into(),
        LayerNorm::from_tensors(params[6].clone(), params[7].clone(), 1e-5).into(),
        Activation::Tanh.into(),
        linear(8).into(),
    ])
}

#[test]
fn a_model_of_every_layer_kind_matches_finite_differences_in_f64() {
    let mut rng = StdRng::seed_from_u64(12);
    let params = vec![
        Tensor::rand_normal([5, 6], 0.0, 0.6, &mut rng),
        Tensor::rand_uniform([6], -0.5, 0.5, &mut rng),
        Tensor::rand_uniform([6], 0.5, 1.5, &mut rng),
        Tensor::rand_uniform([6], -0.5, 0.5, &mut rng),
        Tensor::rand_normal([6, 4], 0.0, 0.6, &mut rng),
        Tensor::rand_uniform([4], -0.5, 0.5, &mut rng),
        Tensor::rand_uniform([4], 0.5, 1.5, &mut rng),
        Tensor::rand_uniform([4], -0.5, 0.5, &mut rng),
        Tensor::rand_normal([4, 3], 0.0, 0.6, &mut rng),
        Tensor::rand_uniform([3], -0.5, 0.5, &mut rng),
    ];
    let x = Tensor::rand_normal([7, 5], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..7).map(|_| rng.random_range(0..3)).collect();
    for mode in [Mode::Train, Mode::Eval] {
        // The tape's gradients of the model's own parameters.
        let mut model = every_kind(&params, 99);
        model.set_mode(mode);
        let tape = Tape::new();
        let grads = softmax_cross_entropy(model.forward(tape.constant(&x)), &labels).backward();
        let analytic: Vec<Tensor<f64>> = model.parameters().iter().map(|p| grads[p.param].clone()).collect();

        // Finite differences of the same loss, the model rebuilt from the perturbed values with
        // the same dropout seed, so every evaluation draws the same mask.
        let opts = GradcheckOptions::default();
        let numeric = numeric_gradient(
            |v| {
                let values: Vec<Tensor<f64>> = v.iter().map(|p| p.value()).collect();
                let mut m = every_kind(&values, 99);
                m.set_mode(mode);
                softmax_cross_entropy(m.forward(v[0].tape().constant(&x)), &labels)
            },
            &params,
            &opts,
        );
        // The tolerances of gradcheck itself (five-point stencil; see autograd::gradcheck).
        for (k, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
            for (j, (&a, &n)) in a.data().iter().zip(n.data()).enumerate() {
                assert!(
                    (a - n).abs() <= opts.atol + opts.rtol * a.abs().max(n.abs()),
                    "{mode:?}: parameter {k}[{j}]: tape {a:e} vs numeric {n:e}"
                );
            }
        }
    }
}

#[test]
fn dropout_is_inverted_seeded_and_off_in_eval() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones([50, 100]));
    let dropout = Dropout::new(0.25, 3);
    let y = dropout.forward(x, Mode::Train);
    let v = y.value();
    // Kept elements are scaled by 1 / (1 - 0.25) = 4/3 (exact in the comparison below, the
    // same division), dropped ones are 0.
    let scale = 1.0 / 0.75;
    assert!(v.data().iter().all(|&e| e == 0.0 || e == scale));
    // 5000 Bernoulli(0.75) draws: mean 3750, standard deviation sqrt(5000 * 0.75 * 0.25) = 30.6;
    // 5 standard deviations either way.
    let kept = v.data().iter().filter(|&&e| e != 0.0).count();
    assert!((3597..=3903).contains(&kept), "{kept}");
    // The gradient is the mask itself.
    let g = y.sum().backward();
    assert_eq!(g[x].data(), v.data());

    // The same seed gives the same masks, call after call; a clone continues the same stream.
    let (a, b) = (Dropout::new(0.5, 9), Dropout::new(0.5, 9));
    let first = a.forward(x, Mode::Train).value();
    assert_eq!(first, b.forward(x, Mode::Train).value());
    let c = a.clone();
    let second = a.forward(x, Mode::Train).value();
    assert_ne!(first, second);
    assert_eq!(c.forward(x, Mode::Train).value(), second);

    assert_eq!(dropout.forward(x, Mode::Eval).value(), Tensor::ones([50, 100]));
    assert_eq!(Dropout::new(0.0, 1).forward(x, Mode::Train).value(), Tensor::ones([50, 100]));
    assert_eq!(Dropout::new(1.0, 1).forward(x, Mode::Train).value(), Tensor::zeros([50, 100]));
    assert_eq!(
        panic_message(|| {
            let _ = Dropout::new(1.5, 0);
        }),
        "Dropout::new: p must be in [0, 1], got 1.5"
    );
    assert_eq!(
        panic_message(|| {
            let _ = Dropout::new(f64::NAN, 0);
        }),
        "Dropout::new: p must be in [0, 1], got NaN"
    );
}

#[test]
fn sequential_modes_logits_evaluate_and_parameter_names_follow_pytorch() {
    let mut rng = StdRng::seed_from_u64(13);
    let mut model = Sequential::<f32>::new(vec![
        Layer::linear(3, 8, Init::HeUniform, &mut rng),
        Activation::Relu.into(),
        Dropout::new(0.5, 1).into(),
        LayerNorm::new(8).into(),
        Layer::linear(8, 2, Init::GlorotUniform, &mut rng),
    ]);
    let names: Vec<String> = model.parameters().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["0.weight", "0.bias", "3.weight", "3.bias", "4.weight", "4.bias"]);
    let weights: Vec<bool> = model.parameters().iter().map(|p| p.is_weight).collect();
    assert_eq!(weights, [true, false, false, false, true, false]);
    assert_eq!(model.parameters_mut().len(), 6);
    assert_eq!(model.num_parameters(), 3 * 8 + 8 + 8 + 8 + 8 * 2 + 2);

    let x = Tensor::rand_normal([4, 3], 0.0, 1.0, &mut rng);
    assert_eq!(model.mode(), Mode::Train);
    let tape = Tape::new();
    let train = model.forward(tape.constant(&x)).value();
    let eval = model.forward_in(tape.constant(&x), Mode::Eval).value();
    // Dropout at 0.5 over 32 elements: some are dropped (P(none) = 2^-32), which changes the
    // output; logits evaluate whatever the mode.
    assert_ne!(train, eval);
    assert_eq!(model.logits(&x), eval);
    model.eval();
    assert_eq!(Module::mode(&model), Mode::Eval);
    assert_eq!(model.forward(tape.constant(&x)).value(), eval);
    model.train();
    assert_eq!(model.mode(), Mode::Train);
}

#[test]
fn an_mlp_is_the_sequential_of_its_layers() {
    let mut rng = StdRng::seed_from_u64(14);
    let acts = vec![Activation::Elu, Activation::LeakyRelu(0.2)];
    let mlp = Mlp::<f64>::with_activations(&[4, 6, 5, 3], acts, Init::GlorotNormal, &mut rng);
    let seq = Sequential::from(mlp.clone());
    let x = Tensor::rand_normal([3, 4], 0.0, 1.0, &mut rng);
    assert_eq!(seq.logits(&x), mlp.logits(&x));
    let names = |m: &dyn Module<f64>| m.parameters().into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(names(&seq), names(&mlp));
    assert_eq!(seq.to_mlp().as_ref(), Some(&mlp));
    // Not an MLP: a dropout between, or a trailing activation.
    let mut layers = seq.layers().to_vec();
    layers.push(Activation::Relu.into());
    assert_eq!(Sequential::new(layers).to_mlp(), None);
}

#[test]
fn sequential_new_names_the_layers_that_do_not_chain() {
    let mut rng = StdRng::seed_from_u64(15);
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        Sequential::<f32>::new(vec![
            Layer::linear(4, 8, Init::HeUniform, &mut rng),
            Activation::Relu.into(),
            Layer::linear(5, 3, Init::HeUniform, &mut rng),
        ]);
    }));
    assert_eq!(msg, "Sequential::new: layer 2 (Linear(5 -> 3)) takes 5 features but layer 0 (Linear(4 -> 8)) gives 8");
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        Sequential::<f32>::new(vec![Layer::linear(4, 8, Init::HeUniform, &mut rng), LayerNorm::new(6).into()]);
    }));
    assert_eq!(msg, "Sequential::new: layer 1 (LayerNorm(6)) takes 6 features but layer 0 (Linear(4 -> 8)) gives 8");
    assert_eq!(
        panic_message(|| {
            let _ = Sequential::<f32>::new(vec![]);
        }),
        "Sequential::new: no layers"
    );
}
