//! Shape ops: reshaping, broadcasting, joining, slicing, flipping and permuting axes.
//!
//! They move elements and change none, so each backward sends `g` back along the same map: a
//! reshape passes it on, a broadcast sums it over the repeated axes, a concat or a stack splits
//! it, a narrow scatters it into zeros, a flip or a permute applies the inverse map.
//!
//! Each op is a method of [`Var`] (recorded) and of [`Tensor`] (the same forward, no tape).
//! [`Tensor::reshape`], [`Tensor::unsqueeze`] and [`Tensor::squeeze`] take the tensor by value
//! and keep its buffer, since only the shape changes; on a tape they copy, like every op.

use super::broadcast::{Broadcast, sum_to};
use crate::input_grad::{Write, assign_or_add};
use crate::tensor::copy_slice;
use crate::{Float, InputGrad, Op, Output, Shape, Tensor, Var};
use smallvec::SmallVec;
use std::ops::Range;

/// Axis lengths, inline up to rank 4 like a [`Shape`]'s.
type Dims = SmallVec<[usize; 4]>;

/// `(outer, len, inner)`: `dims` viewed as `[outer, len, inner]` with `axis` in the middle.
/// Only for a shape with elements, where each product is at most the element count (those of
/// an empty one, say `[2^40, 2^40, 0]`, may overflow).
fn around(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    (dims[..axis].iter().product(), dims[axis], dims[axis + 1..].iter().product())
}

/// `y = x` with another shape of as many elements: `dx = g` with `x`'s shape.
pub struct Reshape {
    /// The output's shape.
    pub shape: Shape,
}

impl<T: Float> Op<T> for Reshape {
    fn name(&self) -> String {
        format!("reshape({})", self.shape)
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        check_reshape(x.shape(), &self.shape);
        copy_slice(out.overwrite_as(&self.shape), x.data());
    }

    fn backward(&self, _: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        if let Some(gx) = &mut grads[0] {
            gx.add(g.data().iter().copied());
        }
    }

    /// `dx = reshape(g, shape of x)`.
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| g.reshape(x[0].shape()))]
    }
}

fn check_reshape(from: &Shape, to: &Shape) {
    assert_eq!(from.numel(), to.numel(), "reshape: {from} to {to}: sizes differ");
}

/// `shape` with an axis of length 1 inserted at `axis`.
fn unsqueezed(shape: &Shape, axis: usize) -> Shape {
    let rank = shape.rank();
    assert!(axis <= rank, "unsqueeze: axis {axis} out of range for shape {shape} (at most {rank})");
    let mut dims = Dims::from_slice(shape.dims());
    dims.insert(axis, 1);
    Shape::new(&dims)
}

/// `shape` without `axis`, which must have length 1.
fn squeezed(shape: &Shape, axis: usize) -> Shape {
    assert!(axis < shape.rank(), "squeeze: axis {axis} out of range for shape {shape}");
    assert!(shape[axis] == 1, "squeeze: axis {axis} of shape {shape} has length {}, not 1", shape[axis]);
    let mut dims = Dims::from_slice(shape.dims());
    dims.remove(axis);
    Shape::new(&dims)
}

/// `y = x` repeated along the axes where `x` has length 1 or none (NumPy's rules, axes matched
/// from the right): `dx = g` summed over the repeated axes.
pub struct BroadcastTo {
    /// The output's shape.
    pub shape: Shape,
}

impl BroadcastTo {
    fn plan(&self, x: &Shape) -> Broadcast {
        let plan = Broadcast::named(x, &self.shape, "broadcast_to", "to");
        if *plan.out() != self.shape {
            panic!("broadcast_to: {x} to {}: the shapes broadcast to {}, not to the target", self.shape, plan.out());
        }
        plan
    }
}

impl<T: Float> Op<T> for BroadcastTo {
    fn name(&self) -> String {
        format!("broadcast_to({})", self.shape)
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        self.plan(x.shape()).expand_into(out.overwrite_as(&self.shape), x.data());
    }

    fn backward(&self, inputs: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        if let Some(gx) = &mut grads[0] {
            self.plan(inputs[0].shape()).sum_into(gx.tensor().data_mut(), g.data());
        }
    }

    /// `dx = sum_to(g, shape of x)`.
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| sum_to(g, &x[0].shape()))]
    }
}

/// `y = [x_0, x_1, ...]` joined along an existing axis: `dx_k = g`'s part along that axis
/// that came from `x_k`.
pub struct Concat {
    /// The axis joined along.
    pub axis: usize,
}

impl Concat {
    /// The output's shape, after checking every input agrees with input 0 except along the axis.
    fn out_shape<T: Float>(&self, inputs: &[&Tensor<T>]) -> Shape {
        let axis = self.axis;
        let Some(first) = inputs.first() else { panic!("concat: needs at least one input") };
        let s0 = first.shape();
        assert!(axis < s0.rank(), "concat: axis {axis} out of range for input 0 of shape {s0}");
        let mut len = 0usize;
        for (k, x) in inputs.iter().enumerate() {
            let s = x.shape();
            let agree = s.rank() == s0.rank() && (0..s.rank()).all(|i| i == axis || s[i] == s0[i]);
            if !agree {
                panic!(
                    "concat: input {k} has shape {s}, input 0 has shape {s0}: they must agree except along axis {axis}"
                );
            }
            len = len.checked_add(s[axis]).unwrap_or_else(|| panic!("concat: axis {axis} is too long"));
        }
        let mut dims = Dims::from_slice(s0.dims());
        dims[axis] = len;
        Shape::new(&dims)
    }
}

