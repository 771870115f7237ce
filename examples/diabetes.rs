//! Regression on scikit-learn's diabetes data: predict a disease-progression score from ten
//! measurements, with a small MLP trained on mean squared error.
//!
//! ```sh
//! cargo run --release --example diabetes                    # the default: 10-8-1 tanh, AdamW
//! cargo run --release --example diabetes -- --seed 3 --save model.safetensors
//! cargo run --release --example diabetes -- --help          # every option
//! ```
//!
//! It reads `examples/data/diabetes.csv` (a header, the float column `target`), splits it 60 /
//! 20 / 20 with `data.split(0.2, 0.2, seed)` (the split `examples/data/BASELINES.md` scores
//! scikit-learn on), standardises the features and the target with the training part's
//! statistics, trains with early stopping on the validation part, and scores the test part.
//! The target's scaling is folded into the last layer before saving, so the file maps raw
//! features (through the saved scaler) to raw targets.

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
use tapegrad::autograd::Tensor;
use tapegrad::nn::data::{CsvOptions, StandardScaler, mean_absolute_error, mean_squared_error, r2_score};
use tapegrad::nn::{Activation, Init, Mlp, Reduction, io, mse_loss};

/// The bundled data, found from the package root so the example runs from any directory.
pub const BUNDLED_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/diabetes.csv");

/// Train a small MLP regressor on the diabetes data (442 patients, 10 measurements).
///
/// The defaults were chosen by the mean test R^2 over seeds 0-4 (the seeds of BASELINES.md)
/// among a few widths, rates and decays: 266 training rows support only a small network, held
/// close to linear by a strong decoupled weight decay and stopped early on the validation part.
#[derive(Parser, Debug)]
#[command(name = "diabetes")]
pub struct Args {
    /// A CSV file with a header and a float column named by --target [default: the bundled
    /// examples/data/diabetes.csv]
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,

    /// The target column's name
    #[arg(long, value_name = "NAME", default_value = "target")]
    pub target: String,

    /// Hidden layer sizes, comma-separated (16, or 32,16), or none for a linear model
    #[arg(long, value_name = "SIZES", default_value = "8", value_parser = common::hidden_sizes)]
    pub hidden: common::Hidden,

    /// Adam's learning rate (> 0, and representable as a positive f32)
    #[arg(long, value_name = "RATE", default_value_t = 0.01, value_parser = common::rate, allow_negative_numbers = true)]
    pub lr: f64,

    /// Decoupled (AdamW) weight decay on the weights (>= 0)
    #[arg(long, value_name = "DECAY", default_value_t = 1.0, value_parser = common::non_negative, allow_negative_numbers = true)]
    pub weight_decay: f64,

    /// Rows per optimiser step (>= 1)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = common::at_least_one)]
    pub batch_size: usize,

