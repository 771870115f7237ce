//! Ops that choose between values: `clamp` and its one-sided forms, the elementwise `maximum`
//! and `minimum` of two tensors, and [`Var::select`], which takes each element from one of two
//! tensors as a [`Mask`] says.
//!
//! Their derivatives are 0 or 1 (or 1/2 on ties), with PyTorch's choices where the two sides
//! meet; see each op.

use super::broadcast::sum_to;
use super::elementwise::{Binary, BinaryRule, Unary, UnaryRule, constant_map, unary_methods};
use crate::{Float, InputGrad, Op, Output, Shape, Tensor, Var};
use smallvec::SmallVec;
use std::cmp::Ordering;

/// `y = min(max(x, lo), hi)`, `dy/dx = 1 if lo <= x <= hi else 0` (1 at both bounds, as
/// PyTorch's `clamp_backward`).
///
/// NaN propagates, with derivative 0 (NaN compares false). With `lo > hi` every element becomes
/// `hi`, as in PyTorch, and the derivative is 0 everywhere. The bounds themselves must not be
/// NaN (PyTorch's kernels disagree among themselves there).
pub struct Clamp<T> {
    /// The lower bound.
    pub lo: T,
    /// The upper bound, applied last: it wins when `lo > hi`.
    pub hi: T,
}
impl<T: Float> UnaryRule<T> for Clamp<T> {
    fn name(&self) -> String {
        format!("clamp({}, {})", self.lo, self.hi)
    }
    fn f(&self, x: T) -> T {
        // Both comparisons are false for NaN, which passes through.
        let y = if x < self.lo { self.lo } else { x };
        if y > self.hi { self.hi } else { y }
    }
    fn df(&self, x: T, _y: T) -> T {
        if x >= self.lo && x <= self.hi { T::ONE } else { T::ZERO }
    }
    /// `dx = g * mask`, the mask `lo <= x <= hi` a constant.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * constant_map(x, |x| self.df(x, x)))
    }
}

/// `y = max(x, lo)`, `dy/dx = 1 if x >= lo else 0` (1 at the bound, as PyTorch's `clamp_min`).
///
/// NaN propagates, with derivative 0.
pub struct ClampMin<T>(pub T);
impl<T: Float> UnaryRule<T> for ClampMin<T> {
    fn name(&self) -> String {
        format!("clamp_min({})", self.0)
    }
    fn f(&self, x: T) -> T {
        if x < self.0 { self.0 } else { x }
    }
    fn df(&self, x: T, _y: T) -> T {
        if x >= self.0 { T::ONE } else { T::ZERO }
    }
    /// `dx = g * mask`, the mask `x >= lo` a constant.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * constant_map(x, |x| self.df(x, x)))
    }
}

/// `y = min(x, hi)`, `dy/dx = 1 if x <= hi else 0` (1 at the bound, as PyTorch's `clamp_max`).
///
/// NaN propagates, with derivative 0.
pub struct ClampMax<T>(pub T);
impl<T: Float> UnaryRule<T> for ClampMax<T> {
    fn name(&self) -> String {
        format!("clamp_max({})", self.0)
    }
    fn f(&self, x: T) -> T {
        if x > self.0 { self.0 } else { x }
    }
    fn df(&self, x: T, _y: T) -> T {
        if x <= self.0 { T::ONE } else { T::ZERO }
    }
    /// `dx = g * mask`, the mask `x <= hi` a constant.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * constant_map(x, |x| self.df(x, x)))
    }
}

unary_methods! {
    /// `self` clamped to `[lo, hi]` elementwise: `min(max(self, lo), hi)`. The gradient passes
    /// where `lo <= self <= hi`, bounds included (PyTorch's subgradient); NaN stays NaN (with
    /// gradient 0). If `lo > hi` every element is `hi`, as in PyTorch.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// let x = Tensor::from_vec([4], vec![-2.0f64, 0.5, 1.0, 3.0]);
    /// assert_eq!(x.clamp(0.0, 1.0).data(), &[0.0, 0.5, 1.0, 1.0]);
    /// assert_eq!(x.clamp(2.0, 1.0).data(), &[1.0; 4]);
    /// ```
    clamp(lo: T, hi: T) => Clamp { lo, hi };
    /// `max(self, lo)` elementwise; the gradient passes where `self >= lo` (as in PyTorch).
    clamp_min(lo: T) => ClampMin(lo);
    /// `min(self, hi)` elementwise; the gradient passes where `self <= hi` (as in PyTorch).
    clamp_max(hi: T) => ClampMax(hi);
}

