//! The tape: a list of recorded ops in creation order, and the one reverse loop over it.

use crate::{Float, Gradients, InputGrad, Shape, Tensor};
use smallvec::SmallVec;
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};

/// One differentiable operation: its forward and its local backward rule, side by side.
///
/// Every built-in op implements this trait, and so can yours; [`Tape::apply`] records any `Op`.
///
/// ```
/// use autograd::{InputGrad, Op, Tape, Tensor};
///
/// /// y = x^3, dy/dx = 3 x^2.
/// struct Cube;
///
/// impl Op<f64> for Cube {
///     fn name(&self) -> String {
///         "cube".into()
///     }
///     fn forward(&self, inputs: &[&Tensor<f64>], out: &mut Tensor<f64>) {
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
pub trait Op<T: Float>: 'static {
    /// A short name for listings and messages (`"matmul"`, `"scale(0.5)"`).
    fn name(&self) -> String;

    /// Computes the output from the inputs into `out`.
    ///
    /// `out` arrives holding a recycled buffer with stale contents: fill it with
    /// [`Tensor::assign`], [`Tensor::reset_zeroed`] or, when every element is written next,
    /// [`Tensor::reset_for_overwrite`], so steady-state training does not allocate.
    ///
    /// Check the input shapes here and panic with a message that names the op and the shapes.
    fn forward(&self, inputs: &[&Tensor<T>], out: &mut Tensor<T>);

    /// Adds this op's contribution to the gradient of each input.
    ///
    /// `grad_output` is dL/d(output). For each `i` with `grad_inputs[i]` set, add dL/d(input `i`)
    /// through the [`InputGrad`] handle, which has the input's shape (a value used twice gets
    /// two contributions, and the handle sums them). `None` means that input needs no gradient
    /// (a constant), so its work can be skipped.
    fn backward(
        &self,
        inputs: &[&Tensor<T>],
        output: &Tensor<T>,
        grad_output: &Tensor<T>,
        grad_inputs: &mut [Option<InputGrad<'_, T>>],
    );
}

/// Runs an op's forward on plain tensors, without a tape: inference records nothing.
pub fn eval<T: Float>(op: &impl Op<T>, inputs: &[&Tensor<T>]) -> Tensor<T> {
    let mut out = Tensor::default();
    op.forward(inputs, &mut out);
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Leaf,
    Constant,
    Computed,
}

struct Node<T: Float> {
    kind: Kind,
    op: Option<Box<dyn Op<T>>>,
    inputs: SmallVec<[usize; 2]>,
    value: Tensor<T>,
    /// Some leaf is upstream: backward has to visit this node.
    requires_grad: bool,
}

/// Records tensor ops as they run, so that [`Var::backward`] can differentiate through them.
///
/// A tape is meant to live for one training step: record the forward pass, call backward,
/// update the parameters, then [`reset`](Tape::reset) it (which keeps its buffers) or drop it.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.leaf(Tensor::from_vec([3], vec![1.0, -2.0, 3.0]));
/// let y = (x * x).sum(); // y = sum(x^2), dy/dx = 2x
/// let grads = y.backward();
/// assert_eq!(grads[x].data(), &[2.0, -4.0, 6.0]);
/// ```
pub struct Tape<T: Float = f32> {
    id: u64,
    nodes: RefCell<Vec<Node<T>>>,
    /// Buffers of values and gradients no longer needed, handed out again before allocating.
    spare: RefCell<Buffers<T>>,
    /// The slot list of the last recycled gradient store, reused by the next backward.
    spare_slots: RefCell<Vec<Option<Tensor<T>>>>,
}

static NEXT_TAPE_ID: AtomicU64 = AtomicU64::new(1);

fn fresh_id() -> u64 {
    NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed)
}

