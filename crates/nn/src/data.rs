//! The data side of training: a [`Dataset`] of class labels ([`ClassLabels`]) or float targets
//! ([`RegressionDataset`]), a CSV loader with typed errors, seeded train / validation / test
//! [`Splits`] (stratified for classes), shuffled mini-[`Batches`], a [`StandardScaler`], and
//! metrics such as [`accuracy`] and [`confusion_matrix`].
//!
//! Everything random takes the caller's RNG, so a seeded run is reproducible.
//!
//! ```
//! use tapegrad_nn::data::{Batches, StandardScaler, accuracy, parse_csv};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! let csv = "0,0,0\n1,1,1\n0,1,1\n1,0,0\n0.5,0.5,1\n";
//! let data = parse_csv::<f32>(csv, "toy.csv", None)?;
//! assert_eq!((data.len(), data.num_features(), data.num_classes()), (5, 2, 2));
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let (train, test) = data.train_test_split(0.4, &mut rng);
//! let scaler = StandardScaler::fit(train.features())?;
//! let (train, test) = (train.map_features(|x| scaler.transform(x)), test.map_features(|x| scaler.transform(x)));
//!
//! let mut batches = Batches::new(train.len(), 2);
//! for batch in batches.epoch(&mut rng) {
//!     let batch = train.select(batch);
//!     assert!(batch.len() <= 2);
//! }
//! let always_one = vec![1; test.len()];
//! assert!((0.0..=1.0).contains(&accuracy(&always_one, test.labels())));
//! # Ok::<(), tapegrad_nn::data::DataError>(())
//! ```

mod batches;
mod csv;
mod dataset;
mod metrics;
mod reader;
mod scaler;
mod split;

pub use batches::Batches;
pub use csv::{DataError, Location, MAX_CSV_BYTES, MAX_INFERRED_CLASSES, load_csv, parse_csv};
pub use dataset::{ClassLabels, Dataset, RegressionDataset, Targets};
pub use metrics::{
    ClassScores, ClassificationReport, accuracy, accuracy_from_logits, confusion_matrix, mean_absolute_error,
    mean_squared_error, precision_recall_f1, r2_score,
};
pub use reader::{Classification, Column, CsvOptions, Header, Regression};
pub use scaler::{CONSTANT_RELATIVE, StandardScaler};
pub use split::{Splits, split_indices, stratified_split_indices};
