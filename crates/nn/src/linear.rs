//! The fully connected layer.

use crate::{Init, Module, Parameter, ParameterMut};
use rand::Rng;
use tapegrad_autograd::{Float, Param, Shape, Tensor, Var};

/// `y = x W + b`, with `W: [in, out]` and `b: [out]`, as the numpy tutorials write it.
///
/// PyTorch's `nn.Linear` stores the same weight transposed (`[out, in]`); saving and loading
/// convert (see [`crate::io`]).
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Init, Linear};
/// use rand::{SeedableRng, rngs::StdRng};
/// let layer = Linear::<f64>::new(3, 2, Init::GlorotUniform, &mut StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let y = layer.forward(tape.constant(Tensor::ones([4, 3])));
/// assert_eq!(y.shape().dims(), &[4, 2]);
/// let grads = y.sum().backward();
/// assert_eq!(grads[&layer.bias].data(), &[4.0, 4.0]); // one per row
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Linear<T: Float> {
    /// `[in, out]`.
    pub weight: Param<T>,
    /// `[out]`.
    pub bias: Param<T>,
}

impl<T: Float> Linear<T> {
    /// A layer with weights from `init` and zero biases.
    ///
    /// # Panics
    /// If `inputs` or `outputs` is 0, or the `[inputs, outputs]` weight has more than
    /// [`Shape::MAX_NUMEL`] elements (its element count or byte size would overflow), before
    /// anything is allocated. A weight that can be described but not allocated (say
    /// `[1 << 20, 1 << 20]`, 4 TiB of f32) aborts in the allocator, as `Vec` does.
    pub fn new<R: Rng + ?Sized>(inputs: usize, outputs: usize, init: Init, rng: &mut R) -> Self {
        assert!(inputs > 0 && outputs > 0, "Linear::new: sizes must be positive, got {inputs} -> {outputs}");
        if !weight_fits(inputs, outputs) {
            panic!(
                "Linear::new: a [{inputs}, {outputs}] weight has more elements than any tensor can hold (at most {})",
                Shape::MAX_NUMEL
            );
        }
        Linear::from_tensors(init.tensor([inputs, outputs], rng), Tensor::zeros([outputs]))
    }

    /// A layer with the given weight `[in, out]` and bias `[out]`.
    ///
    /// # Panics
    /// If the weight is not a matrix with both sizes positive, or the bias does not have one
    /// entry per output.
    pub fn from_tensors(weight: Tensor<T>, bias: Tensor<T>) -> Self {
        let (inputs, outputs) = weight.shape().matrix("Linear::from_tensors");
        assert!(inputs > 0 && outputs > 0, "Linear::from_tensors: weight shape {} has an empty axis", weight.shape());
        assert_eq!(
            bias.shape().dims(),
            &[outputs],
            "Linear::from_tensors: bias shape {} for {outputs} outputs",
            bias.shape()
        );
        Linear { weight: Param::new(weight), bias: Param::new(bias) }
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.weight.shape()[1]
    }

    /// `x W + b`, recorded on `x`'s tape.
    ///
    /// # Panics
    /// If `x` is not `[batch, in]`.
    pub fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let tape = x.tape();
        x.matmul(tape.param(&self.weight)).add(tape.param(&self.bias))
    }
}

impl<T: Float> Linear<T> {
    /// The weight and the bias, writable: the list behind [`Module::parameters_mut`], as an
    /// array so that a model of many layers gathers them without a list per layer.
    pub(crate) fn weight_and_bias_mut(&mut self) -> [ParameterMut<'_, T>; 2] {
        [
            ParameterMut { param: &mut self.weight, is_weight: true },
            ParameterMut { param: &mut self.bias, is_weight: false },
        ]
    }
}

impl<T: Float> Module<T> for Linear<T> {
    fn parameters(&self) -> Vec<Parameter<'_, T>> {
        vec![
            Parameter { name: "weight".into(), param: &self.weight, is_weight: true },
            Parameter { name: "bias".into(), param: &self.bias, is_weight: false },
        ]
    }

    fn parameters_mut(&mut self) -> Vec<ParameterMut<'_, T>> {
        self.weight_and_bias_mut().into()
    }
}

/// Whether an `[inputs, outputs]` weight can be described at all: its element count, checked,
/// is at most [`Shape::MAX_NUMEL`], which also keeps its bytes within `isize::MAX` for either
/// float type.
pub(crate) fn weight_fits(inputs: usize, outputs: usize) -> bool {
    inputs.checked_mul(outputs).is_some_and(|n| n <= Shape::MAX_NUMEL)
}
