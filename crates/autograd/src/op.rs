//! The contract every op implements: a forward and its local backward rule, side by side.

use crate::{Float, InputGrad, Shape, Tensor, Var};

/// One differentiable operation: its forward and its local backward rule, side by side.
///
/// Every built-in op implements this trait, and so can yours; [`Tape::apply`](crate::Tape::apply)
/// records any `Op`.
///
/// ```
/// use tapegrad_autograd::{InputGrad, Op, Output, Tape, Tensor};
///
/// /// y = x^3, dy/dx = 3 x^2.
/// struct Cube;
///
/// impl Op<f64> for Cube {
///     fn name(&self) -> String {
///         "cube".into()
///     }
///     fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
///         let x = inputs[0];
///         out.assign(x.shape(), x.data().iter().map(|v| v * v * v));
///     }
///     fn backward(
///         &self,
///         inputs: &[&Tensor<f64>],
///         _output: &Tensor<f64>,
///         grad_output: &Tensor<f64>,
///         grad_inputs: &mut [Option<InputGrad<'_, f64>>],
///     ) {
///         if let Some(gx) = &mut grad_inputs[0] {
///             gx.add(inputs[0].data().iter().zip(grad_output.data()).map(|(x, g)| g * 3.0 * x * x));
///         }
///     }
/// }
///
/// let tape = Tape::new();
/// let x = tape.leaf(Tensor::from_vec([2], vec![1.0, 2.0]));
/// let y = tape.apply(Cube, &[x]).sum();
/// let grads = y.backward();
/// assert_eq!(grads[x].data(), &[3.0, 12.0]);
/// ```
///
/// Ops are plain data (`Send`), so a tape holding them can move to another thread.
pub trait Op<T: Float>: Send + 'static {
    /// A short name for listings and messages (`"matmul"`, `"scale(0.5)"`).
    fn name(&self) -> String;

    /// How many inputs the op takes, when that is fixed: [`Tape::apply`](crate::Tape::apply)
    /// checks it before `forward` runs, so a wrong count is reported with the op's name instead
    /// of as an index out of bounds inside `forward`. The default, `None`, leaves the check to
    /// `forward`.
    fn num_inputs(&self) -> Option<usize> {
        None
    }

    /// Computes the output from the inputs, writing it through `out` (once).
    ///
    /// Check the input shapes here and panic with a message that names the op and the shapes.
    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>);

    /// Adds this op's contribution to the gradient of each input.
    ///
    /// `grad_output` is dL/d(output). For each `i` with `grad_inputs[i]` set, add dL/d(input `i`)
    /// through the [`InputGrad`] handle, which has the input's shape (a value used twice gets
    /// two contributions, and the handle sums them). `None` means that input needs no gradient
    /// (a constant, or an input whose gradient the engine has already passed through, see
    /// [`pass_through`](Op::pass_through)), so its work can be skipped.
    fn backward(
        &self,
        inputs: &[&Tensor<T>],
        output: &Tensor<T>,
        grad_output: &Tensor<T>,
        grad_inputs: &mut [Option<InputGrad<'_, T>>],
    );

    /// The input, if any, whose gradient contribution is `grad_output` itself: it has the
    /// output's shape and the output's derivative with respect to it is 1 everywhere (`a` in
    /// `a + b` or `a - b` when `a` has the output's shape, as in a bias add).
    ///
    /// Asked once, after `forward`. When that input has no gradient yet, the engine passes the
    /// output gradient through to it (it moves the buffer instead of copying it, as PyTorch's
    /// `AddBackward` passes its gradient on), and `backward` sees `None` in that slot, or is not
    /// called at all when no other input needs a gradient. Otherwise `backward` gets the slot
    /// as usual, so it must still handle every input. An answer naming an input whose shape
    /// differs from the output's is ignored. The default is `None`.
    fn pass_through(&self, inputs: &[&Tensor<T>], output: &Tensor<T>) -> Option<usize> {
        let _ = (inputs, output);
        None
    }

    /// The differentiable backward rule: records each wanted input's gradient contribution on
    /// the tape, with ordinary ops, so that [`Tape::grad`](crate::Tape::grad) can return
    /// gradients that are themselves differentiable (second and higher derivatives).
    ///
    /// `inputs` and `output` are the op's recorded vars, `grad_output` is dL/d(output) as a var.
    /// Return one entry per input: `Some(contribution)`, with the input's shape, where
    /// `wanted[i]` is set (the engine sums the contributions of an input used several times),
    /// and `None` where it is not, or where the contribution is zero. Values the rule needs that
    /// are piecewise constant (relu's mask `x > 0`) go on the tape as constants.
    ///
    /// The default panics, naming the op, when a recording backward reaches it: an op without
    /// this rule still works with [`Var::backward`], and only a higher-order gradient through it
    /// fails.
    ///
    /// ```
    /// use tapegrad_autograd::{InputGrad, Op, Output, Tape, Tensor, Var};
    ///
    /// /// y = x^3: dx = g * 3 x^2, recorded with `square` and `scale`.
    /// struct Cube;
    ///
    /// impl Op<f64> for Cube {
    ///     fn name(&self) -> String {
    ///         "cube".into()
    ///     }
    ///     fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
    ///         out.assign(inputs[0].shape(), inputs[0].data().iter().map(|x| x * x * x));
    ///     }
    ///     fn backward(&self, x: &[&Tensor<f64>], _: &Tensor<f64>, g: &Tensor<f64>, grads: &mut [Option<InputGrad<'_, f64>>]) {
    ///         if let Some(gx) = &mut grads[0] {
    ///             gx.add(x[0].data().iter().zip(g.data()).map(|(x, g)| g * 3.0 * x * x));
    ///         }
    ///     }
    ///     fn backward_graph<'t>(&self, x: &[Var<'t, f64>], _: Var<'t, f64>, g: Var<'t, f64>, _: &[bool]) -> Vec<Option<Var<'t, f64>>> {
    ///         vec![Some((g * x[0].square()).scale(3.0))]
    ///     }
    /// }
    ///
    /// let tape = Tape::new();
    /// let x = tape.leaf(Tensor::scalar(2.0));
    /// let y = tape.apply(Cube, &[x]);
    /// let [dy] = tape.grad(y, &[x])[..] else { unreachable!() };
    /// let [d2y] = tape.grad(dy, &[x])[..] else { unreachable!() };
    /// // 3 x^2 = 12 and 6 x = 12 at x = 2.
    /// assert_eq!((dy.item(), d2y.item()), (12.0, 12.0));
    /// ```
    fn backward_graph<'t>(
        &self,
        inputs: &[Var<'t, T>],
        output: Var<'t, T>,
        grad_output: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let _ = (inputs, output, grad_output, wanted);
        no_graph_rule(&self.name())
    }
}

