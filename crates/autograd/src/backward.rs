//! The one reverse loop over the tape, and the gradient buffers it writes into.

use crate::input_grad::Write;
use crate::tape::{Kind, Node};
use crate::{Float, Gradients, InputGrad, Op, Tape, Tensor};
use smallvec::SmallVec;

/// Reverse-mode differentiation of node `loss`: one loop over the tape in reverse, each op
/// adding its inputs' gradients. Node ids are creation order, hence already topological.
pub(crate) fn backward<T: Float>(tape: &Tape<T>, loss: usize) -> Gradients<'_, T> {
    let nodes = tape.nodes.borrow();
    let nodes = &nodes[..tape.len()];
    let loss_shape = nodes[loss].value.shape();
    assert_eq!(
        loss_shape.numel(),
        1,
        "backward: the loss must be a single value, but var #{loss} has shape {loss_shape}; reduce it with sum() or mean() first"
    );
    let mut buffers = std::mem::take(&mut *tape.spare.borrow_mut());
    buffers.start(nodes, loss);
    for (i, node) in nodes[..=loss].iter().enumerate().rev() {
        let Some(op) = &node.op else { continue };
        if buffers.take_output_gradient(i) {
            buffers.backward_through(nodes, i, op.as_ref());
        }
    }
    buffers.finish(nodes);
    Gradients::new(tape, buffers)
}

/// Every buffer a backward pass writes gradients into, kept from one pass to the next so that a
/// training loop stops allocating: node `i`'s gradient goes into the tensor that held node `i`'s
/// gradient last time, which for the same graph already has the right size.
#[derive(Default)]
pub(crate) struct GradBuffers<T: Float> {
    /// By node; only those marked in `written` hold a gradient of this pass.
    pub grads: Vec<Tensor<T>>,
    pub written: Vec<bool>,
    /// Spare buffers for the extra gradient copies of an input an op uses twice.
    scratch: Vec<Vec<T>>,
}

impl<T: Float> GradBuffers<T> {
    /// Sizes the store for `nodes` and seeds the loss's gradient with 1.
    fn start(&mut self, nodes: &[Node<T>], loss: usize) {
        if self.grads.len() < nodes.len() {
            self.grads.resize_with(nodes.len(), Tensor::default);
        }
        self.written.clear();
        self.written.resize(nodes.len(), false);
        if nodes[loss].requires_grad {
            self.grads[loss].reset_zeroed(nodes[loss].value.shape());
            self.grads[loss].data_mut()[0] = T::ONE;
            self.written[loss] = true;
        }
    }

    /// Whether node `i` has a gradient to pass on (it was reached from the loss); either way it
    /// leaves the store, which keeps only the leaves' gradients.
    #[inline]
    fn take_output_gradient(&mut self, i: usize) -> bool {
        std::mem::take(&mut self.written[i])
    }

    /// Leaves the loss does not depend on get a zero gradient.
    fn finish(&mut self, nodes: &[Node<T>]) {
        for (i, node) in nodes.iter().enumerate() {
            if node.kind == Kind::Leaf && !self.written[i] {
                self.grads[i].reset_zeroed(node.value.shape());
                self.written[i] = true;
            }
        }
    }

