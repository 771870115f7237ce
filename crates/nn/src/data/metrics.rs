//! Classification and regression metrics, computed in f64.

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

/// Precision, recall, F1 and support of one class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassScores {
    /// Of the examples predicted as this class, the fraction that are: `tp / (tp + fp)`, 0 when
    /// nothing was predicted as it (scikit-learn's `zero_division=0`).
    pub precision: f64,
    /// Of the examples of this class, the fraction predicted as it: `tp / (tp + fn)`, 0 when the
    /// class has no examples.
    pub recall: f64,
    /// The harmonic mean `2 p r / (p + r)`, 0 when both are 0.
    pub f1: f64,
    /// The number of examples of this class.
    pub support: usize,
}

/// Per-class [`ClassScores`] and their macro averages, from [`precision_recall_f1`].
#[derive(Clone, Debug, PartialEq)]
pub struct ClassificationReport {
    /// One entry per class id.
    pub per_class: Vec<ClassScores>,
    /// The unweighted mean of the precisions over the classes that occur among the labels or
    /// the predictions (scikit-learn's `average="macro"`).
    pub macro_precision: f64,
    /// The same mean of the recalls.
    pub macro_recall: f64,
    /// The same mean of the F1 scores (not the F1 of the mean precision and recall).
    pub macro_f1: f64,
    /// The fraction of correct predictions.
    pub accuracy: f64,
}

/// Precision, recall and F1 of each class and their macro averages, as scikit-learn's
/// `precision_recall_fscore_support` with `zero_division=0`. A class that occurs neither among
/// the labels nor among the predictions is reported as all zeros and left out of the macro
/// averages; with no examples at all every average is NaN.
///
/// # Panics
/// If the slices differ in length or a class is not below `num_classes`.
///
/// ```
/// use tapegrad_nn::data::precision_recall_f1;
/// // Class 0: 2 of 3 found, 2 of 2 predictions right; class 1: 1 of 1 found, 1 of 2 right.
/// let report = precision_recall_f1(&[0, 0, 1, 1], &[0, 0, 0, 1], 2);
/// assert_eq!((report.per_class[0].precision, report.per_class[0].recall), (1.0, 2.0 / 3.0));
/// assert_eq!((report.per_class[1].precision, report.per_class[1].recall), (0.5, 1.0));
/// assert_eq!(report.macro_recall, (2.0 / 3.0 + 1.0) / 2.0);
/// assert_eq!(report.accuracy, 0.75);
/// ```
pub fn precision_recall_f1(predictions: &[usize], labels: &[usize], num_classes: usize) -> ClassificationReport {
    let m = confusion_matrix(predictions, labels, num_classes);
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mut per_class = Vec::with_capacity(num_classes);
    let (mut sums, mut present) = ([0.0; 3], 0);
    for c in 0..num_classes {
        let tp = m[c][c];
        let support: usize = m[c].iter().sum();
        let predicted: usize = m.iter().map(|row| row[c]).sum();
        let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        if support + predicted > 0 {
            present += 1;
            for (s, v) in sums.iter_mut().zip([precision, recall, f1]) {
                *s += v;
            }
        }
        per_class.push(ClassScores { precision, recall, f1, support });
    }
    let [p, r, f] = sums.map(|s| s / present as f64);
    ClassificationReport {
        per_class,
        macro_precision: p,
        macro_recall: r,
        macro_f1: f,
        accuracy: accuracy(predictions, labels),
    }
}

/// Panics naming the metric and both shapes unless they are equal.
fn same_shape<T: Float>(metric: &str, predictions: &Tensor<T>, targets: &Tensor<T>) {
    let (p, t) = (predictions.shape(), targets.shape());
    assert!(p == t, "{metric}: predictions {p} vs targets {t}: shapes differ");
}

/// The mean of `(prediction - target)^2` over every element; NaN when there are none.
///
/// # Panics
/// If the shapes differ (nothing broadcasts).
///
/// ```
/// use tapegrad_autograd::Tensor;
/// let pred = Tensor::from_rows(&[[1.0f64], [2.0], [4.0]]);
/// let target = Tensor::from_rows(&[[1.0], [0.0], [5.0]]);
/// assert_eq!(tapegrad_nn::data::mean_squared_error(&pred, &target), 5.0 / 3.0); // (0 + 4 + 1) / 3
/// ```
pub fn mean_squared_error<T: Float>(predictions: &Tensor<T>, targets: &Tensor<T>) -> f64 {
    same_shape("mean_squared_error", predictions, targets);
    let sum: f64 =
        predictions.data().iter().zip(targets.data()).map(|(&p, &t)| (p.to_f64() - t.to_f64()).powi(2)).sum();
    sum / targets.numel() as f64
}

