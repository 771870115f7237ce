//! The digits example, tested through its own modules (included from `examples/digits/`): its
//! options and their one-line errors, the loader's checks, a short training run, and the report.

#[path = "../examples/digits/options.rs"]
#[allow(dead_code)]
mod options;
#[path = "../examples/digits/report.rs"]
#[allow(dead_code)]
mod report;
#[path = "../examples/digits/show.rs"]
#[allow(dead_code)]
mod show;
#[path = "../examples/digits/training.rs"]
#[allow(dead_code)]
mod training;

use options::{Config, OptimizerKind, Preset};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::{Path, PathBuf};
use tapegrad::nn::{Activation, Init};

fn config(args: &[&str]) -> Config {
    let argv = std::iter::once("digits").chain(args.iter().copied());
    options::parse(argv).expect("not --help").unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The message `args` are rejected with, after checking it is one line.
fn rejection(args: &[&str]) -> String {
    let argv = std::iter::once("digits").chain(args.iter().copied());
    let message = options::parse(argv).expect("not --help").expect_err(&format!("{args:?} should be rejected"));
    assert!(!message.contains('\n'), "{args:?}: more than one line: {message:?}");
    message
}

/// A fresh directory under cargo's scratch space for integration tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn no_options_give_the_default_preset() {
    let c = config(&[]);
    assert_eq!(c, Preset::Default.config());
    assert_eq!(c.data, Path::new(options::BUNDLED_DATA));
    assert!(c.data.is_file(), "the bundled data is found from the package root");
}

#[test]
fn the_seed_preset_is_the_numpy_tutorial() {
    let c = config(&["--preset", "seed"]);
    assert_eq!(c.hidden, [10]);
    assert_eq!((c.activation, c.init), (Activation::Sigmoid, Init::Uniform(0.01)));
    assert_eq!((c.optimizer, c.lr, c.momentum, c.weight_decay), (OptimizerKind::Sgd, 0.1, 0.0, 0.0));
    assert_eq!((c.batch_size, c.epochs), (1, 15));
}

#[test]
fn options_override_the_preset() {
    let c = config(&["--preset", "seed", "--epochs", "3", "--hidden", "32,16", "--seed", "7", "--momentum", "0.9"]);
    assert_eq!((c.epochs, c.hidden.as_slice(), c.seed, c.momentum), (3, &[32, 16][..], 7, 0.9));
    // The preset's other settings stay.
    assert_eq!((c.activation, c.init, c.batch_size), (Activation::Sigmoid, Init::Uniform(0.01), 1));
    // Under the default preset, the initialiser follows the activation.
    assert_eq!(config(&["--activation", "tanh"]).init, Init::GlorotUniform);
    assert_eq!(config(&["--activation", "relu"]).init, Init::HeUniform);
}

#[test]
fn impossible_options_are_one_line_errors_naming_the_option() {
    for (args, expected) in [
        (&["--batch-size", "0"][..], "'--batch-size <N>': must be at least 1"),
        (&["--epochs", "0"], "'--epochs <N>': must be at least 1"),
        (&["--hidden", "0"], "'--hidden <SIZES>': a hidden layer needs at least 1 unit"),
        (&["--hidden", "64,,32"], "'--hidden <SIZES>'"),
        (&["--hidden", "100000"], "more than the limit of 10000"),
        (
            &["--activation", "swish"],
            "unknown activation 'swish' (expected identity, relu, leaky_relu, leaky_relu(SLOPE), elu, gelu, silu, softplus, sigmoid, tanh or log_sigmoid)",
        ),
        (&["--optimizer", "rmsprop"], "[possible values: sgd, adam]"),
        (&["--lr", "0"], "'--lr <RATE>': must be greater than 0, got 0"),
        (&["--lr", "-0.1"], "must be greater than 0, got -0.1"),
        (&["--lr", "inf"], "expected a finite number, found 'inf'"),
        (&["--lr", "1e39"], "'--lr <RATE>': 1e39 is too large for f32, the model's float type"),
        (&["--momentum", "1", "--optimizer", "sgd"], "must be in [0, 1), got 1"),
        (&["--weight-decay", "-1"], "must be 0 or more"),
        (&["--momentum", "0.9"], "--momentum applies to --optimizer sgd only"),
        (&["--weight-decay", "1000"], "--lr times --weight-decay must be below 1"),
        (&["--preset", "mnist"], "[possible values: default, seed]"),
        (&["--hiden", "64"], "unexpected argument '--hiden' found; tip: a similar argument exists: '--hidden'"),
    ] {
        let message = rejection(args);
        assert!(message.contains(expected), "{args:?}: {message:?} should contain {expected:?}");
    }
}

