//! Derivatives of whole functions, for small inputs: Jacobians, Hessians and Hessian-vector
//! products, built on [`Tape::grad`] and [`Var::backward`].
//!
//! Each takes the function as a closure from a tape and an input var to an output var, and
//! records it on a fresh tape.

use crate::{Float, Shape, Tape, Tensor, Var};

/// The Jacobian of `f` at `x`: a `[m, n]` matrix with `m` the number of elements of `f(x)` and
/// `n` that of `x`, entry `[i, j]` being `d f(x)_i / d x_j` (both flattened in row-major
/// order). One backward pass per output element, so meant for small outputs.
///
/// ```
/// use tapegrad_autograd::{Tensor, jacobian};
/// // f(x) = x^2 elementwise: the Jacobian is diag(2x).
/// let j = jacobian(|_, x| x.square(), &Tensor::from_vec([2], vec![1.0f64, -3.0]));
/// assert_eq!(j.data(), &[2.0, 0.0, 0.0, -6.0]);
/// ```
///
/// # Panics
/// If `f` panics, or returns a var of another tape.
pub fn jacobian<T: Float, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    F: for<'t> Fn(&'t Tape<T>, Var<'t, T>) -> Var<'t, T>,
{
    let tape = Tape::new();
    let xv = tape.leaf(x);
    let y = f(&tape, xv);
    let (m, n) = (y.shape().numel(), x.numel());
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        let row = (y * tape.constant(basis(&y.shape(), i))).sum().backward();
        out.extend_from_slice(row[xv].data());
    }
    Tensor::from_vec([m, n], out)
}

/// The Hessian of the scalar function `f` at `x`: a `[n, n]` matrix, `n` the number of elements
/// of `x`, entry `[i, j]` being `d^2 f / d x_i d x_j`. It is the [`jacobian`] of the gradient,
/// which [`Tape::grad`] records: one backward pass through the gradient's graph per element of
/// `x`, so meant for small inputs; for large ones, use [`hvp`].
///
/// ```
/// use tapegrad_autograd::{Tensor, hessian};
/// // f(x) = (sum x)^2 + sum(x^3): H = 2 (every entry) + diag(6x).
/// let x = Tensor::from_vec([2], vec![1.0f64, -2.0]);
/// let h = hessian(|_, x| x.sum().square() + x.powi(3).sum(), &x);
/// assert_eq!(h.data(), &[8.0, 2.0, 2.0, -10.0]);
/// ```
///
/// # Panics
/// If `f` returns more than one element, or reaches an op without a differentiable backward
/// rule ([`Op::backward_graph`](crate::Op::backward_graph)).
pub fn hessian<T: Float, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    F: for<'t> Fn(&'t Tape<T>, Var<'t, T>) -> Var<'t, T>,
{
    jacobian(
        |tape, x| {
            let y = f(tape, x);
            tape.grad(y, &[x])[0]
        },
        x,
    )
}

/// The Hessian-vector product `H v` of the scalar function `f` at `x`, `H` its Hessian, without
/// forming `H`: the gradient of `<grad f(x), v>`, by a recording backward ([`Tape::grad`]) then a
/// plain one through the gradient's graph. It costs a small multiple of one gradient, whatever
/// the size of `x`.
///
/// ```
/// use tapegrad_autograd::{Tensor, hvp};
/// // f(x) = sum(x^3): H = diag(6x), so H v = 6 x v.
/// let x = Tensor::from_vec([3], vec![1.0f64, 2.0, -1.0]);
/// let v = Tensor::from_vec([3], vec![1.0, 0.5, 2.0]);
/// assert_eq!(hvp(|_, x| x.powi(3).sum(), &x, &v).data(), &[6.0, 6.0, -12.0]);
/// ```
///
/// # Panics
/// If `v`'s shape differs from `x`'s, `f` returns more than one element, or it reaches an op
/// without a differentiable backward rule.
pub fn hvp<T: Float, F>(f: F, x: &Tensor<T>, v: &Tensor<T>) -> Tensor<T>
where
    F: for<'t> Fn(&'t Tape<T>, Var<'t, T>) -> Var<'t, T>,
{
    assert_eq!(x.shape(), v.shape(), "hvp: x has shape {} but v has shape {}", x.shape(), v.shape());
    let tape = Tape::new();
    let xv = tape.leaf(x);
    let y = f(&tape, xv);
    let g = tape.grad(y, &[xv])[0];
    let grads = (g * tape.constant(v)).sum().backward();
    grads[xv].clone()
}

/// The one-hot tensor of `shape` with a 1 at flat index `i`.
fn basis<T: Float>(shape: &Shape, i: usize) -> Tensor<T> {
    let mut e = Tensor::zeros(shape.clone());
    e.data_mut()[i] = T::ONE;
    e
}
