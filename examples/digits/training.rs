//! The pipeline: split and standardise the data, build the model and optimiser, train.

use crate::options::{Config, OptimizerKind};
use rand::Rng;
use std::path::Path;
use std::time::{Duration, Instant};
use tapegrad::nn::data::{Dataset, StandardScaler, load_csv};
use tapegrad::nn::train::{EarlyStopping, TrainError, Trainer, evaluate};
use tapegrad::nn::{Adam, Mlp, Optimizer, Sgd};

/// Ten digits, 0 to 9.
pub const CLASSES: usize = 10;

/// The share of the samples held out for testing: 270 of the 1797 digits.
pub const TEST_FRACTION: f64 = 0.15;

/// The data, split and standardised.
pub struct Split {
    pub train: Dataset<f32>,
    /// Held out of the training part with `--val`.
    pub val: Option<Dataset<f32>>,
    pub test: Dataset<f32>,
    /// The test pixels as loaded, for drawing.
    pub test_pixels: Dataset<f32>,
}

/// Loads the data and checks it is digits: 64 pixels a row, enough rows to hold some out.
pub fn load(path: &Path) -> Result<Dataset<f32>, String> {
    let data = load_csv::<f32>(path, Some(CLASSES)).map_err(|e| e.to_string())?;
    if data.num_features() != 64 {
        return Err(format!(
            "{}: expected 64 pixel values (an 8x8 image) and a label per line, found {} before the label",
            path.display(),
            match data.num_features() {
                1 => "1 value".to_string(),
                n => format!("{n} values"),
            }
        ));
    }
    // Fewer than 4 rows leave the 15% test part, or the training part, empty.
    if data.len() < 4 {
        return Err(format!(
            "{}: {} samples are too few to split into training and test sets",
            path.display(),
            data.len()
        ));
    }
    Ok(data)
}

/// Holds out [`TEST_FRACTION`] of `data` at random, then `validation` of the rest if given,
/// and standardises every part with the training part's per-pixel mean and standard deviation.
///
/// Only the training part's statistics are used, so nothing about the validation or test
/// images leaks into training. Pixels that never change in the training images (some border
/// pixels are always 0) are only shifted, not divided by their zero deviation (see
/// [`StandardScaler::fit`]).
///
/// # Errors
/// If a training feature is NaN or infinite (never for data from [`load`], which rejects them),
/// or the validation fraction leaves the training or the validation part empty.
///
/// # Panics
/// If the training part would be empty.
pub fn split_and_standardise<R: Rng + ?Sized>(
    data: &Dataset<f32>,
    validation: Option<f64>,
    rng: &mut R,
) -> Result<Split, String> {
    let (mut train, test_pixels) = data.train_test_split(TEST_FRACTION, rng);
    let val = match validation {
        Some(fraction) => {
            let (rest, val) = train.train_test_split(fraction, rng);
            if rest.is_empty() || val.is_empty() {
                return Err(format!(
                    "--val {fraction} leaves {} of the {} training samples for validation; \
                     each part needs at least one",
                    val.len(),
                    train.len()
                ));
            }
            train = rest;
            Some(val)
        }
        None => None,
    };
    let scaler = StandardScaler::fit(train.features()).map_err(|e| e.to_string())?;
    Ok(Split {
        train: train.map_features(|x| scaler.transform(x)),
        val: val.map(|v| v.map_features(|x| scaler.transform(x))),
        test: test_pixels.map_features(|x| scaler.transform(x)),
        test_pixels,
    })
}

/// The model `config` describes, for `inputs` features and `classes` classes.
pub fn build_model<R: Rng + ?Sized>(config: &Config, inputs: usize, classes: usize, rng: &mut R) -> Mlp<f32> {
    let sizes: Vec<usize> = std::iter::once(inputs).chain(config.hidden.iter().copied()).chain([classes]).collect();
    Mlp::new(&sizes, config.activation.clone(), config.init, rng)
}

/// The optimiser `config` describes.
pub fn build_optimizer(config: &Config) -> Box<dyn Optimizer<f32>> {
    match config.optimizer {
        // The model trains in f32; the options are kept in f64 so they print as typed.
        OptimizerKind::Sgd => Box::new(
            Sgd::new(config.lr as f32).momentum(config.momentum as f32).weight_decay(config.weight_decay as f32),
        ),
        OptimizerKind::Adam => Box::new(Adam::new(config.lr as f32).weight_decay(config.weight_decay as f32)),
    }
}

