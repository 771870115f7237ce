//! A small, readable, fast reverse-mode automatic-differentiation engine.
//!
//! - [`Tensor`]: a dense row-major array of `f32` or `f64` with a [`Shape`].
//! - [`Tape`]: records ops as they run; [`Var`] is a `Copy` handle to a recorded value, and ops
//!   are its methods (`x.matmul(w).add(b).relu()`).
//! - [`Var::backward`]: one loop over the tape in reverse, each op adding its own local
//!   gradient; the result is a [`Gradients`] store keyed by var.
//! - [`gradcheck`]: compares those gradients with finite differences.
//! - [`Tape::grad`]: gradients recorded as vars on the same tape, differentiable again to any
//!   order; [`gradgradcheck`] checks them, and [`hvp`], [`hessian`] and [`jacobian`] build on
//!   them.
//!
//! ```
//! use tapegrad_autograd::{Tape, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.constant(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0]]));
//! let w = tape.leaf(Tensor::from_rows(&[[0.5, -1.0], [0.25, -1.0]]));
//! let b = tape.leaf(Tensor::from_vec([2], vec![0.1, -0.1]));
//! let loss = x.matmul(w).add(b).relu().sum();
//! let grads = loss.backward();
//! // Only the first output column is positive, so only it passes gradient:
//! // dL/dW[i][0] = sum over rows of x[r][i], dL/db = [2, 0].
//! assert_eq!(grads[w].data(), &[4.0, 0.0, 6.0, 0.0]);
//! assert_eq!(grads[b].data(), &[2.0, 0.0]);
//! ```
//!
//! Add an op by implementing [`Op`] (forward and backward side by side) and recording it with
//! [`Tape::apply`]; an elementwise op needs only a [`UnaryRule`](ops::elementwise::UnaryRule).
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod backward;
mod float;
mod functional;
mod grad_graph;
mod gradcheck;
mod gradients;
mod input_grad;
pub(crate) mod kernels;
mod listing;
mod op;
pub mod ops;
mod param;
mod shape;
mod tape;
mod tensor;
mod threads;
mod var;

pub use float::{Float, Precision};
pub use functional::{hessian, hvp, jacobian};
pub use gradcheck::{
    GradcheckError, GradcheckOptions, GradcheckReport, InputReport, Stencil, gradcheck, gradgradcheck, numeric_gradient,
};
pub use gradients::Gradients;
pub use input_grad::InputGrad;
pub use op::{Op, Output, eval};
pub use ops::compare::Mask;
pub use ops::pick::{ClassLabel, gather_labels};
pub use param::{Param, ParamId};
pub use shape::Shape;
pub use tape::{Tape, ValueSource};
pub use tensor::Tensor;
pub use threads::{MIN_PART, NUM_THREADS_ENV, Split, for_each_part, num_threads, set_num_threads};
pub use var::Var;
