//! Gradient-norm clipping over all of a model's gradients at once.

use tapegrad_autograd::{Float, Tensor};

/// The global L2 norm of `grads`: `sqrt(sum over every element of every tensor of g^2)`,
/// accumulated in f64. NaN or infinite if an element is.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::train::grad_norm;
/// let (a, b) = (Tensor::from_vec([2], vec![3.0f32, 0.0]), Tensor::from_vec([1], vec![4.0]));
/// assert_eq!(grad_norm(&[&a, &b]), 5.0);
/// ```
pub fn grad_norm<T: Float>(grads: &[&Tensor<T>]) -> f64 {
    grads.iter().flat_map(|g| g.data()).map(|&v| v.to_f64() * v.to_f64()).sum::<f64>().sqrt()
}

/// Scales `grads` together so their global L2 norm ([`grad_norm`]) is at most `max_norm`,
/// keeping their direction, as `torch.nn.utils.clip_grad_norm_`; returns the norm before
/// clipping. Gradients already within the bound, or with a non-finite norm (left for the
/// caller to reject), are not changed.
///
/// Unlike PyTorch, which scales by `max_norm / (norm + 1e-6)`, the factor is `max_norm / norm`,
/// so the clipped norm is `max_norm` up to rounding.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::train::{clip_grad_norm, grad_norm};
/// let mut grads = [Tensor::from_vec([2], vec![6.0f64, 8.0])];
/// assert_eq!(clip_grad_norm(&mut grads, 5.0), 10.0);
/// assert_eq!(grads[0].data(), &[3.0, 4.0]); // halved: norm 5, same direction
/// ```
///
/// # Panics
/// If `max_norm` is negative or NaN.
pub fn clip_grad_norm<T: Float>(grads: &mut [Tensor<T>], max_norm: f64) -> f64 {
    assert!(max_norm >= 0.0, "clip_grad_norm: max_norm must be non-negative, got {max_norm}");
    let norm = grad_norm(&grads.iter().collect::<Vec<_>>());
    if norm.is_finite() && norm > max_norm {
        let scale = T::from_f64(max_norm / norm);
        for v in grads.iter_mut().flat_map(|g| g.data_mut()) {
            *v *= scale;
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_sets_the_norm_to_the_bound_and_keeps_the_direction() {
        let original =
            [Tensor::from_vec([2, 2], vec![1.0f64, -2.0, 3.0, 0.5]), Tensor::from_vec([3], vec![-4.0, 2.5, 7.0])];
        // sqrt(1 + 4 + 9 + 0.25 + 16 + 6.25 + 49) = sqrt(85.5).
        let before = 85.5f64.sqrt();
        let mut grads = original.clone();
        assert_eq!(clip_grad_norm(&mut grads, 2.0), before);
        // One rounding per element and in the sum: a few ulps of 2.
        assert!((grad_norm(&grads.iter().collect::<Vec<_>>()) - 2.0).abs() < 1e-14);
        for (g, o) in grads.iter().zip(&original) {
            for (&c, &o) in g.data().iter().zip(o.data()) {
                // Every element scaled by the same 2 / sqrt(85.5): the direction is kept.
                assert!((c - o * 2.0 / before).abs() < 1e-15, "{c} vs {o}");
            }
        }
    }

    #[test]
    fn gradients_within_the_bound_or_not_finite_are_left_alone() {
        let mut small = [Tensor::from_vec([2], vec![0.3f32, 0.4])];
        let norm = clip_grad_norm(&mut small, 1.0);
        // 0.3 and 0.4 in f32, squared and summed in f64: 0.5 to f32 precision.
        assert!((norm - 0.5).abs() < 1e-7);
        assert_eq!(small[0].data(), &[0.3, 0.4]);
        let mut bad = [Tensor::from_vec([2], vec![f32::NAN, 1.0])];
        assert!(clip_grad_norm(&mut bad, 1.0).is_nan());
        assert_eq!(bad[0].data()[1], 1.0);
    }
}
