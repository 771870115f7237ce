//! The recording backward: gradients as vars on the same tape, so they can be differentiated
//! again (PyTorch's `create_graph=True`, JAX's `grad(grad(f))`).

use crate::op::Op;
use crate::{Float, Tape, Tensor, Var};
use smallvec::SmallVec;

impl<T: Float> Tape<T> {
    /// The gradient of the single-value `y` with respect to each of `wrt`, as vars recorded on
    /// this tape: ordinary values that can be used in further computation and differentiated
    /// again, to any order.
    ///
    /// One loop over the recording in reverse, from `y` down, visiting only nodes recorded
    /// before this call that depend on some var of `wrt`: each op's
    /// [`Op::backward_graph`] records its inputs' gradient contributions with ordinary ops, and
    /// the contributions to a value used several times are summed with recorded adds. `wrt` may
    /// hold leaves, constants or intermediate values; one that `y` does not depend on gets a
    /// zero constant. The tape grows by the gradient's graph (a reset forgets it with the rest).
    ///
    /// For first-order gradients alone, [`Var::backward`] is faster: it records nothing.
    ///
    /// ```
    /// use tapegrad_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::scalar(2.0));
    /// let y = x.powi(3);
    /// let dy = tape.grad(y, &[x])[0]; // 3 x^2
    /// let d2y = tape.grad(dy, &[x])[0]; // 6 x
    /// let d3y = tape.grad(d2y, &[x])[0]; // 6
    /// assert_eq!((dy.item(), d2y.item(), d3y.item()), (12.0, 12.0, 6.0));
    /// // The gradient is a var like any other: here the plain backward of |dy/dx|^2 = 9 x^4
    /// // gives 36 x^3.
    /// assert_eq!(dy.square().backward()[x].data(), &[288.0]);
    /// ```
    ///
    /// # Panics
    /// If `y` holds more than one element, a var belongs to another tape, or the walk reaches
    /// an op without a differentiable rule (see [`Op::backward_graph`]).
    pub fn grad<'t>(&'t self, y: Var<'t, T>, wrt: &[Var<'t, T>]) -> Vec<Var<'t, T>> {
        let shape = y.shape();
        assert_eq!(
            shape.numel(),
            1,
            "grad: the output must be a single value, but var #{} has shape {shape}; reduce it with sum() or mean() first",
            y.index()
        );
        let seed = self.constant(Tensor::full(shape, T::ONE));
        grad_seeded(self, y, seed, wrt)
    }
}

/// The recording backward from `y`, whose gradient is `seed` (a var of `y`'s shape).
pub(crate) fn grad_seeded<'t, T: Float>(
    tape: &'t Tape<T>,
    y: Var<'t, T>,
    seed: Var<'t, T>,
    wrt: &[Var<'t, T>],
) -> Vec<Var<'t, T>> {
    for v in std::iter::once(&y).chain(wrt) {
        assert!(std::ptr::eq(v.tape(), tape), "grad: var #{} belongs to another tape", v.index());
    }
    let end = y.index();
    // Which nodes up to `y` depend on a var of `wrt`: only they have a gradient to pass on, and
    // only their gradients are wanted from an op.
    let mut reach = vec![false; end + 1];
    wrt.iter().filter(|x| x.index() <= end).for_each(|x| reach[x.index()] = true);
    if let Some(start) = wrt.iter().map(Var::index).filter(|&i| i <= end).min() {
        let nodes = tape.nodes.borrow();
        for i in start..=end {
            reach[i] = reach[i] || nodes[i].inputs.iter().any(|&j| reach[j]);
        }
    }
    let mut grads: Vec<Option<Var<'t, T>>> = vec![None; end + 1];
    grads[end] = Some(seed);
    for i in (0..=end).rev() {
        let Some(g) = grads[i] else { continue };
        if !reach[i] {
            continue;
        }
        let (op, inputs) = {
            let mut nodes = tape.nodes.borrow_mut();
            let node = &mut nodes[i];
            match node.op.take() {
                Some(op) => (op, node.inputs.clone()),
                None => continue, // a leaf or a constant
            }
        };
        // The op leaves its node while its rule records onto the tape, and goes back afterwards,
        // even if the rule panics.
        let op = Taken { tape, index: i, op: Some(op) };
        let vars: SmallVec<[Var<'t, T>; 4]> = inputs.iter().map(|&j| Var::new(tape, j)).collect();
        let wanted: SmallVec<[bool; 4]> = inputs.iter().map(|&j| reach[j]).collect();
        let contributions = op.get().backward_graph(&vars, Var::new(tape, i), g, &wanted);
        let name = op.get().name();
        drop(op);
        assert_eq!(
            contributions.len(),
            inputs.len(),
            "{name}: backward_graph returned {} gradients for {} inputs",
            contributions.len(),
            inputs.len()
        );
        for ((&j, c), &w) in inputs.iter().zip(contributions).zip(&wanted) {
            let Some(c) = c.filter(|_| w) else { continue };
            let (got, want) = (c.shape(), tape.nodes.borrow()[j].value.shape().clone());
            assert_eq!(
                got, want,
                "{name}: backward_graph returned a gradient of shape {got} for an input of shape {want}"
            );
            grads[j] = Some(match grads[j] {
                None => c,
                Some(earlier) => earlier + c,
            });
        }
    }
    wrt.iter()
        .map(|x| grads.get(x.index()).copied().flatten().unwrap_or_else(|| tape.constant(Tensor::zeros(x.shape()))))
        .collect()
}

