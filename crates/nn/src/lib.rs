//! Neural networks on the tapegrad autograd engine: layers, an MLP, losses, initialisers,
//! optimisers, training helpers and safetensors I/O, plus a hand-derived backprop
//! ([`manual`]) to check the tape against the formulas on paper.
//!
//! Everything here is built from public autograd ops: no private shortcuts.
#![warn(missing_docs)]

pub mod data;
mod init;
pub mod io;
mod linear;
mod loss;
pub mod manual;
mod mlp;
mod module;
mod optim;
pub mod train;

pub use init::Init;
pub use linear::Linear;
pub use loss::{l2_penalty, softmax_cross_entropy, softmax_cross_entropy_soft};
pub use mlp::{Activation, Mlp};
pub use module::{Module, Parameter, ParameterMut};
pub use optim::{Adam, Optimizer, Sgd};
