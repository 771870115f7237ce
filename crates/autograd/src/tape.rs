//! The tape: a list of recorded ops in creation order, and the one reverse loop over it.

use crate::tensor::copy_slice;
use crate::{Float, Gradients, InputGrad, Shape, Tensor};
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
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
pub trait Op<T: Float>: Send + 'static {
    /// A short name for listings and messages (`"matmul"`, `"scale(0.5)"`).
    fn name(&self) -> String;

    /// How many inputs the op takes, when that is fixed: [`Tape::apply`] checks it before
    /// `forward` runs, so a wrong count is reported with the op's name instead of as an index
    /// out of bounds inside `forward`. The default, `None`, leaves the check to `forward`.
    fn num_inputs(&self) -> Option<usize> {
        None
    }

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

    /// The input, if any, whose gradient contribution is `grad_output` itself: the output's
    /// shape, and a derivative of 1 everywhere (`a` in `a + b` or `a - b` when `a` has the
    /// output's shape, as in a bias add).
    ///
    /// Asked once, after `forward`. When that input has no gradient yet, the engine hands it
    /// the output gradient's buffer instead of copying it (PyTorch's `AddBackward` likewise
    /// passes its gradient on), and `backward` sees `None` in that slot (or is not called at
    /// all, when no other input needs a gradient). Otherwise `backward` gets the slot as usual,
    /// so it must still handle every input. A hint naming an input whose shape differs from the
    /// output's is ignored. The default is `None`.
    fn passes_gradient_to(&self, inputs: &[&Tensor<T>], output: &Tensor<T>) -> Option<usize> {
        let _ = (inputs, output);
        None
    }
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
    /// The op's [`Op::passes_gradient_to`], by position among `inputs`.
    passes_to: Option<u8>,
}