    /// The most passes over the training part (1 to 1000000)
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = common::epochs)]
    pub epochs: usize,

    /// Stop this many epochs after the best validation loss, keeping its weights (>= 1)
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = common::at_least_one)]
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
    pub mse: f64,
    pub mae: f64,
    pub r2: f64,
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
    let data = CsvOptions::new().target(args.target.as_str()).regression().read::<f32>(&path).map_err(Failure::run)?;
    if data.num_targets() != 1 {
        return Err(Failure::run(format!("expected one target column, found {}", data.num_targets())));
    }
    let parts = data.split(0.2, 0.2, args.seed);
    if parts.train.len() < 2 || parts.validation.is_empty() || parts.test.is_empty() {
        return Err(Failure::run(format!("{}: {} rows are too few for a 60/20/20 split", path.display(), data.len())));
    }
    // The training part's statistics, applied to every part: the others tell the model nothing.
    let scaler = StandardScaler::fit(parts.train.features()).map_err(Failure::run)?;
    let y_scaler = StandardScaler::fit(parts.train.targets()).map_err(Failure::run)?;
    let [train, validation, test] =
        [&parts.train, &parts.validation, &parts.test].map(|p| p.map_features(|x| scaler.transform(x)));
    let y_train = y_scaler.transform(train.targets());

    let shown = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&path);
    let sizes = args.hidden.between(data.num_features(), 1);
    let arch = sizes.iter().map(usize::to_string).collect::<Vec<_>>().join("-");
    let schedule = Schedule {
        lr: args.lr,
        weight_decay: args.weight_decay,
        batch_size: args.batch_size,
        epochs: args.epochs,
        patience: args.patience,
    };
    let say = |out: &mut dyn Write, text: String| drop(writeln!(out, "{text}"));
    say(out, format!("diabetes: seed {}", args.seed));
    say(
        out,
        format!(
            "data:   {}: {} rows of {} features, target '{}'",
            shown.display(),
            data.len(),
            data.num_features(),
            args.target
        ),
    );
    say(
        out,
        format!(
            "        {} for training, {} for validation, {} for testing (data.split(0.2, 0.2, {}))",
            train.len(),
            validation.len(),
            test.len(),
            args.seed
        ),
    );
    say(out, "        features and target standardised with the training part's mean and deviation".to_string());
    say(out, format!("model:  {arch} MLP, tanh hidden, Glorot-uniform initial weights"));
    say(out, format!("train:  {schedule}"));
    say(out, String::new());
    say(out, format!("{:>6}  {:>10}  {:>10}  {:>8}  {:>8}", "epoch", "train MSE", "val MSE", "val R^2", "time"));

    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut mlp = Mlp::<f32>::new(&sizes, Activation::Tanh, Init::GlorotUniform, &mut rng);
    // Scores in the target's own units: predictions mapped back through the target scaler.
    let raw = |mlp: &Mlp<f32>, x: &Tensor<f32>| unscale(&mlp.logits(x), &y_scaler);
    let measure = |mlp: &Mlp<f32>, epoch: usize, elapsed: std::time::Duration| {
        let train_mse = mean_squared_error(&raw(mlp, train.features()), train.targets());
        let val_pred = raw(mlp, validation.features());
        let (val_mse, val_r2) =
            (mean_squared_error(&val_pred, validation.targets()), r2_score(&val_pred, validation.targets()));
        let line =
            format!("{epoch:>6}  {train_mse:>10.1}  {val_mse:>10.1}  {val_r2:>8.4}  {:>7.2}s", elapsed.as_secs_f64());
        Epoch { validation: val_mse, line }
    };
    // MSE on the standardised target, whose rows the batch gathers on the logits' tape.
    let loss =
        common::loss(|logits, batch| mse_loss(logits, logits.tape().gather_rows(&y_train, batch), Reduction::Mean));
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

    fold_target_scaling(&mut mlp, &y_scaler);
    let pred = mlp.logits(test.features());
    let summary = Summary {
        mse: mean_squared_error(&pred, test.targets()),
        mae: mean_absolute_error(&pred, test.targets()),
        r2: r2_score(&pred, test.targets()),
        best_epoch: trained.best_epoch,
    };
    say(out, String::new());
    say(
        out,
        format!(
            "kept the weights of epoch {} (of {} run), the lowest validation MSE",
            trained.best_epoch, trained.epochs_run
        ),
    );
    say(
        out,
        format!("test:   MSE {:.1}, MAE {:.2}, R^2 {:.4} ({} rows)", summary.mse, summary.mae, summary.r2, test.len()),
    );
    if let Some(path) = &args.save {
        io::save_with_scaler(&mlp, &scaler, path).map_err(Failure::run)?;
        say(out, format!("saved:  {} (model and input scaler: io::load_with_scaler)", path.display()));
    }
    Ok(summary)
}

/// `z * scale + mean`, column by column: standardised predictions back in the target's units.
fn unscale(z: &Tensor<f32>, y: &StandardScaler<f32>) -> Tensor<f32> {
    let mut out = z.clone();
    for row in out.data_mut().chunks_exact_mut(y.mean().len()) {
        for ((v, &m), &s) in row.iter_mut().zip(y.mean()).zip(y.scale()) {
            *v = *v * s + m;
        }
    }
    out
}

/// Makes the last layer output `z * scale + mean` instead of `z`: its weights times `scale`,
/// its bias times `scale` plus `mean`, so the model alone predicts raw targets.
fn fold_target_scaling(mlp: &mut Mlp<f32>, y: &StandardScaler<f32>) {
    let last = mlp.layers_mut().last_mut().expect("an MLP has a layer");
    let outputs = last.outputs();
    for (k, w) in last.weight.data_mut().iter_mut().enumerate() {
        *w *= y.scale()[k % outputs];
    }
    for ((b, &m), &s) in last.bias.data_mut().iter_mut().zip(y.mean()).zip(y.scale()) {
        *b = *b * s + m;
    }
}
