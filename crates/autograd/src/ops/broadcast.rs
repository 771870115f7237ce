//! How the two operands of a binary elementwise op pair up, decided once per op: the same
//! shape, a bias row, or general NumPy broadcasting. Forward and backward both match on it, so
//! the fast paths live in one place.
//!
//! Also [`SumTo`], which a broadcast operand's recorded gradient goes through (summing back to
//! the operand's shape); its own gradient repeats along the same axes, a
//! [`BroadcastTo`].

use super::elementwise::BinaryRule;
use super::reduce::SumAxis;
use super::shape::BroadcastTo;
use crate::input_grad::Write;
use crate::{Float, InputGrad, Op, Output, Shape, Tensor, Var};
use smallvec::SmallVec;

/// How the elements of `a` and `b` meet in the output.
pub(crate) enum Pairing {
    /// Equal shapes: element `i` with element `i`.
    Same,
    /// `[m, n]` with `[n]`, `n > 0`: the row added to every row of the matrix (a bias).
    BiasRow(usize),
    /// Any other shapes that broadcast.
    General(Broadcast),
}

impl Pairing {
    /// How `a` and `b` pair up under `rule`.
    ///
    /// # Panics
    /// If the shapes do not broadcast, naming the rule and both shapes: `add: [2, 3] + [4]`.
    #[inline]
    pub fn of<T: Float>(a: &Shape, b: &Shape, rule: &impl BinaryRule<T>) -> Self {
        if a == b {
            return Pairing::Same;
        }
        if let ([_, n], [m]) = (a.dims(), b.dims())
            && n == m
            && *n > 0
        {
            return Pairing::BiasRow(*n);
        }
        Pairing::General(Broadcast::new(a, b, rule))
    }
}

/// Which operand of a binary op a gradient belongs to.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Operand {
    A,
    B,
}

/// How two operand shapes broadcast: the output shape and each operand's stride per output
/// axis (0 where it repeats).
///
/// The work is done a row at a time: along the last axis each operand either runs contiguously
/// (stride 1) or repeats one element (stride 0), so every inner loop is over plain slices.
pub(crate) struct Broadcast {
    out: Shape,
    a_strides: SmallVec<[usize; 4]>,
    b_strides: SmallVec<[usize; 4]>,
    /// Length of a row: the whole tensor when no axis repeats.
    inner: usize,
    /// Stride of `a` and `b` along a row: 1 or 0.
    inner_a: usize,
    inner_b: usize,
}

impl Broadcast {
    /// The general case of [`Pairing::of`].
    #[inline]
    fn new<T: Float>(a: &Shape, b: &Shape, rule: &impl BinaryRule<T>) -> Self {
        Self::named(a, b, rule.name(), rule.symbol())
    }

    /// How `a` and `b` broadcast.
    ///
    /// # Panics
    /// If they do not: `{op}: {a} {symbol} {b}: shapes do not broadcast`.
    pub(crate) fn named(a: &Shape, b: &Shape, op: &str, symbol: &str) -> Self {
        let rank = a.rank().max(b.rank());
        let dim = |s: &Shape, k: usize| if k + s.rank() >= rank { s[k + s.rank() - rank] } else { 1 };
        let mut out = SmallVec::<[usize; 4]>::new();
        for k in 0..rank {
            let (da, db) = (dim(a, k), dim(b, k));
            if da != db && da != 1 && db != 1 {
                panic!("{op}: {a} {symbol} {b}: shapes do not broadcast");
            }
            // An axis of 1 repeats to the other's length, 0 included: [3, 1] * [1, 0] is [3, 0].
            out.push(if da == 1 { db } else { da });
        }
        let strides = |s: &Shape| {
            let mut st = SmallVec::<[usize; 4]>::from_elem(0, rank);
            let mut acc = 1;
            for k in (0..rank).rev() {
                let d = dim(s, k);
                st[k] = if d == 1 { 0 } else { acc };
                // Exact whenever the strides are used: an operand with elements has every suffix
                // product at most its (checked) element count. One with none, say [0, 2^40, 2^40],
                // makes an empty output whose rows are never visited, so saturating is harmless.
                acc = acc.saturating_mul(d);
            }
            st
        };
        let (a_strides, b_strides) = (strides(a), strides(b));
        let inner = out.last().copied().unwrap_or(1);
        let (inner_a, inner_b) = match rank {
            0 => (0, 0),
            _ => (a_strides[rank - 1], b_strides[rank - 1]),
        };
        Broadcast { out: Shape::new(&out), a_strides, b_strides, inner, inner_a, inner_b }
    }

    /// The output's shape.
    pub fn out(&self) -> &Shape {
        &self.out
    }