#[test]
fn numeric_options_are_bounded_by_what_the_run_can_do() {
    for (args, expected) in [
        // Preallocating a history for each of these epochs asked for 5.6 TB.
        (&["--epochs", "100000000000"][..], "'--epochs <N>': 100000000000 epochs is more than the limit of 1000000"),
        // usize::MAX: `epochs + 1` measurements wrapped to none.
        (&["--epochs", "18446744073709551615"], "18446744073709551615 epochs is more than the limit of 1000000"),
        (&["--epochs", "1000001"], "more than the limit of 1000000"),
        (&["--epochs", "18446744073709551616"], "expected a whole number, found '18446744073709551616'"),
        // Finite as an f64, infinite once the f32 model gets it: every weight would become NaN.
        (&["--lr", "1e39", "--optimizer", "sgd"], "'--lr <RATE>': 1e39 is too large for f32, the model's float type"),
        (&["--lr", "1e-50"], "'--lr <RATE>': 1e-50 rounds to 0 in f32"),
        (&["--weight-decay", "1e39", "--optimizer", "sgd"], "'--weight-decay <DECAY>': 1e39 is too large for f32"),
        (&["--weight-decay", "nan"], "expected a finite number, found 'nan'"),
        (&["--momentum", "0.9999999999", "--optimizer", "sgd"], "0.9999999999 rounds to 1 in f32"),
        (&["--momentum", "-0.1", "--optimizer", "sgd"], "must be in [0, 1), got -0.1"),
        // Below 1 as an f64, exactly 1 once both are rounded to f32.
        (&["--lr", "1", "--weight-decay", "0.99999999999"], "--lr times --weight-decay must be below 1"),
        (&["--batch-size", "1.5"], "expected a whole number, found '1.5'"),
        (&["--seed", "18446744073709551616"], "'--seed <SEED>'"),
        (&["--seed", "-1"], "'--seed <SEED>'"),
    ] {
        let message = rejection(args);
        assert!(message.contains(expected), "{args:?}: {message:?} should contain {expected:?}");
    }
    // The bounds themselves are accepted, and a batch larger than the data set is one batch.
    let c = config(&["--epochs", "1000000", "--batch-size", "18446744073709551615", "--seed", "18446744073709551615"]);
    assert_eq!((c.epochs, c.batch_size, c.seed), (1_000_000, usize::MAX, u64::MAX));
    let c = config(&["--lr", "3e38", "--optimizer", "sgd", "--momentum", "0.99999", "--weight-decay", "3e38"]);
    assert_eq!((c.lr, c.momentum, c.weight_decay), (3e38, 0.99999, 3e38));
    assert_eq!(config(&["--lr", "1e-40"]).lr, 1e-40, "a subnormal f32 rate is still positive");
}

#[test]
fn help_lists_both_presets() {
    let help = options::parse(["digits", "--help"]).expect_err("--help is not a run");
    assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
    let text = help.to_string();
    assert!(text.contains("Presets:") && text.contains("uniform(-0.01, 0.01)"), "{text}");
}

#[test]
fn bad_data_files_are_one_line_errors_naming_the_file() {
    let dir = scratch("digits-bad-data");
    let missing = dir.join("missing.csv");
    let message = training::load(&missing).unwrap_err();
    assert!(message.starts_with(&format!("cannot read {}: ", missing.display())), "{message}");

    let row = |label: &str| format!("{}{label}\n", "0,".repeat(64));
    let cases = [
        ("malformed.csv", row("1") + &row("2").replacen("0,0,", "0,x,", 1), ":2:2: expected a number, found \"x\""),
        (
            "label.csv",
            row("1") + &row("10"),
            ":2:65: label 10 is out of range: with 10 classes labels must be below 10",
        ),
        ("narrow.csv", "1,2,3\n".repeat(10), ": expected 64 pixel values (an 8x8 image) and a label per line, found 2"),
        ("tiny.csv", row("1").repeat(3), ": 3 samples are too few to split"),
    ];
    for (name, text, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let message = training::load(&path).unwrap_err();
        assert!(!message.contains('\n'), "{message:?}");
        assert!(message.starts_with(&format!("{}{expected}", path.display())), "{message:?} vs {expected:?}");
    }
}

