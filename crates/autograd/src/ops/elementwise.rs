//! Elementwise ops: the generic unary and binary wiring, and the plain math ops built on it.
//!
//! A unary op is a [`UnaryRule`], an `(f, df)` pair; a binary op is a [`BinaryRule`], `f` and its
//! two partial derivatives. [`Unary`] and [`Binary`] turn a rule into an [`Op`], so a new
//! elementwise op is a dozen lines and never touches backward.

use crate::input_grad::assign_or_add;
use crate::{Float, InputGrad, Op, Shape, Tensor, Var};
use smallvec::SmallVec;
use std::borrow::Cow;

/// An elementwise function `y = f(x)` and its derivative.
pub trait UnaryRule<T: Float>: Send + 'static {
    /// Name shown in listings and messages.
    fn name(&self) -> String;
    /// `y = f(x)`.
    fn f(&self, x: T) -> T;
    /// `dy/dx`, given both `x` and `y = f(x)` (sigmoid and tanh are cheaper from `y`).
    fn df(&self, x: T, y: T) -> T;
    /// `df` is 1 everywhere, so the output's gradient can be passed on unchanged
    /// ([`Op::passes_gradient_to`]).
    const DF_IS_ONE: bool = false;
}

/// The [`Op`] of a [`UnaryRule`]: `y_i = f(x_i)`, `dx_i += g_i * f'(x_i)`.
pub struct Unary<R>(pub R);

impl<T: Float, R: UnaryRule<T>> Op<T> for Unary<R> {
    fn name(&self) -> String {
        self.0.name()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: &mut Tensor<T>) {
        let x = inputs[0];
        out.reset_for_overwrite_like(x.shape());
        out.data_mut().iter_mut().zip(x.data()).for_each(|(y, &x)| *y = self.0.f(x));
    }

    fn passes_gradient_to(&self, _inputs: &[&Tensor<T>], _output: &Tensor<T>) -> Option<usize> {
        R::DF_IS_ONE.then_some(0)
    }

    fn backward(&self, inputs: &[&Tensor<T>], y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        gx.add(inputs[0].data().iter().zip(y.data()).zip(g.data()).map(|((&x, &y), &g)| g * self.0.df(x, y)));
    }
}

/// `y = c x`, `dy/dx = c`.
pub struct Scale<T>(pub T);
impl<T: Float> UnaryRule<T> for Scale<T> {
    fn name(&self) -> String {
        format!("scale({})", self.0)
    }
    fn f(&self, x: T) -> T {
        self.0 * x
    }
    fn df(&self, _x: T, _y: T) -> T {
        self.0
    }
}

/// `y = x + c`, `dy/dx = 1`.
pub struct AddScalar<T>(pub T);
impl<T: Float> UnaryRule<T> for AddScalar<T> {
    fn name(&self) -> String {
        format!("add({})", self.0)
    }
    const DF_IS_ONE: bool = true;
    fn f(&self, x: T) -> T {
        x + self.0
    }
    fn df(&self, _x: T, _y: T) -> T {
        T::ONE
    }
}

/// `y = -x`, `dy/dx = -1`.
pub struct Neg;
impl<T: Float> UnaryRule<T> for Neg {
    fn name(&self) -> String {
        "neg".into()
    }
    fn f(&self, x: T) -> T {
        -x
    }
    fn df(&self, _x: T, _y: T) -> T {
        -T::ONE
    }
}

/// `y = x^2`, `dy/dx = 2x`.
pub struct Square;
impl<T: Float> UnaryRule<T> for Square {
    fn name(&self) -> String {
        "square".into()
    }
    fn f(&self, x: T) -> T {
        x * x
    }
    fn df(&self, x: T, _y: T) -> T {
        x + x
    }
}

/// `y = e^x`, `dy/dx = y`.
pub struct Exp;
impl<T: Float> UnaryRule<T> for Exp {
    fn name(&self) -> String {
        "exp".into()
    }
    fn f(&self, x: T) -> T {
        x.exp()
    }
    fn df(&self, _x: T, y: T) -> T {
        y
    }
}

/// `y = ln x`, `dy/dx = 1/x` (NaN for x < 0 and -inf at 0, as in IEEE arithmetic).
pub struct Log;
impl<T: Float> UnaryRule<T> for Log {
    fn name(&self) -> String {
        "log".into()
    }
    fn f(&self, x: T) -> T {
        x.ln()
    }
    fn df(&self, x: T, _y: T) -> T {
        T::ONE / x
    }
}