/// `z = max(a, b)`: `dz/da = 1 if a > b, 1/2 if a = b, 0 if a < b`, and `dz/db` the mirror
/// image (PyTorch's `maximum` backward, which splits a tie evenly).
///
/// NaN in either operand gives NaN, and then both partials are 1 (PyTorch's masks compare
/// false).
pub struct MaximumRule;
impl<T: Float> BinaryRule<T> for MaximumRule {
    fn name(&self) -> &'static str {
        "maximum"
    }
    fn symbol(&self) -> &'static str {
        "vs"
    }
    fn f(&self, a: T, b: T) -> T {
        match a.partial_cmp(&b) {
            None => a + b, // a NaN operand: NaN
            Some(Ordering::Less) => b,
            // On a tie `a` (they differ at most in the sign of a zero).
            _ => a,
        }
    }
    fn da(&self, a: T, b: T) -> T {
        tie_split(a, b, a < b)
    }
    fn db(&self, a: T, b: T) -> T {
        tie_split(a, b, a > b)
    }
    /// `[g * da, g * db]`, the partials (1, 0 or 1/2) constants.
    fn backward_graph<'t>(
        &self,
        [a, b]: [Var<'t, T>; 2],
        _z: Var<'t, T>,
        g: Var<'t, T>,
        w: [bool; 2],
    ) -> Option<[Option<Var<'t, T>>; 2]> {
        Some([w[0].then(|| g * partial(MaximumRule, a, b, false)), w[1].then(|| g * partial(MaximumRule, a, b, true))])
    }
}

/// `z = min(a, b)`: `dz/da = 1 if a < b, 1/2 if a = b, 0 if a > b`, and `dz/db` the mirror
/// image (PyTorch's `minimum` backward). NaN as in [`MaximumRule`].
pub struct MinimumRule;
impl<T: Float> BinaryRule<T> for MinimumRule {
    fn name(&self) -> &'static str {
        "minimum"
    }
    fn symbol(&self) -> &'static str {
        "vs"
    }
    fn f(&self, a: T, b: T) -> T {
        match a.partial_cmp(&b) {
            None => a + b,
            Some(Ordering::Greater) => b,
            _ => a,
        }
    }
    fn da(&self, a: T, b: T) -> T {
        tie_split(a, b, a > b)
    }
    fn db(&self, a: T, b: T) -> T {
        tie_split(a, b, a < b)
    }
    /// `[g * da, g * db]`, the partials (1, 0 or 1/2) constants.
    fn backward_graph<'t>(
        &self,
        [a, b]: [Var<'t, T>; 2],
        _z: Var<'t, T>,
        g: Var<'t, T>,
        w: [bool; 2],
    ) -> Option<[Option<Var<'t, T>>; 2]> {
        Some([w[0].then(|| g * partial(MinimumRule, a, b, false)), w[1].then(|| g * partial(MinimumRule, a, b, true))])
    }
}

/// PyTorch's `where(a == b, g / 2, g).masked_fill_(loses, 0)`, as a factor of `g`.
#[inline]
fn tie_split<T: Float>(a: T, b: T, loses: bool) -> T {
    if a == b {
        T::from_f64(0.5)
    } else if loses {
        T::ZERO
    } else {
        T::ONE
    }
}

/// One partial derivative of a piecewise-linear rule (`db` if `of_b`, else `da`) at the
/// broadcast pairs of `a` and `b`, as a constant on their tape.
fn partial<'t, T: Float, R: BinaryRule<T>>(rule: R, a: Var<'t, T>, b: Var<'t, T>, of_b: bool) -> Var<'t, T> {
    let value = a.with_value(|a| b.with_value(|b| crate::eval(&Binary(Partial { rule, of_b }), &[a, b])));
    a.tape().constant(value)
}

/// A rule's partial derivative as a rule of its own, for [`partial`]'s forward.
struct Partial<R> {
    rule: R,
    of_b: bool,
}
impl<T: Float, R: BinaryRule<T>> BinaryRule<T> for Partial<R> {
    fn name(&self) -> &'static str {
        self.rule.name()
    }
    fn symbol(&self) -> &'static str {
        self.rule.symbol()
    }
    fn f(&self, a: T, b: T) -> T {
        if self.of_b { self.rule.db(a, b) } else { self.rule.da(a, b) }
    }
    // Piecewise constant: never differentiated.
    fn da(&self, _a: T, _b: T) -> T {
        T::ZERO
    }
    fn db(&self, _a: T, _b: T) -> T {
        T::ZERO
    }
}

