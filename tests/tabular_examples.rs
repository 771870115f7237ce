//! The diabetes and wine examples, run in-process on short settings (their files included as
//! modules): their output, their exit codes, and that `--save` writes a file from which the
//! model and its input scaler alone reproduce the test scores from raw features.

// Each example brings its own copy of examples/tabular/common.rs, as when it is built alone.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/diabetes.rs"]
#[allow(dead_code)]
mod diabetes;
#[path = "../examples/wine.rs"]
#[allow(dead_code)]
mod wine;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use tapegrad::nn::data::{CsvOptions, accuracy, r2_score};
use tapegrad::nn::io;

fn argv(name: &str, args: &[&str]) -> Vec<OsString> {
    std::iter::once(name).chain(args.iter().copied()).map(OsString::from).collect()
}

/// Runs the diabetes example: its output and its summary, or the exit code and message.
fn run_diabetes(args: &[&str]) -> (String, Result<diabetes::Summary, (u8, String)>) {
    let mut out = Vec::new();
    let result = diabetes::run(argv("diabetes", args), &mut out).map_err(|f| (f.code, f.message));
    (String::from_utf8(out).unwrap(), result)
}

fn run_wine(args: &[&str]) -> (String, Result<wine::Summary, (u8, String)>) {
    let mut out = Vec::new();
    let result = wine::run(argv("wine", args), &mut out).map_err(|f| (f.code, f.message));
    (String::from_utf8(out).unwrap(), result)
}

/// A fresh directory under cargo's scratch space for integration tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn diabetes_trains_prints_its_table_and_saves_a_file_that_predicts_from_raw_features() {
    let dir = scratch("diabetes-example");
    let model = dir.join("diabetes.safetensors");
    let (out, result) = run_diabetes(&["--epochs", "40", "--seed", "1", "--save", model.to_str().unwrap()]);
    let summary = result.unwrap_or_else(|e| panic!("{e:?}\n{out}"));
    assert!(out.contains("266 for training, 88 for validation, 88 for testing"), "{out}");
    assert!(out.contains(" epoch   train MSE     val MSE   val R^2      time"), "{out}");
    // Epoch 0 and the first ten epochs each have a line.
    for epoch in 0..=10 {
        assert!(out.lines().any(|l| l.split_whitespace().next() == Some(&epoch.to_string())), "epoch {epoch}:\n{out}");
    }
    let test_line = format!("R^2 {:.4} (88 rows)", summary.r2);
    assert!(out.contains(&test_line), "{test_line}:\n{out}");
    // Predicting the training mean scores about 0; the network, after 40 epochs, explains a
    // good part of the variance (scikit-learn's linear model: 0.51 on this split).
    assert!(summary.r2 > 0.3 && summary.mae < 60.0, "{summary:?}");
    assert!((1..=40).contains(&summary.best_epoch), "{summary:?}");

    // A new process has the file and raw features: the same test rows give the same R^2.
    let data = CsvOptions::new().target("target").regression().read::<f32>(diabetes::BUNDLED_DATA).unwrap();
    let test = data.split(0.2, 0.2, 1).test;
    let (mlp, scaler) = io::load_with_scaler::<f32>(&model).unwrap();
    let pred = mlp.logits(&scaler.expect("saved with its scaler").transform(test.features()));
    assert_eq!(r2_score(&pred, test.targets()), summary.r2);
}

#[test]
fn wine_trains_prints_its_scores_and_saves_a_file_that_predicts_from_raw_features() {
    let dir = scratch("wine-example");
    let model = dir.join("wine.safetensors");
    let (out, result) = run_wine(&["--epochs", "20", "--save", model.to_str().unwrap()]);
    let summary = result.unwrap_or_else(|e| panic!("{e:?}\n{out}"));
    assert!(out.contains("106 for training, 36 for validation, 36 for testing"), "{out}");
    assert!(out.contains("confusion matrix"), "{out}");
    // Stratified, seed 0: the test part holds 12, 14 and 10 wines of the three classes.
    let rows: Vec<usize> = summary.confusion.iter().map(|r| r.iter().sum()).collect();
    assert_eq!(rows, [12, 14, 10]);
    let correct: usize = (0..3).map(|c| summary.confusion[c][c]).sum();
    assert_eq!(summary.accuracy, correct as f64 / 36.0);
    assert!(
        out.contains(&format!("accuracy {:.4} ({correct} of 36), macro F1 {:.4}", summary.accuracy, summary.macro_f1)),
        "{out}"
    );
    // The classes separate almost linearly (logistic regression: 35 of 36 here); 20 epochs of
    // 7 steps reach that, and a broken gradient or scaler would stay near a third.
    assert!(summary.accuracy >= 0.9, "{summary:?}\n{out}");

    let data = CsvOptions::new().target("class").read::<f32>(wine::BUNDLED_DATA).unwrap();
    let test = data.stratified_split(0.2, 0.2, 0).test;
    let (mlp, scaler) = io::load_with_scaler::<f32>(&model).unwrap();
    let predictions = mlp.predict(&scaler.unwrap().transform(test.features()));
    assert_eq!(accuracy(&predictions, test.labels()), summary.accuracy);
}

#[test]
fn bad_options_are_usage_errors_with_exit_code_2_naming_the_option() {
    let missing_dir = scratch("tabular-bad").join("no-such-dir").join("m.safetensors");
    let missing_dir = missing_dir.to_str().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["--lr", "0"], "'--lr <RATE>': must be greater than 0"),
        (&["--lr", "1e39"], "too large for f32"),
        (&["--lr", "1e-50"], "rounds to 0 in f32"),
        (&["--weight-decay", "-1"], "'--weight-decay <DECAY>': must be 0 or more"),
        (&["--epochs", "0"], "'--epochs <N>': must be at least 1"),
        (&["--epochs", "2000000"], "more than the limit of 1000000"),
        (&["--hidden", "8,0"], "a hidden layer needs at least 1 unit"),
        (&["--save", missing_dir], "no-such-dir"),
    ];
    for (args, expected) in cases {
        for (name, (out, result)) in [
            ("diabetes", (run_diabetes(args).0, run_diabetes(args).1.map(|_| ()))),
            ("wine", (run_wine(args).0, run_wine(args).1.map(|_| ()))),
        ] {
            let (code, message) = result.expect_err(&format!("{name} {args:?} should fail"));
            assert_eq!(code, 2, "{name} {args:?}: {message}");
            assert!(message.contains(expected) && !message.contains('\n'), "{name} {args:?}: {message}");
            assert!(out.is_empty(), "{name} {args:?}: nothing runs before the check:\n{out}");
        }
    }
}

#[test]
fn a_missing_data_file_fails_with_exit_code_1_naming_it_and_help_succeeds() {
    let (_, result) = run_diabetes(&["--data", "no/such/file.csv"]);
    let (code, message) = result.unwrap_err();
    assert_eq!(code, 1);
    assert!(message.contains("no/such/file.csv"), "{message}");
    let (_, result) = run_wine(&["--target", "colour"]);
    let (code, message) = result.unwrap_err();
    assert!(code == 1 && message.contains("colour"), "{code}: {message}");
    // --help is no failure: code 0, the text to print.
    let (code, help) = run_diabetes(&["--help"]).1.unwrap_err();
    assert!(code == 0 && help.contains("--weight-decay"), "{help}");
}