/// `y = |x|`, `dy/dx = sign(x)`, taken as 0 at 0 (the subgradient PyTorch uses).
pub struct Abs;
impl<T: Float> UnaryRule<T> for Abs {
    fn name(&self) -> String {
        "abs".into()
    }
    fn f(&self, x: T) -> T {
        x.abs()
    }
    fn df(&self, x: T, _y: T) -> T {
        if x > T::ZERO {
            T::ONE
        } else if x < T::ZERO {
            -T::ONE
        } else {
            T::ZERO
        }
    }
}

/// A function of two elements and its partial derivatives.
pub trait BinaryRule<T: Float>: Send + 'static {
    /// Name shown in listings and messages.
    fn name(&self) -> &'static str;
    /// The operator between the shapes in a shape-mismatch message (`"+"`).
    fn symbol(&self) -> &'static str;
    /// `z = f(a, b)`.
    fn f(&self, a: T, b: T) -> T;
    /// `dz/da`.
    fn da(&self, a: T, b: T) -> T;
    /// `dz/db`.
    fn db(&self, a: T, b: T) -> T;
    /// `da` is 1 everywhere: `a`'s gradient is the output's wherever their shapes agree
    /// ([`Op::passes_gradient_to`]).
    const DA_IS_ONE: bool = false;
    /// `db` is 1 everywhere.
    const DB_IS_ONE: bool = false;
}

/// The [`Op`] of a [`BinaryRule`], with numpy broadcasting: axes are matched from the right and
/// an axis of length 1 (or a missing one) repeats. The common case is a bias: `[n]` added to
/// every row of `[m, n]`. Backward sums the gradient over the repeated axes.
pub struct Binary<R>(pub R);

impl<T: Float, R: BinaryRule<T>> Op<T> for Binary<R> {
    fn name(&self) -> String {
        self.0.name().into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(2)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: &mut Tensor<T>) {
        let (a, b) = (inputs[0], inputs[1]);
        let f = |(z, (&x, &y)): (&mut T, (&T, &T))| *z = self.0.f(x, y);
        if a.shape() == b.shape() {
            out.reset_for_overwrite_like(a.shape());
            out.data_mut().iter_mut().zip(a.data().iter().zip(b.data())).for_each(f);
            return;
        }
        if let ([_, n], [m]) = (a.shape().dims(), b.shape().dims())
            && n == m
            && *n > 0
        {
            // A bias row added to every row of a matrix: the common case, kept to plain slices.
            out.reset_for_overwrite_like(a.shape());
            for (z, x) in out.data_mut().chunks_exact_mut(*n).zip(a.data().chunks_exact(*n)) {
                z.iter_mut().zip(x.iter().zip(b.data())).for_each(f);
            }
            return;
        }
        let bc = Broadcast::new(a.shape(), b.shape(), &self.0);
        out.reset_for_overwrite_like(&bc.out);
        let (ad, bd, od) = (a.data(), b.data(), out.data_mut());
        let (n, sa, sb) = (bc.inner, bc.inner_a, bc.inner_b);
        bc.for_each_row(|o, i, j| {
            let out = &mut od[o..o + n];
            if sa == 1 && sb == 1 {
                // Same shape, or a bias row: plain slices, vectorised.
                let rows = out.iter_mut().zip(&ad[i..i + n]).zip(&bd[j..j + n]);
                rows.for_each(|((z, &x), &y)| *z = self.0.f(x, y));
            } else {
                out.iter_mut().enumerate().for_each(|(k, z)| *z = self.0.f(ad[i + k * sa], bd[j + k * sb]));
            }
        });
    }