impl<T: Float> Op<T> for Concat {
    fn name(&self) -> String {
        format!("concat(axis={})", self.axis)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let shape = self.out_shape(inputs);
        let inner = chunk_inner(&shape, self.axis);
        join(out.overwrite_as(&shape), inputs, |x| x.shape()[self.axis] * inner);
    }

    fn backward(&self, inputs: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let inner = chunk_inner(g.shape(), self.axis);
        split(g, inputs, grads, |x| x.shape()[self.axis] * inner);
    }

    /// `dx_k = narrow(g, axis, offset of x_k, len of x_k)`.
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let mut at = 0;
        x.iter()
            .zip(wanted)
            .map(|(x, &w)| {
                let len = x.shape()[self.axis];
                at += len;
                w.then(|| g.narrow(self.axis, at - len, len))
            })
            .collect()
    }
}

/// `y = [x_0, x_1, ...]` stacked along a new axis: `dx_k = g[.., k, ..]`.
pub struct Stack {
    /// Where the new axis goes: 0 to the inputs' rank.
    pub axis: usize,
}

impl Stack {
    /// The output's shape, after checking every input has input 0's shape.
    fn out_shape<T: Float>(&self, inputs: &[&Tensor<T>]) -> Shape {
        let Some(first) = inputs.first() else { panic!("stack: needs at least one input") };
        let s0 = first.shape();
        let (axis, rank) = (self.axis, s0.rank());
        assert!(axis <= rank, "stack: axis {axis} out of range for inputs of shape {s0} (at most {rank})");
        if let Some((k, x)) = inputs.iter().enumerate().find(|(_, x)| x.shape() != s0) {
            panic!("stack: input {k} has shape {}, input 0 has shape {s0}: they must be equal", x.shape());
        }
        let mut dims = Dims::from_slice(s0.dims());
        dims.insert(axis, inputs.len());
        Shape::new(&dims)
    }
}

impl<T: Float> Op<T> for Stack {
    fn name(&self) -> String {
        format!("stack(axis={})", self.axis)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let shape = self.out_shape(inputs);
        let inner = chunk_inner(&shape, self.axis);
        join(out.overwrite_as(&shape), inputs, |_| inner);
    }

    fn backward(&self, inputs: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let inner = chunk_inner(g.shape(), self.axis);
        split(g, inputs, grads, |_| inner);
    }

    /// `dx_k = squeeze(narrow(g, axis, k, 1), axis)`.
    fn backward_graph<'t>(
        &self,
        _: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let picks = wanted.iter().enumerate();
        picks.map(|(k, &w)| w.then(|| g.narrow(self.axis, k, 1).squeeze(self.axis))).collect()
    }
}

/// The number of elements after `axis` of the joined `shape` (0 if it has none, when nothing is
/// copied).
fn chunk_inner(shape: &Shape, axis: usize) -> usize {
    if shape.numel() == 0 { 0 } else { around(shape.dims(), axis).2 }
}

/// Writes the inputs into `out` in turn, `chunk(x)` elements of each at a time: the output
/// viewed as `[outer, sum of chunks]`.
fn join<T: Float>(out: &mut [T], inputs: &[&Tensor<T>], chunk: impl Fn(&Tensor<T>) -> usize) {
    let row: usize = inputs.iter().map(|x| chunk(x)).sum();
    if row == 0 {
        return;
    }
    for (o, dst) in out.chunks_exact_mut(row).enumerate() {
        let mut at = 0;
        for x in inputs {
            let c = chunk(x);
            dst[at..at + c].copy_from_slice(&x.data()[o * c..][..c]);
            at += c;
        }
    }
}

