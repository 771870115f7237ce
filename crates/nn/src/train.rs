//! Training helpers: a reusable mini-batch training loop for classification and regression
//! that stops on divergence, with validation, early stopping, learning-rate schedules and
//! gradient clipping; and evaluation.
//!
//! [`Trainer::epoch`] runs one epoch; [`Trainer::fit`] runs many as an iterator of
//! [`EpochReport`]s, validating after each, so the caller can log every epoch or stop:
//!
//! ```
//! use tapegrad_autograd::Tensor;
//! use tapegrad_nn::data::Dataset;
//! use tapegrad_nn::train::{EarlyStopping, LrSchedule, Mse, R2, Trainer};
//! use tapegrad_nn::{Activation, Adam, Init, Mlp};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! // y = 2 x0 - x1 + 0.5, sampled at random points.
//! let mut rng = StdRng::seed_from_u64(0);
//! let x = Tensor::<f64>::rand_uniform([96, 2], -1.0, 1.0, &mut rng);
//! let y = Tensor::from_vec([96, 1], x.rows().map(|r| 2.0 * r[0] - r[1] + 0.5).collect());
//! let data = Dataset::regression(x, y);
//! let (train, val) = data.train_test_split(0.25, &mut rng);
//!
//! let mut model = Mlp::new(&[2, 1], Activation::Identity, Init::GlorotUniform, &mut rng);
//! let mut opt = Adam::new(0.1);
//! let mut trainer = Trainer::new(train.len(), 16)
//!     .loss(Mse)
//!     .metric(R2)
//!     .schedule(LrSchedule::Cosine { epochs: 100, min_lr: 0.001 })
//!     .clip_grad_norm(10.0)
//!     .early_stopping(EarlyStopping::new(10));
//! let mut fit = trainer.fit(&mut model, &mut opt, &train, Some(&val), 100, &mut rng);
//! for report in fit.by_ref() {
//!     let report = report?;
//!     if report.epoch % 25 == 0 {
//!         println!("epoch {}: val loss {:.2e}, lr {:.4}", report.epoch, report.val_loss.unwrap(), report.lr);
//!     }
//! }
//! let summary = fit.summary();
//! assert!(summary.best_val_loss.unwrap() < 1e-4, "{summary:?}");
//! assert!(summary.best_val_metric.unwrap() > 0.9999);
//! # Ok::<(), tapegrad_nn::train::TrainError>(())
//! ```

mod clip;
mod objective;
mod schedule;

pub use clip::{clip_grad_norm, grad_norm};
pub use objective::{Accuracy, CrossEntropy, FnLoss, Loss, MeanAbsoluteError, MeanSquaredError, Metric, Mse, R2};
pub use schedule::{LrSchedule, LrScheduler};

use crate::data::{Batches, Dataset, Targets};
use crate::{Mlp, Mode, Module, Optimizer, Sequential, l2_penalty};
use rand::Rng;
use smallvec::SmallVec;
use std::fmt;
use std::time::{Duration, Instant};
use tapegrad_autograd::{Float, Tape, Tensor, Var};

/// A model that maps a batch of feature rows to outputs: class logits or regression values.
pub trait Model<T: Float>: Module<T> {
    /// The output of `x: [batch, features]`, recorded on `x`'s tape, in the model's
    /// [`mode`](Module::mode).
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T>;

    /// The output of plain tensors in [`Mode::Eval`]: a forward pass on a tape of its own,
    /// dropped after.
    fn output(&self, x: &Tensor<T>) -> Tensor<T> {
        let tape = Tape::new();
        self.forward(tape.constant(x)).value()
    }
}

/// The former name of [`Model`], for classifiers.
pub use self::Model as Classifier;

impl<T: Float> Model<T> for Mlp<T> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        Mlp::forward(self, x)
    }
}

impl<T: Float> Model<T> for Sequential<T> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        Sequential::forward(self, x)
    }

    fn output(&self, x: &Tensor<T>) -> Tensor<T> {
        self.logits(x)
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
    /// Mean training loss over the epoch's samples (including the L2 term, if any), measured
    /// on the fly, with the parameters as they were when each batch was seen.
    pub train_loss: f64,
    /// The loss on the validation set after the epoch (without the L2 term), if there is one.
    pub val_loss: Option<f64>,
    /// The trainer's [`Metric`] on the validation set after the epoch, if there is one.
    pub val_metric: Option<f64>,
    /// The learning rate of this epoch.
    pub lr: f64,
    /// The largest global gradient norm of the epoch's steps, before any clipping.
    pub max_grad_norm: f64,
    /// Steps whose gradients were clipped.
    pub clipped_steps: usize,
    /// Number of optimiser steps.
    pub steps: usize,
    /// True if this epoch is the best so far by the early-stopping criterion (always false
    /// without early stopping).
    pub best: bool,
    /// Wall-clock time of the epoch, validation included.
    pub elapsed: Duration,
}

