//! What the diabetes and wine examples share: the command line's checked values, the training
//! loop with early stopping, and a one-line error type with the process's exit code.
//!
//! Included by each example with `#[path]`; a folder without `main.rs` is no example of its own.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tapegrad::autograd::{Tape, Tensor, Var};
use tapegrad::nn::{Adam, Mlp};

/// Hidden layers wider than this are surely a typo.
pub const MAX_HIDDEN: usize = 10_000;
/// More epochs than this would run for hours on a few hundred rows.
pub const MAX_EPOCHS: usize = 1_000_000;
/// Below this many epochs a run is over before a progress bar would show anything.
const PROGRESS_FROM: usize = 2_000;

/// A failed run: the message and the exit code (2 for a usage error, 1 for anything else).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { code: 2, message: message.into() }
    }
    pub fn run(message: impl ToString) -> Self {
        Failure { code: 1, message: message.to_string() }
    }
}

/// An example's `main`: `run` on stdout, `--help`'s text (a `Failure` of code 0) written there
/// too, and any other failure to stderr with its exit code.
pub fn main<S>(run: impl FnOnce(&mut dyn Write) -> Result<S, Failure>) -> ExitCode {
    let mut stdout = std::io::stdout();
    match run(&mut stdout) {
        Ok(_) => ExitCode::SUCCESS,
        Err(f) if f.code == 0 => {
            let _ = write!(stdout, "{}", f.message);
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// `argv` parsed as `A`: a usage error as a one-line `Failure` of code 2, `--help` as one of
/// code 0 holding the help text.
pub fn parse<A: clap::Parser>(argv: impl IntoIterator<Item = OsString>) -> Result<A, Failure> {
    A::try_parse_from(argv).map_err(|e| {
        if e.use_stderr() {
            Failure::usage(format!("{} (see --help)", one_line(&e)))
        } else {
            Failure { code: 0, message: e.render().to_string() }
        }
    })
}

/// How to train: AdamW on shuffled mini-batches, keeping the weights of the epoch with the best
/// validation score and stopping `patience` epochs after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub lr: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub patience: usize,
}

/// The report's words for it: `adamw, learning rate 0.01, weight decay 0.1; batches of 16, ...`.
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "adamw, learning rate {}, weight decay {}; batches of {}, at most {} epochs, stopping {} after the best validation loss",
            self.lr, self.weight_decay, self.batch_size, self.epochs, self.patience
        )
    }
}

/// One epoch's numbers; `validation` is what early stopping minimises.
pub struct Epoch {
    pub validation: f64,
    pub line: String,
}

/// What [`train`] did: the epoch whose weights it kept, and the epochs it ran.
pub struct Trained {
    pub best_epoch: usize,
    pub epochs_run: usize,
}

