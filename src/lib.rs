//! tapegrad: a small, readable, fast reverse-mode autodiff engine with a neural-network library
//! on top.
//!
//! - [`autograd`]: tensors, the tape, backprop, and the gradient checker.
//! - [`nn`]: layers, an MLP, losses, optimisers, training helpers, safetensors I/O, and a
//!   hand-derived backprop for checking the tape against the formulas on paper.
//!
//! # Features
//!
//! - `nn` (default): the `nn` re-export. Without it only the engine, [`autograd`], is
//!   compiled.
//! - `safetensors` (default, implies `nn`): `nn::io`, saving and loading models as
//!   `.safetensors`, with the `safetensors` and `serde_json` crates it needs.
//!
//! For the engine alone, `tapegrad = { version = "0.1", default-features = false }`; for the
//! layers and optimisers without the file format, add `features = ["nn"]`.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use tapegrad_autograd as autograd;
#[cfg(feature = "nn")]
#[cfg_attr(docsrs, doc(cfg(feature = "nn")))]
pub use tapegrad_nn as nn;

/// The README's code blocks, run as doctests so that what it shows compiles and works.
#[cfg(all(doctest, feature = "safetensors"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