/// A boolean tensor: a [`Shape`] and one `bool` per element, row-major. It says which elements
/// [`Var::select`] takes from its first operand.
///
/// A mask is its own type rather than a tensor of 0s and 1s so that it cannot hold anything but
/// the two choices and cannot be put on a tape: no gradient flows to it, by construction. It
/// keeps a shape (unlike a `&[bool]`) so that it broadcasts like any operand (a `[m, 1]` mask
/// picks whole rows) and a mismatch is reported with both shapes.
///
/// ```
/// use tapegrad_autograd::{Mask, Tensor};
/// let x = Tensor::from_vec([3], vec![-1.0f32, 0.0, 2.0]);
/// assert_eq!(x.to_mask(|v| v > 0.0), Mask::new([3], vec![false, false, true]));
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Mask {
    shape: Shape,
    bits: Vec<bool>,
}

impl Mask {
    /// A mask of the given shape from row-major values.
    ///
    /// # Panics
    /// If `bits` does not hold one value per element of `shape`.
    pub fn new(shape: impl Into<Shape>, bits: Vec<bool>) -> Self {
        let shape = shape.into();
        assert_eq!(
            shape.numel(),
            bits.len(),
            "Mask::new: shape {shape} holds {} elements, bits has {}",
            shape.numel(),
            bits.len()
        );
        Mask { shape, bits }
    }

