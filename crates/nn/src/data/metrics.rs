//! Classification metrics.

use tapegrad_autograd::{Float, Tensor};

/// The fraction of predictions equal to their label; NaN when there are none.
///
/// # Panics
/// If the slices differ in length.
///
/// ```
/// assert_eq!(tapegrad_nn::data::accuracy(&[0, 1, 2, 2], &[0, 1, 1, 2]), 0.75);
/// ```
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> f64 {
    assert_eq!(predictions.len(), labels.len(), "accuracy: {} predictions, {} labels", predictions.len(), labels.len());
    let correct = predictions.iter().zip(labels).filter(|(p, l)| p == l).count();
    correct as f64 / labels.len() as f64
}

/// [`accuracy`] of the highest-scoring class of each row of `logits` (shape `[n, classes]`); ties
/// go to the first class.
///
/// # Panics
/// If `logits` does not have one row per label.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// let logits = Tensor::from_rows(&[[2.0f32, -1.0], [0.5, 3.0]]);
/// assert_eq!(tapegrad_nn::data::accuracy_from_logits(&logits, &[0, 0]), 0.5);
/// ```
pub fn accuracy_from_logits<T: Float>(logits: &Tensor<T>, labels: &[usize]) -> f64 {
    accuracy(&logits.argmax(), labels)
}

/// Counts of (label, prediction) pairs: `matrix[label][prediction]`, so row `c` is how the
/// examples of class `c` were classified and the diagonal holds the correct ones.
///
/// # Panics
/// If the slices differ in length or a class is not below `num_classes`.
///
/// ```
/// let m = tapegrad_nn::data::confusion_matrix(&[0, 1, 1, 1], &[0, 0, 1, 1], 2);
/// assert_eq!(m, vec![vec![1, 1], vec![0, 2]]);
/// ```
pub fn confusion_matrix(predictions: &[usize], labels: &[usize], num_classes: usize) -> Vec<Vec<usize>> {
    assert_eq!(
        predictions.len(),
        labels.len(),
        "confusion_matrix: {} predictions, {} labels",
        predictions.len(),
        labels.len()
    );
    let mut matrix = vec![vec![0; num_classes]; num_classes];
    for (&p, &l) in predictions.iter().zip(labels) {
        assert!(p < num_classes && l < num_classes, "confusion_matrix: class {} with {num_classes} classes", p.max(l));
        matrix[l][p] += 1;
    }
    matrix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_counts_matches() {
        assert_eq!(accuracy(&[1, 1, 1], &[1, 1, 1]), 1.0);
        assert_eq!(accuracy(&[0, 2, 1, 1, 0], &[1, 2, 0, 1, 2]), 0.4);
        assert!(accuracy(&[], &[]).is_nan());
    }

    #[test]
    #[should_panic(expected = "accuracy: 2 predictions, 3 labels")]
    fn accuracy_checks_lengths() {
        accuracy(&[0, 1], &[0, 1, 2]);
    }

    #[test]
    fn logits_ties_go_to_the_first_class() {
        let logits = Tensor::from_rows(&[[1.0f64, 1.0, 0.0], [0.0, 0.0, 5.0], [0.0, 2.0, 2.0]]);
        assert_eq!(accuracy_from_logits(&logits, &[0, 2, 2]), 2.0 / 3.0);
    }

    #[test]
    fn confusion_rows_are_labels_and_sum_to_class_counts() {
        let labels = [0, 0, 0, 1, 1, 2];
        let preds = [0, 2, 0, 1, 0, 2];
        let m = confusion_matrix(&preds, &labels, 3);
        assert_eq!(m, vec![vec![2, 0, 1], vec![1, 1, 0], vec![0, 0, 1]]);
        let row_sums: Vec<usize> = m.iter().map(|r| r.iter().sum()).collect();
        assert_eq!(row_sums, [3, 2, 1]);
    }

    #[test]
    #[should_panic(expected = "confusion_matrix: class 3 with 3 classes")]
    fn confusion_checks_classes() {
        confusion_matrix(&[3], &[0], 3);
    }
}