/// What [`EarlyStopping`] watches on the validation set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Monitor {
    /// The validation loss, lower is better.
    #[default]
    ValLoss,
    /// The trainer's [`Metric`], in the direction its
    /// [`higher_is_better`](Metric::higher_is_better) says.
    ValMetric,
}

/// Stops [`Trainer::fit`] when the monitored validation score has not improved for `patience`
/// epochs, and restores the weights of the best epoch at the end, as Keras' `EarlyStopping`
/// with `restore_best_weights=True`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (at least 1).
    pub patience: usize,
    /// The score watched.
    pub monitor: Monitor,
    /// The least change that counts as an improvement (non-negative).
    pub min_delta: f64,
}

impl EarlyStopping {
    /// Patience `patience` on the validation loss, any decrease counting.
    ///
    /// # Panics
    /// If `patience` is 0.
    pub fn new(patience: usize) -> Self {
        assert!(patience >= 1, "EarlyStopping::new: patience must be at least 1, got 0");
        EarlyStopping { patience, monitor: Monitor::ValLoss, min_delta: 0.0 }
    }

    /// Watching `monitor` instead.
    pub fn monitor(self, monitor: Monitor) -> Self {
        EarlyStopping { monitor, ..self }
    }

    /// Counting only changes larger than `min_delta`.
    ///
    /// # Panics
    /// If `min_delta` is negative or NaN.
    pub fn min_delta(self, min_delta: f64) -> Self {
        assert!(min_delta >= 0.0, "EarlyStopping::min_delta: must be non-negative, got {min_delta}");
        EarlyStopping { min_delta, ..self }
    }
}

/// A mini-batch training loop that keeps its tape and batch buffers from step to step, generic
/// over the [`Loss`] it minimises (`L`, [`CrossEntropy`] unless set) and the [`Metric`] it
/// validates with (`M`, [`Accuracy`] unless set).
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
/// assert!(last.train_loss < first.train_loss / 10.0);
/// ```
pub struct Trainer<T: Float, L = CrossEntropy, M = Accuracy> {
    rows: usize,
    tape: Tape<T>,
    batches: Batches,
    l2: T,
    epoch: usize,
    loss: L,
    metric: M,
    schedule: LrSchedule,
    /// Created at the first epoch, from the optimiser's rate then.
    scheduler: Option<LrScheduler>,
    clip: Option<f64>,
    early_stopping: Option<EarlyStopping>,
}

impl<T: Float> Trainer<T> {
    /// A loop over `rows` training samples in batches of `batch_size` (the last one may be
    /// smaller), reshuffled every epoch, minimising [`CrossEntropy`] against class labels
    /// (see [`loss`](Trainer::loss) for others), at the optimiser's own learning rate.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn new(rows: usize, batch_size: usize) -> Self {
        Trainer {
            rows,
            tape: Tape::new(),
            batches: Batches::new(rows, batch_size),
            l2: T::ZERO,
            epoch: 0,
            loss: CrossEntropy,
            metric: Accuracy,
            schedule: LrSchedule::Constant,
            scheduler: None,
            clip: None,
            early_stopping: None,
        }
    }
}

impl<T: Float, L, M> Trainer<T, L, M> {
    /// Minimising `loss` instead: [`Mse`] or an [`FnLoss`] for a regression data set.
    pub fn loss<L2>(self, loss: L2) -> Trainer<T, L2, M> {
        let Trainer { rows, tape, batches, l2, epoch, metric, schedule, scheduler, clip, early_stopping, .. } = self;
        Trainer { rows, tape, batches, l2, epoch, loss, metric, schedule, scheduler, clip, early_stopping }
    }

    /// Validating with `metric` instead: [`MeanSquaredError`], [`MeanAbsoluteError`] or [`R2`]
    /// for regression.
    pub fn metric<M2>(self, metric: M2) -> Trainer<T, L, M2> {
        let Trainer { rows, tape, batches, l2, epoch, loss, schedule, scheduler, clip, early_stopping, .. } = self;
        Trainer { rows, tape, batches, l2, epoch, loss, metric, schedule, scheduler, clip, early_stopping }
    }

    /// Adds `0.5 * lambda * sum ||W||^2` (weights only) to the loss.
    pub fn l2(mut self, lambda: T) -> Self {
        self.l2 = lambda;
        self
    }

