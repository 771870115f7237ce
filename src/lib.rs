//! tapegrad: a small, readable, fast reverse-mode autodiff engine with a neural-network library
//! on top.
//!
//! - [`autograd`]: tensors, the tape, backprop, and the gradient checker.
//! - [`nn`]: layers, an MLP, losses, optimisers, training helpers, safetensors I/O, and a
//!   hand-derived backprop for checking the tape against the formulas on paper.
#![warn(missing_docs)]

pub use tapegrad_autograd as autograd;
pub use tapegrad_nn as nn;

/// The README's code blocks, run as doctests so that what it shows compiles and works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