/// The backward of [`join`]: each input's gradient is its chunks of `g`, every element written once.
fn split<T: Float>(
    g: &Tensor<T>,
    inputs: &[&Tensor<T>],
    grads: &mut [Option<InputGrad<'_, T>>],
    chunk: impl Fn(&Tensor<T>) -> usize,
) {
    let row: usize = inputs.iter().map(|x| chunk(x)).sum();
    let mut at = 0;
    for (x, gx) in inputs.iter().zip(grads) {
        let c = chunk(x);
        if let Some(gx) = gx
            && c > 0
        {
            let (mode, gx) = gx.elements();
            for (dst, src) in gx.chunks_exact_mut(c).zip(g.data().chunks_exact(row)) {
                assign_or_add(dst, src[at..at + c].iter().copied(), mode);
            }
        }
        at += c;
    }
}

/// `y = x[.., start..start + len, ..]` along one axis: `dx = g` there, 0 elsewhere.
pub struct Narrow {
    /// The axis narrowed.
    pub axis: usize,
    /// The first index kept.
    pub start: usize,
    /// How many indices are kept.
    pub len: usize,
}

/// Checks that `start..start + len` lies within `axis` of `shape`; `op` names the caller.
fn check_range(op: &str, shape: &Shape, axis: usize, start: usize, len: usize) {
    assert!(axis < shape.rank(), "{op}: axis {axis} out of range for shape {shape}");
    let n = shape[axis];
    match start.checked_add(len) {
        Some(end) if end <= n => {}
        Some(end) => panic!("{op}: range {start}..{end} out of bounds for axis {axis} (length {n}) of shape {shape}"),
        None => panic!("{op}: range from {start} of length {len} out of bounds for axis {axis} of shape {shape}"),
    }
}

/// `range` as `(start, len)`, after checking it is not reversed and lies within `axis`.
fn slice_range(shape: &Shape, axis: usize, range: &Range<usize>) -> (usize, usize) {
    if range.start > range.end {
        panic!("slice: range {range:?} is reversed (axis {axis} of shape {shape})");
    }
    check_range("slice", shape, axis, range.start, range.len());
    (range.start, range.len())
}

impl<T: Float> Op<T> for Narrow {
    fn name(&self) -> String {
        format!("narrow(axis={}, {}..{})", self.axis, self.start, self.start.saturating_add(self.len))
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        check_range("narrow", x.shape(), self.axis, self.start, self.len);
        let mut dims = Dims::from_slice(x.shape().dims());
        dims[self.axis] = self.len;
        let out = out.overwrite_as(&Shape::new(&dims));
        if out.is_empty() {
            return;
        }
        let (_, n, inner) = around(x.shape().dims(), self.axis);
        let (kept, skipped) = (self.len * inner, self.start * inner);
        for (dst, src) in out.chunks_exact_mut(kept).zip(x.data().chunks_exact(n * inner)) {
            dst.copy_from_slice(&src[skipped..skipped + kept]);
        }
    }

    fn backward(&self, inputs: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        // A scatter: the indices outside the range get nothing, so start from zeros.
        let gx = gx.tensor().data_mut();
        if g.numel() == 0 {
            return;
        }
        let (_, n, inner) = around(inputs[0].shape().dims(), self.axis);
        let (kept, skipped) = (self.len * inner, self.start * inner);
        for (dst, src) in gx.chunks_exact_mut(n * inner).zip(g.data().chunks_exact(kept)) {
            dst[skipped..skipped + kept].iter_mut().zip(src).for_each(|(d, &g)| *d += g);
        }
    }

    /// `dx = concat(zeros before, g, zeros after)` along the axis, whose own rule is a narrow.
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        if !wanted[0] {
            return vec![None];
        }
        let dims = x[0].shape().dims().to_vec();
        let after = dims[self.axis] - self.start - self.len;
        let tape = g.tape();
        let zeros = |len: usize| {
            let mut dims = dims.clone();
            dims[self.axis] = len;
            tape.constant(Tensor::zeros(dims))
        };
        let parts: SmallVec<[Var<'t, T>; 3]> =
            [(self.start > 0).then(|| zeros(self.start)), Some(g), (after > 0).then(|| zeros(after))]
                .into_iter()
                .flatten()
                .collect();
        vec![Some(if parts.len() == 1 { g } else { Var::concat(&parts, self.axis) })]
    }
}

/// `y[.., j, ..] = x[.., n - 1 - j, ..]` along one axis of length `n`: `dx[.., n - 1 - j, ..] =
/// g[.., j, ..]`.
pub struct Flip {
    /// The axis reversed.
    pub axis: usize,
}

impl Flip {
    /// `dst = src` flipped along the axis, or `dst += ...` when `mode` is `Add`.
    fn flip_into<T: Float>(&self, shape: &Shape, dst: &mut [T], src: &[T], mode: Write) {
        assert!(self.axis < shape.rank(), "flip: axis {} out of range for shape {shape}", self.axis);
        if shape.numel() == 0 {
            return;
        }
        let (_, n, inner) = around(shape.dims(), self.axis);
        for (dst, src) in dst.chunks_exact_mut(n * inner).zip(src.chunks_exact(n * inner)) {
            for (dst, src) in dst.chunks_exact_mut(inner).zip(src.chunks_exact(inner).rev()) {
                assign_or_add(dst, src.iter().copied(), mode);
            }
        }
    }
}

impl<T: Float> Op<T> for Flip {
    fn name(&self) -> String {
        format!("flip(axis={})", self.axis)
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        self.flip_into(x.shape(), out.overwrite_as(x.shape()), x.data(), Write::Assign);
    }

    fn backward(&self, _: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        if let Some(gx) = &mut grads[0] {
            // A flip is its own inverse, and writes every element once.
            let (mode, gx) = gx.elements();
            self.flip_into(g.shape(), gx, g.data(), mode);
        }
    }

    /// `dx = flip(g, axis)`.
    fn backward_graph<'t>(
        &self,
        _: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| g.flip(self.axis))]
    }
}

/// `y[i_0, .., i_r] = x[j]` where `j` puts `i_k` on axis `axes[k]`: output axis `k` is input
/// axis `axes[k]`, and `dx` is `g` permuted back by the inverse.
pub struct Permute {
    axes: Dims,
}

impl Permute {
    /// Output axis `k` is input axis `axes[k]`. The axes are checked against the input in forward.
    pub fn new(axes: &[usize]) -> Self {
        Permute { axes: Dims::from_slice(axes) }
    }

    /// Output axis `k` is input axis `axes()[k]`.
    pub fn axes(&self) -> &[usize] {
        &self.axes
    }

    /// The output's shape and each output axis's stride in the input, after checking the axes
    /// are a permutation of the input's.
    fn plan(&self, x: &Shape) -> (Shape, Dims) {
        let rank = x.rank();
        let mut seen: Dims = SmallVec::from_elem(0, rank);
        let is_permutation =
            self.axes.len() == rank && self.axes.iter().all(|&a| a < rank && std::mem::replace(&mut seen[a], 1) == 0);
        if !is_permutation {
            panic!("permute: {:?} is not a permutation of the {rank} axes of shape {x}", &self.axes[..]);
        }
        let mut in_strides: Dims = SmallVec::from_elem(1, rank);
        for k in (0..rank.saturating_sub(1)).rev() {
            // Saturating for an empty input, whose strides are never used (see `around`).
            in_strides[k] = in_strides[k + 1].saturating_mul(x[k + 1]);
        }
        let dims: Dims = self.axes.iter().map(|&a| x[a]).collect();
        (Shape::new(&dims), self.axes.iter().map(|&a| in_strides[a]).collect())
    }
}

