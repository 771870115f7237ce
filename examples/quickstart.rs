//! The README's quickstart: record a small expression, call backward once, read gradients,
//! look at the tape, and check the gradients against finite differences.
//!
//! ```sh
//! cargo run --release --example quickstart
//! ```

use tapegrad::autograd::{GradcheckOptions, Tape, Tensor, Var, gradcheck};

/// `mean(tanh(x W + b)^2)` for a fixed batch `x`, as a function of the leaves `[W, b]`.
fn loss<'t>(params: &[Var<'t, f64>]) -> Var<'t, f64> {
    let (w, b) = (params[0], params[1]);
    let x = w.tape().constant(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0]]));
    x.matmul(w).add(b).tanh().square().mean()
}

fn main() {
    let tape = Tape::<f64>::new();
    let w = tape.leaf(Tensor::from_rows(&[[0.5, -1.0], [0.25, 0.5]]));
    let b = tape.leaf(Tensor::from_vec([2], vec![0.1, -0.2]));

    let l = loss(&[w, b]);
    let grads = l.backward(); // one reverse pass over the tape

    println!("loss = {:.6}", l.item());
    println!("dL/dW =\n{:.6}", grads[w]);
    println!("dL/db = {:.6}", grads[b]);
    println!("\nthe tape backward walked:\n{tape}");

    let report = gradcheck(loss, &[w.value(), b.value()], &GradcheckOptions::default()).expect("gradients match");
    println!("largest relative error against finite differences: {:.1e}", report.max_rel_err());
}