    fn passes_gradient_to(&self, inputs: &[&Tensor<T>], output: &Tensor<T>) -> Option<usize> {
        let same = |x: &Tensor<T>| x.shape() == output.shape();
        if R::DA_IS_ONE && same(inputs[0]) {
            Some(0)
        } else if R::DB_IS_ONE && same(inputs[1]) {
            Some(1)
        } else {
            None
        }
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let (a, b) = (inputs[0], inputs[1]);
        let [ga, gb] = grads else { unreachable!("binary op with {} inputs", grads.len()) };
        let (ad, bd, gd) = (a.data(), b.data(), g.data());
        if a.shape() == b.shape() {
            // No broadcasting: one plain pass per operand.
            if let Some(ga) = ga {
                ga.add(ad.iter().zip(bd).zip(gd).map(|((&x, &y), &g)| g * self.0.da(x, y)));
            }
            if let Some(gb) = gb {
                gb.add(ad.iter().zip(bd).zip(gd).map(|((&x, &y), &g)| g * self.0.db(x, y)));
            }
            return;
        }
        if let ([_, n], [m]) = (a.shape().dims(), b.shape().dims())
            && n == m
            && *n > 0
        {
            // A bias row: `a`'s gradient row by row, `b`'s summed over the rows.
            let rows = || a.data().chunks_exact(*n).zip(g.data().chunks_exact(*n));
            if let Some(ga) = ga {
                let (fresh, ga) = ga.raw();
                for (ga, (x, g)) in ga.chunks_exact_mut(*n).zip(rows()) {
                    let values = x.iter().zip(bd).zip(g).map(|((&x, &y), &g)| g * self.0.da(x, y));
                    assign_or_add(ga, values, fresh);
                }
            }
            if let Some(gb) = gb {
                let (mut fresh, gb) = gb.raw();
                for (x, g) in rows() {
                    assign_or_add(gb, x.iter().zip(bd).zip(g).map(|((&x, &y), &g)| g * self.0.db(x, y)), fresh);
                    fresh = false;
                }
                if fresh {
                    gb.fill(T::ZERO); // no rows: nothing to sum
                }
            }
            return;
        }
        let bc = Broadcast::new(a.shape(), b.shape(), &self.0);
        if let Some(ga) = ga {
            bc.accumulate(ga, Operand::A, (ad, bd, gd), |x, y| self.0.da(x, y));
        }
        if let Some(gb) = gb {
            bc.accumulate(gb, Operand::B, (ad, bd, gd), |x, y| self.0.db(x, y));
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Operand {
    A,
    B,
}

/// How two operand shapes broadcast: the output shape and each operand's stride per output
/// axis (0 where it repeats).
///
/// The work is done a row at a time: along the last axis each operand either runs contiguously
/// (stride 1) or repeats one element (stride 0), so every inner loop is over plain slices.
struct Broadcast<'s> {
    /// Borrowed from `a` when `a` already has the output's shape (no axis of `a` repeats).
    out: Cow<'s, Shape>,
    a_strides: SmallVec<[usize; 4]>,
    b_strides: SmallVec<[usize; 4]>,
    /// Length of a row: the whole tensor when no axis repeats.
    inner: usize,
    /// Stride of `a` and `b` along a row: 1 or 0.
    inner_a: usize,
    inner_b: usize,
}

impl<'s> Broadcast<'s> {
    fn new<T: Float>(a: &'s Shape, b: &Shape, rule: &impl BinaryRule<T>) -> Self {
        if a == b {
            // The common case (and the fast one): one row covering everything.
            let n = a.numel();
            return Broadcast {
                out: Cow::Borrowed(a),
                a_strides: SmallVec::new(),
                b_strides: SmallVec::new(),
                inner: n,
                inner_a: 1,
                inner_b: 1,
            };
        }
        if let ([rows, n], [m]) = (a.dims(), b.dims())
            && n == m
        {
            // A bias row added to every row of a matrix.
            return Broadcast {
                out: Cow::Borrowed(a),
                a_strides: SmallVec::from_slice(&[*n, 1]),
                b_strides: SmallVec::from_slice(&[0, 1]),
                inner: if *rows == 0 { 0 } else { *n },
                inner_a: 1,
                inner_b: 1,
            };
        }
        let rank = a.rank().max(b.rank());
        let dim = |s: &Shape, k: usize| if k + s.rank() >= rank { s[k + s.rank() - rank] } else { 1 };
        let mut out = SmallVec::<[usize; 4]>::new();
        for k in 0..rank {
            let (da, db) = (dim(a, k), dim(b, k));
            if da != db && da != 1 && db != 1 {
                panic!("{}: {a} {} {b}: shapes do not broadcast", rule.name(), rule.symbol());
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
        Broadcast { out: Cow::Owned(Shape::new(&out)), a_strides, b_strides, inner, inner_a, inner_b }
    }

    /// `grad += g * partial(a, b)` for one operand's gradient, elementwise over the output; where
    /// that operand repeats (stride 0), it receives the sum over the repeats.
    fn accumulate<T: Float>(
        &self,
        grad: &mut InputGrad<'_, T>,
        which: Operand,
        data: (&[T], &[T], &[T]),
        partial: impl Fn(T, T) -> T,
    ) {
        if grad.shape().numel() == self.out.numel() {
            // This operand does not repeat: each element is written once, so the first
            // contribution can assign.
            match grad.raw() {
                (true, g) => self.accumulate_into::<T, true>(g, which, data, partial),
                (false, g) => self.accumulate_into::<T, false>(g, which, data, partial),
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

/// `z = a + b`: `dz/da = 1`, `dz/db = 1`.
pub struct AddRule;
impl<T: Float> BinaryRule<T> for AddRule {
    fn name(&self) -> &'static str {
        "add"
    }
    fn symbol(&self) -> &'static str {
        "+"
    }
    const DA_IS_ONE: bool = true;
    const DB_IS_ONE: bool = true;
    fn f(&self, a: T, b: T) -> T {
        a + b
    }
    fn da(&self, _a: T, _b: T) -> T {
        T::ONE
    }
    fn db(&self, _a: T, _b: T) -> T {
        T::ONE
    }
}

/// `z = a - b`: `dz/da = 1`, `dz/db = -1`.
pub struct SubRule;
impl<T: Float> BinaryRule<T> for SubRule {
    fn name(&self) -> &'static str {
        "sub"
    }
    fn symbol(&self) -> &'static str {
        "-"
    }
    const DA_IS_ONE: bool = true;
    fn f(&self, a: T, b: T) -> T {
        a - b
    }
    fn da(&self, _a: T, _b: T) -> T {
        T::ONE
    }
    fn db(&self, _a: T, _b: T) -> T {
        -T::ONE
    }
}

/// `z = a b`: `dz/da = b`, `dz/db = a`.
pub struct MulRule;
impl<T: Float> BinaryRule<T> for MulRule {
    fn name(&self) -> &'static str {
        "mul"
    }
    fn symbol(&self) -> &'static str {
        "*"
    }
    fn f(&self, a: T, b: T) -> T {
        a * b
    }
    fn da(&self, _a: T, b: T) -> T {
        b
    }
    fn db(&self, a: T, _b: T) -> T {
        a
    }
}

/// `z = a / b`: `dz/da = 1/b`, `dz/db = -a/b^2`.
pub struct DivRule;
impl<T: Float> BinaryRule<T> for DivRule {
    fn name(&self) -> &'static str {
        "div"
    }
    fn symbol(&self) -> &'static str {
        "/"
    }
    fn f(&self, a: T, b: T) -> T {
        a / b
    }
    fn da(&self, _a: T, b: T) -> T {
        T::ONE / b
    }
    fn db(&self, a: T, b: T) -> T {
        -a / (b * b)
    }
}

