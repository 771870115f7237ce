//! Parameters: tensors with an identity, so that a gradient can be found from the parameter.

use crate::{Float, Tensor};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A model parameter: a tensor with an identity that outlives any tape.
///
/// A layer records its parameters with [`Tape::param`](crate::Tape::param) during the forward
/// pass; an optimiser then finds each one's gradient with
/// [`Gradients::param`](crate::Gradients::param) (or `grads[&param]`), whatever order the layers
/// ran in. A clone is a new parameter (its own identity), holding a copy of the value.
///
/// ```
/// use tapegrad_autograd::{Param, Tape, Tensor};
/// let mut w = Param::new(Tensor::from_vec([2], vec![1.0f64, -2.0]));
/// let tape = Tape::new();
/// let loss = tape.param(&w).square().sum();
/// let grads = loss.backward();
/// let step: Vec<f64> = grads[&w].data().iter().map(|g| 0.25 * g).collect();
/// drop(grads);
/// w.value_mut().data_mut().iter_mut().zip(step).for_each(|(v, s)| *v -= s);
/// assert_eq!(w.data(), &[0.5, -1.0]);
/// ```
pub struct Param<T: Float> {
    id: ParamId,
    value: Tensor<T>,
}

/// The identity of a [`Param`]: unique in the process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ParamId(u64);

impl fmt::Display for ParamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#p{}", self.0)
    }
}

static NEXT_PARAM_ID: AtomicU64 = AtomicU64::new(1);

impl<T: Float> Param<T> {
    /// A new parameter holding `value`.
    pub fn new(value: Tensor<T>) -> Self {
        Param { id: ParamId(NEXT_PARAM_ID.fetch_add(1, Ordering::Relaxed)), value }
    }

    /// Its identity.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// The value.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// The value, for updating in place (an optimiser step, loading saved weights).
    pub fn value_mut(&mut self) -> &mut Tensor<T> {
        &mut self.value
    }

    /// The value, giving up the identity.
    pub fn into_value(self) -> Tensor<T> {
        self.value
    }
}

impl<T: Float> std::ops::Deref for Param<T> {
    type Target = Tensor<T>;

    fn deref(&self) -> &Tensor<T> {
        &self.value
    }
}

impl<T: Float> std::ops::DerefMut for Param<T> {
    /// The value, for updating in place: the identity stays.
    fn deref_mut(&mut self) -> &mut Tensor<T> {
        &mut self.value
    }
}

impl<T: Float> Clone for Param<T> {
    /// A new parameter with a copy of the value.
    fn clone(&self) -> Self {
        Param::new(self.value.clone())
    }
}

impl<T: Float> PartialEq for Param<T> {
    /// Equal values; the identities are not compared (a clone equals its original).
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Float> fmt::Debug for Param<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Param({}, {:?})", self.id, self.value)
    }
}
