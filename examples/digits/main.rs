//! Handwritten digits: train an MLP to read 8x8 scans of the digits 0-9.
//!
//! ```sh
//! cargo run --release --example digits                  # the tuned default
//! cargo run --release --example digits -- --preset seed # the classic numpy tutorial's setting
//! cargo run --release --example digits -- --help        # every option
//! ```
//!
//! The steps, each in its own file:
//! 1. [`options`]: read and check the command line;
//! 2. load `examples/data/digits.csv` (1797 images of 64 pixels, a label each);
//! 3. [`training`]: hold out 15% for testing, standardise the pixels, train on shuffled
//!    mini-batches, measuring train and test accuracy after every epoch;
//! 4. [`show`]: print the confusion matrix and the test digits the model found hardest;
//! 5. [`report`]: with `--report DIR`, draw the curves and the hardest digits as SVG.

mod options;
mod report;
mod show;
mod training;

use options::Config;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::process::ExitCode;
use tapegrad::nn::data::confusion_matrix;
use tapegrad::nn::io;
use training::CLASSES;

/// `println!`, except that a closed stdout (`... | head`) is ignored instead of panicking: the
/// run still finishes, and still writes `--save` and `--report`.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// How many of the hardest test samples to show.
const WORST: usize = 5;

fn main() -> ExitCode {
    let config = match options::parse(std::env::args_os()) {
        Ok(Ok(config)) => config,
        Ok(Err(message)) => {
            eprintln!("error: {message} (see --help)");
            return ExitCode::from(2);
        }
        // --help: print it and stop.
        Err(help) => help.exit(),
    };
    // Before training, and like a bad option: a path that cannot be written is a usage error.
    if let Err(message) = report::check_outputs(config.save.as_deref(), config.report.as_deref()) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config) -> Result<(), String> {
    let data = training::load(&config.data)?;

    // One generator for the split, the initial weights and the batch order: a seed
    // reproduces the whole run.
    let mut rng = StdRng::seed_from_u64(config.seed);
    let split = training::split_and_standardise(&data, config.val, &mut rng)?;
    // The bundled file by its place in the repository, rather than by an absolute path.
    let shown = config.data.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&config.data);
    say!("{}", show::header(config, &shown.display().to_string(), data.len(), &split));

    let mut model = training::build_model(config, data.num_features(), CLASSES, &mut rng);
    say!();
    say!("{}", show::epoch_header(split.val.is_some()));
    let trained = training::train(config, &mut model, &split, &mut rng, |m| say!("{}", show::epoch_line(m)))
        .map_err(|e| e.to_string())?;
    let history = &trained.history;
    if let Some(best) = trained.best_epoch {
        let ran = history.len() - 1;
        say!();
        say!(
            "early stopping: the best validation loss was at epoch {best} of the {ran} run; the model keeps its weights"
        );
    }

    let predictions = model.predict(split.test.features());
    let confusion = confusion_matrix(&predictions, split.test.labels(), CLASSES);
    let correct: usize = (0..CLASSES).map(|c| confusion[c][c]).sum();
    // With early stopping, the model has the best epoch's weights, not the last epoch's.
    let last = trained.kept();
    say!();
    say!(
        "test accuracy: {:.4} ({correct} of {} test digits), after {:.2}s of training",
        last.test_accuracy,
        split.test.len(),
        history.last().expect("epoch 0 is always measured").elapsed.as_secs_f64()
    );
    say!();
    say!("confusion matrix (a row per true label, a column per prediction):");
    say!("{}", show::confusion_table(&confusion).trim_end());

    let worst = training::worst_predictions(&model, &split.test, WORST);
    say!();
    say!("the {} test digits with the highest loss:", worst.len());
    for (rank, p) in worst.iter().enumerate() {
        say!();
        say!("{}", show::prediction(rank + 1, p, split.test_pixels.features().row(p.index)).trim_end());
    }

    if let Some(path) = &config.save {
        io::save(&model, path).map_err(|e| e.to_string())?;
        say!();
        say!("model saved to {}", path.display());
    }
    if let Some(dir) = &config.report {
        let report = report::Report {
            config,
            train_size: split.train.len(),
            test_size: split.test.len(),
            history,
            confusion: &confusion,
            worst: &worst,
            test_pixels: split.test_pixels.features(),
        };
        say!();
        say!("report:");
        for path in report::write(dir, &report)? {
            say!("  {}", path.display());
        }
    }
    Ok(())
}
