//! The physics-informed network example, through its own functions (included from
//! `examples/pinn.rs`): its options, the input derivatives its loss is built from, and a short
//! training run that recovers sin x.

#[path = "../examples/pinn.rs"]
#[allow(dead_code)]
mod pinn;

use pinn::Config;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{Tape, Tensor};
use tapegrad::nn::{Activation, Init, Mlp};

fn config(args: &[&str]) -> Config {
    let argv = std::iter::once("pinn").chain(args.iter().copied());
    pinn::parse(argv).expect("not --help").unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn options_are_bounded_and_errors_are_one_line() {
    let c = config(&[]);
    assert_eq!((c.width, c.depth, c.points, c.epochs, c.lr, c.seed), (16, 2, 32, 3000, 0.01, 0));
    for (args, expected) in [
        (&["--width", "0"][..], "must be at least 1"),
        (&["--width", "1001"], "1001 is more than the limit of 1000"),
        (&["--depth", "9"], "9 is more than the limit of 8"),
        (&["--points", "1"], "must be at least 2"),
        (&["--epochs", "18446744073709551615"], "is more than the limit of 1000000"),
        (&["--epochs", "1.5"], "expected a whole number, found '1.5'"),
        (&["--lr", "0"], "must be in (0, 1], got 0"),
        (&["--lr", "-0.1"], "must be in (0, 1], got -0.1"),
        (&["--lr", "inf"], "expected a finite number, found 'inf'"),
        (&["--seed", "-1"], "'--seed <SEED>'"),
    ] {
        let argv = std::iter::once("pinn").chain(args.iter().copied());
        let message = pinn::parse(argv).expect("not --help").expect_err("rejected");
        assert!(!message.contains('\n'), "{args:?}: {message:?}");
        assert!(message.contains(expected), "{args:?}: {message:?} should contain {expected:?}");
    }
}

#[test]
fn the_input_derivatives_match_finite_differences_of_the_network() {
    let mut rng = StdRng::seed_from_u64(1);
    let model = Mlp::<f64>::new(&[1, 8, 8, 1], Activation::Tanh, Init::GlorotUniform, &mut rng);
    let xs = pinn::grid(7);
    let tape = Tape::new();
    let [u, du, d2u] = pinn::derivatives(&tape, &model, &xs);
    let h = 1e-4;
    let at = |shift: f64| model.logits(&xs.map(|x| x + shift));
    let (plus, minus) = (at(h), at(-h));
    for i in 0..7 {
        let (up, um, u0) = (plus.data()[i], minus.data()[i], u.value().data()[i]);
        assert_eq!(u0, model.logits(&xs).data()[i]);
        // Central differences of a smooth function of size about 1 with h = 1e-4: the first has
        // error h^2 |u'''| / 6 + eps / h, about 1e-9; the second h^2 |u''''| / 12 + 4 eps / h^2,
        // about 1e-8. 1e-6 leaves a margin of 100.
        let d1 = (up - um) / (2.0 * h);
        let d2 = (up - 2.0 * u0 + um) / (h * h);
        assert!((du.value().data()[i] - d1).abs() < 1e-6, "u'({}) = {} vs {d1}", xs.data()[i], du.value().data()[i]);
        assert!((d2u.value().data()[i] - d2).abs() < 1e-6, "u''({}) = {} vs {d2}", xs.data()[i], d2u.value().data()[i]);
    }
}

#[test]
fn a_short_run_recovers_sin_x() {
    // A third of the default run. Measured once after 1000 epochs, seeds 0-4 end with max errors
    // of 6.7e-4, 7.7e-3, 9.4e-4, 2.4e-3 and 1.8e-3: the bound of 2e-2 leaves a margin of 2.5 over
    // the worst, and an untrained network is off by about 0.85.
    for seed in 0..5 {
        let c = Config { epochs: 1000, seed, ..config(&[]) };
        let mut epochs = Vec::new();
        let model = pinn::train(&c, |e, _| epochs.push(e));
        assert_eq!(epochs.len(), 1000);
        let (first, last) = (epochs[0].loss, epochs[epochs.len() - 1].loss);
        assert!(last < first / 1000.0, "seed {seed}: loss {first} -> {last}");
        let error = pinn::max_error(&model);
        assert!(error < 2e-2, "seed {seed}: max |u - sin x| = {error}");
        // The initial conditions are in the loss, so they hold to about the loss's square root.
        let tape = Tape::new();
        let [u0, du0, _] = pinn::derivatives(&tape, &model, &Tensor::zeros([1, 1]));
        assert!(u0.item().abs() < 1e-2 && (du0.item() - 1.0).abs() < 1e-2, "seed {seed}: {} {}", u0.item(), du0.item());
    }
}