/// Trains `mlp` on the rows of `x` with `loss(logits, batch rows)`, measuring after each epoch
/// (and before the first, epoch 0) with `measure`; leaves in `mlp` the weights of the epoch with
/// the lowest validation score. `show(epoch)` decides which epochs' lines are written to `out`.
///
/// # Errors
/// If the loss stops being finite.
#[allow(clippy::too_many_arguments)]
pub fn train(
    mlp: &mut Mlp<f32>,
    x: &Tensor<f32>,
    loss: impl for<'t> Fn(Var<'t, f32>, &[usize]) -> Var<'t, f32>,
    mut measure: impl FnMut(&Mlp<f32>, usize, Duration) -> Epoch,
    schedule: &Schedule,
    rng: &mut StdRng,
    out: &mut dyn Write,
    show: impl Fn(usize) -> bool,
) -> Result<Trained, Failure> {
    let (n, _) = x.shape().matrix("train");
    let mut opt = Adam::new(schedule.lr as f32).weight_decay(schedule.weight_decay as f32);
    let mut tape = Tape::new();
    let mut order: Vec<usize> = (0..n).collect();
    let start = Instant::now();
    let first = measure(mlp, 0, Duration::ZERO);
    let _ = writeln!(out, "{}", first.line);
    let (mut best, mut best_epoch, mut best_score) = (mlp.clone(), 0, first.validation);
    // A bar only where someone watches (a terminal) and only for runs long enough to need one.
    let bar = (std::io::stdout().is_terminal() && schedule.epochs >= PROGRESS_FROM)
        .then(|| indicatif::ProgressBar::new(schedule.epochs as u64));
    let mut epochs_run = 0;
    for epoch in 1..=schedule.epochs {
        order.shuffle(rng);
        for batch in order.chunks(schedule.batch_size) {
            tape.reset();
            let l = loss(mlp.forward(tape.gather_rows(x, batch)), batch);
            if !l.item().is_finite() {
                return Err(Failure::run(format!(
                    "epoch {epoch}: the training loss is {}; try a lower --lr",
                    l.item()
                )));
            }
            let grads = l.backward();
            opt.step(mlp, &grads);
        }
        epochs_run = epoch;
        let m = measure(mlp, epoch, start.elapsed());
        if m.validation < best_score {
            (best, best_epoch, best_score) = (mlp.clone(), epoch, m.validation);
        }
        let stop = epoch - best_epoch >= schedule.patience;
        if show(epoch) || stop || epoch == schedule.epochs {
            match &bar {
                Some(bar) => bar.println(&m.line),
                None => drop(writeln!(out, "{}", m.line)),
            }
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        if stop {
            break;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    *mlp = best;
    Ok(Trained { best_epoch, epochs_run })
}

/// `f` as a loss for [`train`]: pins the closure's signature to "for every tape", which Rust
/// does not infer for a closure stored in a variable.
pub fn loss<F: for<'t> Fn(Var<'t, f32>, &[usize]) -> Var<'t, f32>>(f: F) -> F {
    f
}

/// Hidden layer sizes, as one command-line value (clap would read a `Vec` as repeated values).
#[derive(Clone, Debug, PartialEq)]
pub struct Hidden(pub Vec<usize>);

impl Hidden {
    /// The MLP's layer sizes: `inputs`, these hidden layers, `outputs`.
    pub fn between(&self, inputs: usize, outputs: usize) -> Vec<usize> {
        let mut sizes = vec![inputs];
        sizes.extend(&self.0);
        sizes.push(outputs);
        sizes
    }
}

/// The `--hidden` list: `16` is one hidden layer, `32,16` two, `none` a linear model.
pub fn hidden_sizes(s: &str) -> Result<Hidden, String> {
    if s.trim() == "none" {
        return Ok(Hidden(Vec::new()));
    }
    s.split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(0) => Err("a hidden layer needs at least 1 unit (none: no hidden layer)".to_string()),
            Ok(n) if n > MAX_HIDDEN => Err(format!("{n} units is more than the limit of {MAX_HIDDEN}")),
            Ok(n) => Ok(n),
            Err(_) => Err("expected comma-separated sizes like 16 or 32,16, or none".to_string()),
        })
        .collect::<Result<_, _>>()
        .map(Hidden)
}

pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a whole number, found '{s}'")),
    }
}

pub fn epochs(s: &str) -> Result<usize, String> {
    at_least_one(s).and_then(|n| {
        if n <= MAX_EPOCHS { Ok(n) } else { Err(format!("{n} epochs is more than the limit of {MAX_EPOCHS}")) }
    })
}

fn number(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("expected a finite number, found '{s}'")),
    }
}

/// A learning rate: positive, and still positive and finite as the model's f32.
pub fn rate(s: &str) -> Result<f64, String> {
    let x = number(s)?;
    if x <= 0.0 {
        return Err(format!("must be greater than 0, got {x}"));
    }
    match x as f32 {
        r if !r.is_finite() => Err(format!("{} is too large for f32, the model's float type", s.trim())),
        0.0 => Err(format!("{} rounds to 0 in f32, the model's float type", s.trim())),
        _ => Ok(x),
    }
}

/// A weight decay: 0 or more, and finite as an f32.
pub fn non_negative(s: &str) -> Result<f64, String> {
    let x = number(s)?;
    if x < 0.0 {
        return Err(format!("must be 0 or more, got {x}"));
    }
    if !(x as f32).is_finite() {
        return Err(format!("{} is too large for f32, the model's float type", s.trim()));
    }
    Ok(x)
}

/// clap's error without its usage block, in one line.
fn one_line(error: &clap::Error) -> String {
    let text = error.render().to_string();
    text.lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .map(|line| line.strip_prefix("error: ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Which epochs get a line: the first ten, then about 20 more spread over the run.
pub fn thinned(epochs: usize) -> impl Fn(usize) -> bool {
    let every = (epochs / 20).max(1);
    move |epoch| epoch <= 10 || epoch % every == 0
}
