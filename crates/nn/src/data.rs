//! The data side of training: a labelled dataset, shuffled mini-batches, standardisation,
//! metrics and a CSV loader.

mod dataset;

pub use dataset::Dataset;
