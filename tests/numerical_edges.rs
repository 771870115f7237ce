//! Numerical edge cases, each in f32 and f64: cross-entropy at logits of +-1e4, rows of equal
//! logits, a single class, a batch of one; sigmoid and tanh saturated; and training that
//! diverges stopping with an error that names the epoch and step.
//!
//! Expected values are worked out by hand in the comments. Where the exact answer is not a
//! float, the tolerance is a few machine epsilons of `T` times the expected value.

mod common;

use common::machine_epsilon;
use rand::{SeedableRng, rngs::StdRng};
use tapegrad::autograd::{Float, Tape, Tensor};
use tapegrad::nn::data::Dataset;
use tapegrad::nn::train::{TrainError, Trainer};
use tapegrad::nn::{Activation, Init, Mlp, Module, Sgd, softmax_cross_entropy};

/// Mean cross-entropy of `logits` (rows of `classes`) and its gradient, in `T`, returned in f64.
fn loss_and_grad<T: Float>(logits: &[f64], classes: usize, labels: &[usize]) -> (f64, Vec<f64>) {
    let tape = Tape::<T>::new();
    let x = tape.leaf(Tensor::from_vec([labels.len(), classes], logits.iter().map(|&v| T::from_f64(v)).collect()));
    let loss = softmax_cross_entropy(x, labels);
    let grads = loss.backward();
    (loss.item().to_f64(), grads[x].data().iter().map(|g| g.to_f64()).collect())
}

#[track_caller]
fn assert_close<T: Float>(what: &str, got: &[f64], want: &[f64], ulps: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{} {what}[{k}] = {g}", T::NAME);
        let tol = ulps * machine_epsilon::<T>() * w.abs().max(f64::MIN_POSITIVE);
        assert!((g - w).abs() <= tol, "{} {what}[{k}]: got {g:e}, expected {w:e} (tolerance {tol:e})", T::NAME);
    }
}

fn logits_of_plus_and_minus_1e4<T: Float>() {
    let logits = [
        1e4, -1e4, 0.0, // label 0, the largest: log p = -log(1 + e^-2e4 + e^-1e4) = 0
        -1e4, -1e4, 1e4, // label 0, 2e4 below the max: log p = -2e4 - log(1 + 2 e^-2e4) = -2e4
        0.0, 1e4, -1e4, // label 1, the largest: 0
    ];
    let (loss, grad) = loss_and_grad::<T>(&logits, 3, &[0, 0, 1]);
    // Mean of 0, 2e4 and 0.
    assert_close::<T>("loss", &[loss], &[2e4 / 3.0], 2.0);
    // (softmax - onehot) / 3, and e^-1e4 underflows to exactly 0, so softmax is exactly one-hot:
    // only row 1, whose label is not its largest logit, has a gradient.
    let third = 1.0 / 3.0;
    let want = [0.0, 0.0, 0.0, -third, 0.0, third, 0.0, 0.0, 0.0];
    assert_close::<T>("gradient", &grad, &want, 2.0);
}

#[test]
fn cross_entropy_at_logits_of_plus_and_minus_1e4_f32() {
    logits_of_plus_and_minus_1e4::<f32>();
}

#[test]
fn cross_entropy_at_logits_of_plus_and_minus_1e4_f64() {
    logits_of_plus_and_minus_1e4::<f64>();
}

fn rows_of_equal_logits<T: Float>() {
    // Each row is one value repeated (0, 1e4, -1e4, 3.7), so softmax is uniform, 1/4 each:
    // every row's loss is ln 4, and its gradient is (1/4 - onehot) / 4 rows.
    let values = [0.0, 1e4, -1e4, 3.7];
    let logits: Vec<f64> = values.iter().flat_map(|&v| [v; 4]).collect();
    let labels = [0, 3, 1, 2];
    let (loss, grad) = loss_and_grad::<T>(&logits, 4, &labels);
    assert_close::<T>("loss", &[loss], &[4f64.ln()], 4.0);
    let want: Vec<f64> = (0..16).map(|k| (0.25 - if labels[k / 4] == k % 4 { 1.0 } else { 0.0 }) / 4.0).collect();
    assert_close::<T>("gradient", &grad, &want, 4.0);
}

