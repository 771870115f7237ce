//! The gradient store: gradients kept apart from the values, keyed by node.

use crate::{Float, Tensor, Var};

/// The gradients of one backward pass, looked up by the [`Var`] they belong to.
///
/// Only leaves keep a gradient: intermediate ones are freed as soon as backward consumes them.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let w = tape.leaf(Tensor::from_vec([2], vec![3.0, 4.0]));
/// let loss = w.square().sum();
/// let grads = loss.backward();
/// assert_eq!(grads[w].data(), &[6.0, 8.0]);
/// assert!(grads.get(loss).is_none()); // not a leaf
/// ```
pub struct Gradients<T: Float> {
    tape_id: u64,
    grads: Vec<Option<Tensor<T>>>,
}

impl<T: Float> Gradients<T> {
    pub(crate) fn new(tape_id: u64, grads: Vec<Option<Tensor<T>>>) -> Self {
        Gradients { tape_id, grads }
    }

    /// The gradient of the loss with respect to `var`, if `var` is a leaf.
    ///
    /// # Panics
    /// If `var` was recorded on another tape, or after the tape was reset.
    pub fn get(&self, var: Var<'_, T>) -> Option<&Tensor<T>> {
        self.check(var);
        self.grads.get(var.index()).and_then(Option::as_ref)
    }

    /// Takes the gradient out of the store.
    ///
    /// # Panics
    /// As [`get`](Gradients::get).
    pub fn take(&mut self, var: Var<'_, T>) -> Option<Tensor<T>> {
        self.check(var);
        self.grads.get_mut(var.index()).and_then(Option::take)
    }

    /// Every gradient held, with the index of its node.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Tensor<T>)> {
        self.grads.iter().enumerate().filter_map(|(i, g)| g.as_ref().map(|g| (i, g)))
    }

    fn check(&self, var: Var<'_, T>) {
        assert_eq!(
            var.tape().id(),
            self.tape_id,
            "gradients: var #{} is from another tape, or from after the tape was reset",
            var.index()
        );
    }

    pub(crate) fn into_slots(self) -> Vec<Option<Tensor<T>>> {
        self.grads
    }
}

impl<T: Float> std::ops::Index<Var<'_, T>> for Gradients<T> {
    type Output = Tensor<T>;

    /// # Panics
    /// If `var` is not a leaf of the tape this store came from.
    fn index(&self, var: Var<'_, T>) -> &Tensor<T> {
        self.get(var).unwrap_or_else(|| {
            panic!(
                "gradients: var #{} has no gradient: only leaves recorded before backward keep one (make it with tape.leaf)",
                var.index()
            )
        })
    }
}
