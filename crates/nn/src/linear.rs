//! The fully connected layer.

use crate::{Init, Module, Parameter, ParameterMut};
use autograd::{Float, Shape, Tensor, Var};
use rand::Rng;

/// `y = x W + b`, with `W: [in, out]` and `b: [out]`, as the numpy tutorials write it.
///
/// PyTorch's `nn.Linear` stores the same weight transposed (`[out, in]`); saving and loading
/// convert (see [`crate::io`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear<T: Float> {
    /// `[in, out]`.
    pub weight: Tensor<T>,
    /// `[out]`.
    pub bias: Tensor<T>,
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
        Linear { weight: init.tensor([inputs, outputs], rng), bias: Tensor::zeros([outputs]) }
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.weight.shape()[1]
    }

    /// `x W + b` on a tape, with `weight` and `bias` the vars [`bind`](Module::bind) returned.
    ///
    /// # Panics
    /// If `x` is not `[batch, in]`.
    pub fn forward<'t>(weight: Var<'t, T>, bias: Var<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        x.matmul(weight).add(bias)
    }

    /// `x W + b` on plain tensors, recording nothing.
    ///
    /// # Panics
    /// If `x` is not `[batch, in]`.
    pub fn apply(&self, x: &Tensor<T>) -> Tensor<T> {
        x.matmul(&self.weight).add(&self.bias)
    }
}

impl<T: Float> Module<T> for Linear<T> {
    fn parameters(&self) -> Vec<Parameter<'_, T>> {
        vec![
            Parameter { name: "weight".into(), value: &self.weight, is_weight: true },
            Parameter { name: "bias".into(), value: &self.bias, is_weight: false },
        ]
    }

    fn parameters_mut(&mut self) -> Vec<ParameterMut<'_, T>> {
        vec![
            ParameterMut { value: &mut self.weight, is_weight: true },
            ParameterMut { value: &mut self.bias, is_weight: false },
        ]
    }
}

/// Whether an `[inputs, outputs]` weight can be described at all: its element count, checked,
/// is at most [`Shape::MAX_NUMEL`], which also keeps its bytes within `isize::MAX` for either
/// float type.
pub(crate) fn weight_fits(inputs: usize, outputs: usize) -> bool {
    inputs.checked_mul(outputs).is_some_and(|n| n <= Shape::MAX_NUMEL)
}