    /// One step of the reverse loop: node `i`'s op adds its inputs' gradients.
    fn backward_through(&mut self, nodes: &[Node<T>], i: usize, op: &dyn Op<T>) {
        let node = &nodes[i];
        // Inputs come before the node: their gradients and this node's are disjoint.
        let (earlier, rest) = self.grads.split_at_mut(i);
        let grad_output = &mut rest[0];
        let written = &mut self.written[..];
        match node.inputs[..] {
            // Distinct inputs: the op writes straight into the stored gradients.
            [j] => {
                if pass_through(node, 0, nodes, earlier, written, grad_output) {
                    return; // the input's whole gradient is the output's
                }
                let mode = first_contribution(nodes, earlier, written, j);
                let mut slots = [nodes[j].requires_grad.then(|| InputGrad::new(&mut earlier[j], mode))];
                op.backward(&[&nodes[j].value], &node.value, grad_output, &mut slots);
                slots.into_iter().flatten().for_each(InputGrad::finish);
            }
            [j, k] if j != k => {
                let passed = [0, 1].into_iter().find(|&p| pass_through(node, p, nodes, earlier, written, grad_output));
                let (mode_j, mode_k) =
                    (first_contribution(nodes, earlier, written, j), first_contribution(nodes, earlier, written, k));
                let [gj, gk] = earlier.get_disjoint_mut([j, k]).expect("distinct indices below the node's");
                let inputs = [&nodes[j].value, &nodes[k].value];
                // After a pass-through the output gradient sits in that input's slot, and the op
                // runs for the other input only (if it needs a gradient at all).
                let (grad_output, mut slots) = match passed {
                    Some(0) => (&*gj, [None, nodes[k].requires_grad.then(|| InputGrad::new(gk, mode_k))]),
                    Some(_) => (&*gk, [nodes[j].requires_grad.then(|| InputGrad::new(gj, mode_j)), None]),
                    None => (
                        &*grad_output,
                        [
                            nodes[j].requires_grad.then(|| InputGrad::new(gj, mode_j)),
                            nodes[k].requires_grad.then(|| InputGrad::new(gk, mode_k)),
                        ],
                    ),
                };
                if slots.iter().any(Option::is_some) {
                    op.backward(&inputs, &node.value, grad_output, &mut slots);
                    slots.into_iter().flatten().for_each(InputGrad::finish);
                }
            }
            _ => self.backward_with_repeats(nodes, i, op),
        }
    }

    /// The general case of one backward step: an input used twice (`x * x`) gets a separate
    /// buffer per use, summed afterwards, since an op cannot hold two `&mut` to one gradient.
    fn backward_with_repeats(&mut self, nodes: &[Node<T>], i: usize, op: &dyn Op<T>) {
        let node = &nodes[i];
        let (grads, grad_output) = self.grads.split_at_mut(i);
        let (written, scratch) = (&mut self.written, &mut self.scratch);
        // Per input: the stored gradient moved out for the first use of each input, a scratch
        // buffer for every later one.
        let mut slots: SmallVec<[Option<UseBuffer<T>>; 4]> = SmallVec::new();
        for (k, &j) in node.inputs.iter().enumerate() {
            if !nodes[j].requires_grad {
                slots.push(None);
            } else if !node.inputs[..k].contains(&j) {
                let mode = first_contribution(nodes, grads, written, j);
                slots.push(Some((std::mem::take(&mut grads[j]), mode, true)));
            } else {
                let mut extra = Tensor::from_vec([0], scratch.pop().unwrap_or_default());
                extra.reset_for_overwrite(nodes[j].value.shape());
                slots.push(Some((extra, Write::Assign, false)));
            }
        }
        {
            let inputs: SmallVec<[&Tensor<T>; 4]> = node.inputs.iter().map(|&j| &nodes[j].value).collect();
            let mut views: SmallVec<[Option<InputGrad<'_, T>>; 4]> =
                slots.iter_mut().map(|s| s.as_mut().map(|(g, mode, _)| InputGrad::new(g, *mode))).collect();
            op.backward(&inputs, &node.value, &grad_output[0], &mut views);
            views.into_iter().flatten().for_each(InputGrad::finish);
        }
        // First uses go back in place, then later uses are added to them.
        for (slot, &j) in slots.iter_mut().zip(&node.inputs) {
            if let Some((g, _, true)) = slot {
                grads[j] = std::mem::take(g);
            }
        }
        for (slot, &j) in slots.into_iter().zip(&node.inputs) {
            if let Some((g, _, false)) = slot {
                grads[j].add_assign(&g);
                let mut buffer = g.into_vec();
                buffer.clear();
                scratch.push(buffer);
            }
        }
    }
}

/// The buffer one use of an input writes its gradient into: (buffer, write mode, whether this
/// is the input's first use, whose buffer is the stored gradient itself).
type UseBuffer<T> = (Tensor<T>, Write, bool);

/// Marks node `j`'s gradient as written and says how this contribution writes: the first one
/// gets the stored buffer resized and assigns over its old values (see [`InputGrad`]), later
/// ones add.
#[inline(always)]
fn first_contribution<T: Float>(nodes: &[Node<T>], grads: &mut [Tensor<T>], written: &mut [bool], j: usize) -> Write {
    if nodes[j].requires_grad && !written[j] {
        grads[j].reset_for_overwrite(nodes[j].value.shape());
        written[j] = true;
        Write::Assign
    } else {
        Write::Add
    }
}

/// Passes the output gradient through to input `p` of `node` when the op's
/// [`Op::pass_through`] names that input and the input has no gradient yet: a swap where
/// backward would copy. The input's old buffer goes to the output's slot, which is consumed.
/// Says whether it did.
#[inline]
fn pass_through<T: Float>(
    node: &Node<T>,
    p: u8,
    nodes: &[Node<T>],
    earlier: &mut [Tensor<T>],
    written: &mut [bool],
    grad_output: &mut Tensor<T>,
) -> bool {
    if node.pass_through != Some(p) {
        return false;
    }
    let j = node.inputs[usize::from(p)];
    if !nodes[j].requires_grad || written[j] {
        return false;
    }
    std::mem::swap(&mut earlier[j], grad_output);
    written[j] = true;
    true
}

#[cfg(test)]
mod tests {
    /// The gradient slots of a test op's backward.
    type Grads<'a> = [Option<InputGrad<'a, f64>>];
    use crate::{InputGrad, Op, Output, Tape, Tensor, Var};

