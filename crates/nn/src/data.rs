//! The data side of training: a labelled dataset, shuffled mini-batches, standardisation,
//! metrics and a CSV loader.

mod batches;
mod dataset;
mod metrics;
mod scaler;

pub use batches::Batches;
pub use dataset::Dataset;
pub use metrics::{accuracy, accuracy_from_logits, confusion_matrix};
pub use scaler::StandardScaler;