// The operators `+ - * /` and unary `-` are implemented below too; the named methods exist so
// that a chain reads left to right (`x.matmul(w).add(b)`).
#[allow(clippy::should_implement_trait)]
impl<'t, T: Float> Var<'t, T> {
    /// `self + other`, broadcasting (e.g. a bias `[n]` over the rows of `[m, n]`).
    ///
    /// # Panics
    /// If the shapes do not broadcast: `add: [2, 3] + [2]: shapes do not broadcast`.
    pub fn add(self, other: Var<'t, T>) -> Var<'t, T> {
        self.apply(Binary(AddRule), &[other])
    }

    /// `self - other`, broadcasting like [`add`](Var::add).
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn sub(self, other: Var<'t, T>) -> Var<'t, T> {
        self.apply(Binary(SubRule), &[other])
    }

    /// `self * other` elementwise, broadcasting like [`add`](Var::add).
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn mul(self, other: Var<'t, T>) -> Var<'t, T> {
        self.apply(Binary(MulRule), &[other])
    }

    /// `self / other` elementwise, broadcasting like [`add`](Var::add).
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn div(self, other: Var<'t, T>) -> Var<'t, T> {
        self.apply(Binary(DivRule), &[other])
    }

    /// `c * self`.
    pub fn scale(self, c: T) -> Var<'t, T> {
        self.apply(Unary(Scale(c)), &[])
    }

    /// `self + c` for a constant `c`.
    pub fn add_scalar(self, c: T) -> Var<'t, T> {
        self.apply(Unary(AddScalar(c)), &[])
    }

    /// `-self`.
    pub fn neg(self) -> Var<'t, T> {
        self.apply(Unary(Neg), &[])
    }

    /// `self^2` elementwise.
    pub fn square(self) -> Var<'t, T> {
        self.apply(Unary(Square), &[])
    }

