//! The gradient store: gradients kept apart from the values, keyed by node.

use crate::backward::GradBuffers;
use crate::{Float, Param, Tape, Tensor, Var};
use std::cell::Cell;

/// The gradients of one backward pass, looked up by the [`Var`] (or [`Param`]) they belong to.
///
/// Only leaves keep a gradient: an intermediate one leaves the store as soon as backward has
/// consumed it. When the store is dropped, its buffers go back to its tape, where the next
/// backward writes into them instead of allocating.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let w = tape.leaf(Tensor::from_vec([2], vec![3.0, 4.0]));
/// let loss = w.square().sum();
/// let grads = loss.backward();
/// assert_eq!(grads[w].data(), &[6.0, 8.0]);
/// assert!(grads.get(loss).is_none()); // not a leaf
/// ```
///
/// A store borrows its tape, so the tape cannot be reset while the store lives, and a var of
/// the next recording can never be looked up in the last one's store:
///
/// ```compile_fail
/// use tapegrad_autograd::{Tape, Tensor};
/// let mut tape = Tape::<f64>::new();
/// let grads = tape.leaf(Tensor::ones([2])).sum().backward();
/// tape.reset(); // error: `tape` is still borrowed by `grads`
/// drop(grads);
/// ```
pub struct Gradients<'t, T: Float> {
    tape: &'t Tape<T>,
    buffers: GradBuffers<T>,
    /// Where the next [`param`](Gradients::param) lookup starts: optimisers ask for parameters
    /// in the order the forward pass recorded them.
    next_param: Cell<usize>,
}

impl<'t, T: Float> Gradients<'t, T> {
    pub(crate) fn new(tape: &'t Tape<T>, buffers: GradBuffers<T>) -> Self {
        Gradients { tape, buffers, next_param: Cell::new(0) }
    }

    /// The gradient of the loss with respect to `var`, if `var` is a leaf.
    ///
    /// # Panics
    /// If `var` was recorded on another tape. (A var of an earlier recording of the same tape
    /// cannot reach here: resetting the tape needs every var and store of it gone.)
    pub fn get(&self, var: Var<'_, T>) -> Option<&Tensor<T>> {
        self.check(var);
        self.at(var.index())
    }

    /// The gradient of the loss with respect to `param`, if it was recorded on this store's tape
    /// (with [`Tape::param`]) before backward.
    #[inline]
    pub fn param(&self, param: &Param<T>) -> Option<&Tensor<T>> {
        let (position, index) = self.tape.param_node(param, self.next_param.get())?;
        self.next_param.set(position + 1);
        self.at(index)
    }

    /// Takes the gradient of `var` out of the store.
    ///
    /// # Panics
    /// As [`get`](Gradients::get).
    pub fn take(&mut self, var: Var<'_, T>) -> Option<Tensor<T>> {
        self.check(var);
        let i = var.index();
        let written = self.buffers.written.get_mut(i).map(std::mem::take).unwrap_or(false);
        written.then(|| std::mem::take(&mut self.buffers.grads[i]))
    }

    /// Every gradient held, with the index of its node.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Tensor<T>)> {
        let GradBuffers { grads, written, .. } = &self.buffers;
        grads.iter().zip(written).enumerate().filter_map(|(i, (g, &w))| w.then_some((i, g)))
    }

    #[inline]
    fn at(&self, i: usize) -> Option<&Tensor<T>> {
        self.buffers.written.get(i).copied().unwrap_or(false).then(|| &self.buffers.grads[i])
    }

    fn check(&self, var: Var<'_, T>) {
        assert!(std::ptr::eq(var.tape(), self.tape), "gradients: var #{} is from another tape", var.index());
    }
}

impl<T: Float> Drop for Gradients<'_, T> {
    fn drop(&mut self) {
        // Only the last store dropped is kept: one set of buffers is all the next backward uses.
        if let Ok(mut spare) = self.tape.spare.try_borrow_mut() {
            *spare = std::mem::take(&mut self.buffers);
        }
    }
}

impl<T: Float> std::ops::Index<Var<'_, T>> for Gradients<'_, T> {
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

impl<T: Float> std::ops::Index<&Param<T>> for Gradients<'_, T> {
    type Output = Tensor<T>;

    /// # Panics
    /// If `param` was not recorded on this store's tape before backward.
    fn index(&self, param: &Param<T>) -> &Tensor<T> {
        self.param(param).unwrap_or_else(|| {
            panic!(
                "gradients: parameter {} of shape {} has no gradient: it was not recorded (tape.param) before backward",
                param.id(),
                param.shape()
            )
        })
    }
}