    /// `out = f(a, b)` elementwise over the broadcast shape.
    pub fn map_into<T: Float>(&self, out: &mut [T], ad: &[T], bd: &[T], f: impl Fn(T, T) -> T) {
        let (n, sa, sb) = (self.inner, self.inner_a, self.inner_b);
        self.for_each_row(|o, i, j| {
            let out = &mut out[o..o + n];
            if sa == 1 && sb == 1 {
                // Both operands run along the row: plain slices, vectorised.
                let rows = out.iter_mut().zip(&ad[i..i + n]).zip(&bd[j..j + n]);
                rows.for_each(|((z, &x), &y)| *z = f(x, y));
            } else {
                out.iter_mut().enumerate().for_each(|(k, z)| *z = f(ad[i + k * sa], bd[j + k * sb]));
            }
        });
    }

    /// `grad += g * partial(a, b)` for one operand's gradient, elementwise over the output; where
    /// that operand repeats (stride 0), it receives the sum over the repeats.
    pub fn accumulate<T: Float>(
        &self,
        grad: &mut InputGrad<'_, T>,
        which: Operand,
        data: (&[T], &[T], &[T]),
        partial: impl Fn(T, T) -> T,
    ) {
        if grad.shape().numel() == self.out.numel() {
            // This operand does not repeat: each element is written once, so the first
            // contribution can assign.
            match grad.elements() {
                (Write::Assign, g) => self.accumulate_into::<T, true>(g, which, data, partial),
                (Write::Add, g) => self.accumulate_into::<T, false>(g, which, data, partial),
            }
        } else {
            self.accumulate_into::<T, false>(grad.tensor().data_mut(), which, data, partial);
        }
    }

    /// [`accumulate`](Broadcast::accumulate) into plain elements, assigning if `ASSIGN`.
    #[inline]
    fn accumulate_into<T: Float, const ASSIGN: bool>(
        &self,
        grad: &mut [T],
        which: Operand,
        (ad, bd, gd): (&[T], &[T], &[T]),
        partial: impl Fn(T, T) -> T,
    ) {
        let put = |d: &mut T, v: T| if ASSIGN { *d = v } else { *d += v };
        let (n, sa, sb) = (self.inner, self.inner_a, self.inner_b);
        self.for_each_row(|o, i, j| {
            let g = &gd[o..o + n];
            let (start, stride) = if which == Operand::A { (i, sa) } else { (j, sb) };
            if sa == 1 && sb == 1 {
                let rows = grad[start..start + n].iter_mut().zip(g).zip(ad[i..i + n].iter().zip(&bd[j..j + n]));
                rows.for_each(|((d, &g), (&x, &y))| put(d, g * partial(x, y)));
            } else {
                for (k, &g) in g.iter().enumerate() {
                    put(&mut grad[start + k * stride], g * partial(ad[i + k * sa], bd[j + k * sb]));
                }
            }
        });
    }

    /// `out = a` repeated over the broadcast shape, reading `a` only (`broadcast_to`).
    pub fn expand_into<T: Float>(&self, out: &mut [T], ad: &[T]) {
        let (n, sa) = (self.inner, self.inner_a);
        self.for_each_row(|o, i, _| {
            let out = &mut out[o..o + n];
            if sa == 1 { out.copy_from_slice(&ad[i..i + n]) } else { out.fill(ad[i]) }
        });
    }

    /// `grad += g` for `a`'s gradient, summed over the axes where `a` repeats (the backward of
    /// [`expand_into`](Broadcast::expand_into)).
    pub fn sum_into<T: Float>(&self, grad: &mut [T], gd: &[T]) {
        let (n, sa) = (self.inner, self.inner_a);
        self.for_each_row(|o, i, _| {
            let g = &gd[o..o + n];
            if sa == 1 {
                grad[i..i + n].iter_mut().zip(g).for_each(|(d, &g)| *d += g);
            } else {
                grad[i] += g.iter().copied().sum::<T>();
            }
        });
    }

    /// Calls `f(out_offset, a_offset, b_offset)` at the start of every row, in order: an
    /// odometer over the outer axes.
    #[inline]
    fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize)) {
        let numel = self.out.numel();
        if numel == 0 || self.inner == 0 {
            return;
        }
        if self.a_strides.is_empty() {
            return f(0, 0, 0);
        }
        let outer_dims = &self.out.dims()[..self.out.rank() - 1];
        let mut counter = SmallVec::<[usize; 4]>::from_elem(0, outer_dims.len());
        let (mut base_a, mut base_b) = (0, 0);
        for row in 0..numel / self.inner {
            f(row * self.inner, base_a, base_b);
            for ax in (0..outer_dims.len()).rev() {
                counter[ax] += 1;
                base_a += self.a_strides[ax];
                base_b += self.b_strides[ax];
                if counter[ax] < outer_dims[ax] {
                    break;
                }
                base_a -= self.a_strides[ax] * outer_dims[ax];
                base_b -= self.b_strides[ax] * outer_dims[ax];
                counter[ax] = 0;
            }
        }
    }
}

