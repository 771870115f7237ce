//! The data side of training: a labelled dataset, shuffled mini-batches, standardisation,
//! metrics and a CSV loader.

mod batches;
mod dataset;

pub use batches::Batches;
pub use dataset::Dataset;
