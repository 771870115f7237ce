//! What every model shares: a fixed, named list of parameters.

use crate::Mode;
use tapegrad_autograd::{Float, Param};

/// One parameter, read-only: its name, the parameter, and whether it is a weight.
pub struct Parameter<'a, T: Float> {
    /// The name PyTorch gives the same parameter (`"0.weight"`, `"2.bias"`).
    pub name: String,
    /// The parameter.
    pub param: &'a Param<T>,
    /// True for weights, false for biases: L2 regularisation and weight decay apply to weights
    /// only, since penalising a bias only shifts the decision boundary without reducing capacity.
    pub is_weight: bool,
}

/// One parameter, writable, as optimisers see it.
pub struct ParameterMut<'a, T: Float> {
    /// The parameter, updated in place.
    pub param: &'a mut Param<T>,
    /// True for weights; see [`Parameter::is_weight`].
    pub is_weight: bool,
}

/// A model: its parameters, in a fixed order.
///
/// The forward pass records each parameter with [`Tape::param`](tapegrad_autograd::Tape::param), and an
/// optimiser finds each one's gradient from the parameter itself, so nothing depends on the
/// order beyond [`parameters`](Module::parameters) and
/// [`parameters_mut`](Module::parameters_mut) listing the same parameters alike (the
/// hand-derived backprop in [`crate::manual`] relies on that order).
pub trait Module<T: Float> {
    /// Every parameter, with its name, in order.
    fn parameters(&self) -> Vec<Parameter<'_, T>>;

    /// Every parameter, in the same order, for updating. Names are left out: optimisers call
    /// this every step.
    fn parameters_mut(&mut self) -> Vec<ParameterMut<'_, T>>;

    /// Whether the model is training or evaluating. The default, for models with no layer
    /// that depends on it (an [`Mlp`](crate::Mlp)), is [`Mode::Eval`].
    fn mode(&self) -> Mode {
        Mode::Eval
    }

    /// Switches between training and evaluation (a [`Sequential`](crate::Sequential)'s
    /// dropout); models with no such layer ignore it.
    fn set_mode(&mut self, mode: Mode) {
        let _ = mode;
    }

    /// Total number of scalar parameters.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.param.numel()).sum()
    }
}