#[test]
fn cross_entropy_of_rows_of_equal_logits_f32() {
    rows_of_equal_logits::<f32>();
}

#[test]
fn cross_entropy_of_rows_of_equal_logits_f64() {
    rows_of_equal_logits::<f64>();
}

fn a_single_class<T: Float>() {
    // With one class, softmax is 1 whatever the logit: log p = x - x - log(e^0) = 0 exactly, and
    // the gradient g - 1 * g = 0 exactly.
    let logits = [1e4, -1e4, 0.0, 7.5, -3.25];
    let (loss, grad) = loss_and_grad::<T>(&logits, 1, &[0; 5]);
    assert_eq!(loss, 0.0, "{}", T::NAME);
    assert_eq!(grad, [0.0; 5], "{}", T::NAME);
}

#[test]
fn cross_entropy_of_a_single_class_f32() {
    a_single_class::<f32>();
}

#[test]
fn cross_entropy_of_a_single_class_f64() {
    a_single_class::<f64>();
}

fn a_batch_of_one<T: Float>() {
    // Logits (ln 1, ln 2, ln 5) + 1e4 - 1e4 would cancel; take them as they are, and also shifted
    // by 1e4 in f64 only (in f32, 1e4 + ln 2 rounds to a multiple of 2^-10). Softmax is
    // (1, 2, 5) / 8, so the loss at label 2 is -ln(5/8) and the gradient (1/8, 2/8, 5/8 - 1).
    let logits = [0.0, 2f64.ln(), 5f64.ln()];
    let (loss, grad) = loss_and_grad::<T>(&logits, 3, &[2]);
    assert_close::<T>("loss", &[loss], &[-(5.0f64 / 8.0).ln()], 8.0);
    assert_close::<T>("gradient", &grad, &[0.125, 0.25, -0.375], 8.0);
    // One huge logit and one tiny one in a batch of one: the gradient is exactly one-hot minus
    // one-hot, here 0.
    let (loss, grad) = loss_and_grad::<T>(&[-1e4, 1e4], 2, &[1]);
    assert_eq!((loss, grad), (0.0, vec![0.0, 0.0]), "{}", T::NAME);
    // ... and the worst case, the label on the tiny one: loss 2e4, gradient (1, -1).
    let (loss, grad) = loss_and_grad::<T>(&[1e4, -1e4], 2, &[1]);
    assert_eq!((loss, grad), (2e4, vec![1.0, -1.0]), "{}", T::NAME);
}

#[test]
fn cross_entropy_of_a_batch_of_one_f32() {
    a_batch_of_one::<f32>();
}

#[test]
fn cross_entropy_of_a_batch_of_one_f64() {
    a_batch_of_one::<f64>();
}

fn saturated_sigmoid_and_tanh<T: Float>() {
    let inputs = [50.0, -50.0, 1e4, -1e4, 0.0];
    let tape = Tape::<T>::new();
    let x = tape.leaf(Tensor::from_vec([5], inputs.iter().map(|&v| T::from_f64(v)).collect()));
    let (s, t) = (x.sigmoid(), x.tanh());
    let sg = s.sum().backward()[x].data().iter().map(|g| g.to_f64()).collect::<Vec<_>>();
    let tg = t.sum().backward()[x].data().iter().map(|g| g.to_f64()).collect::<Vec<_>>();
    let sv: Vec<f64> = s.value().data().iter().map(|v| v.to_f64()).collect();
    let tv: Vec<f64> = t.value().data().iter().map(|v| v.to_f64()).collect();

    // sigmoid(50) = 1 - 1.9e-22 rounds to 1; sigmoid(-50) = e^-50 / (1 + e^-50) = 1.9287e-22 is
    // a normal number in both precisions and must keep its relative precision; at +-1e4 the
    // values are 1 and e^-1e4 = 0.
    assert_eq!([sv[0], sv[2], sv[3], sv[4]], [1.0, 1.0, 0.0, 0.5], "{}", T::NAME);
    let tail = (-50f64).exp() / (1.0 + (-50f64).exp());
    assert_close::<T>("sigmoid(-50)", &[sv[1]], &[tail], 4.0);
    // sigmoid' = y (1 - y): 0 where y rounds to 1 or 0 (the true values, under 2e-22, are below
    // anything the gradient of a loss can use), the tail value itself at -50, 1/4 at 0.
    assert_eq!([sg[0], sg[2], sg[3], sg[4]], [0.0, 0.0, 0.0, 0.25], "{}", T::NAME);
    assert_close::<T>("sigmoid'(-50)", &[sg[1]], &[tail * (1.0 - tail)], 4.0);

    // tanh(+-50) = +-(1 - 7.4e-44) rounds to +-1, so tanh' = 1 - y^2 = 0 (true: 1.5e-43).
    assert_eq!(tv, [1.0, -1.0, 1.0, -1.0, 0.0], "{}", T::NAME);
    assert_eq!(tg, [0.0, 0.0, 0.0, 0.0, 1.0], "{}", T::NAME);
}