    /// `e^self` elementwise.
    pub fn exp(self) -> Var<'t, T> {
        self.apply(Unary(Exp), &[])
    }

    /// `ln(self)` elementwise.
    pub fn log(self) -> Var<'t, T> {
        self.apply(Unary(Log), &[])
    }

    /// `|self|` elementwise; its derivative at 0 is taken as 0.
    pub fn abs(self) -> Var<'t, T> {
        self.apply(Unary(Abs), &[])
    }
}

macro_rules! var_operator {
    ($trait:ident, $method:ident, $var_method:ident) => {
        impl<'t, T: Float> std::ops::$trait for Var<'t, T> {
            type Output = Var<'t, T>;
            fn $method(self, rhs: Var<'t, T>) -> Var<'t, T> {
                Var::$var_method(self, rhs)
            }
        }
    };
}
var_operator!(Add, add, add);
var_operator!(Sub, sub, sub);
var_operator!(Mul, mul, mul);
var_operator!(Div, div, div);

impl<'t, T: Float> std::ops::Neg for Var<'t, T> {
    type Output = Var<'t, T>;
    fn neg(self) -> Var<'t, T> {
        Var::neg(self)
    }
}

impl<T: Float> Tensor<T> {
    /// `self + other` with broadcasting, without a tape.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn add(&self, other: &Tensor<T>) -> Tensor<T> {
        crate::eval(&Binary(AddRule), &[self, other])
    }

    /// `self - other` with broadcasting, without a tape.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn sub(&self, other: &Tensor<T>) -> Tensor<T> {
        crate::eval(&Binary(SubRule), &[self, other])
    }

    /// `self * other` elementwise with broadcasting, without a tape.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn mul(&self, other: &Tensor<T>) -> Tensor<T> {
        crate::eval(&Binary(MulRule), &[self, other])
    }

    /// `c * self`, without a tape.
    pub fn scale(&self, c: T) -> Tensor<T> {
        self.map(|x| c * x)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    #[test]
    fn a_bias_over_zero_rows_gets_a_zero_gradient() {
        // The row loop runs no times; the bias gradient's first (and only) write must still
        // happen, or its recycled buffer would pass stale values on.
        let mut tape = Tape::<f64>::new();
        for _ in 0..2 {
            tape.reset();
            let x = tape.leaf(Tensor::zeros([0, 3]));
            let b = tape.leaf(Tensor::from_vec([3], vec![1.0, 2.0, 3.0]));
            let w = tape.leaf(Tensor::from_vec([3], vec![5.0, 6.0, 7.0]));
            // Recorded last, so backward reaches the bias add first: its contribution is b's first.
            let product = (b * w).sum();
            let grads = (product + x.add(b).sum()).backward();
            assert_eq!(grads[b].data(), &[5.0, 6.0, 7.0]);
            tape.recycle(grads);
        }
    }

    #[test]
    fn bias_broadcasts_over_rows_and_its_gradient_sums_them() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let b = tape.leaf(Tensor::from_vec([3], vec![10.0, 20.0, 30.0]));
        let y = x + b;
        assert_eq!(y.value().data(), &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        // d sum(y * w) / db_j = sum_i w_ij: each bias entry is used once per row.
        let w = tape.constant(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let grads = (y * w).sum().backward();
        assert_eq!(grads[b].data(), &[5.0, 7.0, 9.0]);
        assert_eq!(grads[x].data(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn column_and_scalar_broadcasts() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
        let col = tape.leaf(Tensor::from_rows(&[[1.0], [2.0], [3.0]]));
        let s = tape.leaf(Tensor::scalar(2.0));
        let y = (x - col) * s;
        assert_eq!(y.value().data(), &[0.0, 2.0, 2.0, 4.0, 4.0, 6.0]);
        let grads = y.sum().backward();
        // dy/dcol_i = -s for each of the 2 entries of row i; dy/ds = sum(x - col) = 9.
        assert_eq!(grads[col].data(), &[-4.0, -4.0, -4.0]);
        assert_eq!(grads[s].data(), &[9.0]);
    }

    #[test]
    #[should_panic(expected = "add: [2, 3] + [2]: shapes do not broadcast")]
    fn add_names_the_shapes_that_do_not_broadcast() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::zeros([2, 3]));
        let b = tape.leaf(Tensor::zeros([2]));
        let _ = x + b;
    }
}