/// For each element of `big`, in row-major order, the flat index of the element of `small` that
/// broadcasting repeats into it; `op` names the caller when `small` does not broadcast to `big`.
fn broadcast_sources<'a>(small: &Shape, big: &'a Shape, op: &str) -> impl Iterator<Item = usize> + 'a {
    let (rank, offset) = (big.rank(), big.rank().wrapping_sub(small.rank()));
    let fits = small.rank() <= rank && (0..small.rank()).all(|k| small[k] == 1 || small[k] == big[k + offset]);
    if !fits {
        panic!("{op}: {small} and {big}: the first does not broadcast to the second");
    }
    // `small`'s stride along each axis of `big`: 0 where it repeats.
    let mut strides = SmallVec::<[usize; 4]>::from_elem(0, rank);
    let mut acc = 1;
    for k in (offset..rank).rev() {
        if small[k - offset] != 1 {
            strides[k] = acc;
        }
        acc *= small[k - offset];
    }
    let mut counter = SmallVec::<[usize; 4]>::from_elem(0, rank);
    let mut source = 0;
    (0..big.numel()).map(move |_| {
        let here = source;
        for k in (0..rank).rev() {
            counter[k] += 1;
            source += strides[k];
            if counter[k] < big[k] {
                break;
            }
            source -= strides[k] * big[k];
            counter[k] = 0;
        }
        here
    })
}

/// `y = x` summed over the axes along which `shape` broadcasts to `x`'s shape, to `shape`: the
/// gradient of a broadcast operand ([`Var::sum_to`]). `dx = broadcast_to(g, shape of x)`.
pub struct SumTo {
    /// The output's shape, which broadcasts to the input's.
    pub shape: Shape,
}

impl<T: Float> Op<T> for SumTo {
    fn name(&self) -> String {
        format!("sum_to({})", self.shape)
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        let sources = broadcast_sources(&self.shape, x.shape(), "sum_to");
        let y = out.zeros(self.shape.clone());
        sources.zip(x.data()).for_each(|(s, &v)| y[s] += v);
    }

    fn backward(&self, inputs: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let sources: Vec<usize> = broadcast_sources(&self.shape, inputs[0].shape(), "sum_to").collect();
        gx.add(sources.into_iter().map(|s| g.data()[s]));
    }

    /// `dx = broadcast_to(g, shape of x)`.
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| expand(g, &x[0].shape()))]
    }
}

/// `v` summed to `shape` (see [`SumTo`]): itself when the shapes agree, a column sum for a bias
/// row.
pub(crate) fn sum_to<'t, T: Float>(v: Var<'t, T>, shape: &Shape) -> Var<'t, T> {
    let from = v.shape();
    if &from == shape {
        return v;
    }
    match (from.dims(), shape.dims()) {
        ([_, n], [m]) if n == m => v.apply(SumAxis { axis: 0, keepdim: false }, &[]),
        _ => v.apply(SumTo { shape: shape.clone() }, &[]),
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Sums `self` down to `shape`, over the axes along which `shape` broadcasts to `self`'s
    /// (leading axes it lacks, and axes where it has length 1): what the gradient of a
    /// broadcast operand goes through. Itself when the shapes agree.
    ///
    /// ```
    /// use tapegrad_autograd::{Shape, Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    /// assert_eq!(x.sum_to(&Shape::from([2, 1])).value().data(), &[6.0, 15.0]);
    /// assert_eq!(x.sum_to(&Shape::from([3])).value().data(), &[5.0, 7.0, 9.0]);
    /// ```
    ///
    /// # Panics
    /// If `shape` does not broadcast to `self`'s shape:
    /// `sum_to: [4] and [2, 3]: the first does not broadcast to the second`.
    pub fn sum_to(self, shape: &Shape) -> Var<'t, T> {
        sum_to(self, shape)
    }
}

/// `v` broadcast to `shape` (see [`BroadcastTo`]): itself when the shapes agree.
pub(crate) fn expand<'t, T: Float>(v: Var<'t, T>, shape: &Shape) -> Var<'t, T> {
    if &v.shape() == shape { v } else { v.apply(BroadcastTo { shape: shape.clone() }, &[]) }
}