/// Loads the bundled digits, and trains with `args` from seed 0.
fn run_trained(args: &[&str]) -> (training::Split, tapegrad::nn::Mlp<f32>, training::Trained) {
    let config = config(args);
    let data = training::load(&config.data).unwrap();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let split = training::split_and_standardise(&data, config.val, &mut rng).unwrap();
    let mut model = training::build_model(&config, 64, 10, &mut rng);
    let mut seen = 0;
    let trained = training::train(&config, &mut model, &split, &mut rng, |_| seen += 1).unwrap();
    assert_eq!(seen, trained.history.len(), "on_epoch sees epoch 0 and every epoch");
    if config.patience.is_none() {
        assert_eq!(seen, config.epochs + 1);
    }
    (split, model, trained)
}

fn run(args: &[&str]) -> (training::Split, tapegrad::nn::Mlp<f32>, Vec<training::EpochMetrics>) {
    let (split, model, trained) = run_trained(args);
    (split, model, trained.history)
}

#[test]
fn validation_and_patience_stop_early_and_keep_the_best_epochs_weights() {
    // Adam at a rate 10 times the default's overfits the 1298 training digits within a few
    // epochs, so the validation loss turns up well before 40.
    let args = ["--val", "0.15", "--patience", "2", "--epochs", "40", "--lr", "0.03", "--weight-decay", "0"];
    let (split, model, trained) = run_trained(&args);
    let val = split.val.as_ref().expect("--val holds out a validation part");
    // 15% of the 1527 training digits, rounded as train_test_split does.
    assert_eq!((split.train.len() + val.len(), split.test.len()), (1527, 270));
    assert!((val.len() as f64 - 0.15 * 1527.0).abs() <= 1.0, "{}", val.len());
    let history = &trained.history;
    let best = trained.best_epoch.expect("early stopping names its best epoch");
    let ran = history.len() - 1;
    assert!(ran < 40, "patience 2 should stop the run before 40 epochs");
    assert_eq!(ran, best + 2, "two epochs without improvement after the best, then stop");
    let val_loss = |e: usize| history[e].val_loss.unwrap();
    assert!((1..=ran).all(|e| val_loss(e) >= val_loss(best)), "epoch {best} has the lowest validation loss");
    // The model as left is the best epoch's: its accuracies are those measured then.
    let (_, test_accuracy) = tapegrad::nn::train::evaluate(&model, &split.test);
    assert_eq!(test_accuracy, history[best].test_accuracy);
    assert_eq!(trained.kept(), &history[best]);
    assert!(test_accuracy >= 0.9, "{test_accuracy}");
    assert!(
        show::epoch_header(true).contains("val loss") && show::epoch_line(&history[1]).split_whitespace().count() == 7
    );
}

#[test]
fn patience_needs_a_validation_part_and_the_fraction_is_checked() {
    assert!(rejection(&["--patience", "3"]).contains("--patience needs --val"));
    for bad in ["0", "1", "-0.5", "nan"] {
        let message = rejection(&["--val", bad]);
        assert!(message.contains("'--val <FRACTION>'"), "{bad}: {message}");
    }
    assert!(rejection(&["--val", "0.1", "--patience", "0"]).contains("must be at least 1"));
    let c = config(&["--val", "0.2", "--patience", "5"]);
    assert_eq!((c.val, c.patience), (Some(0.2), Some(5)));
    assert_eq!((config(&[]).val, config(&[]).patience), (None, None), "off by default");
}