    /// Every element `value`.
    pub fn full(shape: impl Into<Shape>, value: bool) -> Self {
        let shape = shape.into();
        let bits = vec![value; shape.numel()];
        Mask { shape, bits }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &[bool] {
        &self.bits
    }

    /// The mask with every value flipped.
    pub fn not(&self) -> Mask {
        Mask { shape: self.shape.clone(), bits: self.bits.iter().map(|b| !b).collect() }
    }
}

impl<T: Float> Tensor<T> {
    /// The mask of the elements for which `predicate` holds, of this tensor's shape.
    pub fn to_mask(&self, predicate: impl Fn(T) -> bool) -> Mask {
        Mask { shape: self.shape().clone(), bits: self.data().iter().map(|&x| predicate(x)).collect() }
    }
}

/// `z = mask ? a : b` elementwise, the mask and both operands broadcast together:
/// `da = g where mask else 0`, `db = g where !mask else 0` (PyTorch's `where` backward).
pub struct Select {
    /// Which elements come from the first operand.
    pub mask: Mask,
}

/// How the mask and the two operands of a [`Select`] meet: the output's axes and each one's
/// stride along them (0 where it repeats).
struct Layout {
    out: SmallVec<[usize; 4]>,
    /// Strides of the mask, `a` and `b`.
    strides: [SmallVec<[usize; 4]>; 3],
}

impl Select {
    /// `None` when all three shapes are equal (one plain pass), else their broadcast.
    ///
    /// # Panics
    /// If the shapes do not broadcast, naming all three.
    fn layout(&self, a: &Shape, b: &Shape) -> Option<Layout> {
        let m = self.mask.shape();
        if m == a && a == b {
            return None;
        }
        let rank = m.rank().max(a.rank()).max(b.rank());
        let dim = |s: &Shape, k: usize| if k + s.rank() >= rank { s[k + s.rank() - rank] } else { 1 };
        let mut out = SmallVec::<[usize; 4]>::new();
        for k in 0..rank {
            let mut d = 1;
            for s in [m, a, b] {
                match (d, dim(s, k)) {
                    (_, 1) => {}
                    (1, e) => d = e,
                    (d0, e) if d0 == e => {}
                    _ => panic!("select: mask {m}, {a} and {b}: shapes do not broadcast"),
                }
            }
            out.push(d);
        }
        let strides = |s: &Shape| {
            let mut st = SmallVec::<[usize; 4]>::from_elem(0, rank);
            let mut acc = 1usize;
            for k in (0..rank).rev() {
                let d = dim(s, k);
                st[k] = if d == 1 { 0 } else { acc };
                acc = acc.saturating_mul(d);
            }
            st
        };
        Some(Layout { strides: [strides(m), strides(a), strides(b)], out })
    }
}

impl Layout {
    /// Calls `f(out_offset, [mask, a, b] offsets)` for every output element, in order.
    fn for_each(&self, mut f: impl FnMut(usize, [usize; 3])) {
        let numel: usize = self.out.iter().product();
        let mut counter = SmallVec::<[usize; 4]>::from_elem(0, self.out.len());
        let mut offsets = [0usize; 3];
        for o in 0..numel {
            f(o, offsets);
            for ax in (0..self.out.len()).rev() {
                counter[ax] += 1;
                for (off, st) in offsets.iter_mut().zip(&self.strides) {
                    *off += st[ax];
                }
                if counter[ax] < self.out[ax] {
                    break;
                }
                for (off, st) in offsets.iter_mut().zip(&self.strides) {
                    *off -= st[ax] * self.out[ax];
                }
                counter[ax] = 0;
            }
        }
    }
}

impl<T: Float> Op<T> for Select {
    fn name(&self) -> String {
        "select".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(2)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let (a, b, m) = (inputs[0], inputs[1], self.mask.data());
        let (ad, bd) = (a.data(), b.data());
        match self.layout(a.shape(), b.shape()) {
            None => {
                let z = out.overwrite_as(a.shape());
                for (((z, &m), &x), &y) in z.iter_mut().zip(m).zip(ad).zip(bd) {
                    *z = if m { x } else { y };
                }
            }
            Some(layout) => {
                let z = out.overwrite(&layout.out[..]);
                layout.for_each(|o, [i, j, k]| z[o] = if m[i] { ad[j] } else { bd[k] });
            }
        }
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let [ga, gb] = grads else { unreachable!("select with {} inputs", grads.len()) };
        let (m, gd) = (self.mask.data(), g.data());
        match self.layout(inputs[0].shape(), inputs[1].shape()) {
            None => {
                if let Some(ga) = ga {
                    ga.add(gd.iter().zip(m).map(|(&g, &m)| if m { g } else { T::ZERO }));
                }
                if let Some(gb) = gb {
                    gb.add(gd.iter().zip(m).map(|(&g, &m)| if m { T::ZERO } else { g }));
                }
            }
            Some(layout) => {
                // An operand that repeats gets the sum over its repeats: add into zeros.
                if let Some(ga) = ga {
                    let ga = ga.tensor().data_mut();
                    layout.for_each(|o, [i, j, _]| {
                        if m[i] {
                            ga[j] += gd[o];
                        }
                    });
                }
                if let Some(gb) = gb {
                    let gb = gb.tensor().data_mut();
                    layout.for_each(|o, [i, _, k]| {
                        if !m[i] {
                            gb[k] += gd[o];
                        }
                    });
                }
            }
        }
    }

    /// `da = sum_to(select(mask, g, 0), shape of a)`, `db = sum_to(select(mask, 0, g), shape of b)`.
    fn backward_graph<'t>(
        &self,
        ab: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let zero = g.tape().constant(Tensor::scalar(T::ZERO));
        let sides = [(ab[0], wanted[0], true), (ab[1], wanted[1], false)];
        sides
            .into_iter()
            .map(|(v, w, first)| {
                w.then(|| {
                    let picked =
                        if first { Var::select(&self.mask, g, zero) } else { Var::select(&self.mask, zero, g) };
                    sum_to(picked, &v.shape())
                })
            })
            .collect()
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `max(self, other)` elementwise, broadcasting like [`add`](Var::add). On a tie each side
    /// gets half the gradient (PyTorch's `maximum`); NaN in either operand gives NaN.
    ///
    /// # Panics
    /// If the shapes do not broadcast: `maximum: [2, 3] vs [2]: shapes do not broadcast`.
    pub fn maximum(self, other: Var<'t, T>) -> Var<'t, T> {
        self.apply(Binary(MaximumRule), &[other])
    }

    /// `min(self, other)` elementwise, broadcasting like [`add`](Var::add). On a tie each side
    /// gets half the gradient (PyTorch's `minimum`); NaN in either operand gives NaN.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn minimum(self, other: Var<'t, T>) -> Var<'t, T> {
        self.apply(Binary(MinimumRule), &[other])
    }

