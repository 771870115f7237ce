//! The tape: a list of recorded ops in creation order.

use crate::backward::GradBuffers;
use crate::op::{Output, check_written};
use crate::tensor::copy_slice;
use crate::{Float, Op, Param, ParamId, Shape, Tensor, Var};
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Leaf,
    Constant,
    Computed,
}

pub(crate) struct Node<T: Float> {
    pub kind: Kind,
    pub op: Option<Box<dyn Op<T>>>,
    pub inputs: SmallVec<[usize; 2]>,
    pub value: Tensor<T>,
    /// Some leaf is upstream: backward has to visit this node.
    pub requires_grad: bool,
    /// The op's [`Op::pass_through`] input, by position among `inputs`, when it is valid.
    pub pass_through: Option<u8>,
}

impl<T: Float> Default for Node<T> {
    fn default() -> Self {
        Node {
            kind: Kind::Constant,
            op: None,
            inputs: SmallVec::new(),
            value: Tensor::default(),
            requires_grad: false,
            pass_through: None,
        }
    }
}

/// Records tensor ops as they run, so that [`Var::backward`] can differentiate through them.
///
/// A tape lives for one training step, or is [`reset`](Tape::reset) between steps: a reset keeps
/// every buffer (values and gradients), so a loop that records the same graph each step stops
/// allocating after the first.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.leaf(Tensor::from_vec([3], vec![1.0, -2.0, 3.0]));
/// let y = (x * x).sum(); // y = sum(x^2), dy/dx = 2x
/// let grads = y.backward();
/// assert_eq!(grads[x].data(), &[2.0, -4.0, 6.0]);
/// ```
pub struct Tape<T: Float = f32> {
    /// `nodes[..live]` is the recording. A reset only sets `live` to 0: node `i` of the next
    /// recording is written over node `i` of the last, so its value buffer (which, for the
    /// same graph, already has the right size) is reused in place.
    pub(crate) nodes: RefCell<Vec<Node<T>>>,
    live: Cell<usize>,
    /// Which node each [`Param`] recorded on this recording became.
    params: RefCell<Vec<(ParamId, usize)>>,
    /// Gradient buffers handed back by the last dropped [`Gradients`](crate::Gradients), for
    /// the next backward to write into.
    pub(crate) spare: RefCell<GradBuffers<T>>,
}

impl<T: Float> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a recorded value comes from: an owned [`Tensor`] moves onto the tape, a borrowed one is
/// copied into the buffer the tape kept from its last recording.
pub trait ValueSource<T: Float> {
    /// Makes `slot` hold this value.
    fn write_to(self, slot: &mut Tensor<T>);
}

impl<T: Float> ValueSource<T> for Tensor<T> {
    #[inline]
    fn write_to(self, slot: &mut Tensor<T>) {
        *slot = self;
    }
}

impl<T: Float> ValueSource<T> for &Tensor<T> {
    #[inline]
    fn write_to(self, slot: &mut Tensor<T>) {
        slot.copy_from(self);
    }
}

