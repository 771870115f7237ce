//! Newton's method against gradient descent, on L2-regularised logistic regression.
//!
//! ```sh
//! cargo run --release --example newton
//! cargo run --release --example newton -- --lambda 0.01 --gd-steps 100000
//! ```
//!
//! The data: the bundled wines, class 0 against the other two (labels `y = ±1`), the 13
//! measurements standardised, and a column of ones for the bias: `X` is `[n, d]`, `d = 14`. The
//! loss of the coefficients `w` (a `[d, 1]` column) is
//!
//! ```text
//! f(w) = mean_i softplus(-y_i x_i . w) + lambda/2 |w|^2
//! ```
//!
//! The penalty covers the bias too, which makes `f` `lambda`-strongly convex: its Hessian is at
//! least `lambda I`, so `|w - w*| <= |grad f(w)| / lambda` at any `w`, and a small gradient
//! norm proves a point close to the optimum `w*`.
//!
//! Newton's step solves `H d = grad f` with `H` the Hessian from [`hessian`] (the Jacobian of
//! the gradient that [`Tape::grad`] records, one backward pass per coordinate) by a Cholesky
//! factorisation, and moves to `w - d`: near `w*` each step squares the error. Gradient descent
//! moves to `w - grad f / L`, with `L = |X|_F^2 / (4n) + lambda` a bound on the Hessian's largest
//! eigenvalue (softplus'' <= 1/4, and `|X^T X| <= |X|_F^2`), which guarantees progress but shrinks
//! the error only by a constant factor per step.

use clap::Parser;
use std::path::PathBuf;
use tapegrad::autograd::{Tape, Tensor, Var, hessian};
use tapegrad::nn::data::{CsvOptions, StandardScaler};

/// The bundled data set, found from the package root so the example runs from any directory.
pub const BUNDLED_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/wine.csv");

/// More Newton steps than this never help: in f64 it converges in a handful or not at all.
pub const MAX_NEWTON_STEPS: usize = 100;

/// Gradient descent's cap; a million steps on the bundled data take minutes.
pub const MAX_GD_STEPS: usize = 1_000_000;

/// Newton's method and gradient descent on L2-regularised logistic regression (wine: class 0
/// against the rest).
#[derive(Parser, Debug)]
#[command(name = "newton")]
pub struct Args {
    /// A CSV file with a header and a `class` column [default: the bundled
    /// examples/data/wine.csv]
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,

    /// The L2 penalty's weight lambda (> 0, at most 1000)
    #[arg(long, default_value_t = 0.1, value_parser = lambda)]
    pub lambda: f64,

    /// Newton steps at most (1 to 100); it stops earlier once the gradient norm is below --tol
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = newton_steps)]
    pub newton_steps: usize,

    /// Gradient-descent steps at most (1 to 1000000)
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = gd_steps)]
    pub gd_steps: usize,

    /// Gradient descent's target gradient norm, whose step count is reported (1e-14 to 1)
    #[arg(long, value_name = "NORM", default_value_t = 1e-6, value_parser = tolerance)]
    pub gd_tol: f64,
}

/// Everything a run needs, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub data: PathBuf,
    pub lambda: f64,
    pub newton_steps: usize,
    pub gd_steps: usize,
    pub gd_tol: f64,
}

/// Newton's method stops below this gradient norm: a few ulps of the loss's gradient in f64.
pub const NEWTON_TOL: f64 = 1e-10;

/// Parses the command line into a [`Config`], or says in one line what is wrong with it.
/// `--help` comes back as the `Err` of the outer result.
pub fn parse<I, S>(args: I) -> Result<Result<Config, String>, clap::Error>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    match Args::try_parse_from(args) {
        Ok(a) => Ok(Ok(Config {
            data: a.data.unwrap_or_else(|| PathBuf::from(BUNDLED_DATA)),
            lambda: a.lambda,
            newton_steps: a.newton_steps,
            gd_steps: a.gd_steps,
            gd_tol: a.gd_tol,
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

fn count(s: &str, max: usize) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) if n > max => Err(format!("{n} is more than the limit of {max}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a whole number, found '{s}'")),
    }
}

fn newton_steps(s: &str) -> Result<usize, String> {
    count(s, MAX_NEWTON_STEPS)
}

fn gd_steps(s: &str) -> Result<usize, String> {
    count(s, MAX_GD_STEPS)
}

fn number(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("expected a finite number, found '{s}'")),
    }
}

fn lambda(s: &str) -> Result<f64, String> {
    // Below 1e-8 the Hessian's condition number passes 1e8 and the Newton step loses half of
    // f64's digits; above 1000 the penalty alone decides the coefficients.
    number(s).and_then(
        |x| {
            if (1e-8..=1e3).contains(&x) { Ok(x) } else { Err(format!("must be in [1e-8, 1000], got {x}")) }
        },
    )
}

