//! Classification on scikit-learn's wine data: tell three cultivars apart from thirteen
//! chemical measurements, with a small MLP trained on softmax cross-entropy.
//!
//! ```sh
//! cargo run --release --example wine                    # the default: 13-16-3 tanh, AdamW
//! cargo run --release --example wine -- --seed 2 --save wine.safetensors
//! cargo run --release --example wine -- --help          # every option
//! ```
//!
//! It reads `examples/data/wine.csv` (a header, the class column `class`), splits it 60 / 20 /
//! 20 with `data.stratified_split(0.2, 0.2, seed)` (the split `examples/data/BASELINES.md`
//! scores scikit-learn on), standardises the features with the training part's statistics,
//! trains with early stopping on the validation part's loss, and scores the test part:
//! accuracy, macro F1 and the confusion matrix.

#[path = "tabular/common.rs"]
mod common;

use clap::Parser;
use common::{Epoch, Failure, Schedule};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tapegrad::autograd::{Tensor, gather_labels};
use tapegrad::nn::data::{CsvOptions, StandardScaler, accuracy, confusion_matrix, precision_recall_f1};
use tapegrad::nn::{Activation, Init, Mlp, io, softmax_cross_entropy};

/// The bundled data, found from the package root so the example runs from any directory.
pub const BUNDLED_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/wine.csv");

/// Train a small MLP classifier on the wine data (178 wines, 13 measurements, 3 cultivars).
#[derive(Parser, Debug)]
#[command(name = "wine")]
pub struct Args {
    /// A CSV file with a header and a class column named by --target (integers or strings)
    /// [default: the bundled examples/data/wine.csv]
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,

    /// The class column's name
    #[arg(long, value_name = "NAME", default_value = "class")]
    pub target: String,

    /// Hidden layer sizes, comma-separated (16, or 32,16), or none for a linear model
    #[arg(long, value_name = "SIZES", default_value = "16", value_parser = common::hidden_sizes)]
    pub hidden: common::Hidden,

    /// Adam's learning rate (> 0, and representable as a positive f32)
    #[arg(long, value_name = "RATE", default_value_t = 0.01, value_parser = common::rate, allow_negative_numbers = true)]
    pub lr: f64,

    /// Decoupled (AdamW) weight decay on the weights (>= 0)
    #[arg(long, value_name = "DECAY", default_value_t = 0.1, value_parser = common::non_negative, allow_negative_numbers = true)]
    pub weight_decay: f64,

    /// Rows per optimiser step (>= 1)
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = common::at_least_one)]
    pub batch_size: usize,

    /// The most passes over the training part (1 to 1000000)
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = common::epochs)]
    pub epochs: usize,

    /// Stop this many epochs after the best validation loss, keeping its weights (>= 1)
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = common::at_least_one)]
    pub patience: usize,

    /// Seeds the split, the initial weights and the batch order
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Save the model and its input scaler as safetensors to PATH
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
}

/// The test scores of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub confusion: Vec<Vec<usize>>,
    pub best_epoch: usize,
}

fn main() -> ExitCode {
    common::main(|out| run(std::env::args_os(), out))
}