    /// One training-like step: returns the data pointers of every value and leaf gradient.
    fn step(tape: &mut Tape<f32>, w: &Tensor<f32>, x: &Tensor<f32>, labels: &[usize]) -> Vec<*const f32> {
        tape.reset();
        let (wv, xv) = (tape.leaf(w), tape.constant(x));
        let loss = xv.matmul(wv).relu().log_softmax().nll(labels);
        let grads = loss.backward();
        let mut pointers: Vec<*const f32> =
            (0..tape.len()).map(|i| tape.nodes.borrow()[i].value.data().as_ptr()).collect();
        pointers.push(grads[wv].data().as_ptr());
        drop(grads);
        pointers
    }

    /// Two different graphs (different lengths, shapes and leaves) for `which`, with their
    /// leaf gradients.
    fn graph(tape: &Tape<f64>, which: usize, w: &Tensor<f64>) -> Vec<Vec<f64>> {
        let wv = tape.leaf(w);
        let (loss, leaves) = if which == 0 {
            let b = tape.leaf(Tensor::from_vec([4], vec![0.1, -0.2, 0.3, 0.0]));
            let x = tape.constant(Tensor::from_vec([2, 3], vec![1.0, -1.0, 0.5, 0.25, 2.0, -0.75]));
            (x.matmul(wv).add(b).tanh().square().mean(), vec![wv, b])
        } else {
            // Shorter, uses w twice, and leaves an unused leaf with a zero gradient.
            let unused = tape.leaf(Tensor::from_vec([2], vec![5.0, 6.0]));
            ((wv * wv).sum_axis(0).exp().sum(), vec![wv, unused])
        };
        let grads = loss.backward();
        let out = leaves.iter().map(|&v| grads[v].data().to_vec()).collect();
        drop(grads);
        out
    }