fn tolerance(s: &str) -> Result<f64, String> {
    // Below 1e-14 rounding in the gradient's sums keeps the norm from ever getting there.
    number(s)
        .and_then(|x| if (1e-14..=1.0).contains(&x) { Ok(x) } else { Err(format!("must be in [1e-14, 1], got {x}")) })
}

/// The design matrix (standardised features and a last column of ones) and the `±1` labels,
/// both as `[n, 1]`-compatible tensors: `x` is `[n, d]`, `y` is `[n, 1]`.
pub struct Problem {
    pub x: Tensor<f64>,
    pub y: Tensor<f64>,
    pub lambda: f64,
}

/// Reads `path` (a header row and a `class` column, like the bundled wine file) into a
/// [`Problem`]: class 0 is `y = +1`, every other class `y = -1`.
///
/// # Errors
/// A one-line message naming the file if it cannot be read or parsed, has fewer than 2 rows,
/// or has a single class.
pub fn load(path: &std::path::Path, lambda: f64) -> Result<Problem, String> {
    let data = CsvOptions::new().target("class").read::<f64>(path).map_err(|e| e.to_string())?;
    if data.len() < 2 || data.num_classes() < 2 {
        return Err(format!("{}: needs at least 2 rows and 2 classes", path.display()));
    }
    let scaler = StandardScaler::fit(data.features()).map_err(|e| e.to_string())?;
    let features = scaler.transform(data.features());
    let (n, k) = (data.len(), data.num_features());
    let mut x = Vec::with_capacity(n * (k + 1));
    for row in features.rows() {
        x.extend_from_slice(row);
        x.push(1.0);
    }
    let y = data.labels().iter().map(|&c| if c == 0 { 1.0 } else { -1.0 }).collect();
    Ok(Problem { x: Tensor::from_vec([n, k + 1], x), y: Tensor::from_vec([n, 1], y), lambda })
}

impl Problem {
    /// The number of coefficients `d`.
    pub fn dim(&self) -> usize {
        self.x.shape().dims()[1]
    }

    /// `f(w)` recorded on `tape`, for a `[d, 1]` var `w`.
    pub fn loss<'t>(&self, tape: &'t Tape<f64>, w: Var<'t, f64>) -> Var<'t, f64> {
        let margins = tape.constant(&self.x).matmul(w) * tape.constant(&self.y);
        (-margins).softplus().mean() + w.square().sum().scale(0.5 * self.lambda)
    }

    /// `f(w)` and its gradient.
    pub fn loss_and_grad(&self, w: &Tensor<f64>) -> (f64, Tensor<f64>) {
        let tape = Tape::new();
        let wv = tape.leaf(w);
        let loss = self.loss(&tape, wv);
        let grads = loss.backward();
        (loss.item(), grads[wv].clone())
    }

    /// The `[d, d]` Hessian of `f` at `w`.
    pub fn hessian(&self, w: &Tensor<f64>) -> Tensor<f64> {
        hessian(|tape, w| self.loss(tape, w), w)
    }

    /// `L = |X|_F^2 / (4n) + lambda`, at least the Hessian's largest eigenvalue anywhere:
    /// `H = X^T D X / n + lambda I` with `D` diagonal in (0, 1/4], and `|X^T X|_2 <= |X|_F^2`.
    pub fn lipschitz(&self) -> f64 {
        let n = self.x.shape().dims()[0] as f64;
        self.x.data().iter().map(|v| v * v).sum::<f64>() / (4.0 * n) + self.lambda
    }
}