#[test]
fn three_epochs_of_the_default_reach_90_percent_and_the_loss_falls_every_epoch() {
    let (split, model, history) = run(&["--epochs", "3"]);
    assert_eq!((split.train.len(), split.test.len()), (1527, 270));
    let epochs: Vec<usize> = history.iter().map(|m| m.epoch).collect();
    assert_eq!(epochs, [0, 1, 2, 3]);
    // Untrained, the model is at chance: about 1 in 10, with a loss near ln 10 = 2.3.
    assert!(history[0].test_accuracy < 0.3, "{:?}", history[0]);
    for pair in history.windows(2) {
        assert!(pair[1].train_loss < pair[0].train_loss, "the training loss rose: {pair:?}");
    }
    let last = &history[3];
    assert!(last.test_accuracy >= 0.9, "test accuracy {} after 3 epochs", last.test_accuracy);
    assert!(last.train_loss < history[0].train_loss / 5.0, "{history:?}");

    let worst = training::worst_predictions(&model, &split.test, 5);
    assert_eq!(worst.len(), 5);
    assert!(worst.windows(2).all(|w| w[0].loss >= w[1].loss), "worst first");
    for p in &worst {
        assert!((p.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-5);
        assert!((p.loss + p.probabilities[p.label].ln()).abs() < 1e-4, "{p:?}");
        assert_eq!(p.ranked()[0].0, p.predicted);
    }
}

#[test]
fn one_epoch_of_the_seed_preset_learns() {
    // One sample per step: 1527 updates of a 64-10-10 network.
    let (_, _, history) = run(&["--preset", "seed", "--epochs", "1"]);
    assert!(history[1].test_accuracy >= 0.85, "{:?}", history[1]);
}

#[test]
fn the_report_writes_its_four_files() {
    let (split, model, history) = run(&["--epochs", "2", "--hidden", "16"]);
    let config = config(&["--epochs", "2", "--hidden", "16"]);
    let predictions = model.predict(split.test.features());
    let confusion = tapegrad::nn::data::confusion_matrix(&predictions, split.test.labels(), 10);
    let worst = training::worst_predictions(&model, &split.test, 5);
    let report = report::Report {
        config: &config,
        train_size: split.train.len(),
        test_size: split.test.len(),
        history: &history,
        confusion: &confusion,
        worst: &worst,
        test_pixels: split.test_pixels.features(),
    };
    // A directory that does not exist yet, two levels down.
    let dir = scratch("digits-report").join("nested/report");
    let written = report::write(&dir, &report).unwrap();
    let names: Vec<_> = written.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
    assert_eq!(names, ["loss.svg", "accuracy.svg", "worst.svg", "metrics.json"]);
    for svg in &written[..3] {
        let text = std::fs::read_to_string(svg).unwrap();
        assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{}", svg.display());
    }
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&written[3]).unwrap()).unwrap();
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 3);
    assert_eq!(metrics["config"]["hidden"], serde_json::json!([16]));
    assert_eq!(metrics["test_accuracy"].as_f64(), Some(history[2].test_accuracy));
    assert_eq!(metrics["worst"].as_array().unwrap().len(), 5);
}

#[test]
fn digits_are_drawn_in_shades_two_characters_per_pixel() {
    assert_eq!((show::shade(0.0), show::shade(16.0), show::shade(8.0)), (' ', '@', '+'));
    // Values outside 0..=16 (another file) are clamped, not out of bounds.
    assert_eq!((show::shade(-3.0), show::shade(255.0)), (' ', '@'));
    let pixels: Vec<f32> = (0..64).map(|i| if i % 8 == 0 { 16.0 } else { 0.0 }).collect();
    let picture = show::picture(&pixels);
    assert_eq!(picture.len(), 8);
    assert!(picture.iter().all(|row| row == "@@              "), "{picture:?}");
}

#[cfg(unix)]
#[test]
fn unwritable_outputs_are_refused_before_training_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    // What main runs before loading the data: `--save /dev/null` used to train, then replace
    // /dev/null by a regular file (as root).
    let config = config(&["--save", "/dev/null"]);
    let message = report::check_outputs(config.save.as_deref(), config.report.as_deref()).unwrap_err();
    assert!(!message.contains('\n'), "{message:?}");
    assert!(message.contains("/dev/null") && message.contains("character device"), "{message}");
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());

    let dir = scratch("digits-outputs");
    // A report directory that is a file, and one of the report's files that is a directory.
    let file = dir.join("a-file");
    std::fs::write(&file, "kept").unwrap();
    let message = report::check_outputs(None, Some(&file)).unwrap_err();
    assert!(message.contains("a-file") && !message.contains('\n'), "{message}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "kept");
    let report_dir = dir.join("report");
    std::fs::create_dir_all(report_dir.join("metrics.json")).unwrap();
    let message = report::check_outputs(None, Some(&report_dir)).unwrap_err();
    assert!(message.contains("metrics.json") && message.contains("not a regular file"), "{message}");

    // Writable targets pass, and only the report directory is created.
    let fresh = dir.join("fresh");
    report::check_outputs(Some(&fresh.join("model.safetensors")), Some(&fresh)).unwrap();
    assert!(fresh.is_dir() && std::fs::read_dir(&fresh).unwrap().next().is_none());
}