impl<T: Float> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            id: fresh_id(),
            nodes: RefCell::new(Vec::new()),
            spare: RefCell::new(Buffers::default()),
            spare_slots: RefCell::new(Vec::new()),
        }
    }

    /// Records a value whose gradient is wanted (a parameter or an input under study).
    pub fn leaf(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push(Kind::Leaf, None, SmallVec::new(), value, true)
    }

    /// Like [`leaf`](Tape::leaf), but copies `value` into a recycled buffer: the way to put
    /// parameters on a reused tape without allocating.
    pub fn leaf_from(&self, value: &Tensor<T>) -> Var<'_, T> {
        let copy = self.copy_into_spare(value);
        self.leaf(copy)
    }

    /// Records a value that gets no gradient (data, labels as one-hot rows, fixed masks).
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push(Kind::Constant, None, SmallVec::new(), value, false)
    }

    /// Like [`constant`](Tape::constant), but copies `value` into a recycled buffer.
    pub fn constant_from(&self, value: &Tensor<T>) -> Var<'_, T> {
        let copy = self.copy_into_spare(value);
        self.constant(copy)
    }

    /// Records rows `rows` of the matrix `source`, in that order, as a `[rows.len(), cols]`
    /// constant: a mini-batch gathered straight onto the tape, one copy into a recycled buffer.
    ///
    /// ```
    /// use autograd::{Tape, Tensor};
    /// let data = Tensor::from_rows(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    /// let tape = Tape::new();
    /// let batch = tape.constant_rows(&data, &[2, 0]);
    /// assert_eq!(batch.value().data(), &[5.0, 6.0, 1.0, 2.0]);
    /// ```
    ///
    /// # Panics
    /// If `source` is not a matrix or a row index is out of range.
    pub fn constant_rows(&self, source: &Tensor<T>, rows: &[usize]) -> Var<'_, T> {
        let (n, cols) = source.shape().matrix("constant_rows");
        if let Some(&bad) = rows.iter().find(|&&i| i >= n) {
            panic!("constant_rows: row {bad} is out of range for a matrix of shape {}", source.shape());
        }
        let mut buffer = self.spare.borrow_mut().take_value(self.len());
        buffer.clear();
        for &i in rows {
            buffer.extend_from_slice(source.row(i));
        }
        self.constant(Tensor::from_vec([rows.len(), cols], buffer))
    }

    /// Runs `op` on the values of `inputs` and records it.
    ///
    /// # Panics
    /// If an input belongs to another tape, or if the op's forward rejects the input shapes.
    pub fn apply<'t>(&'t self, op: impl Op<T>, inputs: &[Var<'t, T>]) -> Var<'t, T> {
        let mut out = Tensor::from_buffer(self.spare.borrow_mut().take_value(self.len()));
        let mut ids = SmallVec::new();
        let mut requires_grad = false;
        {
            let nodes = self.nodes.borrow();
            // Pushed one by one: a `collect` into a SmallVec costs more than the small ops it feeds.
            let mut values: SmallVec<[&Tensor<T>; 4]> = SmallVec::new();
            for (k, v) in inputs.iter().enumerate() {
                assert!(
                    std::ptr::eq(v.tape, self),
                    "{}: input {k} (var #{}) belongs to another tape",
                    op.name(),
                    v.index
                );
                let node = &nodes[v.index];
                values.push(&node.value);
                ids.push(v.index);
                requires_grad |= node.requires_grad;
            }
            op.forward(&values, &mut out);
        }
        self.push(Kind::Computed, Some(Box::new(op)), ids, out, requires_grad)
    }

    /// Number of recorded nodes (leaves, constants and op results).
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// True when nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every recorded node but keeps their buffers for the next step, so a training loop
    /// that records the same graph each step stops allocating after the first.
    ///
    /// Taking `&mut self` means no [`Var`] of the old recording can outlive this call; a
    /// [`Gradients`] store from before is refused by vars recorded after.
    pub fn reset(&mut self) {
        self.id = fresh_id();
        let values = self.nodes.get_mut().drain(..).map(|node| node.value.into_vec());
        self.spare.get_mut().put_values(values);
    }

    /// Gives the buffers of a gradient store back to the tape, to be reused by the next step.
    pub fn recycle(&self, grads: Gradients<T>) {
        let mut slots = grads.into_slots();
        let mut spare = self.spare.borrow_mut();
        for (node, slot) in slots.iter_mut().enumerate() {
            if let Some(g) = slot.take() {
                spare.put_grad(node, g.into_vec());
            }
        }
        drop(spare);
        *self.spare_slots.borrow_mut() = slots;
    }

    /// The graph in Graphviz DOT form: leaves as boxes, constants as grey boxes, ops as ellipses
    /// labelled with their name and output shape. Render with `dot -Tsvg`.
    pub fn to_dot(&self) -> String {
        let nodes = self.nodes.borrow();
        let mut s = String::from("digraph tape {\n  rankdir=LR;\n");
        for (i, n) in nodes.iter().enumerate() {
            let (label, style) = match n.kind {
                Kind::Leaf => ("leaf".to_string(), "shape=box"),
                Kind::Constant => ("constant".to_string(), "shape=box, style=filled, fillcolor=lightgrey"),
                Kind::Computed => (n.op.as_ref().map_or_else(String::new, |op| op.name()), "shape=ellipse"),
            };
            let _ = writeln!(
                s,
                "  n{i} [label=\"#{i} {}\\n{}\", {style}];",
                label.replace('\\', "\\\\").replace('"', "\\\""),
                n.value.shape()
            );
            for &j in &n.inputs {
                let _ = writeln!(s, "  n{j} -> n{i};");
            }
        }
        s.push_str("}\n");
        s
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    fn push(
        &self,
        kind: Kind,
        op: Option<Box<dyn Op<T>>>,
        inputs: SmallVec<[usize; 2]>,
        value: Tensor<T>,
        requires_grad: bool,
    ) -> Var<'_, T> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { kind, op, inputs, value, requires_grad });
        Var { tape: self, index: nodes.len() - 1 }
    }

    fn copy_into_spare(&self, value: &Tensor<T>) -> Tensor<T> {
        let mut copy = Tensor::from_buffer(self.spare.borrow_mut().take_value(self.len()));
        copy.copy_from(value);
        copy
    }

    /// A zeroed tensor of `shape`, in the most recently freed buffer. Every step of a training
    /// loop frees and takes buffers in the same order, so after the first steps each buffer
    /// comes back to the same use and is already big enough.
    fn zeroed(&self, node: usize, shape: &Shape) -> Tensor<T> {
        let mut t = Tensor::from_buffer(self.spare.borrow_mut().take_grad(node));
        t.reset_zeroed_like(shape);
        t
    }

    /// Like [`zeroed`](Tape::zeroed), but with stale contents, for a gradient whose first
    /// contribution assigns every element (see [`InputGrad`]).
    fn recycled(&self, node: usize, shape: &Shape) -> Tensor<T> {
        let mut t = Tensor::from_buffer(self.spare.borrow_mut().take_grad(node));
        t.reset_for_overwrite(shape);
        t
    }

    /// Reverse-mode differentiation of node `loss`: one loop over the tape in reverse, each op
    /// adding its inputs' gradients. Node ids are creation order, hence already topological.
    fn backward(&self, loss: usize) -> Gradients<T> {
        let nodes = self.nodes.borrow();
        let loss_shape = nodes[loss].value.shape();
        assert_eq!(
            loss_shape.numel(),
            1,
            "backward: the loss must be a single value, but var #{loss} has shape {loss_shape}; reduce it with sum() or mean() first"
        );
        let mut grads = std::mem::take(&mut *self.spare_slots.borrow_mut());
        grads.clear();
        grads.resize_with(nodes.len(), || None);
        if nodes[loss].requires_grad {
            let mut seed = self.zeroed(loss, loss_shape);
            seed.data_mut()[0] = T::ONE;
            grads[loss] = Some(seed);
        }
        for i in (0..=loss).rev() {
            let node = &nodes[i];
            let Some(op) = &node.op else { continue };
            let Some(grad_output) = grads[i].take() else { continue };
            let mut inputs: SmallVec<[&Tensor<T>; 4]> = SmallVec::new();
            for &j in &node.inputs {
                inputs.push(&nodes[j].value);
            }
            // An input's first contribution goes into a recycled buffer, unzeroed: the op assigns.
            let mut fresh = |j: usize| {
                let first = nodes[j].requires_grad && grads[j].is_none();
                if first {
                    grads[j] = Some(self.recycled(j, nodes[j].value.shape()));
                }
                first
            };
            match node.inputs[..] {
                // Distinct inputs: each op writes straight into the stored gradients.
                [j] => {
                    let fj = fresh(j);
                    let mut slots = [grads[j].as_mut().map(|g| InputGrad::new(g, fj))];
                    op.backward(&inputs, &node.value, &grad_output, &mut slots);
                    slots.into_iter().flatten().for_each(InputGrad::finish);
                }
                [j, k] if j != k => {
                    let (fj, fk) = (fresh(j), fresh(k));
                    let [gj, gk] = grads.get_disjoint_mut([j, k]).expect("distinct indices below the node's");
                    let mut slots =
                        [gj.as_mut().map(|g| InputGrad::new(g, fj)), gk.as_mut().map(|g| InputGrad::new(g, fk))];
                    op.backward(&inputs, &node.value, &grad_output, &mut slots);
                    slots.into_iter().flatten().for_each(InputGrad::finish);
                }
                _ => self.backward_with_repeats(&nodes, &mut grads, i, &inputs, &grad_output),
            }
            // This node's gradient is consumed: free it for reuse.
            self.spare.borrow_mut().put_grad(i, grad_output.into_vec());
        }
        for (i, node) in nodes.iter().enumerate() {
            if node.kind == Kind::Leaf && grads[i].is_none() {
                grads[i] = Some(self.zeroed(i, node.value.shape()));
            }
        }
        Gradients::new(self.id, grads)
    }

    /// The general case of one backward step: an input used twice (`x * x`) gets a separate
    /// buffer per use, summed afterwards, since an op cannot hold two `&mut` to one gradient.
    fn backward_with_repeats(
        &self,
        nodes: &[Node<T>],
        grads: &mut [Option<Tensor<T>>],
        i: usize,
        inputs: &[&Tensor<T>],
        grad_output: &Tensor<T>,
    ) {
        let node = &nodes[i];
        // (buffer, fresh) per input: the stored gradient for the first use, a new one after.
        type Slot<T> = Option<(Tensor<T>, bool)>;
        let mut slots: SmallVec<[Slot<T>; 4]> = node
            .inputs
            .iter()
            .map(|&j| {
                nodes[j].requires_grad.then(|| match grads[j].take() {
                    Some(g) => (g, false),
                    None => (self.recycled(j, nodes[j].value.shape()), true),
                })
            })
            .collect();
        {
            let mut views: SmallVec<[Option<InputGrad<'_, T>>; 4]> =
                slots.iter_mut().map(|s| s.as_mut().map(|(g, fresh)| InputGrad::new(g, *fresh))).collect();
            node.op.as_ref().expect("an op node").backward(inputs, &node.value, grad_output, &mut views);
            views.into_iter().flatten().for_each(InputGrad::finish);
        }
        for (slot, &j) in slots.into_iter().map(|s| s.map(|(g, _)| g)).zip(&node.inputs) {
            let Some(g) = slot else { continue };
            match &mut grads[j] {
                Some(existing) => {
                    existing.add_assign(&g);
                    self.spare.borrow_mut().put_grad(j, g.into_vec());
                }
                empty => *empty = Some(g),
            }
        }
    }
}

/// Buffers a tape has finished with, kept for its next recording: each by the node it served
/// (value or gradient), so a loop that records the same graph every step gets back, for every
/// node, a buffer of exactly the size it needs (no allocation, and no zero-filling on growth).
/// Buffers with no node to go back to wait in `loose`.
struct Buffers<T> {
    values: Vec<Vec<T>>,
    grads: Vec<Vec<T>>,
    loose: Vec<Vec<T>>,
}

impl<T> Default for Buffers<T> {
    fn default() -> Self {
        Buffers { values: Vec::new(), grads: Vec::new(), loose: Vec::new() }
    }
}

impl<T> Buffers<T> {
    fn take_value(&mut self, node: usize) -> Vec<T> {
        Self::take(&mut self.values, &mut self.loose, node)
    }

    fn take_grad(&mut self, node: usize) -> Vec<T> {
        Self::take(&mut self.grads, &mut self.loose, node)
    }

    /// The value buffers of a whole recording, in node order; ones the last recording did
    /// not claim (it was shorter) go loose.
    fn put_values(&mut self, values: impl Iterator<Item = Vec<T>>) {
        self.loose.extend(self.values.drain(..).filter(|b| b.capacity() > 0));
        self.values.extend(values);
    }

    fn put_grad(&mut self, node: usize, buffer: Vec<T>) {
        if self.grads.len() <= node {
            self.grads.resize_with(node + 1, Vec::new);
        }
        if self.grads[node].capacity() == 0 {
            self.grads[node] = buffer;
        } else {
            self.loose.push(buffer);
        }
    }

    fn take(by_node: &mut [Vec<T>], loose: &mut Vec<Vec<T>>, node: usize) -> Vec<T> {
        match by_node.get_mut(node) {
            Some(buffer) if buffer.capacity() > 0 => std::mem::take(buffer),
            _ => loose.pop().unwrap_or_default(),
        }
    }
}

/// One line per node: index, kind or op name, input nodes, output shape.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.leaf(Tensor::zeros([2, 3]));
/// let _y = x.relu().sum();
/// assert_eq!(tape.to_string(), "#0 leaf              [2, 3]\n#1 relu     #0       [2, 3]\n#2 sum      #1       []\n");
/// ```
impl<T: Float> fmt::Display for Tape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.nodes.borrow().iter().enumerate() {
            let name = match n.kind {
                Kind::Leaf => "leaf".to_string(),
                Kind::Constant => "constant".to_string(),
                Kind::Computed => n.op.as_ref().map_or_else(String::new, |op| op.name()),
            };
            let inputs: Vec<String> = n.inputs.iter().map(|j| format!("#{j}")).collect();
            writeln!(f, "#{i} {name:<8} {:<8} {}", inputs.join(" "), n.value.shape())?;
        }
        Ok(())
    }
}