    #[test]
    fn alternating_graphs_on_one_tape_give_the_gradients_of_a_fresh_tape() {
        // Buffers, gradient slots and "present" marks all carry over between recordings: a
        // stale one would show up as a wrong gradient here.
        let w = Tensor::from_vec([3, 4], (0..12).map(|i| i as f64 * 0.1 - 0.5).collect());
        let mut tape = Tape::new();
        for step in 0..6 {
            let which = [0, 1, 1, 0, 1, 0][step];
            tape.reset();
            let reused = graph(&tape, which, &w);
            let fresh = graph(&Tape::new(), which, &w);
            assert_eq!(reused, fresh, "step {step}, graph {which}");
        }
    }

    #[test]
    fn recording_the_same_graph_again_reuses_every_buffer_in_place() {
        let w = Tensor::from_vec([3, 4], (0..12).map(|i| i as f32 * 0.1 - 0.5).collect());
        let x = Tensor::from_vec([2, 3], vec![1.0, -1.0, 0.5, 0.25, 2.0, -0.75]);
        let mut tape = Tape::new();
        step(&mut tape, &w, &x, &[1, 3]);
        let second = step(&mut tape, &w, &x, &[1, 3]);
        let third = step(&mut tape, &w, &x, &[0, 2]);
        // Same node, same buffer, so the buffer already has its size: no allocation, no fill.
        assert_eq!(second, third);
        // A shorter graph, then the full one again: still correct values.
        tape.reset();
        let _ = tape.leaf(&x).sum();
        let fourth = step(&mut tape, &w, &x, &[0, 2]);
        assert_eq!(fourth.len(), third.len());
    }

    #[test]
    fn a_tape_and_its_gradients_move_to_another_thread() {
        // A training step recorded and differentiated on a worker thread, whose results come
        // back: the gradient of sum((x w)^2) is 2 x^T (x w).
        fn assert_send<S: Send>() {}
        assert_send::<Tape<f32>>();
        let mut tape = Tape::<f64>::new();
        let worker = std::thread::spawn(move || {
            let mut found = Vec::new();
            for _ in 0..2 {
                tape.reset();
                let x = tape.constant(Tensor::from_rows(&[[1.0, 2.0]]));
                let w = tape.leaf(Tensor::from_rows(&[[3.0], [4.0]]));
                let grads = x.matmul(w).square().sum().backward();
                found.push(grads[w].data().to_vec());
            }
            (found, tape)
        });
        let (found, tape) = worker.join().expect("the worker trained without panicking");
        // x w = 11, so dL/dw = 2 * 11 * x^T = [22, 44], the same on both steps.
        assert_eq!(found, vec![vec![22.0, 44.0]; 2]);
        assert_eq!(tape.len(), 5);
    }

    /// `a + b` (or `a - b`) for same-shape or bias-row operands, with no pass-through hint: the
    /// engine copies through `backward` as it did before hand-over existed.
    struct NoHint(bool);