/// The mean of `|prediction - target|` over every element; NaN when there are none.
///
/// # Panics
/// If the shapes differ (nothing broadcasts).
///
/// ```
/// use tapegrad_autograd::Tensor;
/// let pred = Tensor::from_vec([3], vec![1.0f32, 2.0, 4.0]);
/// let target = Tensor::from_vec([3], vec![1.0, 0.0, 5.0]);
/// assert_eq!(tapegrad_nn::data::mean_absolute_error(&pred, &target), 1.0); // (0 + 2 + 1) / 3
/// ```
pub fn mean_absolute_error<T: Float>(predictions: &Tensor<T>, targets: &Tensor<T>) -> f64 {
    same_shape("mean_absolute_error", predictions, targets);
    let sum: f64 = predictions.data().iter().zip(targets.data()).map(|(&p, &t)| (p.to_f64() - t.to_f64()).abs()).sum();
    sum / targets.numel() as f64
}

/// The coefficient of determination `R^2 = 1 - SS_res / SS_tot` of each target column, averaged
/// over the columns, as scikit-learn's `r2_score` (`multioutput="uniform_average"`): 1 for a
/// perfect fit, 0 for always predicting the column mean, negative for worse. A constant column
/// (`SS_tot = 0`) scores 1 when predicted exactly and 0 otherwise (scikit-learn's
/// `force_finite`). A vector is one column; with no rows the score is NaN.
///
/// # Panics
/// If the shapes differ, or are not a vector or a matrix.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// let target = Tensor::from_vec([4], vec![1.0f64, 2.0, 3.0, 4.0]); // mean 2.5, SS_tot = 5
/// let pred = Tensor::from_vec([4], vec![1.0, 2.0, 3.0, 3.0]);     // SS_res = 1
/// assert_eq!(tapegrad_nn::data::r2_score(&pred, &target), 0.8);
/// ```
pub fn r2_score<T: Float>(predictions: &Tensor<T>, targets: &Tensor<T>) -> f64 {
    same_shape("r2_score", predictions, targets);
    let dims = targets.shape().dims();
    let (rows, cols) = match *dims {
        [n] => (n, 1),
        [n, k] => (n, k),
        _ => panic!("r2_score: targets {} are neither a vector nor a matrix", targets.shape()),
    };
    if rows == 0 {
        return f64::NAN;
    }
    let (p, t) = (predictions.data(), targets.data());
    let column_score = |j: usize| {
        let ys: Vec<f64> = (0..rows).map(|i| t[i * cols + j].to_f64()).collect();
        let mean = ys.iter().sum::<f64>() / rows as f64;
        let ss_tot: f64 = ys.iter().map(|y| (y - mean).powi(2)).sum();
        let ss_res: f64 = ys.iter().enumerate().map(|(i, y)| (y - p[i * cols + j].to_f64()).powi(2)).sum();
        match (ss_res == 0.0, ss_tot == 0.0) {
            (true, _) => 1.0,
            (false, true) => 0.0,
            (false, false) => 1.0 - ss_res / ss_tot,
        }
    };
    (0..cols).map(column_score).sum::<f64>() / cols as f64
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
    #[test]
    fn precision_recall_f1_follow_the_confusion_matrix() {
        // labels:      0 0 0 1 1 2 2 2 2
        // predictions: 0 1 0 1 2 2 2 0 2
        let labels = [0, 0, 0, 1, 1, 2, 2, 2, 2];
        let preds = [0, 1, 0, 1, 2, 2, 2, 0, 2];
        let r = precision_recall_f1(&preds, &labels, 4);
        // Class 0: tp 2, predicted 3, support 3: p = r = 2/3, f1 = 2/3.
        // Class 1: tp 1, predicted 2, support 2: p = r = 1/2.
        // Class 2: tp 3, predicted 4, support 4: p = r = 3/4.
        // Class 3: absent from both: zeros, left out of the macro averages.
        let want = [(2.0 / 3.0, 3), (0.5, 2), (0.75, 4)];
        for (c, (v, support)) in want.into_iter().enumerate() {
            let s = r.per_class[c];
            assert!(
                (s.precision - v).abs() < 1e-15 && (s.recall - v).abs() < 1e-15 && (s.f1 - v).abs() < 1e-15,
                "{c}: {s:?}"
            );
            assert_eq!(s.support, support);
        }
        assert_eq!(r.per_class[3], ClassScores { precision: 0.0, recall: 0.0, f1: 0.0, support: 0 });
        let mean = (2.0 / 3.0 + 0.5 + 0.75) / 3.0;
        for m in [r.macro_precision, r.macro_recall, r.macro_f1] {
            assert!((m - mean).abs() < 1e-15, "{m} vs {mean}");
        }
        assert_eq!(r.accuracy, 6.0 / 9.0);
    }

    #[test]
    fn a_class_never_predicted_has_zero_precision_and_f1_and_counts_in_the_macro_mean() {
        // Class 1 has one example, predicted as 0: tp 0, predicted 0 -> precision 0 (not NaN).
        let r = precision_recall_f1(&[0, 0, 0], &[0, 0, 1], 2);
        assert_eq!(r.per_class[1], ClassScores { precision: 0.0, recall: 0.0, f1: 0.0, support: 1 });
        // Class 0: p = 2/3, r = 1, f1 = 2 (2/3) / (5/3) = 0.8; macro f1 = (0.8 + 0) / 2.
        assert!((r.per_class[0].f1 - 0.8).abs() < 1e-15);
        assert!((r.macro_f1 - 0.4).abs() < 1e-15);
        assert!(precision_recall_f1(&[], &[], 3).macro_f1.is_nan());
    }

    #[test]
    fn regression_errors_average_over_every_element() {
        let pred = Tensor::from_rows(&[[1.0f64, 0.0], [2.0, 5.0]]);
        let target = Tensor::from_rows(&[[0.0, 0.0], [4.0, 2.0]]);
        // Differences 1, 0, -2, 3: squares 1, 0, 4, 9; magnitudes 1, 0, 2, 3.
        assert_eq!(mean_squared_error(&pred, &target), 3.5);
        assert_eq!(mean_absolute_error(&pred, &target), 1.5);
        assert!(mean_squared_error(&Tensor::<f32>::zeros([0, 2]), &Tensor::zeros([0, 2])).is_nan());
    }

    #[test]
    fn r2_averages_the_columns_and_handles_constant_ones() {
        // Column 0: targets 1, 2, 3 (mean 2, SS_tot 2), predictions 1, 2, 4: SS_res 1, R^2 0.5.
        // Column 1: the mean itself, 5, 5, 5, against targets 4, 5, 6: R^2 0.
        let target = Tensor::from_rows(&[[1.0f64, 4.0], [2.0, 5.0], [3.0, 6.0]]);
        let pred = Tensor::from_rows(&[[1.0, 5.0], [2.0, 5.0], [4.0, 5.0]]);
        assert_eq!(r2_score(&pred, &target), 0.25);
        assert_eq!(r2_score(&target, &target), 1.0);
        // Worse than the mean is negative: predicting 3, 2, 1 for 1, 2, 3 gives 1 - 8 / 2 = -3.
        let reversed = Tensor::from_vec([3], vec![3.0, 2.0, 1.0]);
        assert_eq!(r2_score(&reversed, &Tensor::from_vec([3], vec![1.0, 2.0, 3.0])), -3.0);
        // A constant column: 1 if matched exactly, else 0 (never NaN or -inf).
        let constant = Tensor::from_vec([2], vec![7.0, 7.0]);
        assert_eq!(r2_score(&constant, &constant), 1.0);
        assert_eq!(r2_score(&Tensor::from_vec([2], vec![7.0, 8.0]), &constant), 0.0);
        assert!(r2_score(&Tensor::<f64>::zeros([0]), &Tensor::zeros([0])).is_nan());
    }

    #[test]
    #[should_panic(expected = "r2_score: predictions [4, 1] vs targets [4]: shapes differ")]
    fn regression_metrics_refuse_other_shapes() {
        r2_score(&Tensor::<f64>::zeros([4, 1]), &Tensor::zeros([4]));
    }

    #[test]
    #[should_panic(expected = "mean_squared_error: predictions [3] vs targets [2]: shapes differ")]
    fn mse_refuses_other_shapes() {
        mean_squared_error(&Tensor::<f64>::zeros([3]), &Tensor::zeros([2]));
    }
}
