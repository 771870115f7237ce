//! `Var`: the handle to a value recorded on a tape, on which ops are methods.

use crate::{Float, Gradients, Op, Shape, Tape, Tensor};
use smallvec::SmallVec;
use std::fmt;

/// A value recorded on a [`Tape`]: a small `Copy` handle (a tape reference and a node index).
///
/// Ops are methods (`x.matmul(w).add(b).relu()`), and `+ - * /` and unary `-` work on vars.
/// Most have a `Tensor` method of the same name, which runs the same forward without a tape.
///
/// - Elementwise ([`ops::elementwise`](crate::ops::elementwise)): [`add`](Var::add),
///   [`sub`](Var::sub), [`mul`](Var::mul), [`div`](Var::div) (broadcasting), [`scale`](Var::scale),
///   [`add_scalar`](Var::add_scalar), [`neg`](Var::neg), [`square`](Var::square),
///   [`exp`](Var::exp), [`log`](Var::log), [`abs`](Var::abs), [`sqrt`](Var::sqrt),
///   [`rsqrt`](Var::rsqrt), [`recip`](Var::recip), [`powi`](Var::powi), [`powf`](Var::powf),
///   [`sin`](Var::sin), [`cos`](Var::cos).
/// - Activations ([`ops::activation`](crate::ops::activation)): [`relu`](Var::relu),
///   [`sigmoid`](Var::sigmoid), [`tanh`](Var::tanh), [`leaky_relu`](Var::leaky_relu),
///   [`elu`](Var::elu), [`silu`](Var::silu), [`softplus`](Var::softplus),
///   [`log_sigmoid`](Var::log_sigmoid), [`gelu`](Var::gelu).
/// - Matrices ([`ops::matmul`](crate::ops::matmul)): [`matmul`](Var::matmul),
///   [`transpose`](Var::transpose).
/// - Reductions ([`ops::reduce`](crate::ops::reduce)): [`sum`](Var::sum), [`mean`](Var::mean),
///   [`sum_axis`](Var::sum_axis), [`mean_axis`](Var::mean_axis) and their `_keepdim` forms
///   [`sum_axis_keepdim`](Var::sum_axis_keepdim), [`mean_axis_keepdim`](Var::mean_axis_keepdim).
/// - Shapes ([`ops::shape`](crate::ops::shape)): [`reshape`](Var::reshape),
///   [`unsqueeze`](Var::unsqueeze), [`squeeze`](Var::squeeze),
///   [`broadcast_to`](Var::broadcast_to), [`concat`](Var::concat), [`stack`](Var::stack),
///   [`narrow`](Var::narrow), [`slice`](Var::slice), [`flip`](Var::flip),
///   [`swap_axes`](Var::swap_axes), [`permute`](Var::permute).
/// - Softmax and losses ([`ops::softmax`](crate::ops::softmax), [`ops::pick`](crate::ops::pick)):
///   [`log_softmax`](Var::log_softmax), [`softmax`](Var::softmax), [`pick`](Var::pick),
///   [`nll`](Var::nll).
#[derive(Clone, Copy)]
pub struct Var<'t, T: Float = f32> {
    tape: &'t Tape<T>,
    index: usize,
}

impl<'t, T: Float> Var<'t, T> {
    #[inline]
    pub(crate) fn new(tape: &'t Tape<T>, index: usize) -> Self {
        Var { tape, index }
    }

    /// The tape this var is recorded on.
    #[inline]
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// The node's position on the tape (its id in listings).
    #[inline]
    pub fn index(&self) -> usize {
        self.index
    }

    /// A copy of the value.
    pub fn value(&self) -> Tensor<T> {
        self.with_value(Tensor::clone)
    }

    /// Calls `f` with a reference to the value, without copying it.
    ///
    /// # Panics
    /// If `f` records on the tape (the value is borrowed from it while `f` runs).
    pub fn with_value<R>(&self, f: impl FnOnce(&Tensor<T>) -> R) -> R {
        f(&self.tape.nodes.borrow()[self.index].value)
    }

    /// The value's shape.
    pub fn shape(&self) -> Shape {
        self.with_value(|v| v.shape().clone())
    }

    /// The single value of a one-element var (a loss).
    ///
    /// # Panics
    /// If the var holds more than one element.
    pub fn item(&self) -> T {
        self.with_value(Tensor::item)
    }

    /// Records `op` applied to this var and `others`.
    pub fn apply(self, op: impl Op<T>, others: &[Var<'t, T>]) -> Var<'t, T> {
        match others {
            [] => self.tape.apply(op, &[self]),
            [other] => self.tape.apply(op, &[self, *other]),
            _ => {
                let inputs: SmallVec<[Var<'t, T>; 4]> = std::iter::once(self).chain(others.iter().copied()).collect();
                self.tape.apply(op, &inputs)
            }
        }
    }

    /// The gradient of this scalar with respect to every leaf of the tape.
    ///
    /// Backward reads the tape and leaves it unchanged: calling it twice gives the same store.
    /// Leaves that do not influence this value get a zero gradient. When the store is dropped,
    /// its buffers go back to the tape for the next backward.
    ///
    /// # Panics
    /// If this var holds more than one element.
    pub fn backward(&self) -> Gradients<'t, T> {
        crate::backward::backward(self.tape, self.index)
    }
}

impl<T: Float> fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Var(#{}, {})", self.index, self.shape())
    }
}