impl<T: Float> fmt::Debug for Tape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tape<{}> ({} nodes)\n{self}", T::NAME, self.len())
    }
}

/// A value recorded on a [`Tape`]: a small `Copy` handle (a tape reference and a node index).
///
/// Ops are methods (`x.matmul(w).add(b).relu()`), and `+ - *` and unary `-` work on vars.
#[derive(Clone, Copy)]
pub struct Var<'t, T: Float = f32> {
    tape: &'t Tape<T>,
    index: usize,
}

impl<'t, T: Float> Var<'t, T> {
    /// The tape this var is recorded on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// The node's position on the tape (its id in listings).
    pub fn index(&self) -> usize {
        self.index
    }

    /// A copy of the value.
    pub fn value(&self) -> Tensor<T> {
        self.tape.nodes.borrow()[self.index].value.clone()
    }

    /// Calls `f` with a reference to the value, without copying it.
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
    /// Leaves that do not influence this value get a zero gradient.
    ///
    /// # Panics
    /// If this var holds more than one element.
    pub fn backward(&self) -> Gradients<T> {
        self.tape.backward(self.index)
    }
}

impl<T: Float> fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Var(#{}, {})", self.index, self.shape())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One training-like step: returns the data pointers of every value and leaf gradient.
    fn step(tape: &mut Tape<f32>, w: &Tensor<f32>, x: &Tensor<f32>, labels: &[usize]) -> Vec<*const f32> {
        tape.reset();
        let (wv, xv) = (tape.leaf_from(w), tape.constant_from(x));
        let loss = xv.matmul(wv).relu().log_softmax().nll(labels);
        let grads = loss.backward();
        let mut pointers: Vec<*const f32> =
            (0..tape.len()).map(|i| tape.nodes.borrow()[i].value.data().as_ptr()).collect();
        pointers.push(grads[wv].data().as_ptr());
        tape.recycle(grads);
        pointers
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
        let _ = tape.leaf_from(&x).sum();
        let fourth = step(&mut tape, &w, &x, &[0, 2]);
        assert_eq!(fourth.len(), third.len());
    }

    #[test]
    fn a_buffer_without_its_node_goes_loose_and_is_handed_out_again() {
        let mut b = Buffers::<f32>::default();
        b.put_grad(2, vec![1.0; 3]);
        b.put_grad(2, vec![2.0; 5]); // slot 2 is taken: this one goes loose
        assert_eq!(b.take_grad(2).len(), 3);
        assert_eq!(b.take_grad(2).len(), 5, "from the loose list");
        assert_eq!(b.take_grad(2).capacity(), 0, "nothing left: a new, empty buffer");
        b.put_values([vec![0.0; 4], vec![0.0; 6]].into_iter());
        b.put_values([vec![0.0; 7]].into_iter()); // value 1 was never claimed: it goes loose
        assert_eq!(b.take_value(0).len(), 7);
        assert_eq!(b.take_value(1).len(), 6);
    }
}