/// Calls `f(out_offset, in_offset)` at the start of each row (last axis) of an output of
/// `dims` whose axis `k` steps `strides[k]` through the input: an odometer over the outer axes.
fn for_each_row(dims: &[usize], strides: &[usize], mut f: impl FnMut(usize, usize)) {
    let Some((&n, outer)) = dims.split_last() else { return f(0, 0) };
    let rows: usize = if n == 0 || outer.contains(&0) { 0 } else { outer.iter().product() };
    let mut counter: Dims = SmallVec::from_elem(0, outer.len());
    let mut base = 0;
    for row in 0..rows {
        f(row * n, base);
        for ax in (0..outer.len()).rev() {
            counter[ax] += 1;
            base += strides[ax];
            if counter[ax] < outer[ax] {
                break;
            }
            base -= strides[ax] * outer[ax];
            counter[ax] = 0;
        }
    }
}

impl<T: Float> Op<T> for Permute {
    fn name(&self) -> String {
        format!("permute({:?})", &self.axes[..])
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        let (shape, strides) = self.plan(x.shape());
        let (n, s) = (shape.last_dim(), strides.last().copied().unwrap_or(1));
        let (xd, out) = (x.data(), out.overwrite_as(&shape));
        for_each_row(shape.dims(), &strides, |o, i| {
            let dst = &mut out[o..o + n];
            if s == 1 {
                dst.copy_from_slice(&xd[i..i + n]);
            } else {
                dst.iter_mut().enumerate().for_each(|(j, d)| *d = xd[i + j * s]);
            }
        });
    }

    fn backward(&self, inputs: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let (shape, strides) = self.plan(inputs[0].shape());
        let (n, s) = (shape.last_dim(), strides.last().copied().unwrap_or(1));
        // A permutation writes every element once.
        let (mode, gx) = gx.elements();
        let gd = g.data();
        for_each_row(shape.dims(), &strides, |o, i| {
            for (j, &g) in gd[o..o + n].iter().enumerate() {
                let d = &mut gx[i + j * s];
                if mode == Write::Assign { *d = g } else { *d += g }
            }
        });
    }

    /// `dx = permute(g, inverse of axes)`.
    fn backward_graph<'t>(
        &self,
        _: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let mut inverse: Dims = SmallVec::from_elem(0, self.axes.len());
        self.axes.iter().enumerate().for_each(|(k, &a)| inverse[a] = k);
        vec![wanted[0].then(|| g.apply(Permute { axes: inverse }, &[]))]
    }
}

/// The permutation of `rank` axes that swaps `a` and `b`.
fn swap_permutation(shape: &Shape, a: usize, b: usize) -> Permute {
    let rank = shape.rank();
    assert!(a < rank && b < rank, "swap_axes: axes {a} and {b} out of range for shape {shape}");
    let mut axes: Dims = (0..rank).collect();
    axes.swap(a, b);
    Permute { axes }
}