/// The Euclidean norm.
pub fn norm(v: &Tensor<f64>) -> f64 {
    v.data().iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The Euclidean distance between two tensors of the same shape.
pub fn distance(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.data().iter().zip(b.data()).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt()
}

/// Solves `a x = b` for a symmetric positive definite `[d, d]` matrix `a` by Cholesky
/// (`a = L L^T`, then two triangular solves), or `None` if `a` is not positive definite.
pub fn cholesky_solve(a: &Tensor<f64>, b: &[f64]) -> Option<Vec<f64>> {
    let d = b.len();
    let a = a.data();
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = a[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    // L z = b, then L^T x = z.
    let mut z = vec![0.0; d];
    for i in 0..d {
        z[i] = (b[i] - (0..i).map(|k| l[i * d + k] * z[k]).sum::<f64>()) / l[i * d + i];
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        x[i] = (z[i] - (i + 1..d).map(|k| l[k * d + i] * x[k]).sum::<f64>()) / l[i * d + i];
    }
    Some(x)
}

/// One iterate's loss and gradient norm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub loss: f64,
    pub grad_norm: f64,
}

/// Newton's method from `w = 0`: the iterates' [`Step`]s (the start included) and the last `w`.
/// Stops once the gradient norm is below [`NEWTON_TOL`] or after `max_steps` steps.
///
/// # Panics
/// If a Hessian is not positive definite (never for `lambda > 0`, short of rounding).
pub fn newton(p: &Problem, max_steps: usize) -> (Vec<Step>, Tensor<f64>) {
    let mut w = Tensor::zeros([p.dim(), 1]);
    let mut steps = Vec::new();
    loop {
        let (loss, g) = p.loss_and_grad(&w);
        steps.push(Step { loss, grad_norm: norm(&g) });
        if norm(&g) < NEWTON_TOL || steps.len() > max_steps {
            return (steps, w);
        }
        let d = cholesky_solve(&p.hessian(&w), g.data()).expect("the Hessian is at least lambda I");
        let next = w.data().iter().zip(&d).map(|(w, d)| w - d).collect();
        w = Tensor::from_vec([p.dim(), 1], next);
    }
}

/// Gradient descent from `w = 0` at step `1 / L` ([`Problem::lipschitz`]), for `max_steps`
/// steps: the iterates' [`Step`]s (the start included) and the last `w`.
pub fn gradient_descent(p: &Problem, max_steps: usize) -> (Vec<Step>, Tensor<f64>) {
    let rate = 1.0 / p.lipschitz();
    let mut w = Tensor::zeros([p.dim(), 1]);
    let mut steps = Vec::with_capacity(max_steps + 1);
    let mut tape = Tape::new();
    for k in 0..=max_steps {
        tape.reset();
        let wv = tape.leaf(&w);
        let loss = p.loss(&tape, wv);
        let grads = loss.backward();
        let g = &grads[wv];
        steps.push(Step { loss: loss.item(), grad_norm: norm(g) });
        if k < max_steps {
            let next = w.data().iter().zip(g.data()).map(|(w, g)| w - rate * g).collect();
            w = Tensor::from_vec([p.dim(), 1], next);
        }
    }
    (steps, w)
}

/// The first step whose gradient norm is below `tol`, if any.
pub fn steps_to(steps: &[Step], tol: f64) -> Option<usize> {
    steps.iter().position(|s| s.grad_norm < tol)
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
    let p = match load(&config.data, config.lambda) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shown = config.data.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&config.data);
    let (n, d) = (p.x.shape().dims()[0], p.dim());
    let positives = p.y.data().iter().filter(|&&y| y > 0.0).count();
    println!(
        "data:  {}: {n} rows, class 0 ({positives}) against the rest, {d} coefficients with the bias",
        shown.display()
    );
    println!("loss:  mean softplus(-y x.w) + {}/2 |w|^2, f64, from w = 0", config.lambda);
    println!("gd:    step 1/L, L = |X|_F^2/(4n) + lambda = {:.4}", p.lipschitz());
    println!();

    let (nt, w_newton) = newton(&p, config.newton_steps);
    let (gd, w_gd) = gradient_descent(&p, config.gd_steps);
    println!("step   newton loss  newton |grad|       gd loss      gd |grad|");
    for (k, s) in nt.iter().enumerate() {
        let g = gd.get(k).map_or(String::new(), |g| format!("  {:>12.9}  {:>13.3e}", g.loss, g.grad_norm));
        println!("{k:>4}  {:>12.9}  {:>13.3e}{g}", s.loss, s.grad_norm);
    }
    println!();
    let newton_steps = nt.len() - 1;
    match nt.last() {
        Some(s) if s.grad_norm < NEWTON_TOL => {
            println!("newton: |grad| = {:.2e} < {NEWTON_TOL:e} after {newton_steps} steps", s.grad_norm)
        }
        Some(s) => {
            println!("newton: |grad| = {:.2e} after {newton_steps} steps, not below {NEWTON_TOL:e}", s.grad_norm)
        }
        None => unreachable!("the start is always measured"),
    }
    let tol = config.gd_tol;
    match steps_to(&gd, tol) {
        Some(k) => println!("gd:     |grad| < {tol:e} first after {k} steps"),
        None => println!(
            "gd:     |grad| still {:.2e} >= {tol:e} after {} steps",
            gd[gd.len() - 1].grad_norm,
            config.gd_steps
        ),
    }
    let gap = distance(&w_newton, &w_gd);
    // Each point is within |grad f| / lambda of the optimum (strong convexity).
    let bound = (gd[gd.len() - 1].grad_norm + nt[nt.len() - 1].grad_norm) / config.lambda;
    println!("after {} gd steps: |w_gd - w_newton| = {gap:.2e} (at most {bound:.2e})", config.gd_steps);
    std::process::ExitCode::SUCCESS
}
