//! Training helpers: a reusable training loop that stops on divergence, and evaluation.

use crate::data::{Batches, Dataset};
use crate::{Mlp, Module, Optimizer, l2_penalty, softmax_cross_entropy};
use rand::Rng;
use std::fmt;
use std::time::{Duration, Instant};
use tapegrad_autograd::{Float, Tape, Tensor, Var, gather_labels};

/// A model that maps a batch of feature rows to class logits.
pub trait Classifier<T: Float>: Module<T> {
    /// The logits of `x: [batch, features]`, recorded on `x`'s tape.
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T>;

    /// The logits of plain tensors: [`forward`](Classifier::forward) on a tape of its own,
    /// dropped after.
    fn logits(&self, x: &Tensor<T>) -> Tensor<T> {
        let tape = Tape::new();
        self.forward(tape.constant(x)).value()
    }
}

impl<T: Float> Classifier<T> for Mlp<T> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        Mlp::forward(self, x)
    }
}

/// Why training stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// The loss or a gradient became NaN or infinite; the parameters keep the values of the
    /// last good step (the update of this step was not applied).
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The loss at that step (NaN or infinite, or finite when only a gradient was not).
        loss: f64,
    },
    /// The loss and gradients were finite but the update made a parameter NaN or infinite (a
    /// learning rate too large for the gradients overflows). The parameters keep the bad values
    /// of that update.
    NonFiniteParameter {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The parameter's position in [`Module::parameters`].
        index: usize,
        /// The parameter's name (`"0.weight"`).
        name: String,
        /// The position of its first non-finite element, in row-major order.
        element: usize,
        /// That element's value.
        value: f64,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Diverged { epoch, step, loss } if loss.is_finite() => write!(
                f,
                "training diverged at epoch {epoch}, step {step}: a gradient is not finite (loss {loss}); try a smaller learning rate"
            ),
            TrainError::Diverged { epoch, step, loss } => write!(
                f,
                "training diverged at epoch {epoch}, step {step}: the loss is {loss}; try a smaller learning rate"
            ),
            TrainError::NonFiniteParameter { epoch, step, index, name, element, value } => write!(
                f,
                "training diverged at epoch {epoch}, step {step}: the update made parameter {index} ({name}) \
                 {value} at element {element}; try a smaller learning rate"
            ),
        }
    }
}

impl std::error::Error for TrainError {}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's samples (including the L2 term, if any).
    pub loss: f64,
    /// Fraction of training samples classified correctly, measured on the fly (with the
    /// parameters as they were when each batch was seen).
    pub accuracy: f64,
    /// Number of optimiser steps.
    pub steps: usize,
    /// Wall-clock time of the epoch.
    pub elapsed: Duration,
}

/// A mini-batch training loop that keeps its tape and batch buffers from step to step.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::data::Dataset;
/// use tapegrad_nn::train::Trainer;
/// use tapegrad_nn::{Activation, Init, Mlp, Sgd};
/// use rand::{SeedableRng, rngs::StdRng};
///
/// let x = Tensor::from_rows(&[[0.0f64, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
/// let data = Dataset::new(x, vec![0, 1, 1, 0], 2);
/// let mut rng = StdRng::seed_from_u64(1);
/// let mut mlp = Mlp::new(&[2, 4, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
/// let mut opt = Sgd::new(0.5);
/// let mut trainer = Trainer::new(data.len(), 4);
/// let first = trainer.epoch(&mut mlp, &mut opt, &data, &mut rng).unwrap();
/// for _ in 0..500 {
///     trainer.epoch(&mut mlp, &mut opt, &data, &mut rng).unwrap();
/// }
/// let last = trainer.epoch(&mut mlp, &mut opt, &data, &mut rng).unwrap();
/// assert!(last.loss < first.loss / 10.0);
/// ```
pub struct Trainer<T: Float> {
    rows: usize,
    tape: Tape<T>,
    batches: Batches,
    l2: T,
    epoch: usize,
}

