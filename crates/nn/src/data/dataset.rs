//! A feature matrix with one target per row: a class label, or a row of floats.

use rand::Rng;
use rand::seq::SliceRandom;
use std::fmt;
use std::sync::Arc;
use tapegrad_autograd::{Float, Tensor};

/// What a [`Dataset`] predicts: one target per example, selectable by example index.
///
/// Implemented by [`ClassLabels`] (classification, the default) and by `Tensor<T>` of shape
/// `[n, k]` (regression with `k` float targets per example).
pub trait Targets: Clone {
    /// The number of examples.
    fn len(&self) -> usize;

    /// True when there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets of the examples at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    fn select(&self, indices: &[usize]) -> Self;
}

/// One class id per example, each below `num_classes`, and optionally the name of each class
/// (the label a CSV file wrote for it).
///
/// ```
/// use tapegrad_nn::data::{ClassLabels, Targets};
/// let labels = ClassLabels::new(vec![2, 0, 2], 3).with_names(vec!["cat".into(), "dog".into(), "eel".into()]);
/// assert_eq!(labels.select(&[1, 0]).ids(), &[0, 2]);
/// assert_eq!(labels.name(2), Some("eel"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassLabels {
    ids: Vec<usize>,
    num_classes: usize,
    // Shared, so that a mini-batch's `select` does not copy every name.
    names: Option<Arc<[String]>>,
}

impl ClassLabels {
    /// Labels `ids`, each below `num_classes`, with no class names.
    ///
    /// # Panics
    /// If a label is not below `num_classes`.
    pub fn new(ids: Vec<usize>, num_classes: usize) -> Self {
        if let Some(&bad) = ids.iter().find(|&&l| l >= num_classes) {
            panic!("ClassLabels::new: label {bad} is out of range for {num_classes} classes");
        }
        ClassLabels { ids, num_classes, names: None }
    }

    /// The same labels with a name for each class: `names[c]` is class `c`'s.
    ///
    /// # Panics
    /// If there is not exactly one name per class.
    pub fn with_names(mut self, names: Vec<String>) -> Self {
        assert_eq!(
            names.len(),
            self.num_classes,
            "ClassLabels::with_names: {} names for {} classes",
            names.len(),
            self.num_classes
        );
        self.names = Some(names.into());
        self
    }

    /// The class id of each example.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// The number of classes; every id is below it.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The class names, one per class id, if known.
    pub fn names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// The name of class `id`, if names are known and `id` is a class.
    pub fn name(&self, id: usize) -> Option<&str> {
        self.names.as_deref().and_then(|n| n.get(id)).map(String::as_str)
    }
}

impl Targets for ClassLabels {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn select(&self, indices: &[usize]) -> Self {
        ClassLabels {
            ids: indices.iter().map(|&i| self.ids[i]).collect(),
            num_classes: self.num_classes,
            names: self.names.clone(),
        }
    }
}

/// Float targets: one row of a `[n, k]` matrix per example.
impl<T: Float> Targets for Tensor<T> {
    fn len(&self) -> usize {
        self.shape().dims().first().copied().unwrap_or(0)
    }

    fn select(&self, indices: &[usize]) -> Self {
        self.select_rows(indices)
    }
}

/// `n` examples: features of shape `[n, d]` and one target per row, by default a class label
/// ([`ClassLabels`]); `Dataset<T, Tensor<T>>` ([`RegressionDataset`]) holds float targets of
/// shape `[n, k]`.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::data::Dataset;
/// let data = Dataset::new(Tensor::from_rows(&[[0.0f32, 1.0], [2.0, 3.0], [4.0, 5.0]]), vec![1, 0, 1], 2);
/// let batch = data.select(&[2, 0]);
/// assert_eq!(batch.features().data(), &[4.0, 5.0, 0.0, 1.0]);
/// assert_eq!(batch.labels(), &[1, 1]);
/// assert_eq!(data.class_counts(), vec![1, 2]);
///
/// let houses = Dataset::regression(Tensor::from_rows(&[[50.0f64], [80.0]]), Tensor::from_rows(&[[1.5], [2.5]]));
/// assert_eq!((houses.len(), houses.num_targets()), (2, 1));
/// assert_eq!(houses.select(&[1]).targets().data(), &[2.5]);
/// ```
#[derive(Clone, PartialEq)]
pub struct Dataset<T, Y = ClassLabels> {
    features: Tensor<T>,
    targets: Y,
}

/// A dataset with `k` float targets per example, features `[n, d]` and targets `[n, k]`.
pub type RegressionDataset<T> = Dataset<T, Tensor<T>>;