impl<T: Float> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            nodes: RefCell::new(Vec::new()),
            live: Cell::new(0),
            params: RefCell::new(Vec::new()),
            spare: RefCell::new(GradBuffers::default()),
        }
    }

    /// Records a value whose gradient is wanted (an input under study), given as a [`Tensor`]
    /// to move onto the tape or a `&Tensor` to copy.
    pub fn leaf(&self, value: impl ValueSource<T>) -> Var<'_, T> {
        self.record(Kind::Leaf, |_, slot| {
            value.write_to(slot);
            Recorded::given(true)
        })
    }

    /// Records a value that gets no gradient (data, labels as one-hot rows, fixed masks), given
    /// as a [`Tensor`] to move onto the tape or a `&Tensor` to copy.
    pub fn constant(&self, value: impl ValueSource<T>) -> Var<'_, T> {
        self.record(Kind::Constant, |_, slot| {
            value.write_to(slot);
            Recorded::given(false)
        })
    }

    /// Records a model parameter as a leaf, or returns the var it already is on this recording
    /// (a layer applied twice shares one leaf, whose gradient sums both uses).
    /// [`Gradients::param`](crate::Gradients::param) finds its gradient from the parameter.
    ///
    /// ```
    /// use tapegrad_autograd::{Param, Tape, Tensor};
    /// let w = Param::new(Tensor::from_vec([2], vec![3.0f64, -1.0]));
    /// let tape = Tape::new();
    /// let loss = (tape.param(&w) * tape.param(&w)).sum(); // the same leaf twice: sum(w^2)
    /// let grads = loss.backward();
    /// assert_eq!(grads[&w].data(), &[6.0, -2.0]);
    /// assert_eq!(tape.len(), 3);
    /// ```
    #[inline]
    pub fn param(&self, param: &Param<T>) -> Var<'_, T> {
        let found = self.params.borrow().iter().find(|(id, _)| *id == param.id()).map(|&(_, index)| index);
        if let Some(index) = found {
            return Var::new(self, index);
        }
        let var = self.leaf(param.value());
        self.params.borrow_mut().push((param.id(), var.index()));
        var
    }

    /// The position among this recording's parameters of `param`, and the node it became, if
    /// it was recorded. Optimisers ask in the order the forward pass recorded, so the search
    /// starts at position `hint`.
    #[inline]
    pub(crate) fn param_node(&self, param: &Param<T>, hint: usize) -> Option<(usize, usize)> {
        let params = self.params.borrow();
        match params.get(hint) {
            Some(&(id, index)) if id == param.id() => Some((hint, index)),
            _ => params.iter().position(|(id, _)| *id == param.id()).map(|p| (p, params[p].1)),
        }
    }

    /// Records rows `rows` of the matrix `source`, in that order, as a `[rows.len(), cols]`
    /// constant: a mini-batch gathered straight onto the tape, one copy.
    ///
    /// ```
    /// use tapegrad_autograd::{Tape, Tensor};
    /// let data = Tensor::from_rows(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    /// let tape = Tape::new();
    /// let batch = tape.gather_rows(&data, &[2, 0]);
    /// assert_eq!(batch.value().data(), &[5.0, 6.0, 1.0, 2.0]);
    /// ```
    ///
    /// # Panics
    /// If `source` is not a matrix or a row index is out of range.
    pub fn gather_rows(&self, source: &Tensor<T>, rows: &[usize]) -> Var<'_, T> {
        let (n, cols) = source.shape().matrix("gather_rows");
        if let Some(&bad) = rows.iter().find(|&&i| i >= n) {
            panic!("gather_rows: row {bad} is out of range for a matrix of shape {}", source.shape());
        }
        self.record(Kind::Constant, |_, slot| {
            let shape = Shape::from([rows.len(), cols]);
            let mut buffer = std::mem::take(slot).into_vec();
            buffer.resize(shape.numel(), T::ZERO);
            // A large batch in parts of whole rows, one per thread.
            let (cols, parts) = (cols.max(1), crate::threads::parts_for(shape.numel()));
            crate::threads::run_parts(&mut buffer[..], parts, cols, &|offset, part: &mut [T]| {
                for (dst, &i) in part.chunks_exact_mut(cols).zip(&rows[offset / cols..]) {
                    copy_slice(dst, source.row(i));
                }
            });
            *slot = Tensor::from_vec(shape, buffer);
            Recorded::given(false)
        })
    }

    /// Records a constant that `fill` writes into a reused buffer (which holds old values).
    pub(crate) fn constant_with(&self, fill: impl FnOnce(&mut Tensor<T>)) -> Var<'_, T> {
        self.record(Kind::Constant, |_, slot| {
            fill(slot);
            Recorded::given(false)
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
            assert!(
                std::ptr::eq(v.tape(), self),
                "{}: input {k} (var #{}) belongs to another tape",
                op.name(),
                v.index()
            );
        }
        self.record(Kind::Computed, |before, out| {
            let requires_grad = inputs.iter().any(|v| before[v.index()].requires_grad);
            let mut written = false;
            // One and two inputs (nearly every op) get arrays: pushing into a SmallVec keeps its
            // length in memory, and that round trip costs more than the small ops it feeds.
            let (ids, pass_through) = match *inputs {
                [a] => {
                    let values = [&before[a.index()].value];
                    op.forward(&values, Output::new(out, &mut written));
                    (SmallVec::from_buf_and_len([a.index(), 0], 1), valid_pass_through(&op, &values, out))
                }
                [a, b] => {
                    let values = [&before[a.index()].value, &before[b.index()].value];
                    op.forward(&values, Output::new(out, &mut written));
                    (SmallVec::from_buf([a.index(), b.index()]), valid_pass_through(&op, &values, out))
                }
                _ => {
                    let values: SmallVec<[&Tensor<T>; 4]> = inputs.iter().map(|v| &before[v.index()].value).collect();
                    op.forward(&values, Output::new(out, &mut written));
                    (inputs.iter().map(|v| v.index()).collect(), valid_pass_through(&op, &values, out))
                }
            };
            check_written(&op, written);
            Recorded { op: Some(Box::new(op)), inputs: ids, requires_grad, pass_through }
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
    /// Taking `&mut self` means no [`Var`] or [`Gradients`](crate::Gradients) of the old
    /// recording can outlive this call.
    pub fn reset(&mut self) {
        let live = self.live.replace(0);
        self.params.get_mut().clear();
        // The ops go now (with whatever they own); the value buffers stay for the next recording.
        self.nodes.get_mut()[..live].iter_mut().for_each(|node| node.op = None);
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
        let Recorded { op, inputs, requires_grad, pass_through } = fill(before, &mut node.value);
        node.kind = kind;
        node.op = op;
        node.inputs = inputs;
        node.requires_grad = requires_grad;
        node.pass_through = pass_through;
        self.live.set(index + 1);
        Var::new(self, index)
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
    pass_through: Option<u8>,
}

impl<T: Float> Recorded<T> {
    /// A leaf (`requires_grad`) or a constant: no op, no inputs.
    fn given(requires_grad: bool) -> Self {
        Recorded { op: None, inputs: SmallVec::new(), requires_grad, pass_through: None }
    }
}

/// The op's [`Op::pass_through`], kept only if it names an input with the output's shape (an
/// answer whose shapes disagree is dropped rather than trusted).
#[inline]
fn valid_pass_through<T: Float>(op: &impl Op<T>, values: &[&Tensor<T>], out: &Tensor<T>) -> Option<u8> {
    let p = op.pass_through(values, out)?;
    (values.get(p)?.shape() == out.shape()).then_some(u8::try_from(p).ok()?)
}

#[cfg(test)]
mod tests {
    use crate::{InputGrad, Op, Output, Param, Tape, Tensor};

    #[test]
    fn a_borrowed_value_is_copied_into_the_reused_buffer_and_an_owned_one_moves_in() {
        let mut tape = Tape::<f64>::new();
        let x = Tensor::from_vec([3], vec![1.0, 2.0, 3.0]);
        let first = tape.leaf(&x).with_value(|v| v.data().as_ptr());
        tape.reset();
        let again = tape.leaf(&x).with_value(|v| v.data().as_ptr());
        assert_eq!(first, again, "a copy onto a reset tape reuses the node's buffer");
        tape.reset();
        let owned = x.clone();
        let moved_from = owned.data().as_ptr();
        let leaf = tape.leaf(owned);
        assert_eq!(leaf.with_value(|v| v.data().as_ptr()), moved_from, "an owned tensor moves in, uncopied");
        assert_eq!(leaf.value(), x);
    }

    #[test]
    fn a_param_recorded_twice_is_one_leaf_and_its_gradient_is_found_from_it() {
        let (w, b) = (Param::new(Tensor::from_vec([2], vec![1.0, 2.0])), Param::new(Tensor::scalar(0.5)));
        let mut tape = Tape::<f64>::new();
        for step in 0..2 {
            tape.reset();
            // w * w + b, with b recorded first this time: the lookup cannot rely on order.
            let bv = tape.param(&b);
            let (w1, w2) = (tape.param(&w), tape.param(&w));
            assert_eq!(w1.index(), w2.index(), "step {step}");
            let grads = (w1 * w2 + bv).sum().backward();
            // d/dw sum(w^2 + b) = 2 w; d/db = 2 (b is broadcast over two elements).
            assert_eq!((grads[&w].data(), grads[&b].data()), (&[2.0, 4.0][..], &[2.0][..]), "step {step}");
            assert!(grads.param(&Param::new(Tensor::scalar(0.0))).is_none(), "an unrecorded param");
        }
        // A clone is another parameter.
        let tape = Tape::<f64>::new();
        let loss = tape.param(&w).sum();
        assert!(loss.backward().param(&w.clone()).is_none());
    }

    /// Forgets to write its output.
    struct Lazy;

    impl Op<f64> for Lazy {
        fn name(&self) -> String {
            "lazy".into()
        }
        fn forward(&self, _: &[&Tensor<f64>], _: Output<'_, f64>) {}
        fn backward(&self, _: &[&Tensor<f64>], _: &Tensor<f64>, _: &Tensor<f64>, _: &mut [Option<InputGrad<'_, f64>>]) {
        }
    }

    #[test]
    #[should_panic(expected = "lazy: forward returned without writing its output")]
    fn an_op_that_writes_no_output_is_caught_before_its_stale_buffer_is_used() {
        let mut tape = Tape::<f64>::new();
        let _ = tape.leaf(Tensor::ones([2])).exp();
        tape.reset();
        // Node 1's buffer still holds exp's output from the last recording.
        let x = tape.leaf(Tensor::ones([2]));
        let _ = tape.apply(Lazy, &[x]);
    }
}
