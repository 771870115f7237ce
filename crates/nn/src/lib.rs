//! Neural networks on the tapegrad autograd engine: layers, an MLP and a [`Sequential`] of
//! linear, activation, dropout and layer-norm layers, losses, initialisers,
//! optimisers, training helpers and safetensors I/O, plus a hand-derived backprop
//! ([`manual`]) to check the tape against the formulas on paper.
//!
//! Everything here is built from public autograd ops: no private shortcuts.
//!
//! # Features
//!
//! - `safetensors` (default): the `io` module, saving and loading an [`Mlp`] or a
//!   [`Sequential`] as `.safetensors`. It is the only part that needs the `safetensors` and `serde_json` crates;
//!   `default-features = false` leaves them (and `io`) out.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod activation;
pub mod data;
mod init;
#[cfg(feature = "safetensors")]
#[cfg_attr(docsrs, doc(cfg(feature = "safetensors")))]
pub mod io;
mod linear;
mod loss;
pub mod manual;
mod mlp;
mod module;
mod optim;
mod sequential;
pub mod train;

pub use activation::{Activation, CustomActivation};
pub use init::Init;
pub use linear::Linear;
pub use loss::{
    Reduction, binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_weighted, cross_entropy,
    cross_entropy_soft, huber_loss, l1_loss, l2_penalty, mse_loss, smooth_l1_loss, softmax_cross_entropy,
    softmax_cross_entropy_soft,
};
pub use mlp::Mlp;
pub use module::{Module, Parameter, ParameterMut};
pub use optim::{Adam, Optimizer, Sgd};
pub use sequential::{Dropout, Layer, LayerNorm, LayerNormOp, Mode, Sequential};
