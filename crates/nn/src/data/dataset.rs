//! A feature matrix with one class label per row.

use rand::Rng;
use rand::seq::SliceRandom;
use std::fmt;
use tapegrad_autograd::{Float, Tensor};

/// `n` examples for classification: features of shape `[n, d]` and a label in
/// `0..num_classes` for each row.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::data::Dataset;
/// let data = Dataset::new(Tensor::from_rows(&[[0.0f32, 1.0], [2.0, 3.0], [4.0, 5.0]]), vec![1, 0, 1], 2);
/// let batch = data.select(&[2, 0]);
/// assert_eq!(batch.features().data(), &[4.0, 5.0, 0.0, 1.0]);
/// assert_eq!(batch.labels(), &[1, 1]);
/// assert_eq!(data.class_counts(), vec![1, 2]);
/// ```
#[derive(Clone, PartialEq)]
pub struct Dataset<T> {
    features: Tensor<T>,
    labels: Vec<usize>,
    num_classes: usize,
}

impl<T: Float> Dataset<T> {
    /// A dataset from a feature matrix and one label per row.
    ///
    /// # Panics
    /// If `features` is not a matrix with at least one column, if the number of labels is not
    /// its number of rows, or if a label is not below `num_classes`.
    pub fn new(features: Tensor<T>, labels: Vec<usize>, num_classes: usize) -> Self {
        let (rows, cols) = features.shape().matrix("Dataset::new");
        assert!(cols > 0, "Dataset::new: features of shape {} have no columns", features.shape());
        assert_eq!(rows, labels.len(), "Dataset::new: {rows} rows of features, {} labels", labels.len());
        if let Some(&bad) = labels.iter().find(|&&l| l >= num_classes) {
            panic!("Dataset::new: label {bad} is out of range for {num_classes} classes");
        }
        Dataset { features, labels, num_classes }
    }

    /// The features, shape `[len, num_features]`.
    pub fn features(&self) -> &Tensor<T> {
        &self.features
    }

    /// The label of each row.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The number of classes; every label is below it.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The number of features per example (columns of [`features`](Self::features)).
    pub fn num_features(&self) -> usize {
        self.features.shape()[1]
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// How many examples each class has, indexed by class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// The examples at `indices`, in that order (a mini-batch); the class count is kept.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Self {
        Dataset {
            features: self.features.select_rows(indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            num_classes: self.num_classes,
        }
    }

    /// The same labels with features computed from these ones, such as standardised features:
    /// `train.map_features(|x| scaler.transform(x))`.
    ///
    /// # Panics
    /// If `f` returns a tensor that is not a matrix with one row per example.
    pub fn map_features(&self, f: impl FnOnce(&Tensor<T>) -> Tensor<T>) -> Self {
        Dataset::new(f(&self.features), self.labels.clone(), self.num_classes)
    }

    /// Shuffles the examples with `rng`, then splits them into `(train, test)`, the test part
    /// having `round(len * test_fraction)` examples (half rounds up: 1797 examples at 0.15 give
    /// 1527 and 270).
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

// By hand because `Tensor`'s Debug needs `T: Float`, which a derive would not require.
impl<T: Float> fmt::Debug for Dataset<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("features", &self.features)
            .field("labels", &self.labels)
            .field("num_classes", &self.num_classes)
            .finish()
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