impl<T: Float, Y: Targets> Dataset<T, Y> {
    /// A dataset from a feature matrix and one target per row.
    ///
    /// # Panics
    /// If `features` is not a matrix with at least one column, or the number of targets is not
    /// its number of rows.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// use tapegrad_nn::data::{ClassLabels, Dataset};
    /// let data = Dataset::from_parts(Tensor::<f32>::zeros([2, 3]), ClassLabels::new(vec![0, 1], 2));
    /// assert_eq!(data.labels(), &[0, 1]);
    /// ```
    pub fn from_parts(features: Tensor<T>, targets: Y) -> Self {
        let (rows, cols) = features.shape().matrix("Dataset::new");
        assert!(cols > 0, "Dataset::new: features of shape {} have no columns", features.shape());
        assert_eq!(rows, targets.len(), "Dataset::new: {rows} rows of features, {} labels", targets.len());
        Dataset { features, targets }
    }

    /// The features, shape `[len, num_features]`.
    pub fn features(&self) -> &Tensor<T> {
        &self.features
    }

    /// The targets, one per example.
    pub fn targets(&self) -> &Y {
        &self.targets
    }

    /// The features and the targets, taken apart.
    pub fn into_parts(self) -> (Tensor<T>, Y) {
        (self.features, self.targets)
    }

    /// The number of features per example (columns of [`features`](Self::features)).
    pub fn num_features(&self) -> usize {
        self.features.shape()[1]
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The examples at `indices`, in that order (a mini-batch); the class count is kept.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Self {
        Dataset { features: self.features.select_rows(indices), targets: self.targets.select(indices) }
    }

    /// The same targets with features computed from these ones, such as standardised features:
    /// `train.map_features(|x| scaler.transform(x))`.
    ///
    /// # Panics
    /// If `f` returns a tensor that is not a matrix with one row per example.
    pub fn map_features(&self, f: impl FnOnce(&Tensor<T>) -> Tensor<T>) -> Self {
        Dataset::from_parts(f(&self.features), self.targets.clone())
    }

    /// Shuffles the examples with `rng`, then splits them into `(train, test)`, the test part
    /// having `round(len * test_fraction)` examples (half rounds up: 1797 examples at 0.15 give
    /// 1527 and 270).
    ///
    /// [`split`](Self::split) makes train, validation and test parts from a seed instead.
    ///
    /// # Panics
    /// If `test_fraction` is not in `[0, 1]`.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// use tapegrad_nn::data::Dataset;
    /// use rand::{SeedableRng, rngs::StdRng};
    /// let data = Dataset::new(Tensor::<f32>::zeros([10, 3]), vec![0; 10], 1);
    /// let (train, test) = data.train_test_split(0.25, &mut StdRng::seed_from_u64(1));
    /// assert_eq!((train.len(), test.len()), (7, 3)); // 2.5 rounds up
    /// ```
    pub fn train_test_split<R: Rng + ?Sized>(&self, test_fraction: f64, rng: &mut R) -> (Self, Self) {
        assert!(
            (0.0..=1.0).contains(&test_fraction),
            "Dataset::train_test_split: test_fraction {test_fraction} is not in [0, 1]"
        );
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(rng);
        // The fraction is in [0, 1], so the rounded product is a count in 0..=len.
        let test_len = (self.len() as f64 * test_fraction).round() as usize;
        let (train, test) = order.split_at(self.len() - test_len);
        (self.select(train), self.select(test))
    }
}

impl<T: Float> Dataset<T> {
    /// A classification dataset from a feature matrix and one label per row.
    ///
    /// # Panics
    /// If `features` is not a matrix with at least one column, if the number of labels is not
    /// its number of rows, or if a label is not below `num_classes`.
    pub fn new(features: Tensor<T>, labels: Vec<usize>, num_classes: usize) -> Self {
        if let Some(&bad) = labels.iter().find(|&&l| l >= num_classes) {
            panic!("Dataset::new: label {bad} is out of range for {num_classes} classes");
        }
        Dataset::from_parts(features, ClassLabels::new(labels, num_classes))
    }

    /// The label of each row.
    pub fn labels(&self) -> &[usize] {
        self.targets.ids()
    }

    /// The number of classes; every label is below it.
    pub fn num_classes(&self) -> usize {
        self.targets.num_classes()
    }

    /// The name of each class, indexed by label, when known (a CSV file's class labels).
    pub fn class_names(&self) -> Option<&[String]> {
        self.targets.names()
    }