impl<'t, T: Float> Var<'t, T> {
    /// The same elements, in the same row-major order, with another shape of as many elements.
    ///
    /// ```
    /// use tapegrad_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_vec([2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    /// let y = x.reshape([3, 2]);
    /// assert_eq!(y.value(), Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    /// ```
    ///
    /// # Panics
    /// If the sizes differ: `reshape: [2, 3] to [4]: sizes differ`.
    pub fn reshape(self, shape: impl Into<Shape>) -> Var<'t, T> {
        self.apply(Reshape { shape: shape.into() }, &[])
    }

    /// Inserts an axis of length 1 at `axis` (0 to the rank): `[3]` becomes `[1, 3]` at 0 and
    /// `[3, 1]` at 1. Recorded as a [`reshape`](Var::reshape).
    ///
    /// # Panics
    /// If `axis` is past the rank: `unsqueeze: axis 2 out of range for shape [3] (at most 1)`.
    pub fn unsqueeze(self, axis: usize) -> Var<'t, T> {
        let shape = self.with_value(|v| unsqueezed(v.shape(), axis));
        self.apply(Reshape { shape }, &[])
    }

    /// Removes `axis`, which must have length 1: `[3, 1]` becomes `[3]` at 1. Recorded as a
    /// [`reshape`](Var::reshape).
    ///
    /// # Panics
    /// If `axis` is out of range, or its length is not 1:
    /// `squeeze: axis 0 of shape [3, 1] has length 3, not 1`.
    pub fn squeeze(self, axis: usize) -> Var<'t, T> {
        let shape = self.with_value(|v| squeezed(v.shape(), axis));
        self.apply(Reshape { shape }, &[])
    }

    /// Repeats the value along axes of length 1 (or missing on the left) to `shape`, by NumPy's
    /// rules: `[3]` to `[2, 3]` repeats the row, `[2, 1]` to `[2, 3]` the column.
    ///
    /// ```
    /// use tapegrad_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_vec([2, 1], vec![1.0, 2.0]));
    /// let y = x.broadcast_to([2, 3]);
    /// assert_eq!(y.value().data(), &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    /// // Each entry of x is used three times.
    /// assert_eq!(y.sum().backward()[x].data(), &[3.0, 3.0]);
    /// ```
    ///
    /// # Panics
    /// If `self` does not broadcast to `shape`: `broadcast_to: [3] to [2, 2]: shapes do not
    /// broadcast`, or `broadcast_to: [2, 3] to [3]: the shapes broadcast to [2, 3], not to the
    /// target`.
    pub fn broadcast_to(self, shape: impl Into<Shape>) -> Var<'t, T> {
        self.apply(BroadcastTo { shape: shape.into() }, &[])
    }

    /// Joins `vars`, all recorded on one tape, along an existing `axis`; they must agree on every
    /// other axis.
    ///
    /// ```
    /// use tapegrad_autograd::{Tape, Tensor, Var};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.leaf(Tensor::from_rows(&[[1.0], [2.0]]));
    /// let b = tape.leaf(Tensor::from_rows(&[[3.0, 4.0], [5.0, 6.0]]));
    /// let y = Var::concat(&[a, b], 1);
    /// assert_eq!(y.value(), Tensor::from_rows(&[[1.0, 3.0, 4.0], [2.0, 5.0, 6.0]]));
    /// ```
    ///
    /// # Panics
    /// If `vars` is empty, the axis is out of range, an input disagrees with input 0 on another
    /// axis (`concat: input 1 has shape [3, 2], input 0 has shape [2, 1]: they must agree except
    /// along axis 1`) or belongs to another tape.
    pub fn concat(vars: &[Var<'t, T>], axis: usize) -> Var<'t, T> {
        let Some(first) = vars.first() else { panic!("concat: needs at least one input") };
        first.tape().apply(Concat { axis }, vars)
    }

    /// Stacks `vars`, all of one shape and on one tape, along a new `axis` (0 to their rank): two
    /// `[3]` vectors stacked along 0 are a `[2, 3]` matrix, along 1 a `[3, 2]` one.
    ///
    /// # Panics
    /// If `vars` is empty, `axis` is past their rank, the shapes differ (`stack: input 1 has
    /// shape [2], input 0 has shape [3]: they must be equal`) or an input belongs to another tape.
    pub fn stack(vars: &[Var<'t, T>], axis: usize) -> Var<'t, T> {
        let Some(first) = vars.first() else { panic!("stack: needs at least one input") };
        first.tape().apply(Stack { axis }, vars)
    }

    /// Indices `start..start + len` of `axis`, the others whole (PyTorch's `narrow`).
    ///
    /// ```
    /// use tapegrad_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    /// assert_eq!(x.narrow(1, 1, 2).value(), Tensor::from_rows(&[[2.0, 3.0], [5.0, 6.0]]));
    /// ```
    ///
    /// # Panics
    /// If `axis` is out of range or the indices run past it:
    /// `narrow: range 2..4 out of bounds for axis 1 (length 3) of shape [2, 3]`.
    pub fn narrow(self, axis: usize, start: usize, len: usize) -> Var<'t, T> {
        self.with_value(|v| check_range("narrow", v.shape(), axis, start, len));
        self.apply(Narrow { axis, start, len }, &[])
    }

    /// Indices `range` of `axis`, the others whole: [`narrow`](Var::narrow) given a range,
    /// `x.slice(1, 1..3)` is `x.narrow(1, 1, 2)`.
    ///
    /// # Panics
    /// If `axis` is out of range, or `range` is reversed or runs past the axis:
    /// `slice: range 2..4 out of bounds for axis 1 (length 3) of shape [2, 3]`.
    pub fn slice(self, axis: usize, range: Range<usize>) -> Var<'t, T> {
        let (start, len) = self.with_value(|v| slice_range(v.shape(), axis, &range));
        self.apply(Narrow { axis, start, len }, &[])
    }

    /// Reverses the order along `axis`.
    ///
    /// # Panics
    /// If `axis` is out of range: `flip: axis 1 out of range for shape [3]`.
    pub fn flip(self, axis: usize) -> Var<'t, T> {
        self.apply(Flip { axis }, &[])
    }

    /// Swaps axes `a` and `b`, of any rank: `[2, 3, 4]` with 0 and 2 swapped is `[4, 3, 2]`.
    /// For a matrix, [`transpose`](Var::transpose). Recorded as a [`permute`](Var::permute).
    ///
    /// # Panics
    /// If an axis is out of range: `swap_axes: axes 0 and 2 out of range for shape [2, 3]`.
    pub fn swap_axes(self, a: usize, b: usize) -> Var<'t, T> {
        let op = self.with_value(|v| swap_permutation(v.shape(), a, b));
        self.apply(op, &[])
    }

    /// Reorders the axes: output axis `k` is input axis `axes[k]`, so `[2, 3, 4]` permuted by
    /// `[2, 0, 1]` is `[4, 2, 3]`.
    ///
    /// ```
    /// use tapegrad_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_vec([1, 2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    /// let y = x.permute(&[2, 0, 1]);
    /// assert_eq!(y.shape().dims(), &[3, 1, 2]);
    /// assert_eq!(y.value().data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// ```
    ///
    /// # Panics
    /// If `axes` is not a permutation of the axes:
    /// `permute: [0, 0] is not a permutation of the 2 axes of shape [2, 3]`.
    pub fn permute(self, axes: &[usize]) -> Var<'t, T> {
        self.apply(Permute::new(axes), &[])
    }
}

impl<T: Float> Tensor<T> {
    /// The same data with another shape of as many elements; the buffer is kept, not copied.
    ///
    /// # Panics
    /// If the sizes differ: `reshape: [2, 3] to [4]: sizes differ`.
    pub fn reshape(self, shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        check_reshape(self.shape(), &shape);
        let data = self.into_vec();
        Tensor::from_vec(shape, data)
    }

    /// Inserts an axis of length 1 at `axis`, keeping the buffer (see [`Var::unsqueeze`]).
    ///
    /// # Panics
    /// As [`Var::unsqueeze`].
    pub fn unsqueeze(self, axis: usize) -> Self {
        let shape = unsqueezed(self.shape(), axis);
        self.reshape(shape)
    }

    /// Removes `axis`, which must have length 1, keeping the buffer (see [`Var::squeeze`]).
    ///
    /// # Panics
    /// As [`Var::squeeze`].
    pub fn squeeze(self, axis: usize) -> Self {
        let shape = squeezed(self.shape(), axis);
        self.reshape(shape)
    }