    /// Each element from `if_true` where `mask` holds and from `if_false` elsewhere
    /// (PyTorch's `torch.where(mask, if_true, if_false)`; `where` is a Rust keyword). The mask
    /// and both operands broadcast together, like [`add`](Var::add)'s operands. The gradient
    /// flows to the side chosen, element by element; the mask gets none (it is not on the tape).
    ///
    /// ```
    /// use tapegrad_autograd::{Mask, Tape, Tensor, Var};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_vec([3], vec![-1.0, 2.0, -3.0]));
    /// let zero = tape.constant(Tensor::scalar(0.0));
    /// // relu, spelled out: x where x > 0, else 0.
    /// let mask = x.value().to_mask(|v| v > 0.0);
    /// let y = Var::select(&mask, x, zero);
    /// assert_eq!(y.value().data(), &[0.0, 2.0, 0.0]);
    /// assert_eq!(y.sum().backward()[x].data(), &[0.0, 1.0, 0.0]);
    /// ```
    ///
    /// # Panics
    /// If the three shapes do not broadcast: `select: mask [2], [3] and []: shapes do not broadcast`.
    pub fn select(mask: &Mask, if_true: Var<'t, T>, if_false: Var<'t, T>) -> Var<'t, T> {
        if_true.apply(Select { mask: mask.clone() }, &[if_false])
    }
}

impl<T: Float> Tensor<T> {
    /// `max(self, other)` elementwise with broadcasting, without a tape.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn maximum(&self, other: &Tensor<T>) -> Tensor<T> {
        crate::eval(&Binary(MaximumRule), &[self, other])
    }

    /// `min(self, other)` elementwise with broadcasting, without a tape.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn minimum(&self, other: &Tensor<T>) -> Tensor<T> {
        crate::eval(&Binary(MinimumRule), &[self, other])
    }

    /// [`Var::select`] without a tape: `if_true` where `mask` holds, `if_false` elsewhere.
    ///
    /// # Panics
    /// If the three shapes do not broadcast.
    pub fn select(mask: &Mask, if_true: &Tensor<T>, if_false: &Tensor<T>) -> Tensor<T> {
        crate::eval(&Select { mask: mask.clone() }, &[if_true, if_false])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;

    #[test]
    fn select_broadcasts_a_column_mask_and_sums_a_repeated_operand() {
        let tape = Tape::<f64>::new();
        let a = tape.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let b = tape.leaf(Tensor::scalar(-1.0));
        // Row 0 from a, row 1 from the scalar.
        let mask = Mask::new([2, 1], vec![true, false]);
        let y = Var::select(&mask, a, b);
        assert_eq!(y.value().data(), &[1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
        let w = tape.constant(Tensor::from_rows(&[[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]]));
        let grads = (y * w).sum().backward();
        // a gets row 0's weights and zeros; b the sum of row 1's, 8 + 16 + 32.
        assert_eq!(grads[a].data(), &[1.0, 2.0, 4.0, 0.0, 0.0, 0.0]);
        assert_eq!(grads[b].data(), &[56.0]);
        assert_eq!(Tensor::select(&mask, &a.value(), &b.value()), y.value());
    }

    #[test]
    #[should_panic(expected = "select: mask [2], [3] and []: shapes do not broadcast")]
    fn select_names_the_three_shapes() {
        let tape = Tape::<f32>::new();
        let a = tape.leaf(Tensor::zeros([3]));
        let b = tape.leaf(Tensor::scalar(0.0));
        let _ = Var::select(&Mask::full([2], true), a, b);
    }

    #[test]
    #[should_panic(expected = "Mask::new: shape [2, 2] holds 4 elements, bits has 3")]
    fn mask_checks_its_length() {
        let _ = Mask::new([2, 2], vec![true; 3]);
    }

    #[test]
    #[should_panic(expected = "maximum: [2, 3] vs [2]: shapes do not broadcast")]
    fn maximum_names_the_shapes_that_do_not_broadcast() {
        let tape = Tape::<f32>::new();
        let _ = tape.leaf(Tensor::zeros([2, 3])).maximum(tape.leaf(Tensor::zeros([2])));
    }

    #[test]
    #[should_panic(expected = "pow: [2, 3] ^ [2]: shapes do not broadcast")]
    fn pow_names_the_shapes_that_do_not_broadcast() {
        let tape = Tape::<f32>::new();
        let _ = tape.leaf(Tensor::zeros([2, 3])).pow(tape.leaf(Tensor::zeros([2])));
    }
}
