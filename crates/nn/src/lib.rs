//! Layers, an MLP, losses, optimisers, training helpers and safetensors I/O on the tapegrad
//! autograd engine.
#![warn(missing_docs)]

pub mod data;