    /// Repeats the tensor to `shape` by NumPy's rules, without a tape (see [`Var::broadcast_to`]).
    ///
    /// # Panics
    /// As [`Var::broadcast_to`].
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Tensor<T> {
        crate::eval(&BroadcastTo { shape: shape.into() }, &[self])
    }

    /// Joins `tensors` along an existing `axis`, without a tape (see [`Var::concat`]).
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// let a = Tensor::from_vec([2], vec![1.0f32, 2.0]);
    /// let b = Tensor::from_vec([1], vec![3.0]);
    /// assert_eq!(Tensor::concat(&[&a, &b], 0).data(), &[1.0, 2.0, 3.0]);
    /// ```
    ///
    /// # Panics
    /// As [`Var::concat`].
    pub fn concat(tensors: &[&Tensor<T>], axis: usize) -> Tensor<T> {
        crate::eval(&Concat { axis }, tensors)
    }

    /// Stacks `tensors` of one shape along a new `axis`, without a tape (see [`Var::stack`]).
    ///
    /// # Panics
    /// As [`Var::stack`].
    pub fn stack(tensors: &[&Tensor<T>], axis: usize) -> Tensor<T> {
        crate::eval(&Stack { axis }, tensors)
    }

    /// Indices `start..start + len` of `axis`, without a tape (see [`Var::narrow`]).
    ///
    /// # Panics
    /// As [`Var::narrow`].
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Tensor<T> {
        crate::eval(&Narrow { axis, start, len }, &[self])
    }

    /// Indices `range` of `axis`, without a tape (see [`Var::slice`]).
    ///
    /// # Panics
    /// As [`Var::slice`].
    pub fn slice(&self, axis: usize, range: Range<usize>) -> Tensor<T> {
        let (start, len) = slice_range(self.shape(), axis, &range);
        crate::eval(&Narrow { axis, start, len }, &[self])
    }

    /// Reverses the order along `axis`, without a tape.
    ///
    /// # Panics
    /// As [`Var::flip`].
    pub fn flip(&self, axis: usize) -> Tensor<T> {
        crate::eval(&Flip { axis }, &[self])
    }

    /// Swaps axes `a` and `b`, without a tape (see [`Var::swap_axes`]).
    ///
    /// # Panics
    /// As [`Var::swap_axes`].
    pub fn swap_axes(&self, a: usize, b: usize) -> Tensor<T> {
        crate::eval(&swap_permutation(self.shape(), a, b), &[self])
    }

    /// Reorders the axes, without a tape (see [`Var::permute`]).
    ///
    /// # Panics
    /// As [`Var::permute`].
    pub fn permute(&self, axes: &[usize]) -> Tensor<T> {
        crate::eval(&Permute::new(axes), &[self])
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor, Var};

    /// `0, 1, 2, ...` in `shape`: each entry names its own row-major position.
    fn iota(shape: &[usize]) -> Tensor<f64> {
        Tensor::from_vec(shape, (0..shape.iter().product::<usize>()).map(|i| i as f64).collect())
    }

    /// The value of `f(x)` and the gradient of `sum(f(x) * c)` with respect to `x`, for the
    /// upstream gradient `c = 1, 2, 3, ...` in `f(x)`'s shape (distinct entries, so a backward
    /// sending `g[i]` to the wrong place shows).
    fn value_and_grad(x: Tensor<f64>, f: impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64>) -> (Tensor<f64>, Tensor<f64>) {
        let tape = Tape::new();
        let x = tape.leaf(x);
        let y = f(x);
        let c = tape.constant(Tensor::from_vec(y.shape(), (1..=y.shape().numel()).map(|i| i as f64).collect()));
        let grad = (y * c).sum().backward()[x].clone();
        (y.value(), grad)
    }