impl<T: Float> Trainer<T> {
    /// A loop over `rows` training samples in batches of `batch_size` (the last one may be
    /// smaller), reshuffled every epoch.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn new(rows: usize, batch_size: usize) -> Self {
        Trainer { rows, tape: Tape::new(), batches: Batches::new(rows, batch_size), l2: T::ZERO, epoch: 0 }
    }

    /// Adds `0.5 * lambda * sum ||W||^2` (weights only) to the loss.
    pub fn l2(mut self, lambda: T) -> Self {
        self.l2 = lambda;
        self
    }

    /// Number of epochs run so far.
    pub fn epochs_done(&self) -> usize {
        self.epoch
    }

    /// One pass over `data` in a fresh random order, one optimiser step per batch.
    ///
    /// Before each update the loss and every gradient are checked: if one is NaN or infinite,
    /// the update is skipped and [`TrainError::Diverged`] names the epoch and step. After each
    /// update every parameter is checked: if one became NaN or infinite,
    /// [`TrainError::NonFiniteParameter`] names the epoch, step and parameter.
    ///
    /// # Panics
    /// If `data` has a different number of rows than this trainer was made for, or its
    /// features do not fit the model.
    pub fn epoch<M: Classifier<T>, R: Rng + ?Sized>(
        &mut self,
        model: &mut M,
        opt: &mut dyn Optimizer<T>,
        data: &Dataset<T>,
        rng: &mut R,
    ) -> Result<EpochReport, TrainError> {
        assert_eq!(
            self.rows,
            data.len(),
            "Trainer::epoch: the trainer was made for {} rows but the data has {}",
            self.rows,
            data.len()
        );
        let start = Instant::now();
        self.epoch += 1;
        let (mut loss_sum, mut correct, mut steps) = (0.0, 0, 0);
        let Trainer { tape, batches, l2, epoch, .. } = self;
        for (step, idx) in batches.epoch(rng).enumerate() {
            tape.reset();
            let labels = || gather_labels(data.labels(), idx);
            let logits = model.forward(tape.gather_rows(data.features(), idx));
            let mut loss = softmax_cross_entropy(logits, labels());
            if *l2 != T::ZERO {
                loss = loss + l2_penalty(model, tape, *l2);
            }
            let value = loss.item().to_f64();
            let grads = loss.backward();
            // The store holds the leaves' gradients only: the model's parameters.
            let finite = value.is_finite() && grads.iter().all(|(_, g)| g.all_finite());
            if !finite {
                return Err(TrainError::Diverged { epoch: *epoch, step: step + 1, loss: value });
            }
            correct += logits.with_value(|l| l.argmax().into_iter().zip(labels()).filter(|(p, t)| p == t).count());
            loss_sum += value * idx.len() as f64;
            opt.step(model, &grads);
            steps += 1;
            // Finite gradients can still overflow the update; one pass over the new values.
            let bad = model.parameters_mut().iter().enumerate().find_map(|(index, p)| {
                let data = p.param.data();
                data.iter().position(|v| !v.is_finite()).map(|element| (index, element, data[element].to_f64()))
            });
            if let Some((index, element, value)) = bad {
                let name = model.parameters().swap_remove(index).name;
                return Err(TrainError::NonFiniteParameter {
                    epoch: *epoch,
                    step: step + 1,
                    index,
                    name,
                    element,
                    value,
                });
            }
        }
        let n = data.len().max(1) as f64;
        Ok(EpochReport {
            epoch: *epoch,
            loss: loss_sum / n,
            accuracy: correct as f64 / n,
            steps,
            elapsed: start.elapsed(),
        })
    }
}