/// The panic of an op reached by a recording backward without a differentiable rule.
#[cold]
#[inline(never)]
pub(crate) fn no_graph_rule(name: &str) -> ! {
    panic!(
        "{name}: no differentiable backward rule; a second-order gradient through it needs one (implement Op::backward_graph)"
    )
}

/// Where an op's [`forward`](Op::forward) writes its output: one call of one of these methods.
///
/// Behind it is a buffer the tape reuses from one training step to the next, so that a loop
/// recording the same graph each step stops allocating; the handle makes sure what the op
/// leaves there is the output and only the output.
pub struct Output<'a, T: Float> {
    tensor: &'a mut Tensor<T>,
    written: &'a mut bool,
}

impl<'a, T: Float> Output<'a, T> {
    pub(crate) fn new(tensor: &'a mut Tensor<T>, written: &'a mut bool) -> Self {
        *written = false;
        Output { tensor, written }
    }

    /// The output is `shape`-shaped with elements taken from `values`, in row-major order.
    ///
    /// # Panics
    /// If `values` does not yield exactly one value per element.
    #[inline]
    pub fn assign(self, shape: impl Into<Shape>, values: impl IntoIterator<Item = T>) {
        self.tensor.assign(shape, values);
        *self.written = true;
    }

    /// The output's elements, `shape`-shaped, for an op that writes every one of them: what
    /// they hold before is unspecified (a reused buffer's old values), so leaving one unwritten
    /// is a bug. Use [`zeros`](Output::zeros) for an op that accumulates.
    #[inline]
    pub fn overwrite(self, shape: impl Into<Shape>) -> &'a mut [T] {
        self.overwrite_as(&shape.into())
    }

    /// [`overwrite`](Output::overwrite) with a borrowed shape, copied only when the reused
    /// buffer's shape differs (the per-node path of the built-in ops).
    #[inline]
    pub(crate) fn overwrite_as(self, shape: &Shape) -> &'a mut [T] {
        self.tensor.reset_for_overwrite(shape);
        *self.written = true;
        self.tensor.data_mut()
    }

    /// The output's elements, `shape`-shaped and all zero.
    #[inline]
    pub fn zeros(self, shape: impl Into<Shape>) -> &'a mut [T] {
        self.tensor.reset_zeroed(&shape.into());
        *self.written = true;
        self.tensor.data_mut()
    }

    /// The output is `value`: simplest for an op computed with other tensor functions, at the
    /// cost of the buffer `value` brought with it.
    #[inline]
    pub fn set(self, value: Tensor<T>) {
        *self.tensor = value;
        *self.written = true;
    }
}

/// Runs an op's forward on plain tensors, without a tape.
///
/// # Panics
/// If the op's forward rejects the inputs, or returns without writing its output.
pub fn eval<T: Float>(op: &impl Op<T>, inputs: &[&Tensor<T>]) -> Tensor<T> {
    let mut out = Tensor::default();
    let mut written = false;
    op.forward(inputs, Output::new(&mut out, &mut written));
    check_written(op, written);
    out
}

/// An op whose forward wrote nothing would leave a stale buffer as its output.
#[inline]
pub(crate) fn check_written<T: Float>(op: &impl Op<T>, written: bool) {
    if !written {
        not_written(&op.name());
    }
}

#[cold]
#[inline(never)]
fn not_written(name: &str) -> ! {
    panic!("{name}: forward returned without writing its output (call one method of its Output)")
}