    /// Sets the learning rate by `schedule` at the start of each epoch, from the optimiser's
    /// rate at the first epoch.
    ///
    /// # Panics
    /// If the schedule's parameters are out of range (see [`LrSchedule`]).
    pub fn schedule(mut self, schedule: LrSchedule) -> Self {
        schedule.rate(1.0, 0); // checks it
        self.schedule = schedule;
        self.scheduler = None;
        self
    }

    /// Scales each step's gradients so their global L2 norm is at most `max_norm` (see
    /// [`clip_grad_norm`]).
    ///
    /// # Panics
    /// If `max_norm` is not positive and finite.
    pub fn clip_grad_norm(mut self, max_norm: f64) -> Self {
        assert!(
            max_norm.is_finite() && max_norm > 0.0,
            "Trainer::clip_grad_norm: max_norm must be positive and finite, got {max_norm}"
        );
        self.clip = Some(max_norm);
        self
    }

    /// Stops [`fit`](Trainer::fit) early by `early_stopping` and restores the best epoch's
    /// weights at the end.
    pub fn early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// Number of epochs run so far.
    pub fn epochs_done(&self) -> usize {
        self.epoch
    }

    /// The loss minimised.
    pub fn loss_fn(&self) -> &L {
        &self.loss
    }

    /// The validation metric.
    pub fn metric_fn(&self) -> &M {
        &self.metric
    }

    /// One pass over `data` in a fresh random order, one optimiser step per batch, at the
    /// schedule's rate for this epoch. A [`LrSchedule::ReduceOnPlateau`] watches the training
    /// loss here ([`fit`](Trainer::fit) watches the validation loss when there is one).
    ///
    /// Before each update the loss and every gradient are checked: if one is NaN or infinite,
    /// the update is skipped and [`TrainError::Diverged`] names the epoch and step. After each
    /// update every parameter is checked: if one became NaN or infinite,
    /// [`TrainError::NonFiniteParameter`] names the epoch, step and parameter.
    ///
    /// The model is put in [`Mode::Train`] for the epoch and back in its former mode after.
    ///
    /// # Panics
    /// If `data` has a different number of rows than this trainer was made for, or its
    /// features or targets do not fit the model.
    pub fn epoch<Y: Targets, Mod: Model<T>, R: Rng + ?Sized>(
        &mut self,
        model: &mut Mod,
        opt: &mut dyn Optimizer<T>,
        data: &Dataset<T, Y>,
        rng: &mut R,
    ) -> Result<EpochReport, TrainError>
    where
        L: Loss<T, Y>,
    {
        let report = self.train_epoch(model, opt, data, rng)?;
        self.observe(report.epoch, report.train_loss);
        Ok(report)
    }