#[test]
fn sigmoid_and_tanh_saturate_without_nan_f32() {
    saturated_sigmoid_and_tanh::<f32>();
}

#[test]
fn sigmoid_and_tanh_saturate_without_nan_f64() {
    saturated_sigmoid_and_tanh::<f64>();
}

/// Two Gaussian blobs, at (-1, -1) and (1, 1).
fn blobs<T: Float>(n: usize, rng: &mut StdRng) -> Dataset<T> {
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let noise = Tensor::<f64>::rand_normal([n, 2], 0.0, 0.5, rng);
    let centre = |k: usize| if labels[k / 2] == 1 { 1.0 } else { -1.0 };
    let x = (0..2 * n).map(|k| T::from_f64(noise.data()[k] + centre(k))).collect();
    Dataset::new(Tensor::from_vec([n, 2], x), labels, 2)
}

/// Trains with learning rate 1e3 until the trainer gives up, and checks what it reports.
fn divergence_is_reported<T: Float>() {
    let mut rng = StdRng::seed_from_u64(11);
    let data = blobs::<T>(64, &mut rng);
    let mut mlp = Mlp::<T>::new(&[2, 16, 2], Activation::Relu, Init::HeUniform, &mut rng);
    let mut trainer = Trainer::new(data.len(), 8);
    let mut opt = Sgd::new(T::from_f64(1e3));
    let mut last_good = mlp.clone();
    let mut error = None;
    for _ in 0..100 {
        match trainer.epoch(&mut mlp, &mut opt, &data, &mut rng) {
            Ok(_) => last_good = mlp.clone(),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let Some(err @ TrainError::Diverged { epoch, step, loss }) = error else {
        panic!("{}: learning rate 1e3 should diverge within 100 epochs", T::NAME)
    };
    println!("{}: {err}", T::NAME);
    assert_eq!(epoch, trainer.epochs_done(), "{}", T::NAME);
    assert!((1..=8).contains(&step), "{}: step {step} of 8", T::NAME);
    let message = err.to_string();
    assert!(message.contains(&format!("epoch {epoch}, step {step}")), "{message}");
    assert!(message.contains("try a smaller learning rate"), "{message}");
    // The reported loss or some gradient was not finite, and that step's update was not applied:
    // the parameters are finite (steps before it in the same epoch did update them).
    assert!(!loss.is_finite() || message.contains("a gradient is not finite"), "{message}");
    assert!(mlp.parameters().iter().all(|p| p.param.all_finite()), "{}: a non-finite parameter", T::NAME);
    if step == 1 {
        assert_eq!(mlp, last_good, "{}: the failed step changed the model", T::NAME);
    }
}

#[test]
fn training_at_learning_rate_1e3_stops_naming_epoch_and_step_f32() {
    divergence_is_reported::<f32>();
}

#[test]
fn training_at_learning_rate_1e3_stops_naming_epoch_and_step_f64() {
    divergence_is_reported::<f64>();
}
