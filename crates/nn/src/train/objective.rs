//! What a [`Trainer`](super::Trainer) minimises ([`Loss`]) and reports ([`Metric`]), for class
//! labels and for float targets.

use crate::data::{ClassLabels, accuracy_from_logits, mean_absolute_error, mean_squared_error, r2_score};
use crate::{Reduction, mse_loss, softmax_cross_entropy};
use tapegrad_autograd::{Float, Tensor, Var, gather_labels};

/// A training loss: the mean loss of a batch's model output against its targets.
///
/// Implemented by [`CrossEntropy`] (class labels), [`Mse`] (float targets), and [`FnLoss`],
/// which wraps any loss of output and target such as [`huber_loss`](crate::huber_loss).
pub trait Loss<T: Float, Y> {
    /// The loss of `output` (one row per example of `rows`) against the targets of the examples
    /// at `rows` of `targets`, recorded on `output`'s tape.
    ///
    /// # Panics
    /// If `output` does not fit the targets.
    fn loss<'t>(&self, output: Var<'t, T>, targets: &Y, rows: &[usize]) -> Var<'t, T>;
}

/// Mean softmax cross-entropy of logits against class labels
/// ([`softmax_cross_entropy`](crate::softmax_cross_entropy)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrossEntropy;

impl<T: Float> Loss<T, ClassLabels> for CrossEntropy {
    fn loss<'t>(&self, output: Var<'t, T>, targets: &ClassLabels, rows: &[usize]) -> Var<'t, T> {
        softmax_cross_entropy(output, gather_labels(targets.ids(), rows))
    }
}

/// Mean squared error against float targets ([`mse_loss`](crate::mse_loss) with
/// [`Reduction::Mean`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mse;

impl<T: Float> Loss<T, Tensor<T>> for Mse {
    fn loss<'t>(&self, output: Var<'t, T>, targets: &Tensor<T>, rows: &[usize]) -> Var<'t, T> {
        mse_loss(output, output.tape().gather_rows(targets, rows), Reduction::Mean)
    }
}

/// Any loss of the prediction and the target rows, against float targets:
/// `FnLoss::new(|p, t| huber_loss(p, t, 1.0, Reduction::Mean))`.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::train::{FnLoss, Loss};
/// use tapegrad_nn::{Reduction, l1_loss};
///
/// let mae = FnLoss::new(|p, t| l1_loss(p, t, Reduction::Mean));
/// let tape = Tape::<f64>::new();
/// let targets = Tensor::from_rows(&[[1.0], [5.0], [2.0]]);
/// let output = tape.leaf(Tensor::from_rows(&[[2.0], [0.0]]));
/// // Rows 0 and 2: (|2 - 1| + |0 - 2|) / 2.
/// assert_eq!(mae.loss(output, &targets, &[0, 2]).item(), 1.5);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FnLoss<F>(pub F);

impl<F> FnLoss<F> {
    /// `f` as a loss. Going through this function, rather than `FnLoss(f)`, lets a closure's
    /// argument and return types be inferred as the loss of any tape.
    pub fn new<T: Float>(f: F) -> Self
    where
        F: for<'t> Fn(Var<'t, T>, Var<'t, T>) -> Var<'t, T>,
    {
        FnLoss(f)
    }
}

impl<T: Float, F> Loss<T, Tensor<T>> for FnLoss<F>
where
    F: for<'t> Fn(Var<'t, T>, Var<'t, T>) -> Var<'t, T>,
{
    fn loss<'t>(&self, output: Var<'t, T>, targets: &Tensor<T>, rows: &[usize]) -> Var<'t, T> {
        (self.0)(output, output.tape().gather_rows(targets, rows))
    }
}

/// A score of a model's output on a whole data set, for validation.
pub trait Metric<T: Float, Y> {
    /// A short name for reports (`"accuracy"`, `"r2"`).
    fn name(&self) -> &'static str;

    /// True if a larger score is better (accuracy, R^2), false if smaller is (errors).
    fn higher_is_better(&self) -> bool;

    /// The score of `output` (one row per example) against `targets`.
    ///
    /// # Panics
    /// If `output` does not fit the targets.
    fn score(&self, output: &Tensor<T>, targets: &Y) -> f64;
}

/// The fraction of examples whose largest logit is their label's
/// ([`accuracy_from_logits`](crate::data::accuracy_from_logits)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accuracy;

impl<T: Float> Metric<T, ClassLabels> for Accuracy {
    fn name(&self) -> &'static str {
        "accuracy"
    }
    fn higher_is_better(&self) -> bool {
        true
    }
    fn score(&self, output: &Tensor<T>, targets: &ClassLabels) -> f64 {
        accuracy_from_logits(output, targets.ids())
    }
}

/// Mean squared error ([`mean_squared_error`](crate::data::mean_squared_error)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeanSquaredError;

impl<T: Float> Metric<T, Tensor<T>> for MeanSquaredError {
    fn name(&self) -> &'static str {
        "mse"
    }
    fn higher_is_better(&self) -> bool {
        false
    }
    fn score(&self, output: &Tensor<T>, targets: &Tensor<T>) -> f64 {
        mean_squared_error(output, targets)
    }
}

/// Mean absolute error ([`mean_absolute_error`](crate::data::mean_absolute_error)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeanAbsoluteError;

impl<T: Float> Metric<T, Tensor<T>> for MeanAbsoluteError {
    fn name(&self) -> &'static str {
        "mae"
    }
    fn higher_is_better(&self) -> bool {
        false
    }
    fn score(&self, output: &Tensor<T>, targets: &Tensor<T>) -> f64 {
        mean_absolute_error(output, targets)
    }
}

/// The coefficient of determination ([`r2_score`](crate::data::r2_score)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct R2;

impl<T: Float> Metric<T, Tensor<T>> for R2 {
    fn name(&self) -> &'static str {
        "r2"
    }
    fn higher_is_better(&self) -> bool {
        true
    }
    fn score(&self, output: &Tensor<T>, targets: &Tensor<T>) -> f64 {
        r2_score(output, targets)
    }
}