    #[test]
    fn reshape_unsqueeze_and_squeeze_keep_the_order_and_pass_the_gradient_back_in_it() {
        // Row-major order is unchanged, so dx = g reshaped: the weights 1..6 in x's shape.
        let (y, g) = value_and_grad(iota(&[2, 3]), |x| x.reshape([3, 2]));
        assert_eq!((y.shape().dims(), y.data()), (&[3, 2][..], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0][..]));
        assert_eq!((g.shape().dims(), g.data()), (&[2, 3][..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0][..]));
        let (y, g) = value_and_grad(iota(&[3]), |x| x.unsqueeze(1));
        assert_eq!((y.shape().dims(), g.data()), (&[3, 1][..], &[1.0, 2.0, 3.0][..]));
        let (y, g) = value_and_grad(iota(&[1, 3]), |x| x.squeeze(0));
        assert_eq!((y.shape().dims(), g.shape().dims()), (&[3][..], &[1, 3][..]));
        // A scalar becomes [1] and back; the tape-free forms move the buffer.
        assert_eq!(Tensor::scalar(2.0f32).unsqueeze(0).shape().dims(), &[1]);
        let t = iota(&[2, 1, 3]);
        let ptr = t.data().as_ptr();
        let s = t.squeeze(1);
        assert_eq!((s.shape().dims(), s.data().as_ptr()), (&[2, 3][..], ptr));
    }

    #[test]
    fn broadcast_to_repeats_and_its_gradient_sums_the_repeats() {
        // [2, 1] -> [2, 3]: y[i][j] = x[i]; dx[i] = sum_j c[i][j] = 1+2+3, 4+5+6.
        let (y, g) = value_and_grad(Tensor::from_vec([2, 1], vec![7.0, 8.0]), |x| x.broadcast_to([2, 3]));
        assert_eq!(y.data(), &[7.0, 7.0, 7.0, 8.0, 8.0, 8.0]);
        assert_eq!(g.data(), &[6.0, 15.0]);
        // [3] -> [2, 1, 3] (a new leading axis and a kept one): dx[j] = c[0][0][j] + c[1][0][j].
        let (y, g) = value_and_grad(iota(&[3]), |x| x.broadcast_to([2, 1, 3]));
        assert_eq!(y.data(), &[0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
        assert_eq!(g.data(), &[1.0 + 4.0, 2.0 + 5.0, 3.0 + 6.0]);
        // A scalar to [2, 2]: its gradient is 1+2+3+4. To an empty shape: no repeats, gradient 0.
        let (_, g) = value_and_grad(Tensor::scalar(5.0), |x| x.broadcast_to([2, 2]));
        assert_eq!(g.data(), &[10.0]);
        let (y, g) = value_and_grad(iota(&[1, 3]), |x| x.broadcast_to([0, 3]));
        assert_eq!((y.numel(), g.data()), (0, &[0.0, 0.0, 0.0][..]));
        assert_eq!(Tensor::from_vec([2, 1], vec![7.0, 8.0]).broadcast_to([2, 3]), y_of_broadcast());
    }

    fn y_of_broadcast() -> Tensor<f64> {
        Tensor::from_rows(&[[7.0, 7.0, 7.0], [8.0, 8.0, 8.0]])
    }

    #[test]
    #[should_panic(expected = "broadcast_to: [2, 3] to [3]: the shapes broadcast to [2, 3], not to the target")]
    fn broadcast_to_refuses_a_target_with_fewer_axes() {
        let _ = Tensor::<f64>::zeros([2, 3]).broadcast_to([3]);
    }

    #[test]
    #[should_panic(expected = "broadcast_to: [3] to [2, 2]: shapes do not broadcast")]
    fn broadcast_to_refuses_shapes_that_do_not_broadcast() {
        let tape = Tape::<f64>::new();
        let _ = tape.leaf(Tensor::zeros([3])).broadcast_to([2, 2]);
    }

    #[test]
    fn concat_joins_along_the_axis_and_splits_the_gradient() {
        let tape = Tape::<f64>::new();
        let a = tape.leaf(Tensor::from_rows(&[[1.0], [2.0]]));
        let b = tape.leaf(Tensor::from_rows(&[[3.0, 4.0], [5.0, 6.0]]));
        let e = tape.leaf(Tensor::zeros([2, 0]));
        let y = Var::concat(&[a, e, b, a], 1);
        // Rows: a's entry, b's row, a's entry again.
        assert_eq!(y.value(), Tensor::from_rows(&[[1.0, 3.0, 4.0, 1.0], [2.0, 5.0, 6.0, 2.0]]));
        let c = tape.constant(iota(&[2, 4]));
        let grads = (y * c).sum().backward();
        // c = [[0, 1, 2, 3], [4, 5, 6, 7]]: a gets columns 0 and 3 summed (0 + 3, 4 + 7), b columns 1-2.
        assert_eq!(grads[a].data(), &[3.0, 11.0]);
        assert_eq!(grads[b].data(), &[1.0, 2.0, 5.0, 6.0]);
        assert_eq!(grads[e].numel(), 0);
        // Along axis 0 of rank 3, and the tape-free form.
        let (p, q) = (iota(&[1, 2, 2]), iota(&[2, 2, 2]));
        let joined = Tensor::concat(&[&p, &q], 0);
        assert_eq!(joined.shape().dims(), &[3, 2, 2]);
        assert_eq!(joined.data(), &[0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(Tensor::concat(&[&p], 2), p);
    }

    #[test]
    #[should_panic(
        expected = "concat: input 2 has shape [3, 2], input 0 has shape [2, 1]: they must agree except along axis 1"
    )]
    fn concat_names_the_input_that_disagrees_and_both_shapes() {
        let tape = Tape::<f64>::new();
        let (a, b) = (tape.leaf(Tensor::zeros([2, 1])), tape.leaf(Tensor::zeros([3, 2])));
        let _ = Var::concat(&[a, a, b], 1);
    }

    #[test]
    #[should_panic(expected = "concat(axis=0): input 1 (var #0) belongs to another tape")]
    fn concat_inputs_must_share_a_tape() {
        let (t1, t2) = (Tape::<f64>::new(), Tape::<f64>::new());
        let _ = Var::concat(&[t1.leaf(Tensor::zeros([2])), t2.leaf(Tensor::zeros([2]))], 0);
    }

    #[test]
    fn stack_adds_an_axis_and_each_input_gets_its_slice_of_the_gradient() {
        let tape = Tape::<f64>::new();
        let a = tape.leaf(Tensor::from_vec([2], vec![1.0, 2.0]));
        let b = tape.leaf(Tensor::from_vec([2], vec![3.0, 4.0]));
        // Along 1: y[j] = [a[j], b[j]], so y = [[1, 3], [2, 4]].
        let y = Var::stack(&[a, b], 1);
        assert_eq!(y.value(), Tensor::from_rows(&[[1.0, 3.0], [2.0, 4.0]]));
        // With c = [[0, 1], [2, 3]]: da = c[.., 0] = [0, 2], db = c[.., 1] = [1, 3].
        let grads = (y * tape.constant(iota(&[2, 2]))).sum().backward();
        assert_eq!((grads[a].data(), grads[b].data()), (&[0.0, 2.0][..], &[1.0, 3.0][..]));
        // Scalars stack to a vector; along 0 the inputs follow one another.
        let s = Tensor::stack(&[&Tensor::scalar(1.0f32), &Tensor::scalar(2.0)], 0);
        assert_eq!((s.shape().dims(), s.data()), (&[2][..], &[1.0, 2.0][..]));
        assert_eq!(Tensor::stack(&[&iota(&[2]), &iota(&[2])], 0).data(), &[0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    #[should_panic(expected = "stack: input 1 has shape [2], input 0 has shape [3]: they must be equal")]
    fn stack_needs_equal_shapes() {
        let _ = Tensor::stack(&[&iota(&[3]), &iota(&[2])], 0);
    }

    #[test]
    fn narrow_and_slice_keep_a_range_and_scatter_the_gradient_back() {
        // x = [[0, 1, 2], [3, 4, 5]]; columns 1..3 are [[1, 2], [4, 5]]; dx is c = [[1, 2], [3, 4]]
        // in those columns and 0 in column 0.
        let (y, g) = value_and_grad(iota(&[2, 3]), |x| x.narrow(1, 1, 2));
        assert_eq!(y, Tensor::from_rows(&[[1.0, 2.0], [4.0, 5.0]]));
        assert_eq!(g.data(), &[0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
        let (y2, g2) = value_and_grad(iota(&[2, 3]), |x| x.slice(1, 1..3));
        assert_eq!((y2, g2), (y, g));
        // Rank 3, the middle axis: x[i][1][k]; an empty range gives an empty value and dx = 0.
        assert_eq!(iota(&[2, 3, 2]).slice(1, 1..2).data(), &[2.0, 3.0, 8.0, 9.0]);
        let (y, g) = value_and_grad(iota(&[2, 3]), |x| x.slice(0, 2..2));
        assert_eq!((y.shape().dims(), g.data()), (&[0, 3][..], &[0.0; 6][..]));
    }

    #[test]
    #[should_panic(expected = "narrow: range 2..4 out of bounds for axis 1 (length 3) of shape [2, 3]")]
    fn narrow_past_the_axis() {
        let tape = Tape::<f64>::new();
        let _ = tape.leaf(Tensor::zeros([2, 3])).narrow(1, 2, 2);
    }

    #[test]
    #[should_panic(expected = "slice: range 2..1 is reversed (axis 0 of shape [3])")]
    fn a_reversed_slice() {
        #[allow(clippy::reversed_empty_ranges)]
        let _ = iota(&[3]).slice(0, 2..1);
    }

    #[test]
    fn flip_reverses_one_axis_and_so_does_its_backward() {
        // x = [[0, 1, 2], [3, 4, 5]] flipped along 1: [[2, 1, 0], [5, 4, 3]]; dx[i][2 - j] = c[i][j].
        let (y, g) = value_and_grad(iota(&[2, 3]), |x| x.flip(1));
        assert_eq!(y, Tensor::from_rows(&[[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]));
        assert_eq!(g.data(), &[3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
        // Along 0: the rows swap.
        let (y, g) = value_and_grad(iota(&[2, 3]), |x| x.flip(0));
        assert_eq!(y.data(), &[3.0, 4.0, 5.0, 0.0, 1.0, 2.0]);
        assert_eq!(g.data(), &[4.0, 5.0, 6.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn swap_axes_and_permute_move_axes_and_their_backward_moves_them_back() {
        // swap_axes(0, 1) of a matrix is the transpose: values and gradients agree with it.
        let x = iota(&[2, 3]);
        assert_eq!(value_and_grad(x.clone(), |x| x.swap_axes(0, 1)), value_and_grad(x, |x| x.transpose()));
        // [2, 1, 3] with 0 and 2 swapped: y[k][0][i] = x[i][0][k] = 3i + k.
        let (y, g) = value_and_grad(iota(&[2, 1, 3]), |x| x.swap_axes(0, 2));
        assert_eq!((y.shape().dims(), y.data()), (&[3, 1, 2][..], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0][..]));
        // dx[i][0][k] = c[k][0][i] = 2k + i + 1.
        assert_eq!(g.data(), &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
        // permute([2, 0, 1]) of [2, 2, 3]: y[k][i][j] = x[i][j][k] = 6i + 3j + k.
        let y = iota(&[2, 2, 3]).permute(&[2, 0, 1]);
        let want: Vec<f64> =
            (0..3).flat_map(|k| (0..2).flat_map(move |i| (0..2).map(move |j| (6 * i + 3 * j + k) as f64))).collect();
        assert_eq!((y.shape().dims(), y.data()), (&[3, 2, 2][..], &want[..]));
        // The inverse permutation, [1, 2, 0], brings it back; a scalar's only permutation is [].
        assert_eq!(y.permute(&[1, 2, 0]), iota(&[2, 2, 3]));
        assert_eq!(Tensor::scalar(3.0f32).permute(&[]), Tensor::scalar(3.0));
    }

    #[test]
    #[should_panic(expected = "permute: [0, 0] is not a permutation of the 2 axes of shape [2, 3]")]
    fn permute_with_a_repeated_axis() {
        let tape = Tape::<f64>::new();
        let _ = tape.leaf(Tensor::zeros([2, 3])).permute(&[0, 0]);
    }

    #[test]
    #[should_panic(expected = "swap_axes: axes 0 and 2 out of range for shape [2, 3]")]
    fn swap_axes_past_the_rank() {
        let _ = iota(&[2, 3]).swap_axes(0, 2);
    }

    #[test]
    #[should_panic(expected = "squeeze: axis 0 of shape [3, 1] has length 3, not 1")]
    fn squeeze_of_an_axis_longer_than_1() {
        let tape = Tape::<f64>::new();
        let _ = tape.leaf(Tensor::zeros([3, 1])).squeeze(0);
    }
}