    /// Runs up to `epochs` more epochs on `train` as an iterator of [`EpochReport`]s, measuring
    /// the loss and [`Metric`] on `validation` after each (in [`Mode::Eval`]).
    ///
    /// With [`early_stopping`](Trainer::early_stopping), the iterator ends once the monitored
    /// score has not improved for `patience` epochs, and when it ends (so, or after `epochs`)
    /// the parameters are set back to those of the best epoch ([`Fit::summary`] says which).
    /// Dropping the iterator before its end leaves the current parameters;
    /// [`Fit::restore_best`] sets the best ones. A [`LrSchedule::ReduceOnPlateau`] watches the
    /// validation loss, or the training loss without a validation set.
    ///
    /// An error ends the iterator, leaving the parameters as [`epoch`](Trainer::epoch) says.
    ///
    /// # Panics
    /// If early stopping is on without a validation set, or as [`epoch`](Trainer::epoch).
    pub fn fit<'a, Y: Targets, Mod: Model<T>, R: Rng + ?Sized>(
        &'a mut self,
        model: &'a mut Mod,
        opt: &'a mut dyn Optimizer<T>,
        train: &'a Dataset<T, Y>,
        validation: Option<&'a Dataset<T, Y>>,
        epochs: usize,
        rng: &'a mut R,
    ) -> Fit<'a, T, L, M, Y, Mod, R>
    where
        L: Loss<T, Y>,
        M: Metric<T, Y>,
    {
        assert!(
            self.early_stopping.is_none() || validation.is_some(),
            "Trainer::fit: early stopping needs a validation set"
        );
        Fit {
            trainer: self,
            model,
            opt,
            train,
            validation,
            remaining: epochs,
            rng,
            best: None,
            since_best: 0,
            history: Vec::new(),
            finished: false,
            stopped_early: false,
            restored: false,
        }
    }

    /// The loss and metric of `model` on `data`, in [`Mode::Eval`], without the L2 term.
    ///
    /// # Panics
    /// If the features or targets do not fit the model.
    pub fn validate<Y: Targets, Mod: Model<T>>(&mut self, model: &mut Mod, data: &Dataset<T, Y>) -> (f64, f64)
    where
        L: Loss<T, Y>,
        M: Metric<T, Y>,
    {
        if data.is_empty() {
            return (f64::NAN, f64::NAN);
        }
        let mode = model.mode();
        model.set_mode(Mode::Eval);
        self.tape.reset();
        let rows: Vec<usize> = (0..data.len()).collect();
        let output = model.forward(self.tape.constant(data.features()));
        let loss = self.loss.loss(output, data.targets(), &rows).item().to_f64();
        let metric = output.with_value(|out| self.metric.score(out, data.targets()));
        model.set_mode(mode);
        (loss, metric)
    }

    fn observe(&mut self, epoch: usize, loss: f64) {
        if let Some(s) = &mut self.scheduler {
            s.observe(epoch - 1, loss);
        }
    }

    fn train_epoch<Y: Targets, Mod: Model<T>, R: Rng + ?Sized>(
        &mut self,
        model: &mut Mod,
        opt: &mut dyn Optimizer<T>,
        data: &Dataset<T, Y>,
        rng: &mut R,
    ) -> Result<EpochReport, TrainError>
    where
        L: Loss<T, Y>,
    {
        assert_eq!(
            self.rows,
            data.len(),
            "Trainer::epoch: the trainer was made for {} rows but the data has {}",
            self.rows,
            data.len()
        );
        let start = Instant::now();
        let scheduler =
            self.scheduler.get_or_insert_with(|| LrScheduler::new(self.schedule.clone(), opt.lr().to_f64()));
        if self.schedule != LrSchedule::Constant {
            opt.set_lr(T::from_f64(scheduler.lr(self.epoch)));
        }
        let lr = opt.lr().to_f64();
        self.epoch += 1;
        let mode = model.mode();
        model.set_mode(Mode::Train);
        let result = self.steps(model, opt, data, rng);
        model.set_mode(mode);
        let (loss_sum, steps, max_grad_norm, clipped_steps) = result?;
        Ok(EpochReport {
            epoch: self.epoch,
            train_loss: loss_sum / data.len().max(1) as f64,
            val_loss: None,
            val_metric: None,
            lr,
            max_grad_norm,
            clipped_steps,
            steps,
            best: false,
            elapsed: start.elapsed(),
        })
    }

    /// The epoch's steps: the summed loss, the step count, the largest gradient norm and the
    /// number of clipped steps.
    fn steps<Y: Targets, Mod: Model<T>, R: Rng + ?Sized>(
        &mut self,
        model: &mut Mod,
        opt: &mut dyn Optimizer<T>,
        data: &Dataset<T, Y>,
        rng: &mut R,
    ) -> Result<(f64, usize, f64, usize), TrainError>
    where
        L: Loss<T, Y>,
    {
        let (mut loss_sum, mut steps, mut max_norm, mut clipped) = (0.0, 0, 0.0f64, 0);
        let Trainer { tape, batches, l2, epoch, loss: loss_fn, clip, .. } = self;
        for (step, idx) in batches.epoch(rng).enumerate() {
            tape.reset();
            let output = model.forward(tape.gather_rows(data.features(), idx));
            let mut loss = loss_fn.loss(output, data.targets(), idx);
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
            loss_sum += value * idx.len() as f64;
            {
                let mut params = model.parameters_mut();
                // Inline for up to 8 parameters (a 4-layer MLP): no allocation per step.
                let refs: SmallVec<[&Tensor<T>; 8]> = params.iter().map(|p| &grads[&*p.param]).collect();
                let norm = grad_norm(&refs);
                max_norm = max_norm.max(norm);
                match *clip {
                    Some(max) if norm > max => {
                        // Copies only on the steps that clip.
                        let mut scaled: Vec<Tensor<T>> = refs.iter().map(|&g| g.clone()).collect();
                        clip_grad_norm(&mut scaled, max);
                        let scaled_refs: SmallVec<[&Tensor<T>; 8]> = scaled.iter().collect();
                        opt.update(&mut params, &scaled_refs);
                        clipped += 1;
                    }
                    _ => opt.update(&mut params, &refs),
                }
            }
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
        Ok((loss_sum, steps, max_norm, clipped))
    }
}

