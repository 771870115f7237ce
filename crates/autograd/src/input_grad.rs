//! The handle through which an op's backward adds to one input's gradient.

use crate::{Float, Shape, Tensor};

/// One input's gradient, as [`Op::backward`](crate::Op::backward) receives it: add this op's
/// contribution with [`add`](InputGrad::add) (or [`add_scalar`](InputGrad::add_scalar)), or
/// take the tensor with [`tensor`](InputGrad::tensor) and add into it piece by piece.
///
/// The first contribution to a gradient is written over the buffer kept from the last step
/// instead of being added to a zero-filled one; which of the two happens is the engine's
/// business, so a backward rule only ever says "add".
///
/// ```
/// use tapegrad_autograd::{InputGrad, Op, Output, Tape, Tensor};
///
/// /// y = 2 x, dy/dx = 2.
/// struct Double;
///
/// impl Op<f64> for Double {
///     fn name(&self) -> String {
///         "double".into()
///     }
///     fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
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
    /// How the next contribution writes: `Assign` while nothing has been added, because the
    /// buffer then holds the last step's values.
    mode: Write,
}

/// How a gradient contribution is written into its buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Write {
    /// Over old values: this is the first contribution.
    Assign,
    /// Onto earlier contributions.
    Add,
}

impl<'a, T: Float> InputGrad<'a, T> {
    /// `tensor` already has the input's shape; `mode` says whether it holds a contribution yet.
    pub(crate) fn new(tensor: &'a mut Tensor<T>, mode: Write) -> Self {
        InputGrad { tensor, mode }
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
        assign_or_add(data, values, std::mem::replace(&mut self.mode, Write::Add));
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
        if std::mem::replace(&mut self.mode, Write::Add) == Write::Assign {
            self.tensor.data_mut().fill(T::ZERO);
        }
        self.tensor
    }

    /// The elements and how to write them: a caller that gets `Assign` must assign every
    /// element, one that gets `Add` must add. For kernels that do either in one pass (GEMM's
    /// `beta`, a row-by-row rule).
    #[inline]
    pub(crate) fn elements(&mut self) -> (Write, &mut [T]) {
        (std::mem::replace(&mut self.mode, Write::Add), self.tensor.data_mut())
    }

    /// Called by the engine after the op's backward: a gradient the op left untouched is zero.
    #[inline]
    pub(crate) fn finish(self) {
        if self.mode == Write::Assign {
            self.tensor.data_mut().fill(T::ZERO);
        }
    }
}

/// `dst = values` or `dst += values`, element by element, as `mode` says.
#[inline]
pub(crate) fn assign_or_add<T: Float>(dst: &mut [T], values: impl Iterator<Item = T>, mode: Write) {
    match mode {
        Write::Assign => dst.iter_mut().zip(values).for_each(|(d, v)| *d = v),
        Write::Add => dst.iter_mut().zip(values).for_each(|(d, v)| *d += v),
    }
}
