//! The gradient store: gradients kept apart from the values, keyed by node.

use crate::{Float, Tensor, Var};

/// The gradients of one backward pass, looked up by the [`Var`] they belong to.
///
/// Only leaves keep a gradient: an intermediate one leaves the store as soon as backward has
/// consumed it. Its buffer stays, for the next backward of a tape this store is
/// [recycled](crate::Tape::recycle) into.
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
    pub(crate) tape_id: u64,
    /// By node; only those marked `present` hold a gradient, the others keep a buffer for the
    /// next backward that recycles this store.
    pub(crate) grads: Vec<Tensor<T>>,
    pub(crate) present: Vec<bool>,
}

impl<T: Float> Gradients<T> {
    pub(crate) fn new(tape_id: u64, grads: Vec<Tensor<T>>, present: Vec<bool>) -> Self {
        Gradients { tape_id, grads, present }
    }

    /// The gradient of the loss with respect to `var`, if `var` is a leaf.
    ///
    /// # Panics
    /// If `var` was recorded on another tape, or after the tape was reset.
    pub fn get(&self, var: Var<'_, T>) -> Option<&Tensor<T>> {
        self.check(var);
        let i = var.index();
        self.present.get(i).copied().unwrap_or(false).then(|| &self.grads[i])
    }

    /// Takes the gradient out of the store.
    ///
    /// # Panics
    /// As [`get`](Gradients::get).
    pub fn take(&mut self, var: Var<'_, T>) -> Option<Tensor<T>> {
        self.check(var);
        let i = var.index();
        let present = self.present.get_mut(i).map(std::mem::take).unwrap_or(false);
        present.then(|| std::mem::take(&mut self.grads[i]))
    }

    /// Every gradient held, with the index of its node.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Tensor<T>)> {
        self.grads.iter().zip(&self.present).enumerate().filter_map(|(i, (g, &p))| p.then_some((i, g)))
    }

    fn check(&self, var: Var<'_, T>) {
        assert_eq!(
            var.tape().id(),
            self.tape_id,
            "gradients: var #{} is from another tape, or from after the tape was reset",
            var.index()
        );
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