/// The epochs of [`Trainer::fit`], one [`EpochReport`] (or the error that ended training) per
/// item.
pub struct Fit<'a, T: Float, L, M, Y, Mod, R: ?Sized> {
    trainer: &'a mut Trainer<T, L, M>,
    model: &'a mut Mod,
    opt: &'a mut dyn Optimizer<T>,
    train: &'a Dataset<T, Y>,
    validation: Option<&'a Dataset<T, Y>>,
    remaining: usize,
    rng: &'a mut R,
    /// The best epoch, its monitored score (larger is better) and its parameters.
    best: Option<(usize, f64, Vec<Tensor<T>>)>,
    since_best: usize,
    history: Vec<EpochReport>,
    finished: bool,
    stopped_early: bool,
    restored: bool,
}

/// How a [`Fit`] went.
#[derive(Clone, Debug, PartialEq)]
pub struct FitSummary {
    /// Epochs run by this fit.
    pub epochs: usize,
    /// The best epoch by the early-stopping criterion (1-based, counted like
    /// [`EpochReport::epoch`]), if early stopping is on.
    pub best_epoch: Option<usize>,
    /// The validation loss of the best epoch, or of the last without early stopping.
    pub best_val_loss: Option<f64>,
    /// The validation metric of the best epoch, or of the last without early stopping.
    pub best_val_metric: Option<f64>,
    /// True if early stopping ended the fit before its epochs ran out.
    pub stopped_early: bool,
    /// True if the best epoch's parameters were put back.
    pub restored: bool,
}

impl<T: Float, L, M, Y, Mod, R> Fit<'_, T, L, M, Y, Mod, R>
where
    Y: Targets,
    Mod: Model<T>,
    R: Rng + ?Sized,
    L: Loss<T, Y>,
    M: Metric<T, Y>,
{
    /// The model being trained, for measuring it between epochs.
    pub fn model(&self) -> &Mod {
        self.model
    }

    /// The reports so far.
    pub fn history(&self) -> &[EpochReport] {
        &self.history
    }

    /// Sets the parameters to the best epoch's, if early stopping has recorded one (done by
    /// itself when the iterator ends). Returns whether it did.
    pub fn restore_best(&mut self) -> bool {
        let Some((_, _, saved)) = &self.best else { return false };
        for (p, v) in self.model.parameters_mut().into_iter().zip(saved) {
            p.param.value_mut().clone_from(v);
        }
        self.restored = true;
        true
    }

    /// How it went so far.
    pub fn summary(&self) -> FitSummary {
        let pick = match &self.best {
            Some((epoch, ..)) => self.history.iter().find(|r| r.epoch == *epoch),
            None => self.history.last(),
        };
        FitSummary {
            epochs: self.history.len(),
            best_epoch: self.best.as_ref().map(|b| b.0),
            best_val_loss: pick.and_then(|r| r.val_loss),
            best_val_metric: pick.and_then(|r| r.val_metric),
            stopped_early: self.stopped_early,
            restored: self.restored,
        }
    }

    /// Runs the remaining epochs, passing each report to `on_epoch`, which may stop training
    /// early by returning [`ControlFlow::Break`](std::ops::ControlFlow::Break); the best
    /// weights are restored at the end whichever way it ends (with early stopping on).
    ///
    /// # Errors
    /// The first [`TrainError`].
    pub fn run(
        mut self,
        mut on_epoch: impl FnMut(&EpochReport) -> std::ops::ControlFlow<()>,
    ) -> Result<FitSummary, TrainError> {
        while let Some(report) = self.next() {
            if on_epoch(&report?).is_break() {
                self.finish();
                break;
            }
        }
        Ok(self.summary())
    }

    fn finish(&mut self) {
        self.finished = true;
        if self.trainer.early_stopping.is_some() {
            self.restore_best();
        }
    }

    fn one_epoch(&mut self) -> Result<EpochReport, TrainError> {
        let mut report = self.trainer.train_epoch(self.model, self.opt, self.train, self.rng)?;
        let start = Instant::now();
        let monitored = match self.validation {
            Some(val) => {
                let (loss, metric) = self.trainer.validate(self.model, val);
                (report.val_loss, report.val_metric) = (Some(loss), Some(metric));
                loss
            }
            None => report.train_loss,
        };
        self.trainer.observe(report.epoch, monitored);
        if let Some(es) = self.trainer.early_stopping {
            // As a score where larger is better, so one comparison serves both directions.
            let score = match es.monitor {
                Monitor::ValLoss => -report.val_loss.unwrap_or(f64::NAN),
                Monitor::ValMetric if self.trainer.metric.higher_is_better() => report.val_metric.unwrap_or(f64::NAN),
                Monitor::ValMetric => -report.val_metric.unwrap_or(f64::NAN),
            };
            // NaN never improves.
            let improved = self.best.as_ref().is_none_or(|b| score > b.1 + es.min_delta) && !score.is_nan();
            if improved {
                let saved = self.model.parameters().iter().map(|p| p.param.value().clone()).collect();
                self.best = Some((report.epoch, score, saved));
                self.since_best = 0;
                report.best = true;
            } else {
                self.since_best += 1;
                if self.since_best >= es.patience {
                    self.stopped_early = true;
                }
            }
        }
        report.elapsed += start.elapsed();
        Ok(report)
    }
}

