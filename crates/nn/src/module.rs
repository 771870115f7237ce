//! What every model shares: a fixed, named list of parameters.

use autograd::{Float, Tape, Tensor, Var};

/// One parameter, read-only: its name, its value, and whether it is a weight.
pub struct Parameter<'a, T: Float> {
    /// The name PyTorch gives the same parameter (`"0.weight"`, `"2.bias"`).
    pub name: String,
    /// The value.
    pub value: &'a Tensor<T>,
    /// True for weights, false for biases: L2 regularisation and weight decay apply to weights
    /// only, since penalising a bias only shifts the decision boundary without reducing capacity.
    pub is_weight: bool,
}

/// One parameter, writable, as optimisers see it.
pub struct ParameterMut<'a, T: Float> {
    /// The value, updated in place.
    pub value: &'a mut Tensor<T>,
    /// True for weights; see [`Parameter::is_weight`].
    pub is_weight: bool,
}

/// A model: a list of parameters in a fixed order.
///
/// The order is the contract between [`bind`](Module::bind) (which puts the parameters on a
/// tape), the forward pass (which reads those vars) and the optimisers (which update
/// [`parameters_mut`](Module::parameters_mut) from the gradients of the same vars).
pub trait Module<T: Float> {
    /// Every parameter, in order.
    fn parameters(&self) -> Vec<Parameter<'_, T>>;

    /// Every parameter, in the same order, for updating.
    fn parameters_mut(&mut self) -> Vec<ParameterMut<'_, T>>;

    /// Puts every parameter on `tape` as a leaf (copied into the tape's recycled buffers) and
    /// returns the vars, in order.
    fn bind<'t>(&self, tape: &'t Tape<T>) -> Vec<Var<'t, T>> {
        self.parameters().into_iter().map(|p| tape.leaf_from(p.value)).collect()
    }

    /// Total number of scalar parameters.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.value.numel()).sum()
    }
}
