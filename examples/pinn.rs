//! A physics-informed network: learn `u(x) = sin x` from its differential equation alone.
//!
//! ```sh
//! cargo run --release --example pinn
//! cargo run --release --example pinn -- --width 32 --epochs 5000 --seed 3
//! ```
//!
//! No value of `u` is given: a tanh MLP `u(x)` is trained so that
//!
//! ```text
//! u'' + u = 0 on [0, pi],   u(0) = 0,   u'(0) = 1,
//! ```
//!
//! whose only solution is `sin x`. The loss is the mean squared residual `(u''(x_i) + u(x_i))^2`
//! over `N` evenly spaced collocation points `x_i`, plus `u(0)^2 + (u'(0) - 1)^2`. The network's
//! derivatives with respect to its input come from [`Tape::grad`]: `u'` is the recorded gradient
//! of `sum_i u(x_i)` with respect to the inputs (each `u(x_i)` depends on `x_i` alone), and
//! `u''` the recorded gradient of `sum_i u'(x_i)`. The loss so depends on the weights through
//! second derivatives, and one plain backward pass through that graph gives Adam its gradient
//! (a third derivative of the network). The figure of merit is the largest `|u(x) - sin x|` on
//! a grid of [`GRID`] points, none of which the loss sees but the endpoints.

use clap::Parser;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::f64::consts::PI;
use tapegrad::autograd::{Tape, Tensor, Var};
use tapegrad::nn::{Activation, Adam, Init, Mlp, Optimizer};

/// Points of the grid the error is measured on, endpoints included.
pub const GRID: usize = 201;

/// Wider layers than this are surely a typo, and each epoch would take seconds.
pub const MAX_WIDTH: usize = 1_000;
/// More hidden layers than this make tanh networks hard to train at all.
pub const MAX_DEPTH: usize = 8;
/// More collocation points than this cost time without adding accuracy for a smooth solution.
pub const MAX_POINTS: usize = 10_000;
/// A million epochs would run for hours.
pub const MAX_EPOCHS: usize = 1_000_000;

/// Fit u'' + u = 0, u(0) = 0, u'(0) = 1 on [0, pi] with a tanh MLP (the solution is sin x).
#[derive(Parser, Debug)]
#[command(name = "pinn")]
pub struct Args {
    /// Units per hidden layer (1 to 1000)
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = width)]
    pub width: usize,

    /// Hidden layers (1 to 8)
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = depth)]
    pub depth: usize,

    /// Collocation points, evenly spaced on [0, pi] (2 to 10000)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = points)]
    pub points: usize,

    /// Adam steps, each on the whole loss (1 to 1000000)
    #[arg(long, value_name = "N", default_value_t = 3000, value_parser = epochs)]
    pub epochs: usize,

    /// Adam's initial learning rate (> 0, at most 1), decayed to a tenth of it over the run
    #[arg(long, value_name = "RATE", default_value_t = 0.01, value_parser = rate, allow_negative_numbers = true)]
    pub lr: f64,

    /// Seeds the initial weights
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
}

/// Everything a run needs, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub width: usize,
    pub depth: usize,
    pub points: usize,
    pub epochs: usize,
    pub lr: f64,
    pub seed: u64,
}

/// Parses the command line into a [`Config`], or says in one line what is wrong with it.
/// `--help` comes back as the `Err` of the outer result.
pub fn parse<I, S>(args: I) -> Result<Result<Config, String>, clap::Error>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    match Args::try_parse_from(args) {
        Ok(a) => Ok(Ok(Config {
            width: a.width,
            depth: a.depth,
            points: a.points,
            epochs: a.epochs,
            lr: a.lr,
            seed: a.seed,
        })),
        Err(e) if e.use_stderr() => Ok(Err(one_line(&e))),
        Err(e) => Err(e),
    }
}

/// clap's error without its usage block, its lines joined into one.
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

fn count(s: &str, min: usize, max: usize) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n < min => Err(format!("must be at least {min}")),
        Ok(n) if n > max => Err(format!("{n} is more than the limit of {max}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a whole number, found '{s}'")),
    }
}

fn width(s: &str) -> Result<usize, String> {
    count(s, 1, MAX_WIDTH)
}

fn depth(s: &str) -> Result<usize, String> {
    count(s, 1, MAX_DEPTH)
}

fn points(s: &str) -> Result<usize, String> {
    // Two points are the endpoints; fewer leave no spacing.
    count(s, 2, MAX_POINTS)
}

fn epochs(s: &str) -> Result<usize, String> {
    count(s, 1, MAX_EPOCHS)
}

fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if !x.is_finite() => Err(format!("expected a finite number, found '{s}'")),
        // Adam's steps are about lr in size: beyond 1 they jump across the whole tanh range.
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        Ok(x) => Err(format!("must be in (0, 1], got {x}")),
        Err(_) => Err(format!("expected a finite number, found '{s}'")),
    }
}

