//! The Newton example, through its own functions (included from `examples/newton.rs`): its
//! options, the Hessian it solves with, Newton's convergence, and the optimum gradient descent
//! reaches.

#[path = "../examples/newton.rs"]
#[allow(dead_code)]
mod newton;

use newton::{Config, NEWTON_TOL};
use tapegrad::autograd::Tensor;

fn config(args: &[&str]) -> Config {
    let argv = std::iter::once("newton").chain(args.iter().copied());
    newton::parse(argv).expect("not --help").unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn problem(lambda: f64) -> newton::Problem {
    newton::load(std::path::Path::new(newton::BUNDLED_DATA), lambda).expect("the bundled data loads")
}

#[test]
fn options_are_bounded_and_errors_are_one_line() {
    let c = config(&[]);
    assert_eq!((c.lambda, c.newton_steps, c.gd_steps, c.gd_tol), (0.1, 10, 10_000, 1e-6));
    assert!(c.data.is_file(), "the bundled data is found from the package root");
    for (args, expected) in [
        (&["--lambda", "0"][..], "must be in [1e-8, 1000], got 0"),
        (&["--lambda", "nan"], "expected a finite number, found 'nan'"),
        (&["--newton-steps", "0"], "must be at least 1"),
        (&["--newton-steps", "101"], "101 is more than the limit of 100"),
        (&["--gd-steps", "1000001"], "1000001 is more than the limit of 1000000"),
        (&["--gd-steps", "18446744073709551616"], "expected a whole number"),
        (&["--gd-tol", "1e-20"], "must be in [1e-14, 1], got 0.00000000000000000001"),
    ] {
        let argv = std::iter::once("newton").chain(args.iter().copied());
        let message = newton::parse(argv).expect("not --help").expect_err("rejected");
        assert!(!message.contains('\n'), "{args:?}: {message:?}");
        assert!(message.contains(expected), "{args:?}: {message:?} should contain {expected:?}");
    }
}

#[test]
fn the_data_is_standardised_with_a_bias_column_and_both_classes() {
    let p = problem(0.1);
    let (n, d) = (p.x.shape().dims()[0], p.dim());
    assert_eq!((n, d), (178, 14));
    // 59 wines of class 0 (examples/data/README.md).
    assert_eq!(p.y.data().iter().filter(|&&y| y == 1.0).count(), 59);
    for j in 0..d {
        let col: Vec<f64> = (0..n).map(|i| p.x.data()[i * d + j]).collect();
        let mean = col.iter().sum::<f64>() / n as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        // Standardised columns: mean 0, population variance 1, to rounding; the bias is all ones.
        let want = if j == d - 1 { (1.0, 0.0) } else { (0.0, 1.0) };
        assert!((mean - want.0).abs() < 1e-12 && (var - want.1).abs() < 1e-12, "column {j}: {mean} {var}");
    }
}

#[test]
fn the_hessian_is_x_t_d_x_over_n_plus_lambda() {
    // At w = 0 every margin is 0 and softplus''(0) = 1/4, so H = X^T X / (4n) + lambda I.
    let p = problem(0.1);
    let (n, d) = (p.x.shape().dims()[0], p.dim());
    let h = p.hessian(&Tensor::zeros([d, 1]));
    let x = p.x.data();
    for a in 0..d {
        for b in 0..d {
            let xtx: f64 = (0..n).map(|i| x[i * d + a] * x[i * d + b]).sum();
            let want = xtx / (4.0 * n as f64) + if a == b { 0.1 } else { 0.0 };
            // Sums of 178 products of order 1: rounding is a few 1e-16.
            assert!((h.data()[a * d + b] - want).abs() < 1e-13, "H[{a}, {b}] = {} != {want}", h.data()[a * d + b]);
        }
    }
}

#[test]
fn cholesky_solves_a_small_system() {
    // [[4, 2], [2, 3]] x = [2, 1]: det 8, x = [(3*2 - 2*1) / 8, (4*1 - 2*2) / 8] = [0.5, 0].
    let a = Tensor::from_vec([2, 2], vec![4.0, 2.0, 2.0, 3.0]);
    assert_eq!(newton::cholesky_solve(&a, &[2.0, 1.0]), Some(vec![0.5, 0.0]));
    let indefinite = Tensor::from_vec([2, 2], vec![1.0, 2.0, 2.0, 1.0]);
    assert_eq!(newton::cholesky_solve(&indefinite, &[1.0, 1.0]), None);
}

#[test]
fn newton_converges_in_under_ten_steps_to_the_optimum_gradient_descent_approaches() {
    // Gradient descent's rate is about 1 - lambda / L per step: ten times the steps at a tenth
    // of lambda.
    for (lambda, gd_steps) in [(0.1, 3000), (0.01, 30_000)] {
        let p = problem(lambda);
        let (nt, w_newton) = newton::newton(&p, 20);
        let last = nt[nt.len() - 1];
        assert!(
            last.grad_norm < NEWTON_TOL,
            "lambda {lambda}: |grad| {:e} after {} steps",
            last.grad_norm,
            nt.len() - 1
        );
        assert!(nt.len() - 1 < 10, "lambda {lambda}: {} Newton steps", nt.len() - 1);
        // Every Newton step lowers the loss (f is convex and the full steps stay in the region
        // where they do); the last ones only by rounding.
        assert!(nt.windows(2).all(|s| s[1].loss <= s[0].loss + 1e-15), "lambda {lambda}: {nt:?}");

        let (gd, w_gd) = newton::gradient_descent(&p, gd_steps);
        let gd_last = gd[gd.len() - 1];
        // Gradient descent needs hundreds of steps for what Newton does in a few.
        let to_1e6 = newton::steps_to(&gd, 1e-6).expect("gd reaches 1e-6");
        assert!(to_1e6 > 100, "lambda {lambda}: gd reached 1e-6 after {to_1e6} steps");
        // f is lambda-strongly convex, so each point is within |grad f| / lambda of the optimum,
        // and the two within the sum of those distances of each other.
        let bound = (gd_last.grad_norm + last.grad_norm) / lambda;
        let gap = newton::distance(&w_newton, &w_gd);
        assert!(gap <= bound, "lambda {lambda}: |w_gd - w_newton| = {gap:e} > {bound:e}");
        assert!(gap < 1e-8, "lambda {lambda}: |w_gd - w_newton| = {gap:e}");
        assert!((gd_last.loss - last.loss).abs() < 1e-14, "lambda {lambda}: {} vs {}", gd_last.loss, last.loss);
    }
}