impl<T: Float> Default for Node<T> {
    fn default() -> Self {
        Node {
            kind: Kind::Constant,
            op: None,
            inputs: SmallVec::new(),
            value: Tensor::default(),
            requires_grad: false,
            passes_to: None,
        }
    }
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
    /// `nodes[..live]` is the recording. A reset only sets `live` to 0: node `i` of the next
    /// recording is written over node `i` of the last, so its value buffer (which, for the
    /// same graph, already has the right size) is reused in place.
    nodes: RefCell<Vec<Node<T>>>,
    live: Cell<usize>,
    /// The last recycled gradient store, whose buffers the next backward reuses in place.
    spare_grads: RefCell<Option<Gradients<T>>>,
    /// Buffers for the extra gradient copies of an input an op uses twice.
    scratch: RefCell<Vec<Vec<T>>>,
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
            live: Cell::new(0),
            spare_grads: RefCell::new(None),
            scratch: RefCell::new(Vec::new()),
        }
    }

    /// Records a value whose gradient is wanted (a parameter or an input under study).
    pub fn leaf(&self, value: Tensor<T>) -> Var<'_, T> {
        self.record(Kind::Leaf, |_, slot| {
            *slot = value;
            Recorded::data(true)
        })
    }

    /// Like [`leaf`](Tape::leaf), but copies `value` into a recycled buffer: the way to put
    /// parameters on a reused tape without allocating.
    pub fn leaf_from(&self, value: &Tensor<T>) -> Var<'_, T> {
        self.record(Kind::Leaf, |_, slot| {
            slot.copy_from(value);
            Recorded::data(true)
        })
    }

    /// Records a value that gets no gradient (data, labels as one-hot rows, fixed masks).
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        self.record(Kind::Constant, |_, slot| {
            *slot = value;
            Recorded::data(false)
        })
    }

    /// Like [`constant`](Tape::constant), but copies `value` into a recycled buffer.
    pub fn constant_from(&self, value: &Tensor<T>) -> Var<'_, T> {
        self.record(Kind::Constant, |_, slot| {
            slot.copy_from(value);
            Recorded::data(false)
        })
    }

    /// Records a constant of `shape` from `values`, in a recycled buffer.
    pub(crate) fn constant_map(&self, shape: impl Into<Shape>, values: impl IntoIterator<Item = T>) -> Var<'_, T> {
        self.record(Kind::Constant, |_, slot| {
            slot.assign(shape, values);
            Recorded::data(false)
        })
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
        self.record(Kind::Constant, |_, slot| {
            let shape = Shape::from([rows.len(), cols]);
            let mut buffer = std::mem::take(slot).into_vec();
            buffer.resize(shape.numel(), T::ZERO);
            for (dst, &i) in buffer.chunks_exact_mut(cols.max(1)).zip(rows) {
                copy_slice(dst, source.row(i));
            }
            *slot = Tensor::from_vec(shape, buffer);
            Recorded::data(false)
        })
    }

    /// Runs `op` on the values of `inputs` and records it.
    ///
    /// # Panics
    /// If an input belongs to another tape, if the number of inputs is not the op's
    /// [`Op::num_inputs`], if the op's forward rejects the input shapes, or if called from inside
    /// [`Var::with_value`].
    pub fn apply<'t>(&'t self, op: impl Op<T>, inputs: &[Var<'t, T>]) -> Var<'t, T> {
        if let Some(n) = op.num_inputs()
            && n != inputs.len()
        {
            panic!("{}: takes {n} input{}, given {}", op.name(), if n == 1 { "" } else { "s" }, inputs.len());
        }
        for (k, v) in inputs.iter().enumerate() {
            assert!(std::ptr::eq(v.tape, self), "{}: input {k} (var #{}) belongs to another tape", op.name(), v.index);
        }
        self.record(Kind::Computed, |before, out| {
            let requires_grad = inputs.iter().any(|v| before[v.index].requires_grad);
            // One and two inputs (nearly every op) get arrays: pushing into a SmallVec keeps its
            // length in memory, and that round trip costs more than the small ops it feeds.
            let (ids, passes_to) = match *inputs {
                [a] => {
                    let values = [&before[a.index].value];
                    op.forward(&values, out);
                    (SmallVec::from_buf_and_len([a.index, 0], 1), pass_hint(&op, &values, out))
                }
                [a, b] => {
                    let values = [&before[a.index].value, &before[b.index].value];
                    op.forward(&values, out);
                    (SmallVec::from_buf([a.index, b.index]), pass_hint(&op, &values, out))
                }
                _ => {
                    let values: SmallVec<[&Tensor<T>; 4]> = inputs.iter().map(|v| &before[v.index].value).collect();
                    op.forward(&values, out);
                    (inputs.iter().map(|v| v.index).collect(), pass_hint(&op, &values, out))
                }
            };
            Recorded { op: Some(Box::new(op)), inputs: ids, requires_grad, passes_to }
        })
    }

    /// Number of recorded nodes (leaves, constants and op results).
    pub fn len(&self) -> usize {
        self.live.get()
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
        let live = self.live.replace(0);
        // The ops go now (with whatever they own); the value buffers stay for the next recording.
        self.nodes.get_mut()[..live].iter_mut().for_each(|node| node.op = None);
    }

    /// Gives the buffers of a gradient store back to the tape, to be reused by the next step.
    pub fn recycle(&self, grads: Gradients<T>) {
        *self.spare_grads.borrow_mut() = Some(grads);
    }

    /// The graph in Graphviz DOT form: leaves as boxes, constants as grey boxes, ops as ellipses
    /// labelled with their name and output shape. Render with `dot -Tsvg`.
    pub fn to_dot(&self) -> String {
        let nodes = self.nodes.borrow();
        let mut s = String::from("digraph tape {\n  rankdir=LR;\n");
        for (i, n) in nodes[..self.len()].iter().enumerate() {
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

    /// Appends a node, its value written in place by `fill(earlier nodes, value slot)`, which
    /// returns the node's op, inputs and whether it requires a gradient. If `fill` panics
    /// (a shape error), nothing is recorded.
    fn record(&self, kind: Kind, fill: impl FnOnce(&[Node<T>], &mut Tensor<T>) -> Recorded<T>) -> Var<'_, T> {
        let Ok(mut nodes) = self.nodes.try_borrow_mut() else { recording_while_reading() };
        let index = self.live.get();
        if index == nodes.len() {
            nodes.push(Node::default());
        }
        let (before, rest) = nodes.split_at_mut(index);
        let node = &mut rest[0];
        let Recorded { op, inputs, requires_grad, passes_to } = fill(before, &mut node.value);
        node.kind = kind;
        node.op = op;
        node.inputs = inputs;
        node.requires_grad = requires_grad;
        node.passes_to = passes_to;
        self.live.set(index + 1);
        Var { tape: self, index }
    }

    /// Reverse-mode differentiation of node `loss`: one loop over the tape in reverse, each op
    /// adding its inputs' gradients. Node ids are creation order, hence already topological.
    fn backward(&self, loss: usize) -> Gradients<T> {
        let nodes = self.nodes.borrow();
        let nodes = &nodes[..self.len()];
        let loss_shape = nodes[loss].value.shape();
        assert_eq!(
            loss_shape.numel(),
            1,
            "backward: the loss must be a single value, but var #{loss} has shape {loss_shape}; reduce it with sum() or mean() first"
        );
        // Every gradient is written in place into the last store's tensor for the same node.
        let mut store =
            self.spare_grads.borrow_mut().take().unwrap_or_else(|| Gradients::new(0, Vec::new(), Vec::new()));
        store.tape_id = self.id;
        let Gradients { grads, present, .. } = &mut store;
        if grads.len() < nodes.len() {
            grads.resize_with(nodes.len(), Tensor::default);
        }
        present.clear();
        present.resize(nodes.len(), false);
        if nodes[loss].requires_grad {
            grads[loss].reset_zeroed_like(loss_shape);
            grads[loss].data_mut()[0] = T::ONE;
            present[loss] = true;
        }
        for i in (0..=loss).rev() {
            let node = &nodes[i];
            let Some(op) = &node.op else { continue };
            if !std::mem::take(&mut present[i]) {
                continue; // not reached from the loss
            }
            // Inputs come before the node: their gradients and this node's are disjoint.
            let (earlier, rest) = grads.split_at_mut(i);
            match node.inputs[..] {
                // Distinct inputs: each op writes straight into the stored gradients.
                [j] => {
                    if hand_over(node, 0, nodes, earlier, present, &mut rest[0]) {
                        continue; // the input's whole gradient is the output's
                    }
                    let fj = claim(nodes, earlier, present, j);
                    let mut slots = [nodes[j].requires_grad.then(|| InputGrad::new(&mut earlier[j], fj))];
                    op.backward(&[&nodes[j].value], &node.value, &rest[0], &mut slots);
                    slots.into_iter().flatten().for_each(InputGrad::finish);
                }
                [j, k] if j != k => {
                    let handed =
                        [0, 1].into_iter().find(|&p| hand_over(node, p, nodes, earlier, present, &mut rest[0]));
                    let (fj, fk) = (claim(nodes, earlier, present, j), claim(nodes, earlier, present, k));
                    let [gj, gk] = earlier.get_disjoint_mut([j, k]).expect("distinct indices below the node's");
                    let inputs = [&nodes[j].value, &nodes[k].value];
                    match handed {
                        // The output gradient now sits in the handed input's slot.
                        // (If the other input is a constant, there is nothing left to do.)
                        Some(0) if nodes[k].requires_grad => {
                            let mut slots = [None, Some(InputGrad::new(gk, fk))];
                            op.backward(&inputs, &node.value, gj, &mut slots);
                            slots.into_iter().flatten().for_each(InputGrad::finish);
                        }
                        Some(1) if nodes[j].requires_grad => {
                            let mut slots = [Some(InputGrad::new(gj, fj)), None];
                            op.backward(&inputs, &node.value, gk, &mut slots);
                            slots.into_iter().flatten().for_each(InputGrad::finish);
                        }
                        Some(_) => {}
                        None => {
                            let mut slots = [
                                nodes[j].requires_grad.then(|| InputGrad::new(gj, fj)),
                                nodes[k].requires_grad.then(|| InputGrad::new(gk, fk)),
                            ];
                            op.backward(&inputs, &node.value, &rest[0], &mut slots);
                            slots.into_iter().flatten().for_each(InputGrad::finish);
                        }
                    }
                }
                _ => {
                    let inputs: SmallVec<[&Tensor<T>; 4]> = node.inputs.iter().map(|&j| &nodes[j].value).collect();
                    self.backward_with_repeats(node, nodes, earlier, present, &inputs, &rest[0])
                }
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            if node.kind == Kind::Leaf && !present[i] {
                grads[i].reset_zeroed_like(node.value.shape());
                present[i] = true;
            }
        }
        store
    }

    /// The general case of one backward step: an input used twice (`x * x`) gets a separate
    /// buffer per use, summed afterwards, since an op cannot hold two `&mut` to one gradient.
    fn backward_with_repeats(
        &self,
        node: &Node<T>,
        nodes: &[Node<T>],
        grads: &mut [Tensor<T>],
        present: &mut [bool],
        inputs: &[&Tensor<T>],
        grad_output: &Tensor<T>,
    ) {
        let mut scratch = self.scratch.borrow_mut();
        // (buffer, fresh, first use) per input: the stored gradient moved out for the first use
        // of each input, a scratch buffer for every later one.
        type Slot<T> = Option<(Tensor<T>, bool, bool)>;
        let mut slots: SmallVec<[Slot<T>; 4]> = SmallVec::new();
        for (k, &j) in node.inputs.iter().enumerate() {
            if !nodes[j].requires_grad {
                slots.push(None);
            } else if !node.inputs[..k].contains(&j) {
                let fresh = claim(nodes, grads, present, j);
                slots.push(Some((std::mem::take(&mut grads[j]), fresh, true)));
            } else {
                let mut extra = Tensor::from_vec(
                    [0],
                    scratch
                        .pop()
                        .map(|mut b| {
                            b.clear();
                            b
                        })
                        .unwrap_or_default(),
                );
                extra.reset_for_overwrite(nodes[j].value.shape());
                slots.push(Some((extra, true, false)));
            }
        }
        {
            let mut views: SmallVec<[Option<InputGrad<'_, T>>; 4]> =
                slots.iter_mut().map(|s| s.as_mut().map(|(g, fresh, _)| InputGrad::new(g, *fresh))).collect();
            node.op.as_ref().expect("an op node").backward(inputs, &node.value, grad_output, &mut views);
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
                scratch.push(g.into_vec());
            }
        }
    }
}

/// The tape's nodes are borrowed for reading while `Var::with_value`'s closure runs, and a new
/// node could move them.
#[cold]
#[inline(never)]
fn recording_while_reading() -> ! {
    panic!(
        "Tape: cannot record an op inside Var::with_value, whose closure is reading a value on this tape; \
         record after it returns, or take a copy with Var::value"
    )
}

/// What [`Tape::record`]'s `fill` returns besides the value.
struct Recorded<T: Float> {
    op: Option<Box<dyn Op<T>>>,
    inputs: SmallVec<[usize; 2]>,
    requires_grad: bool,
    passes_to: Option<u8>,
}

impl<T: Float> Recorded<T> {
    /// A leaf (`requires_grad`) or a constant: no op, no inputs.
    fn data(requires_grad: bool) -> Self {
        Recorded { op: None, inputs: SmallVec::new(), requires_grad, passes_to: None }
    }
}

/// Marks node `j`'s gradient as written and says whether this is its first contribution; a
/// first one gets the stored buffer resized, unzeroed (the op assigns, see [`InputGrad`]).
#[inline(always)]
fn claim<T: Float>(nodes: &[Node<T>], grads: &mut [Tensor<T>], present: &mut [bool], j: usize) -> bool {
    let first = nodes[j].requires_grad && !present[j];
    if first {
        grads[j].reset_for_overwrite_like(nodes[j].value.shape());
        present[j] = true;
    }
    first
}

/// The op's [`Op::passes_gradient_to`], kept only if it names an input with the output's shape
/// (a hint whose shapes disagree is dropped rather than trusted).
#[inline]
fn pass_hint<T: Float>(op: &impl Op<T>, values: &[&Tensor<T>], out: &Tensor<T>) -> Option<u8> {
    let p = op.passes_gradient_to(values, out)?;
    (values.get(p)?.shape() == out.shape()).then_some(u8::try_from(p).ok()?)
}

/// Hands input `p` of `node` the output gradient's buffer, if the op passes its gradient to
/// that input ([`Op::passes_gradient_to`]) and the input has no gradient yet: a swap where
/// backward would copy. The input's old buffer goes to the output's slot, which is consumed.
/// Says whether it did.
#[inline]
fn hand_over<T: Float>(
    node: &Node<T>,
    p: u8,
    nodes: &[Node<T>],
    earlier: &mut [Tensor<T>],
    present: &mut [bool],
    grad_output: &mut Tensor<T>,
) -> bool {
    if node.passes_to != Some(p) {
        return false;
    }
    let j = node.inputs[usize::from(p)];
    if !nodes[j].requires_grad || present[j] {
        return false;
    }
    std::mem::swap(&mut earlier[j], grad_output);
    present[j] = true;
    true
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
        for (i, n) in self.nodes.borrow()[..self.len()].iter().enumerate() {
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
    ///
    /// # Panics
    /// If `f` records on the tape (the value is borrowed from it while `f` runs).
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

    /// Two different graphs (different lengths, shapes and leaves) for `which`, with their
    /// leaf gradients.
    fn graph(tape: &Tape<f64>, which: usize, w: &Tensor<f64>) -> Vec<Vec<f64>> {
        let wv = tape.leaf_from(w);
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
        tape.recycle(grads);
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
        let _ = tape.leaf_from(&x).sum();
        let fourth = step(&mut tape, &w, &x, &[0, 2]);
        assert_eq!(fourth.len(), third.len());
    }

    #[test]
    fn a_tape_and_its_gradients_move_to_another_thread() {
        // A training step recorded and differentiated on a worker thread, whose results come
        // back: the gradient of sum((x w)^2) is 2 x^T (x w).
        fn assert_send<S: Send>() {}
        assert_send::<Tape<f32>>();
        assert_send::<Gradients<f64>>();
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
        fn forward(&self, inputs: &[&Tensor<f64>], out: &mut Tensor<f64>) {
            let sign = if self.0 { -1.0 } else { 1.0 };
            *out = inputs[0].add(&inputs[1].scale(sign));
        }
        fn backward(
            &self,
            ins: &[&Tensor<f64>],
            _: &Tensor<f64>,
            g: &Tensor<f64>,
            grads: &mut [Option<InputGrad<'_, f64>>],
        ) {
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
        fn forward(&self, inputs: &[&Tensor<f64>], out: &mut Tensor<f64>) {
            out.copy_from(inputs[0]);
        }
        fn backward(
            &self,
            _: &[&Tensor<f64>],
            _: &Tensor<f64>,
            g: &Tensor<f64>,
            grads: &mut [Option<InputGrad<'_, f64>>],
        ) {
            *self.1.lock().unwrap() = Some(grads[0].is_some());
            if let Some(gx) = &mut grads[0] {
                gx.add(g.data().iter().copied());
            }
        }
        fn passes_gradient_to(&self, _: &[&Tensor<f64>], _: &Tensor<f64>) -> Option<usize> {
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
