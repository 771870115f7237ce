//! What the example prints: the configuration, a line per epoch, the confusion matrix and the
//! worst test samples drawn as 8x8 pictures.

use crate::options::{Config, OptimizerKind};
use crate::training::{EpochMetrics, Prediction, Split};
use std::fmt::Write;
use tapegrad::nn::Init;

/// Pixel shades from 0 (blank) to 16 (full ink), darkest last.
const SHADES: &[u8] = b" .:-=+*#%@";

/// The largest pixel value in the digits data.
pub const MAX_PIXEL: f32 = 16.0;

/// The run's settings and the data's sizes, a few lines under the title.
pub fn header(config: &Config, data: &str, samples: usize, split: &Split) -> String {
    let inputs = split.train.num_features();
    let classes = split.train.num_classes();
    let sizes: Vec<String> =
        std::iter::once(inputs).chain(config.hidden.iter().copied()).chain([classes]).map(|n| n.to_string()).collect();
    let init = match config.init {
        Init::HeUniform => "He-uniform".to_string(),
        Init::GlorotUniform => "Glorot-uniform".to_string(),
        Init::Uniform(a) => format!("uniform(-{a}, {a})"),
        other => format!("{other:?}"),
    };
    let mut optimizer = format!("{}, learning rate {}", config.optimizer.name(), config.lr);
    if config.optimizer == OptimizerKind::Sgd && config.momentum > 0.0 {
        write!(optimizer, ", momentum {}", config.momentum).unwrap();
    }
    if config.weight_decay > 0.0 {
        write!(optimizer, ", weight decay {}", config.weight_decay).unwrap();
    }
    let batches = match config.batch_size {
        1 => "one sample at a time".to_string(),
        n => format!("batches of {n}"),
    };
    let epochs = match config.epochs {
        1 => "1 epoch".to_string(),
        n => format!("{n} epochs"),
    };
    [
        format!("digits: preset {}, seed {}", config.preset.name(), config.seed),
        match &split.val {
            None => format!(
                "data:   {data}: {samples} samples, {} for training and {} for testing",
                split.train.len(),
                split.test.len()
            ),
            Some(val) => format!(
                "data:   {data}: {samples} samples, {} for training, {} for validation and {} for testing",
                split.train.len(),
                val.len(),
                split.test.len()
            ),
        },
        "        pixels standardised with the training set's per-pixel mean and standard deviation".to_string(),
        format!("model:  {} MLP, {} hidden, {init} initial weights, zero biases", sizes.join("-"), config.activation),
        match config.patience {
            None => format!("train:  {optimizer}; {batches}, {epochs}"),
            Some(p) => format!(
                "train:  {optimizer}; {batches}, up to {epochs}, stopping after {p} without a better validation loss"
            ),
        },
    ]
    .join("\n")
}

/// The column titles above [`epoch_line`], with the validation columns if `validation`.
pub fn epoch_header(validation: bool) -> String {
    if validation {
        format!(
            "{:>5}  {:>10}  {:>9}  {:>8}  {:>7}  {:>8}  {:>7}",
            "epoch", "train loss", "train acc", "val loss", "val acc", "test acc", "time"
        )
    } else {
        format!("{:>5}  {:>10}  {:>9}  {:>8}  {:>7}", "epoch", "train loss", "train acc", "test acc", "time")
    }
}

/// One epoch's numbers under [`epoch_header`].
pub fn epoch_line(m: &EpochMetrics) -> String {
    if let (Some(val_loss), Some(val_accuracy)) = (m.val_loss, m.val_accuracy) {
        return format!(
            "{:>5}  {:>10.4}  {:>9.4}  {:>8.4}  {:>7.4}  {:>8.4}  {:>6.2}s",
            m.epoch,
            m.train_loss,
            m.train_accuracy,
            val_loss,
            val_accuracy,
            m.test_accuracy,
            m.elapsed.as_secs_f64()
        );
    }
    format!(
        "{:>5}  {:>10.4}  {:>9.4}  {:>8.4}  {:>6.2}s",
        m.epoch,
        m.train_loss,
        m.train_accuracy,
        m.test_accuracy,
        m.elapsed.as_secs_f64()
    )
}

/// The confusion matrix as a table: a row per true label, a column per prediction, with the
/// correct counts on the diagonal and a `.` for the zeros elsewhere so the mistakes stand out.
pub fn confusion_table(matrix: &[Vec<usize>]) -> String {
    let mut out = String::from("true \\ predicted");
    for p in 0..matrix.len() {
        write!(out, "{p:>4}").unwrap();
    }
    out.push('\n');
    for (label, row) in matrix.iter().enumerate() {
        write!(out, "{label:>16}").unwrap();
        for (p, &count) in row.iter().enumerate() {
            if count == 0 && p != label {
                out.push_str("   .");
            } else {
                write!(out, "{count:>4}").unwrap();
            }
        }
        out.push('\n');
    }
    out
}

/// The character for a pixel value in `0..=16`.
pub fn shade(value: f32) -> char {
    let level = (value / MAX_PIXEL).clamp(0.0, 1.0) * (SHADES.len() - 1) as f32;
    SHADES[level.round() as usize] as char
}

/// An 8x8 image as 8 lines of 16 characters: each pixel is two characters wide, because a
/// terminal cell is about twice as tall as it is wide.
pub fn picture(pixels: &[f32]) -> Vec<String> {
    pixels.chunks(8).map(|row| row.iter().flat_map(|&v| [shade(v); 2]).collect()).collect()
}

/// The sample's picture with its labels and top three probabilities beside it.
pub fn prediction(rank: usize, m: &Prediction, pixels: &[f32]) -> String {
    let mut notes = vec![
        format!("#{rank}: test sample {}", m.index),
        format!(
            "true label {}, predicted {} ({})",
            m.label,
            m.predicted,
            if m.label == m.predicted { "right" } else { "wrong" }
        ),
        format!("loss {:.2} (p(true) = {:.3})", m.loss, m.probabilities[m.label]),
    ];
    for (class, p) in m.ranked().into_iter().take(3) {
        // A bar of up to 20 characters, so probabilities can be compared at a glance.
        let bar = "#".repeat((p * 20.0).round() as usize);
        notes.push(format!("  {class}: {p:5.3} {bar}"));
    }
    let mut out = String::new();
    for (i, row) in picture(pixels).into_iter().enumerate() {
        let note = notes.get(i).map_or("", String::as_str);
        writeln!(out, "{}", format!("  |{row}|   {note}").trim_end()).unwrap();
    }
    out
}