/// How the model did after one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochMetrics {
    /// From 1; 0 is the untrained model.
    pub epoch: usize,
    /// Mean cross-entropy on the whole training set, measured after the epoch.
    pub train_loss: f64,
    pub train_accuracy: f64,
    /// On the validation part, with `--val`.
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// Since training started.
    pub elapsed: Duration,
}

/// A finished training run.
#[derive(Clone, Debug, PartialEq)]
pub struct Trained {
    /// Epoch 0 (untrained) and every epoch run.
    pub history: Vec<EpochMetrics>,
    /// With `--patience`: the epoch with the lowest validation loss, whose weights the model
    /// now has.
    pub best_epoch: Option<usize>,
}

impl Trained {
    /// The measurements of the weights the model ended with: the best epoch's with early
    /// stopping, else the last.
    pub fn kept(&self) -> &EpochMetrics {
        let last = self.history.last().expect("epoch 0 is always measured");
        self.best_epoch.and_then(|b| self.history.iter().find(|m| m.epoch == b)).unwrap_or(last)
    }
}

/// Trains `model` for `config.epochs` epochs of shuffled mini-batches, measuring it on every
/// part before training (epoch 0: chance level) and after each epoch, and handing the numbers
/// to `on_epoch` as they come. With `--patience`, stops once the validation loss has not
/// improved for that many epochs and puts back the best epoch's weights.
///
/// # Errors
/// If the loss or a gradient stops being finite (a learning rate far too large).
pub fn train<R: Rng + ?Sized>(
    config: &Config,
    model: &mut Mlp<f32>,
    split: &Split,
    rng: &mut R,
    mut on_epoch: impl FnMut(&EpochMetrics),
) -> Result<Trained, TrainError> {
    let mut optimizer = build_optimizer(config);
    let mut trainer = Trainer::new(split.train.len(), config.batch_size);
    if let Some(patience) = config.patience {
        trainer = trainer.early_stopping(EarlyStopping::new(patience));
    }
    let start = Instant::now();
    // Grown as epochs finish rather than reserved up front: a long run costs memory as it goes.
    let mut history = Vec::new();
    let mut measure = |epoch: usize, model: &Mlp<f32>| {
        // The trainer's own loss is averaged over an epoch in which the model kept changing;
        // measuring after the epoch puts every part on the same footing.
        let (train_loss, train_accuracy) = evaluate(model, &split.train);
        let (val_loss, val_accuracy) = split.val.as_ref().map(|v| evaluate(model, v)).unzip();
        let (test_loss, test_accuracy) = evaluate(model, &split.test);
        let metrics = EpochMetrics {
            epoch,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
            test_loss,
            test_accuracy,
            elapsed: start.elapsed(),
        };
        on_epoch(&metrics);
        history.push(metrics);
    };
    measure(0, model);
    let mut fit = trainer.fit(model, optimizer.as_mut(), &split.train, split.val.as_ref(), config.epochs, rng);
    while let Some(report) = fit.next() {
        measure(report?.epoch, fit.model());
    }
    let best_epoch = fit.summary().best_epoch;
    Ok(Trained { history, best_epoch })
}

/// What the model says about one test sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Its row in the test set.
    pub index: usize,
    pub label: usize,
    pub predicted: usize,
    /// Its cross-entropy, `-ln p(label)`: large when the model is confidently wrong.
    pub loss: f64,
    pub probabilities: Vec<f64>,
}

impl Prediction {
    /// The classes by decreasing probability, with their probabilities.
    pub fn ranked(&self) -> Vec<(usize, f64)> {
        let mut ranked: Vec<(usize, f64)> = self.probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
    }
}

/// The `k` samples of `data` with the highest loss, worst first.
pub fn worst_predictions(model: &Mlp<f32>, data: &Dataset<f32>, k: usize) -> Vec<Prediction> {
    let logits = model.logits(data.features());
    // The loss from log-softmax rather than from ln(softmax): a probability that rounds to 0
    // would make it infinite.
    let log_probabilities = logits.log_softmax();
    let mut all: Vec<Prediction> = log_probabilities
        .rows()
        .zip(logits.argmax())
        .zip(data.labels())
        .enumerate()
        .map(|(index, ((row, predicted), &label))| Prediction {
            index,
            label,
            predicted,
            loss: -f64::from(row[label]),
            probabilities: row.iter().map(|&lp| f64::from(lp).exp()).collect(),
        })
        .collect();
    all.sort_by(|a, b| b.loss.total_cmp(&a.loss));
    all.truncate(k);
    all
}
