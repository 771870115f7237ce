//! Every loss, under every reduction, against PyTorch's float64 values and gradients, recorded
//! in `fixtures/torch_losses.rs` by `fixtures/torch_losses.py` (so this test needs no Python).

// Generated numbers: PyTorch's ln 2 is spelled out, and the table's type is its row.
#[allow(clippy::approx_constant, clippy::type_complexity)]
#[path = "fixtures/torch_losses.rs"]
#[rustfmt::skip]
mod torch;

use tapegrad_autograd::{Tape, Tensor, Var};
use tapegrad_nn::{
    Reduction, binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_weighted, cross_entropy,
    cross_entropy_soft, huber_loss, l1_loss, mse_loss, smooth_l1_loss,
};

fn matrix(rows: &[&[f64]]) -> Tensor<f64> {
    Tensor::from_vec([rows.len(), rows[0].len()], rows.concat())
}

fn reduction(name: &str) -> Reduction {
    match name {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        other => panic!("unknown reduction {other}"),
    }
}

/// Both computations take a handful of roundings per element and sum at most 12 terms, in
/// different orders and with different `log1p`/`exp` implementations: a few ulps of the
/// largest term. `1e-14` relative to max(1, |x|) leaves room for that and no more.
fn close(what: &str, ours: &[f64], theirs: &[f64]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    for (k, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{what}[{k}]: ours {a:e}, PyTorch {b:e}");
    }
}

#[test]
fn every_loss_matches_pytorch_in_value_and_gradient() {
    let mut checked = 0;
    for &(name, red, value, grad_a, grad_b) in torch::CASES {
        let r = reduction(red);
        let (a, b) = match name {
            "mse" | "l1" | "huber" | "smooth_l1" => (matrix(torch::PRED), Some(matrix(torch::TARGET))),
            "bce" | "bce_pos_weight" => (matrix(torch::LOGITS), Some(matrix(torch::BINARY))),
            "cross_entropy" => (matrix(torch::CLASS_LOGITS), None),
            "cross_entropy_soft" => (matrix(torch::CLASS_LOGITS), Some(matrix(torch::PROBS))),
            other => panic!("unknown loss {other}"),
        };
        let tape = Tape::<f64>::new();
        let x = tape.leaf(&a);
        let y = b.as_ref().map(|b| tape.leaf(b));
        let pos_weight = Tensor::from_vec([torch::POS_WEIGHT.len()], torch::POS_WEIGHT.to_vec());
        let loss: Var<'_, f64> = match name {
            "mse" => mse_loss(x, y.unwrap(), r),
            "l1" => l1_loss(x, y.unwrap(), r),
            "huber" => huber_loss(x, y.unwrap(), 1.0, r),
            "smooth_l1" => smooth_l1_loss(x, y.unwrap(), 0.5, r),
            "bce" => binary_cross_entropy_with_logits(x, y.unwrap(), r),
            "bce_pos_weight" => binary_cross_entropy_with_logits_weighted(x, y.unwrap(), &pos_weight, r),
            "cross_entropy" => cross_entropy(x, torch::LABELS.iter().copied(), r),
            _ => cross_entropy_soft(x, y.unwrap(), r),
        };
        let what = format!("{name} {red}");
        close(&format!("{what} value"), loss.value().data(), value);
        // The script weights `none`'s elements by 1, 2, 3, ... before summing; so does this.
        let scalar = if r == Reduction::None {
            let n = loss.shape().numel();
            (loss * tape.constant(Tensor::from_vec(loss.shape(), (1..=n).map(|k| k as f64).collect()))).sum()
        } else {
            loss
        };
        let grads = scalar.backward();
        close(&format!("{what} d/dinput"), grads[x].data(), grad_a);
        if let Some(y) = y {
            close(&format!("{what} d/dtarget"), grads[y].data(), grad_b);
        }
        checked += 1;
    }
    assert_eq!(checked, 8 * 3, "eight losses, three reductions each");
}