/// Mean cross-entropy and accuracy of `model` on `data`, recording nothing.
///
/// # Panics
/// If the features do not fit the model, or a label is out of range for its logits.
pub fn evaluate<T: Float, M: Classifier<T>>(model: &M, data: &Dataset<T>) -> (f64, f64) {
    if data.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let log_probs = model.logits(data.features()).log_softmax();
    let classes = log_probs.shape().last_dim();
    let mut loss = 0.0;
    let mut correct = 0;
    for ((row, &label), pred) in log_probs.rows().zip(data.labels()).zip(log_probs.argmax()) {
        assert!(label < classes, "evaluate: label {label} is out of range for {classes} classes");
        loss -= row[label].to_f64();
        correct += usize::from(pred == label);
    }
    let n = data.len() as f64;
    (loss / n, correct as f64 / n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Init, Sgd};
    use rand::{SeedableRng, rngs::StdRng};

    fn blobs(n: usize, rng: &mut StdRng) -> Dataset<f64> {
        // Two Gaussian blobs at (-1, -1) and (1, 1).
        let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let noise = Tensor::<f64>::rand_normal([n, 2], 0.0, 0.5, rng);
        let x = Tensor::from_vec(
            [n, 2],
            (0..2 * n).map(|k| noise.data()[k] + if labels[k / 2] == 1 { 1.0 } else { -1.0 }).collect(),
        );
        Dataset::new(x, labels, 2)
    }

    #[test]
    fn training_reduces_loss_and_evaluate_agrees_with_predict() {
        let mut rng = StdRng::seed_from_u64(4);
        let data = blobs(64, &mut rng);
        let mut mlp = Mlp::new(&[2, 8, 2], Activation::Relu, Init::HeUniform, &mut rng);
        let (loss0, _) = evaluate(&mlp, &data);
        let mut trainer = Trainer::new(data.len(), 10).l2(1e-4);
        let mut opt = Sgd::new(0.1).momentum(0.9);
        let mut reports = Vec::new();
        for _ in 0..20 {
            reports.push(trainer.epoch(&mut mlp, &mut opt, &data, &mut rng).unwrap());
        }
        assert_eq!(reports[0].steps, 7, "64 rows in batches of 10: 6 full and one of 4");
        assert_eq!(trainer.epochs_done(), 20);
        let (loss, acc) = evaluate(&mlp, &data);
        assert!(loss < loss0 / 3.0, "loss {loss0} -> {loss}");
        // The blobs overlap little (centres 2.8 sd apart): a trained model gets nearly all.
        assert!(acc >= 0.95, "accuracy {acc}");
        let predicted = mlp.predict(data.features());
        let by_hand = predicted.iter().zip(data.labels()).filter(|(p, t)| p == t).count() as f64 / 64.0;
        assert_eq!(acc, by_hand);
    }

    #[test]
    fn an_update_that_overflows_a_parameter_is_an_error_naming_it() {
        // Zero weights give p = 0.5 for both classes, so dW = x^T (p - onehot) = -+500 for
        // features of 1000: finite, as is the loss (ln 2). A step of 1e37 * 500 overflows f32.
        let data = Dataset::new(Tensor::from_rows(&[[1e3f32, 1e3]]), vec![0], 2);
        let mut rng = StdRng::seed_from_u64(0);
        let mut mlp = Mlp::<f32>::new(&[2, 2], Activation::Relu, Init::Zeros, &mut rng);
        let mut trainer = Trainer::new(1, 1);
        let err = trainer.epoch(&mut mlp, &mut Sgd::new(1e37), &data, &mut rng).unwrap_err();
        let TrainError::NonFiniteParameter { epoch, step, index, ref name, element, value } = err else {
            panic!("expected a non-finite parameter, got {err:?}")
        };
        // Element 0 of "0.weight" (feature 0 to class 0) has gradient -500: w = +5e39 = inf.
        assert_eq!((epoch, step, index, name.as_str(), element, value), (1, 1, 0, "0.weight", 0, f64::INFINITY));
        assert_eq!(
            err.to_string(),
            "training diverged at epoch 1, step 1: the update made parameter 0 (0.weight) inf at element 0; \
             try a smaller learning rate"
        );
    }

    #[test]
    fn a_row_count_other_than_the_datas_panics_naming_both() {
        let mut rng = StdRng::seed_from_u64(6);
        let data = blobs(64, &mut rng);
        let mut mlp = Mlp::new(&[2, 4, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
        // Fewer rows would train on part of the data, more would index past it.
        for rows in [10, 100] {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Trainer::new(rows, 4).epoch(&mut mlp, &mut Sgd::new(0.1), &data, &mut rng)
            }));
            let err = run.expect_err("a trainer for another row count ran");
            let message = err.downcast_ref::<String>().expect("a formatted message");
            let expected = format!("Trainer::epoch: the trainer was made for {rows} rows but the data has 64");
            assert!(message.contains(&expected), "{message}");
        }
    }

    /// Compiles only if every part of a training loop can move to another thread.
    #[test]
    fn a_training_loop_is_send() {
        fn send<S: Send>() {}
        send::<Trainer<f32>>();
        send::<Trainer<f64>>();
        send::<Tape<f32>>();
        send::<Mlp<f32>>();
        send::<Sgd<f32>>();
        send::<crate::Adam<f32>>();
        send::<Dataset<f32>>();
        send::<TrainError>();
        // Optimisers are plain data: a boxed one picked at run time moves too.
        send::<Box<dyn Optimizer<f32>>>();
    }

    #[test]
    fn training_runs_on_a_spawned_thread() {
        let mut rng = StdRng::seed_from_u64(7);
        let data = blobs(64, &mut rng);
        let mlp = Mlp::new(&[2, 8, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
        let (loss0, _) = evaluate(&mlp, &data);
        let worker = std::thread::spawn(move || {
            let (mut mlp, mut opt, mut trainer) = (mlp, Sgd::new(0.1).momentum(0.9), Trainer::new(data.len(), 8));
            for _ in 0..10 {
                trainer.epoch(&mut mlp, &mut opt, &data, &mut rng).unwrap();
            }
            (mlp, data)
        });
        let (mlp, data) = worker.join().unwrap();
        let (loss, _) = evaluate(&mlp, &data);
        // The blobs are nearly separable: 10 epochs of 8 steps cut the loss well below half.
        assert!(loss < loss0 / 2.0, "loss {loss0} -> {loss}");
        assert!(mlp.parameters().iter().all(|p| p.param.all_finite()));
    }

    #[test]
    fn divergence_stops_with_epoch_and_step_and_keeps_finite_weights() {
        let mut rng = StdRng::seed_from_u64(5);
        let data = blobs(64, &mut rng);
        let mut mlp = Mlp::new(&[2, 16, 2], Activation::Relu, Init::HeUniform, &mut rng);
        let mut trainer = Trainer::new(data.len(), 8);
        let mut opt = Sgd::new(1e3);
        let mut outcome = Ok(());
        for _ in 0..50 {
            if let Err(e) = trainer.epoch(&mut mlp, &mut opt, &data, &mut rng) {
                outcome = Err(e);
                break;
            }
        }
        let Err(TrainError::Diverged { epoch, step, .. }) = outcome.clone() else {
            panic!("learning rate 1e3 should diverge within 50 epochs")
        };
        assert!(epoch >= 1 && (1..=8).contains(&step), "epoch {epoch}, step {step}");
        let msg = outcome.unwrap_err().to_string();
        assert!(msg.contains(&format!("epoch {epoch}, step {step}")), "{msg}");
        assert!(mlp.parameters().iter().all(|p| p.param.all_finite()), "the bad update must not be applied");
    }
}