/// `n` evenly spaced points on `[0, pi]`, endpoints included, as an `[n, 1]` column.
pub fn grid(n: usize) -> Tensor<f64> {
    Tensor::from_vec([n, 1], (0..n).map(|i| PI * i as f64 / (n - 1) as f64).collect())
}

/// The largest `|u(x) - sin x|` over [`GRID`] evenly spaced points of `[0, pi]`.
pub fn max_error(model: &Mlp<f64>) -> f64 {
    let x = grid(GRID);
    let u = model.logits(&x);
    x.data().iter().zip(u.data()).map(|(x, u)| (u - x.sin()).abs()).fold(0.0, f64::max)
}

/// `u`, `u'` and `u''` at each of the points of the `[n, 1]` column `xs`, recorded on `tape`
/// as functions of the model's weights.
pub fn derivatives<'t>(tape: &'t Tape<f64>, model: &Mlp<f64>, xs: &Tensor<f64>) -> [Var<'t, f64>; 3] {
    let x = tape.constant(xs);
    let u = model.forward(x);
    // Row i of u depends on row i of x alone, so the gradient of the sum is each u'(x_i).
    let du = tape.grad(u.sum(), &[x])[0];
    let d2u = tape.grad(du.sum(), &[x])[0];
    [u, du, d2u]
}

/// One epoch's loss, before that epoch's update, and its parts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Epoch {
    /// 1 for the first.
    pub epoch: usize,
    /// The whole loss.
    pub loss: f64,
    /// The mean squared residual `(u'' + u)^2` over the collocation points.
    pub residual: f64,
}

/// Trains a fresh `1-width-...-width-1` tanh MLP from `config.seed`, calling `on_epoch` with each
/// epoch's loss and the model before that epoch's update, and returns it.
pub fn train(config: &Config, mut on_epoch: impl FnMut(Epoch, &Mlp<f64>)) -> Mlp<f64> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut sizes = vec![1];
    sizes.extend(std::iter::repeat_n(config.width, config.depth));
    sizes.push(1);
    // Glorot keeps the tanh units out of their flat ends, where u'' would vanish.
    let mut model = Mlp::new(&sizes, Activation::Tanh, Init::GlorotUniform, &mut rng);
    let mut adam = Adam::new(config.lr);
    let (xs, origin) = (grid(config.points), Tensor::zeros([1, 1]));
    let mut tape = Tape::new();
    for epoch in 1..=config.epochs {
        tape.reset();
        let [u, _, d2u] = derivatives(&tape, &model, &xs);
        let residual = (d2u + u).square().mean();
        let [u0, du0, _] = derivatives(&tape, &model, &origin);
        let loss = residual + u0.square().sum() + du0.add_scalar(-1.0).square().sum();
        let grads = loss.backward();
        on_epoch(Epoch { epoch, loss: loss.item(), residual: residual.item() }, &model);
        // The rate decays geometrically to a tenth over the run: large steps early, and late
        // ones small enough not to kick the fit out of the narrow valley it ends in.
        adam.set_lr(config.lr * 0.1f64.powf((epoch - 1) as f64 / config.epochs as f64));
        adam.step(&mut model, &grads);
    }
    model
}

/// Which epochs the table shows: the first, every `epochs / 20`-th, and the last.
pub fn shown(epoch: usize, epochs: usize) -> bool {
    epoch == 1 || epoch == epochs || epoch.is_multiple_of((epochs / 20).max(1))
}

fn main() -> std::process::ExitCode {
    let config = match parse(std::env::args_os()) {
        Ok(Ok(config)) => config,
        Ok(Err(message)) => {
            eprintln!("error: {message} (see --help)");
            return std::process::ExitCode::from(2);
        }
        Err(help) => help.exit(),
    };
    let sizes = std::iter::once(1)
        .chain(std::iter::repeat_n(config.width, config.depth))
        .chain([1])
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join("-");
    println!("pinn: u'' + u = 0 on [0, pi], u(0) = 0, u'(0) = 1 (solution sin x)");
    println!("model: {sizes} tanh MLP, f64, seed {}", config.seed);
    println!(
        "train: {} collocation points, adam at learning rate {}, {} epochs",
        config.points, config.lr, config.epochs
    );
    println!();
    println!(" epoch          loss      residual  max |u - sin|");
    let start = std::time::Instant::now();
    let model = train(&config, |e, model| {
        if shown(e.epoch, config.epochs) {
            println!("{:>6}  {:>12.4e}  {:>12.4e}  {:>13.3e}", e.epoch, e.loss, e.residual, max_error(model));
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    println!();
    println!(
        "after {} epochs ({seconds:.1}s): max |u - sin x| = {:.2e} on {GRID} points of [0, pi]",
        config.epochs,
        max_error(&model)
    );
    std::process::ExitCode::SUCCESS
}