impl<T: Float, L, M, Y, Mod, R> Iterator for Fit<'_, T, L, M, Y, Mod, R>
where
    Y: Targets,
    Mod: Model<T>,
    R: Rng + ?Sized,
    L: Loss<T, Y>,
    M: Metric<T, Y>,
{
    type Item = Result<EpochReport, TrainError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if self.remaining == 0 || self.stopped_early {
            self.finish();
            return None;
        }
        self.remaining -= 1;
        match self.one_epoch() {
            Ok(report) => {
                self.history.push(report.clone());
                Some(Ok(report))
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

/// Mean cross-entropy and accuracy of `model` on `data`, recording nothing.
///
/// # Panics
/// If the features do not fit the model, or a label is out of range for its logits.
pub fn evaluate<T: Float, M: Model<T>>(model: &M, data: &Dataset<T>) -> (f64, f64) {
    if data.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let log_probs = model.output(data.features()).log_softmax();
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
    use crate::data::{RegressionDataset, mean_squared_error};
    use crate::{Activation, Adam, Init, Layer, Sgd};
    use rand::{SeedableRng, rngs::StdRng};
    use std::ops::ControlFlow;

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

    /// `y = slope * x` at x = -1, -0.5, 0.5, 1.
    fn line(slope: f64) -> RegressionDataset<f64> {
        let x = Tensor::from_rows(&[[-1.0], [-0.5], [0.5], [1.0]]);
        let y = x.map(|v| slope * v);
        Dataset::regression(x, y)
    }

    fn weights(model: &impl Module<f64>) -> Vec<Tensor<f64>> {
        model.parameters().iter().map(|p| p.param.value().clone()).collect()
    }

    #[test]
    fn early_stopping_restores_the_weights_of_the_epoch_with_the_lowest_validation_loss() {
        // Training pulls the slope from 0 towards 2; the validation line has slope 1, so its
        // loss falls until the slope passes 1 and rises after.
        let (train, val) = (line(2.0), line(1.0));
        let mut rng = StdRng::seed_from_u64(0);
        let mut model = Mlp::new(&[1, 1], Activation::Identity, Init::Zeros, &mut rng);
        let mut opt = Sgd::new(0.1);
        let mut trainer = Trainer::new(4, 4).loss(Mse).metric(MeanSquaredError).early_stopping(EarlyStopping::new(3));
        let mut fit = trainer.fit(&mut model, &mut opt, &train, Some(&val), 100, &mut rng);
        let mut seen = vec![];
        while let Some(report) = fit.next() {
            seen.push((report.unwrap(), weights(fit.model())));
        }
        let summary = fit.summary();
        // The validation loss from the recorded weights: the slope w and bias b.
        let losses: Vec<f64> = seen
            .iter()
            .map(|(_, w)| {
                let pred = val.features().map(|x| w[0].data()[0] * x + w[1].data()[0]);
                mean_squared_error(&pred, val.targets())
            })
            .collect();
        let best = (0..losses.len()).min_by(|&a, &b| losses[a].total_cmp(&losses[b])).unwrap();
        assert!(best > 0 && losses[best + 1] > losses[best], "the loss falls, then rises: {losses:?}");
        // Patience 3: three epochs without improvement after the best, then the end.
        assert_eq!(seen.len(), best + 1 + 3);
        assert_eq!(summary.best_epoch, Some(best + 1));
        assert!(summary.stopped_early && summary.restored, "{summary:?}");
        for (i, (report, _)) in seen.iter().enumerate() {
            // The trainer's own validation loss is the loss recomputed here, to rounding.
            assert!((report.val_loss.unwrap() - losses[i]).abs() < 1e-12);
            assert_eq!(report.val_metric, report.val_loss, "the metric is the MSE too");
        }
        assert_eq!(weights(&model), seen[best].1, "the best epoch's weights, exactly");
        assert_ne!(seen[best].1, seen.last().unwrap().1);
    }

    #[test]
    fn early_stopping_on_a_metric_that_rises_follows_its_direction() {
        // R^2 on the validation line rises while its loss falls: the same best epoch.
        let (train, val) = (line(2.0), line(1.0));
        let run = |monitor| {
            let mut rng = StdRng::seed_from_u64(0);
            let mut model = Mlp::new(&[1, 1], Activation::Identity, Init::Zeros, &mut rng);
            let mut trainer =
                Trainer::new(4, 4).loss(Mse).metric(R2).early_stopping(EarlyStopping::new(2).monitor(monitor));
            let mut opt = Sgd::new(0.1);
            let fit = trainer.fit(&mut model, &mut opt, &train, Some(&val), 100, &mut rng);
            fit.run(|_| ControlFlow::Continue(())).unwrap()
        };
        let (by_loss, by_r2) = (run(Monitor::ValLoss), run(Monitor::ValMetric));
        assert!(by_loss.best_epoch.unwrap() > 1);
        assert_eq!(by_loss.best_epoch, by_r2.best_epoch);
    }

    #[test]
    #[should_panic(expected = "Trainer::fit: early stopping needs a validation set")]
    fn early_stopping_without_a_validation_set_panics() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut model = Mlp::new(&[1, 1], Activation::Identity, Init::Zeros, &mut rng);
        let mut trainer = Trainer::new(4, 4).loss(Mse).metric(R2).early_stopping(EarlyStopping::new(2));
        let _ = trainer.fit(&mut model, &mut Sgd::new(0.1), &line(1.0), None, 10, &mut rng);
    }

    #[test]
    fn reduce_on_plateau_halves_the_rate_after_each_epoch_that_does_not_improve() {
        // The validation loss falls, then rises (as above): each epoch from the one after the
        // best on is a bad one, and patience 0 halves the rate after each.
        let (train, val) = (line(2.0), line(1.0));
        let mut rng = StdRng::seed_from_u64(0);
        let mut model = Mlp::new(&[1, 1], Activation::Identity, Init::Zeros, &mut rng);
        let plateau = LrSchedule::ReduceOnPlateau { factor: 0.5, patience: 0, threshold: 0.0, min_lr: 0.0 };
        let mut trainer = Trainer::new(4, 4).loss(Mse).metric(R2).schedule(plateau);
        let reports: Vec<EpochReport> =
            trainer.fit(&mut model, &mut Sgd::new(0.1), &train, Some(&val), 20, &mut rng).map(Result::unwrap).collect();
        let (mut best, mut expected) = (f64::INFINITY, 0.1);
        let mut halvings = 0;
        for r in &reports {
            assert_eq!(r.lr, expected, "epoch {}", r.epoch);
            let loss = r.val_loss.unwrap();
            if loss < best {
                best = loss;
            } else {
                expected *= 0.5;
                halvings += 1;
            }
        }
        assert!(halvings >= 5, "the loss should rise for many epochs: {reports:?}");
    }

    #[test]
    fn each_epoch_trains_at_the_schedules_rate() {
        let mut rng = StdRng::seed_from_u64(0);
        let data = blobs(32, &mut rng);
        let mut mlp = Mlp::new(&[2, 4, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
        let mut opt = Sgd::new(0.5);
        let mut trainer = Trainer::new(32, 8).schedule(LrSchedule::Step { every: 2, gamma: 0.5 });
        let rates: Vec<f64> = (0..5).map(|_| trainer.epoch(&mut mlp, &mut opt, &data, &mut rng).unwrap().lr).collect();
        // 0.5 * 0.5^floor(e / 2), exact in binary.
        assert_eq!(rates, [0.5, 0.5, 0.25, 0.25, 0.125]);
        assert_eq!(opt.lr(), 0.125);
    }

    #[test]
    fn a_clipped_step_moves_the_parameters_by_lr_times_the_bound() {
        // Plain SGD, one batch: the update is -lr * g, so with clipping its norm is lr * max.
        let data = blobs(16, &mut StdRng::seed_from_u64(3));
        let mut rng = StdRng::seed_from_u64(3);
        let mut mlp = Mlp::new(&[2, 4, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
        let before = weights(&mlp);
        let mut trainer = Trainer::new(16, 16).clip_grad_norm(1e-3);
        let report = trainer.epoch(&mut mlp, &mut Sgd::new(0.5), &data, &mut rng).unwrap();
        assert!(report.max_grad_norm > 1e-3, "{report:?}");
        assert_eq!((report.steps, report.clipped_steps), (1, 1));
        let moved: f64 = weights(&mlp)
            .iter()
            .zip(&before)
            .flat_map(|(a, b)| a.data().iter().zip(b.data()).map(|(x, y)| (x - y) * (x - y)))
            .sum::<f64>()
            .sqrt();
        // 0.5 * 1e-3, to the rounding of the subtractions of values of order 1 (1e-16 each).
        assert!((moved - 5e-4).abs() < 1e-12, "{moved}");
    }

    #[test]
    fn a_sequential_learns_a_linear_map_to_a_low_mse() {
        // y = 3 x0 - 2 x1 + 1 exactly: a linear model can fit it to rounding.
        let mut rng = StdRng::seed_from_u64(9);
        let x = Tensor::<f64>::rand_uniform([128, 2], -1.0, 1.0, &mut rng);
        let y = Tensor::from_vec([128, 1], x.rows().map(|r| 3.0 * r[0] - 2.0 * r[1] + 1.0).collect());
        let data = Dataset::regression(x, y);
        let (train, val) = data.train_test_split(0.25, &mut rng);
        let mut model = Sequential::new(vec![Layer::linear(2, 1, Init::GlorotUniform, &mut rng)]);
        let mut trainer = Trainer::new(train.len(), 16)
            .loss(Mse)
            .metric(MeanSquaredError)
            .schedule(LrSchedule::Warmup {
                epochs: 5,
                start_factor: 0.2,
                then: Box::new(LrSchedule::Cosine { epochs: 195, min_lr: 1e-3 }),
            })
            .clip_grad_norm(5.0);
        let mut opt = Adam::new(0.05);
        let fit = trainer.fit(&mut model, &mut opt, &train, Some(&val), 200, &mut rng);
        let summary = fit.run(|_| ControlFlow::Continue(())).unwrap();
        assert_eq!(summary.epochs, 200);
        // Started near an MSE of about 5 (the variance of y); an exact linear fit leaves only
        // Adam's last small steps.
        let mse = mean_squared_error(&model.logits(val.features()), val.targets());
        assert!(mse < 1e-6, "{mse}");
        assert_eq!(summary.best_val_metric, Some(mse), "the last epoch's metric is the MSE on the model as left");
    }

    #[test]
    fn fit_yields_one_report_per_epoch_and_run_can_stop_it() {
        let mut rng = StdRng::seed_from_u64(2);
        let (train, val) = (blobs(48, &mut rng), blobs(16, &mut rng));
        let mut mlp = Mlp::new(&[2, 8, 2], Activation::Relu, Init::HeUniform, &mut rng);
        let mut opt = Sgd::new(0.1).momentum(0.9);
        let mut trainer = Trainer::new(48, 16);
        let reports: Vec<EpochReport> =
            trainer.fit(&mut mlp, &mut opt, &train, Some(&val), 4, &mut rng).map(Result::unwrap).collect();
        assert_eq!(reports.iter().map(|r| r.epoch).collect::<Vec<_>>(), [1, 2, 3, 4]);
        let last = reports.last().unwrap();
        let (loss, acc) = evaluate(&mlp, &val);
        assert_eq!((last.val_loss, last.val_metric), (Some(loss), Some(acc)));
        assert!(reports.iter().all(|r| r.steps == 3 && r.lr == 0.1 && !r.best && r.clipped_steps == 0));

        // A callback that breaks after the second epoch: fit numbering goes on from 4.
        let mut seen = vec![];
        let fit = trainer.fit(&mut mlp, &mut opt, &train, None, 10, &mut rng);
        let summary = fit
            .run(|r| {
                seen.push((r.epoch, r.val_loss));
                if seen.len() == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })
            .unwrap();
        assert_eq!(seen, [(5, None), (6, None)]);
        assert_eq!((summary.epochs, summary.stopped_early, summary.restored), (2, false, false));
        assert_eq!(trainer.epochs_done(), 6);
    }

    #[test]
    fn fit_stops_at_the_first_non_finite_loss() {
        let mut rng = StdRng::seed_from_u64(5);
        let data = blobs(64, &mut rng);
        let mut mlp = Mlp::new(&[2, 16, 2], Activation::Relu, Init::HeUniform, &mut rng);
        let mut trainer = Trainer::new(64, 8);
        let outcome: Vec<_> = trainer.fit(&mut mlp, &mut Sgd::new(1e3), &data, Some(&data), 50, &mut rng).collect();
        assert!(outcome.last().unwrap().is_err(), "learning rate 1e3 diverges within 50 epochs");
        assert!(outcome[..outcome.len() - 1].iter().all(Result::is_ok), "nothing after the error");
        assert!(mlp.parameters().iter().all(|p| p.param.all_finite()));
    }
}