/// An op taken out of node `index` for its rule's call; dropping it puts it back.
struct Taken<'a, T: Float> {
    tape: &'a Tape<T>,
    index: usize,
    op: Option<Box<dyn Op<T>>>,
}

impl<T: Float> Taken<'_, T> {
    fn get(&self) -> &dyn Op<T> {
        self.op.as_deref().expect("the op is back only after the drop")
    }
}

impl<T: Float> Drop for Taken<'_, T> {
    fn drop(&mut self) {
        if let (Some(op), Ok(mut nodes)) = (self.op.take(), self.tape.nodes.try_borrow_mut()) {
            nodes[self.index].op = Some(op);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{InputGrad, Op, Output, Tape, Tensor, Var};
    use std::panic::{AssertUnwindSafe, catch_unwind};

    /// `y = 2 x` with a plain backward only, or (`Some`) a differentiable rule that returns the
    /// given shape's zeros for input 0 and records which inputs were wanted.
    struct Double(Option<Vec<usize>>, Seen);

    type Seen = std::sync::Arc<std::sync::Mutex<Vec<bool>>>;

    impl Op<f64> for Double {
        fn name(&self) -> String {
            "double".into()
        }
        fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
            out.set(inputs[0].scale(2.0));
        }
        fn backward(
            &self,
            _: &[&Tensor<f64>],
            _: &Tensor<f64>,
            g: &Tensor<f64>,
            grads: &mut [Option<InputGrad<'_, f64>>],
        ) {
            for gx in grads.iter_mut().flatten() {
                gx.add(g.data().iter().map(|g| 2.0 * g));
            }
        }
        fn backward_graph<'t>(
            &self,
            x: &[Var<'t, f64>],
            _: Var<'t, f64>,
            g: Var<'t, f64>,
            wanted: &[bool],
        ) -> Vec<Option<Var<'t, f64>>> {
            let Some(shape) = &self.0 else { crate::op::no_graph_rule(&self.name()) };
            *self.1.lock().unwrap() = wanted.to_vec();
            let _ = g;
            let zeros = x[0].tape().constant(Tensor::zeros(&shape[..]));
            x.iter().map(|_| Some(zeros)).collect()
        }
    }

    #[test]
    fn an_op_without_a_rule_is_named_and_stays_on_the_tape_for_the_plain_backward() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_vec([2], vec![1.0, -3.0]));
        let y = tape.apply(Double(None, Seen::default()), &[x]).square().sum();
        let err = catch_unwind(AssertUnwindSafe(|| tape.grad(y, &[x]))).expect_err("no rule");
        let message = err.downcast_ref::<String>().expect("a formatted message");
        assert_eq!(
            message,
            "double: no differentiable backward rule; a second-order gradient through it needs one (implement Op::backward_graph)"
        );
        // The op went back into its node: d/dx (2x)^2 = 8x.
        assert_eq!(y.backward()[x].data(), &[8.0, -24.0]);
        assert!(tape.to_string().contains("double"));
    }

    #[test]
    fn a_rule_is_asked_only_for_the_inputs_the_wanted_vars_depend_on() {
        let seen = Seen::default();
        let tape = Tape::<f64>::new();
        let (x, w) = (tape.leaf(Tensor::ones([2])), tape.leaf(Tensor::ones([2])));
        let y = tape.apply(Double(Some(vec![2]), seen.clone()), &[x, w]).sum();
        let _ = tape.grad(y, &[w]);
        assert_eq!(*seen.lock().unwrap(), [false, true]);
    }

    #[test]
    #[should_panic(expected = "double: backward_graph returned a gradient of shape [3] for an input of shape [2]")]
    fn a_rule_returning_the_wrong_shape_is_named() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::ones([2]));
        let y = tape.apply(Double(Some(vec![3]), Seen::default()), &[x]).sum();
        let _ = tape.grad(y, &[x]);
    }

    #[test]
    fn unused_later_intermediate_and_constant_vars_get_their_gradients() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_vec([2], vec![1.0, 2.0]));
        let unused = tape.leaf(Tensor::ones([3]));
        let c = tape.constant(Tensor::from_vec([2], vec![3.0, -1.0]));
        let h = x * c;
        let y = h.square().sum(); // sum((x c)^2)
        let later = tape.leaf(Tensor::ones([1]));
        let g = tape.grad(y, &[x, unused, h, c, later]);
        // dy/dx = 2 x c^2, dy/dh = 2 h, dy/dc = 2 c x^2; the others are zero.
        assert_eq!(g[0].value().data(), &[18.0, 4.0]);
        assert_eq!(g[1].value(), Tensor::zeros([3]));
        assert_eq!(g[2].value().data(), &[6.0, -4.0]);
        assert_eq!(g[3].value().data(), &[6.0, -8.0]);
        assert_eq!(g[4].value(), Tensor::zeros([1]));
        // The gradient in x is differentiable in x: d/dx sum(2 x c^2) = 2 c^2.
        assert_eq!(tape.grad(g[0].sum(), &[x])[0].value().data(), &[18.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "grad: the output must be a single value, but var #1 has shape [2]")]
    fn the_output_must_be_a_single_value() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::ones([2]));
        let _ = tape.grad(x.exp(), &[x]);
    }
}