/// Parses `argv` and runs, writing the report to `out`. `--help` comes back as a `Failure` of
/// code 0 holding the help text.
pub fn run(argv: impl IntoIterator<Item = OsString>, out: &mut dyn Write) -> Result<Summary, Failure> {
    let args: Args = common::parse(argv)?;
    if let Some(path) = &args.save {
        io::check_save_target(path).map_err(|e| Failure::usage(e.to_string()))?;
    }
    let path = args.data.clone().unwrap_or_else(|| PathBuf::from(BUNDLED_DATA));
    let data = CsvOptions::new().target(args.target.as_str()).read::<f32>(&path).map_err(Failure::run)?;
    let classes = data.num_classes();
    let parts = data.stratified_split(0.2, 0.2, args.seed);
    if parts.train.is_empty() || parts.validation.is_empty() || parts.test.is_empty() {
        return Err(Failure::run(format!("{}: {} rows are too few for a 60/20/20 split", path.display(), data.len())));
    }
    // The training part's statistics, applied to every part: the others tell the model nothing.
    let scaler = StandardScaler::fit(parts.train.features()).map_err(Failure::run)?;
    let [train, validation, test] =
        [&parts.train, &parts.validation, &parts.test].map(|p| p.map_features(|x| scaler.transform(x)));

    let shown = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&path);
    let sizes = args.hidden.between(data.num_features(), classes);
    let arch = sizes.iter().map(usize::to_string).collect::<Vec<_>>().join("-");
    let schedule = Schedule {
        lr: args.lr,
        weight_decay: args.weight_decay,
        batch_size: args.batch_size,
        epochs: args.epochs,
        patience: args.patience,
    };
    let say = |out: &mut dyn Write, text: String| drop(writeln!(out, "{text}"));
    say(out, format!("wine: seed {}", args.seed));
    say(
        out,
        format!(
            "data:   {}: {} rows of {} features, {classes} classes in '{}'",
            shown.display(),
            data.len(),
            data.num_features(),
            args.target
        ),
    );
    say(
        out,
        format!(
            "        {} for training, {} for validation, {} for testing (data.stratified_split(0.2, 0.2, {}))",
            train.len(),
            validation.len(),
            test.len(),
            args.seed
        ),
    );
    say(out, "        features standardised with the training part's mean and deviation".to_string());
    say(out, format!("model:  {arch} MLP, tanh hidden, Glorot-uniform initial weights"));
    say(out, format!("train:  {schedule}"));
    say(out, String::new());
    say(
        out,
        format!(
            "{:>6}  {:>10}  {:>9}  {:>8}  {:>8}  {:>8}",
            "epoch", "train loss", "train acc", "val loss", "val acc", "time"
        ),
    );

    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut mlp = Mlp::<f32>::new(&sizes, Activation::Tanh, Init::GlorotUniform, &mut rng);
    let measure = |mlp: &Mlp<f32>, epoch: usize, elapsed: std::time::Duration| {
        let (train_logits, val_logits) = (mlp.logits(train.features()), mlp.logits(validation.features()));
        let (train_loss, val_loss) =
            (mean_cross_entropy(&train_logits, train.labels()), mean_cross_entropy(&val_logits, validation.labels()));
        let train_acc = accuracy(&mlp.predict(train.features()), train.labels());
        let val_acc = accuracy(&mlp.predict(validation.features()), validation.labels());
        let line = format!(
            "{epoch:>6}  {train_loss:>10.4}  {train_acc:>9.4}  {val_loss:>8.4}  {val_acc:>8.4}  {:>7.2}s",
            elapsed.as_secs_f64()
        );
        Epoch { validation: val_loss, line }
    };
    let loss = common::loss(|logits, batch| softmax_cross_entropy(logits, gather_labels(train.labels(), batch)));
    let trained = common::train(
        &mut mlp,
        train.features(),
        loss,
        measure,
        &schedule,
        &mut rng,
        out,
        common::thinned(args.epochs),
    )?;

    let predictions = mlp.predict(test.features());
    let report = precision_recall_f1(&predictions, test.labels(), classes);
    let summary = Summary {
        accuracy: accuracy(&predictions, test.labels()),
        macro_f1: report.macro_f1,
        confusion: confusion_matrix(&predictions, test.labels(), classes),
        best_epoch: trained.best_epoch,
    };
    let correct: usize = (0..classes).map(|c| summary.confusion[c][c]).sum();
    say(out, String::new());
    say(
        out,
        format!(
            "kept the weights of epoch {} (of {} run), the lowest validation loss",
            trained.best_epoch, trained.epochs_run
        ),
    );
    say(
        out,
        format!(
            "test:   accuracy {:.4} ({correct} of {}), macro F1 {:.4}",
            summary.accuracy,
            test.len(),
            summary.macro_f1
        ),
    );
    say(out, String::new());
    say(out, "confusion matrix (a row per true class, a column per prediction):".to_string());
    let name = |c: usize| data.class_names().and_then(|n| n.get(c).cloned()).unwrap_or_else(|| c.to_string());
    let width = (0..classes).map(|c| name(c).len()).max().unwrap_or(1).max(4);
    let mut head = format!("  {:>width$}", "");
    for c in 0..classes {
        head += &format!("  {:>width$}", name(c));
    }
    say(out, head);
    for (c, row) in summary.confusion.iter().enumerate() {
        let mut line = format!("  {:>width$}", name(c));
        for &n in row {
            line += &format!("  {:>width$}", if n == 0 { ".".to_string() } else { n.to_string() });
        }
        say(out, line);
    }
    say(out, String::new());
    say(out, format!("{:>8}  {:>9}  {:>6}  {:>6}  {:>7}", "class", "precision", "recall", "F1", "support"));
    for (c, s) in report.per_class.iter().enumerate() {
        say(out, format!("{:>8}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}", name(c), s.precision, s.recall, s.f1, s.support));
    }
    if let Some(path) = &args.save {
        io::save_with_scaler(&mlp, &scaler, path).map_err(Failure::run)?;
        say(out, String::new());
        say(out, format!("saved:  {} (model and input scaler: io::load_with_scaler)", path.display()));
    }
    Ok(summary)
}

/// The mean softmax cross-entropy of `logits` against `labels`: `logsumexp(z) - z[label]` per
/// row, with the row's largest logit taken out first so that no exponential overflows.
fn mean_cross_entropy(logits: &Tensor<f32>, labels: &[usize]) -> f64 {
    let total: f64 = logits
        .rows()
        .zip(labels)
        .map(|(z, &label)| {
            let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
            let sum: f64 = z.iter().map(|&v| (f64::from(v) - max).exp()).sum();
            max + sum.ln() - f64::from(z[label])
        })
        .sum();
    total / labels.len() as f64
}
