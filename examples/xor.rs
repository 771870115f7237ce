//! XOR, the classic first neural network.
//!
//! ```sh
//! cargo run --release --example xor
//! cargo run --release --example xor -- --seed 7
//! ```
//!
//! Four points, labelled by whether exactly one of their coordinates is 1. No straight line
//! separates the two classes, so a model without a hidden layer cannot learn them; one hidden
//! layer of four tanh units can. The whole data set is one batch, so every step is plain
//! gradient descent on the exact loss.
//!
//! Each step shows the whole of reverse-mode autodiff: the forward pass is recorded on a tape,
//! `backward` walks the tape in reverse to get the gradient of the loss with respect to every
//! weight, and the optimiser moves the weights a little way down that gradient.

use clap::Parser;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{Tape, Tensor};
use tapegrad::nn::{Activation, Init, Mlp, Sgd, softmax_cross_entropy};

/// The four points and their XOR.
pub const INPUTS: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
pub const LABELS: [usize; 4] = [0, 1, 1, 0];

/// 2 inputs, 4 hidden tanh units, 2 outputs (a logit per class). Three hidden units are enough
/// in principle, but with four far fewer starting points end in a local minimum.
pub const SIZES: [usize; 3] = [2, 4, 2];
pub const LEARNING_RATE: f32 = 0.5;
pub const EPOCHS: usize = 1000;

/// Trains a fresh network from `seed`, reporting each epoch's loss to `on_epoch` before that
/// epoch's update, and returns it.
pub fn train(seed: u64, mut on_epoch: impl FnMut(usize, f32)) -> Mlp<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    // Glorot initialisation keeps the tanh units out of their flat, saturated ends.
    let mut model = Mlp::new(&SIZES, Activation::Tanh, Init::GlorotUniform, &mut rng);
    let mut optimizer = Sgd::new(LEARNING_RATE);
    let x = Tensor::from_rows(&INPUTS);
    // One tape for the whole run: `reset` empties it but keeps its memory for the next step.
    let mut tape = Tape::new();
    for epoch in 1..=EPOCHS {
        tape.reset();
        let logits = model.forward(tape.constant(&x));
        let loss = softmax_cross_entropy(logits, LABELS);
        let grads = loss.backward();
        on_epoch(epoch, loss.item());
        optimizer.step(&mut model, &grads);
    }
    model
}

/// How many of the four points `model` classifies correctly.
pub fn correct(model: &Mlp<f32>) -> usize {
    let predicted = model.predict(&Tensor::from_rows(&INPUTS));
    predicted.iter().zip(LABELS).filter(|&(&p, label)| p == label).count()
}

/// Learn XOR with a 2-4-2 tanh network.
#[derive(Parser)]
struct Args {
    /// Seeds the initial weights
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() {
    let args = Args::parse();
    println!(
        "XOR: a {} tanh MLP, softmax cross-entropy, full-batch gradient descent at learning rate {LEARNING_RATE}, seed {}",
        SIZES.map(|n| n.to_string()).join("-"),
        args.seed
    );
    println!();
    println!("epoch    loss");
    let model = train(args.seed, |epoch, loss| {
        if epoch == 1 || epoch % 100 == 0 {
            println!("{epoch:>5}  {loss:.4}");
        }
    });

    println!();
    println!(" x1  x2  XOR   p(0)   p(1)  predicted");
    let x = Tensor::from_rows(&INPUTS);
    let probabilities = model.predict_proba(&x);
    for (((input, label), p), predicted) in INPUTS.iter().zip(LABELS).zip(probabilities.rows()).zip(model.predict(&x)) {
        let verdict = if predicted == label { "right" } else { "WRONG" };
        println!("{:>3} {:>3} {label:>4}  {:.3}  {:.3}  {predicted} ({verdict})", input[0], input[1], p[0], p[1]);
    }
    println!();
    match correct(&model) {
        4 => println!("all 4 points are classified correctly"),
        n => println!(
            "only {n} of 4 points are classified correctly: this start fell into a local minimum; try another --seed"
        ),
    }
}