    impl Op<f64> for NoHint {
        fn name(&self) -> String {
            "add without hint".into()
        }
        fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
            let sign = if self.0 { -1.0 } else { 1.0 };
            out.set(inputs[0].add(&inputs[1].scale(sign)));
        }
        fn backward(&self, ins: &[&Tensor<f64>], _: &Tensor<f64>, g: &Tensor<f64>, grads: &mut Grads<'_>) {
            let sign = if self.0 { -1.0 } else { 1.0 };
            if let Some(ga) = &mut grads[0] {
                ga.add(g.data().iter().copied());
            }
            if let Some(gb) = &mut grads[1] {
                let n = ins[1].numel();
                let t = gb.tensor().data_mut();
                for (i, &g) in g.data().iter().enumerate() {
                    t[i % n] += sign * g;
                }
            }
        }
    }

    /// Graphs where `+`, `-` and `add_scalar` pass their gradient on: to a fresh input, to one
    /// that already has a gradient (fan-out), to a constant (no gradient), as the loss itself.
    fn pass_through_graphs<'t>(tape: &'t Tape<f64>, plain: bool) -> Vec<Vec<f64>> {
        let add = |a: Var<'t, f64>, b: Var<'t, f64>| if plain { tape.apply(NoHint(false), &[a, b]) } else { a + b };
        let sub = |a: Var<'t, f64>, b: Var<'t, f64>| if plain { tape.apply(NoHint(true), &[a, b]) } else { a - b };
        let x = tape.leaf(Tensor::from_rows(&[[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]));
        let b = tape.leaf(Tensor::from_vec([3], vec![0.1, -0.2, 0.3]));
        let c = tape.constant(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let h = add(x, b).tanh(); // bias row: x gets the output's gradient
        let fan = add(h, x); // x again, after it already has a gradient
        let d = add(c, sub(fan, c)).square(); // a constant operand, hinted at in `c + _`
        let e = if plain { d.scale(1.0) } else { d.add_scalar(0.0) }; // unary pass-through
        let s = add(e.sum_axis(0), b); // same-shape operands, b used a second time
        let loss = add(s.sum(), tape.constant(Tensor::scalar(1.0))); // the loss node itself
        let grads = loss.backward();
        assert!(grads.get(c).is_none(), "a constant got a gradient");
        vec![grads[x].data().to_vec(), grads[b].data().to_vec()]
    }

    #[test]
    fn handing_over_the_output_gradient_gives_the_gradients_of_copying_it() {
        let mut tape = Tape::new();
        let expected = pass_through_graphs(&Tape::new(), true);
        // Several steps on one tape: the swapped buffers keep trading places between slots.
        for step in 0..4 {
            tape.reset();
            assert_eq!(pass_through_graphs(&tape, false), expected, "step {step}");
        }
    }

    /// Hints that its output gradient passes to input 0 and reports what `backward` saw there.
    struct Spy(Option<usize>, Seen);

    /// What a `Spy` saw; shared with the test, and `Send` as every op must be.
    type Seen = std::sync::Arc<std::sync::Mutex<Option<bool>>>;

    impl Op<f64> for Spy {
        fn name(&self) -> String {
            "spy".into()
        }
        fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
            out.set(inputs[0].clone());
        }
        fn backward(&self, _: &[&Tensor<f64>], _: &Tensor<f64>, g: &Tensor<f64>, grads: &mut Grads<'_>) {
            *self.1.lock().unwrap() = Some(grads[0].is_some());
            if let Some(gx) = &mut grads[0] {
                gx.add(g.data().iter().copied());
            }
        }
        fn pass_through(&self, _: &[&Tensor<f64>], _: &Tensor<f64>) -> Option<usize> {
            self.0
        }
    }

    #[test]
    fn a_pass_through_hint_is_honoured_only_for_a_fresh_input_of_the_right_shape() {
        let seen = Seen::default();
        let saw = || *seen.lock().unwrap();
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_vec([2], vec![1.0, 2.0]));
        // Fresh input: handed over, backward is not even called.
        let grads = tape.apply(Spy(Some(0), seen.clone()), &[x]).scale(3.0).sum().backward();
        assert_eq!((saw(), grads[x].data()), (None, &[3.0, 3.0][..]));
        // x already has a gradient from `+ x`: backward gets the slot and adds.
        let y = tape.apply(Spy(Some(0), seen.clone()), &[x]);
        let grads = (y.scale(3.0) + x).sum().backward();
        assert_eq!((saw(), grads[x].data()), (Some(true), &[4.0, 4.0][..]));
        // A hint naming no input, or an input whose shape differs from the output's, is dropped.
        for hint in [Some(1), Some(7)] {
            *seen.lock().unwrap() = None;
            let grads = tape.apply(Spy(hint, seen.clone()), &[x]).sum().backward();
            assert_eq!((saw(), grads[x].data()), (Some(true), &[1.0, 1.0][..]), "{hint:?}");
        }
    }
}