    /// How many examples each class has, indexed by class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in self.labels() {
            counts[l] += 1;
        }
        counts
    }
}

impl<T: Float> Dataset<T, Tensor<T>> {
    /// A regression dataset: features `[n, d]` and float targets `[n, k]`.
    ///
    /// # Panics
    /// If either is not a matrix, the features have no columns or the targets none, or their
    /// row counts differ.
    pub fn regression(features: Tensor<T>, targets: Tensor<T>) -> Self {
        let (rows, cols) = targets.shape().matrix("Dataset::regression");
        assert!(cols > 0, "Dataset::regression: targets of shape {} have no columns", targets.shape());
        let feature_rows = features.shape().matrix("Dataset::regression").0;
        assert_eq!(
            feature_rows,
            rows,
            "Dataset::regression: features {} vs targets {}: row counts differ",
            features.shape(),
            targets.shape()
        );
        Dataset::from_parts(features, targets)
    }

    /// The number of targets per example (columns of [`targets`](Self::targets)).
    pub fn num_targets(&self) -> usize {
        self.targets.shape()[1]
    }
}

// By hand because `Tensor`'s Debug needs `T: Float`, which a derive would not require.
impl<T: Float, Y: fmt::Debug> fmt::Debug for Dataset<T, Y> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset").field("features", &self.features).field("targets", &self.targets).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    /// Row `i` is `[i, 10 i]` with label `i % 3`, so a row tells which example it was.
    fn numbered(n: usize) -> Dataset<f64> {
        let rows: Vec<[f64; 2]> = (0..n).map(|i| [i as f64, 10.0 * i as f64]).collect();
        Dataset::new(Tensor::from_rows(&rows), (0..n).map(|i| i % 3).collect(), 3)
    }

    #[test]
    fn split_of_the_digits_size_is_1527_and_270() {
        let data = Dataset::new(Tensor::<f32>::zeros([1797, 1]), vec![0; 1797], 1);
        let (train, test) = data.train_test_split(0.15, &mut StdRng::seed_from_u64(0));
        assert_eq!((train.len(), test.len()), (1527, 270));
    }

    #[test]
    fn split_is_a_seeded_partition_that_keeps_rows_with_their_labels() {
        let data = numbered(50);
        let (train, test) = data.train_test_split(0.3, &mut StdRng::seed_from_u64(7));
        assert_eq!((train.len(), test.len()), (35, 15));
        let mut seen: Vec<usize> =
            train.features().rows().chain(test.features().rows()).map(|r| r[0] as usize).collect();
        let shuffled = seen.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_ne!(shuffled, seen, "the split should shuffle");
        for part in [&train, &test] {
            for (row, &label) in part.features().rows().zip(part.labels()) {
                assert_eq!((row[1], label), (10.0 * row[0], row[0] as usize % 3));
            }
            assert_eq!(part.num_classes(), 3);
        }
        let again = data.train_test_split(0.3, &mut StdRng::seed_from_u64(7));
        assert_eq!(again, (train, test));
    }

    #[test]
    fn split_fractions_zero_and_one_give_an_empty_part() {
        let data = numbered(4);
        let mut rng = StdRng::seed_from_u64(0);
        let (train, test) = data.train_test_split(0.0, &mut rng);
        assert_eq!((train.len(), test.len()), (4, 0));
        let (train, test) = data.train_test_split(1.0, &mut rng);
        assert_eq!((train.len(), test.len()), (0, 4));
        assert_eq!(train.features().shape().dims(), &[0, 2]);
    }

    #[test]
    #[should_panic(expected = "test_fraction 1.5 is not in [0, 1]")]
    fn split_rejects_a_fraction_above_one() {
        numbered(4).train_test_split(1.5, &mut StdRng::seed_from_u64(0));
    }

    #[test]
    #[should_panic(expected = "label 3 is out of range for 3 classes")]
    fn new_checks_labels() {
        Dataset::new(Tensor::<f32>::zeros([2, 1]), vec![0, 3], 3);
    }

    #[test]
    #[should_panic(expected = "Dataset::new: 2 rows of features, 1 labels")]
    fn new_checks_the_label_count() {
        Dataset::new(Tensor::<f32>::zeros([2, 1]), vec![0], 3);
    }

    #[test]
    fn map_features_keeps_labels() {
        let data = numbered(3).map_features(|x| x.map(|v| v + 1.0));
        assert_eq!(data.features().data(), &[1.0, 1.0, 2.0, 11.0, 3.0, 21.0]);
        assert_eq!(data.labels(), &[0, 1, 2]);
    }
}
