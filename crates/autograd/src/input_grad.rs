//! The handle through which an op's backward adds to one input's gradient.

use crate::{Float, Shape, Tensor};

/// One input's gradient, as [`Op::backward`](crate::Op::backward) receives it: add this op's
/// contribution with [`add`](InputGrad::add) (or [`add_scalar`](InputGrad::add_scalar)), or
/// take the tensor with [`tensor`](InputGrad::tensor) and add into it piece by piece.
///
/// The first contribution to a gradient is written over a recycled buffer instead of being
/// added to a zero-filled one; which of the two happens is the engine's business, so a
/// backward rule only ever says "add".
///
/// ```
/// use autograd::{InputGrad, Op, Tape, Tensor};
///
/// /// y = 2 x, dy/dx = 2.
/// struct Double;
///
/// impl Op<f64> for Double {
///     fn name(&self) -> String {
///         "double".into()
///     }
///     fn forward(&self, inputs: &[&Tensor<f64>], out: &mut Tensor<f64>) {
///         out.assign(inputs[0].shape(), inputs[0].data().iter().map(|x| 2.0 * x));
///     }
///     fn backward(&self, _: &[&Tensor<f64>], _: &Tensor<f64>, g: &Tensor<f64>, grads: &mut [Option<InputGrad<'_, f64>>]) {
///         if let Some(gx) = &mut grads[0] {
///             gx.add(g.data().iter().map(|g| 2.0 * g));
///         }
///     }
/// }
///
/// let tape = Tape::new();
/// let x = tape.leaf(Tensor::from_vec([2], vec![1.0, 5.0]));
/// // x is used twice: both contributions add up.
/// let y = (tape.apply(Double, &[x]) + tape.apply(Double, &[x])).sum();
/// assert_eq!(y.backward()[x].data(), &[4.0, 4.0]);
/// ```
pub struct InputGrad<'a, T: Float> {
    tensor: &'a mut Tensor<T>,
    /// Nothing added yet: the buffer holds stale values and the first write assigns.
    fresh: bool,
}

impl<'a, T: Float> InputGrad<'a, T> {
    /// `tensor` already has the input's shape; `fresh` says its contents are stale.
    pub(crate) fn new(tensor: &'a mut Tensor<T>, fresh: bool) -> Self {
        InputGrad { tensor, fresh }
    }

    /// The gradient's shape: the input's.
    #[inline]
    pub fn shape(&self) -> &Shape {
        self.tensor.shape()
    }

    /// Adds `values`, one per element in row-major order.
    ///
    /// # Panics
    /// If `values` does not have exactly one value per element.
    #[inline]
    pub fn add<I>(&mut self, values: I)
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let values = values.into_iter();
        let data = self.tensor.data_mut();
        assert_eq!(
            values.len(),
            data.len(),
            "InputGrad::add: {} values for a gradient of shape {}",
            values.len(),
            self.tensor.shape()
        );
        assign_or_add(data, values, std::mem::take(&mut self.fresh));
    }

    /// Adds `value` to every element.
    #[inline]
    pub fn add_scalar(&mut self, value: T) {
        let n = self.tensor.numel();
        self.add(std::iter::repeat_n(value, n));
    }

    /// The gradient as a tensor to add into (zero-filled first when nothing was added yet),
    /// for backward rules that scatter or add a piece at a time.
    #[inline]
    pub fn tensor(&mut self) -> &mut Tensor<T> {
        if std::mem::take(&mut self.fresh) {
            self.tensor.data_mut().fill(T::ZERO);
        }
        self.tensor
    }

    /// The raw elements and whether they are stale: a caller that gets `true` must assign every
    /// element, one that gets `false` must add. For kernels with a `beta` (GEMM).
    #[inline]
    pub(crate) fn raw(&mut self) -> (bool, &mut [T]) {
        (std::mem::take(&mut self.fresh), self.tensor.data_mut())
    }

    /// Called by the engine after the op's backward: a gradient the op left untouched is zero.
    #[inline]
    pub(crate) fn finish(self) {
        if self.fresh {
            self.tensor.data_mut().fill(T::ZERO);
        }
    }
}

/// `dst = values` if `assign` (a first contribution, into a stale buffer), else `dst += values`,
/// element by element: the two loops the `fresh` flag of [`InputGrad::raw`] chooses between.
#[inline]
pub(crate) fn assign_or_add<T: Float>(dst: &mut [T], values: impl Iterator<Item = T>, assign: bool) {
    if assign {
        dst.iter_mut().zip(values).for_each(|(d, v)| *d = v);
    } else {
        dst.iter_mut().zip(values).for_each(|(d, v)| *d += v);
    }
}
