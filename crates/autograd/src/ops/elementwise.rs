//! Elementwise ops: the generic unary and binary wiring, and the plain math ops built on it.
//!
//! A unary op is a [`UnaryRule`], an `(f, df)` pair; a binary op is a [`BinaryRule`], `f` and its
//! two partial derivatives. [`Unary`] and [`Binary`] turn a rule into an [`Op`], so a new
//! elementwise op is a dozen lines and never touches backward.

use super::broadcast::{Operand, Pairing, sum_to};
use crate::input_grad::{Write, assign_or_add};
use crate::op::no_graph_rule;
use crate::threads::{ALIGN, parts_for, run_parts};
use crate::{Float, InputGrad, Op, Output, Tensor, Var};

/// An elementwise function `y = f(x)` and its derivative.
pub trait UnaryRule<T: Float>: Send + Sync + 'static {
    /// Name shown in listings and messages.
    fn name(&self) -> String;
    /// `y = f(x)`.
    fn f(&self, x: T) -> T;
    /// `dy/dx`, given both `x` and `y = f(x)` (sigmoid and tanh are cheaper from `y`).
    fn df(&self, x: T, y: T) -> T;
    /// `df` is 1 everywhere, so the output's gradient can be passed on unchanged
    /// ([`Op::pass_through`]).
    const DF_IS_ONE: bool = false;
    /// `g * dy/dx` recorded on the tape with ordinary ops, for [`Tape::grad`](crate::Tape::grad)
    /// and higher derivatives ([`Op::backward_graph`]); piecewise-constant factors go on the
    /// tape as constants ([`constant_map`]). `None`, the default, means the rule has none, and
    /// a recording backward that reaches the op panics naming it.
    fn backward_graph<'t>(&self, x: Var<'t, T>, y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        let _ = (x, y, g);
        None
    }
}

/// `f(x)` elementwise as a constant on `x`'s tape: a piecewise-constant factor of a derivative
/// (relu's mask `x > 0`), which has no gradient of its own.
pub fn constant_map<'t, T: Float>(x: Var<'t, T>, f: impl Fn(T) -> T) -> Var<'t, T> {
    let value = x.with_value(|v| v.map(f));
    x.tape().constant(value)
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

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        let y = out.overwrite_as(x.shape());
        // Large tensors in parts, one per thread: each element is computed alike either way.
        run_parts((y, x.data()), parts_for(x.numel()), ALIGN, &|_, (y, x): (&mut [T], &[T])| {
            y.iter_mut().zip(x).for_each(|(y, &x)| *y = self.0.f(x));
        });
    }

    fn pass_through(&self, _inputs: &[&Tensor<T>], _output: &Tensor<T>) -> Option<usize> {
        R::DF_IS_ONE.then_some(0)
    }

    fn backward(&self, inputs: &[&Tensor<T>], y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let (mode, gx) = gx.elements();
        let data = (gx, inputs[0].data(), y.data(), g.data());
        run_parts(data, parts_for(g.numel()), ALIGN, &|_, (gx, x, y, g): (&mut [T], &[T], &[T], &[T])| {
            assign_or_add(gx, x.iter().zip(y).zip(g).map(|((&x, &y), &g)| g * self.0.df(x, y)), mode);
        });
    }

    /// `dx = g * f'(x)`, recorded by the rule's [`UnaryRule::backward_graph`].
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        y: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        if !wanted[0] {
            return vec![None];
        }
        match self.0.backward_graph(x[0], y, g) {
            Some(dx) => vec![Some(dx)],
            None => no_graph_rule(&self.0.name()),
        }
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
    /// `dx = c g`.
    fn backward_graph<'t>(&self, _x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g.scale(self.0))
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
    /// `dx = g`.
    fn backward_graph<'t>(&self, _x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g)
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
    /// `dx = -g`.
    fn backward_graph<'t>(&self, _x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(-g)
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
    /// `dx = 2 g x`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some((g * x).scale(T::from_f64(2.0)))
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
    /// `dx = g y`.
    fn backward_graph<'t>(&self, _x: Var<'t, T>, y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * y)
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
    /// `dx = g / x`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g / x)
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
    /// `dx = g sign(x), the sign a constant`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * constant_map(x, |x| self.df(x, x)))
    }
}

/// `y = sqrt x`, `dy/dx = 1 / (2y)`: as in PyTorch, sqrt(0) = 0 with derivative inf, and NaN
/// (value and derivative) for x < 0.
pub struct Sqrt;
impl<T: Float> UnaryRule<T> for Sqrt {
    fn name(&self) -> String {
        "sqrt".into()
    }
    fn f(&self, x: T) -> T {
        x.sqrt()
    }
    fn df(&self, _x: T, y: T) -> T {
        // PyTorch's form, from the output: 1 / (2 * 0) = inf at 0.
        T::ONE / (y + y)
    }
    /// `dx = g / (2 y)`.
    fn backward_graph<'t>(&self, _x: Var<'t, T>, y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some((g / y).scale(T::from_f64(0.5)))
    }
}

/// `y = 1 / sqrt x`, `dy/dx = -y^3 / 2`: as in PyTorch, inf with derivative -inf at 0, and NaN
/// for x < 0.
pub struct Rsqrt;
impl<T: Float> UnaryRule<T> for Rsqrt {
    fn name(&self) -> String {
        "rsqrt".into()
    }
    fn f(&self, x: T) -> T {
        T::ONE / x.sqrt()
    }
    fn df(&self, _x: T, y: T) -> T {
        -(y * y * y) / T::from_f64(2.0)
    }
    /// `dx = -g y^3 / 2`.
    fn backward_graph<'t>(&self, _x: Var<'t, T>, y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some((g * y.powi(3)).scale(T::from_f64(-0.5)))
    }
}

/// `y = 1 / x`, `dy/dx = -y^2`: as in PyTorch, ±inf with derivative -inf at ±0.
pub struct Recip;
impl<T: Float> UnaryRule<T> for Recip {
    fn name(&self) -> String {
        "recip".into()
    }
    fn f(&self, x: T) -> T {
        T::ONE / x
    }
    fn df(&self, _x: T, y: T) -> T {
        -(y * y)
    }
    /// `dx = -g y^2`.
    fn backward_graph<'t>(&self, _x: Var<'t, T>, y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(-(g * y.square()))
    }
}

/// `y = x^n` for an integer `n`, `dy/dx = n x^(n-1)`, taken as 0 everywhere for `n = 0` (PyTorch's
/// `pow_backward`), so `powi(0)` has derivative 0 at x = 0 too; for n < 0 the value and
/// derivative at 0 are infinite, as in IEEE arithmetic. (The 0 multiplies the upstream gradient,
/// so an infinite or NaN one still gives NaN, where PyTorch's `zeros_like` gives 0.)
pub struct Powi(pub i32);
impl<T: Float> UnaryRule<T> for Powi {
    fn name(&self) -> String {
        format!("powi({})", self.0)
    }
    fn f(&self, x: T) -> T {
        x.powi(self.0)
    }
    fn df(&self, x: T, y: T) -> T {
        let n = T::from_f64(f64::from(self.0));
        match self.0 {
            0 => T::ZERO,
            // n - 1 would overflow i32; x^(n-1) = y / x there (inf at 0, where y is inf too).
            i32::MIN => n * (y / x),
            m => n * x.powi(m - 1),
        }
    }
    /// `dx = g n x^(n-1)`, `0 g` for `n = 0`, `g n y / x` for `n = i32::MIN`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        let n = T::from_f64(f64::from(self.0));
        Some(match self.0 {
            0 => g.scale(T::ZERO),
            i32::MIN => (g * (y / x)).scale(n),
            m => (g * x.powi(m - 1)).scale(n),
        })
    }
}

/// `y = x^c` for a real constant `c`, `dy/dx = c x^(c-1)`, taken as 0 everywhere for `c = 0`
/// (PyTorch's `pow_backward`, which would otherwise give `0 * inf = NaN` at x = 0). As in
/// PyTorch, NaN for x < 0 and a non-integer `c`, and an infinite derivative at 0 for `0 < c < 1`.
pub struct Powf<T>(pub T);
impl<T: Float> UnaryRule<T> for Powf<T> {
    fn name(&self) -> String {
        format!("powf({})", self.0)
    }
    fn f(&self, x: T) -> T {
        x.powf(self.0)
    }
    fn df(&self, x: T, _y: T) -> T {
        if self.0 == T::ZERO { T::ZERO } else { self.0 * x.powf(self.0 - T::ONE) }
    }
    /// `dx = g c x^(c-1)`, `0 g` for `c = 0`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(if self.0 == T::ZERO { g.scale(T::ZERO) } else { (g * x.powf(self.0 - T::ONE)).scale(self.0) })
    }
}

/// `y = sin x`, `dy/dx = cos x`.
pub struct Sin;
impl<T: Float> UnaryRule<T> for Sin {
    fn name(&self) -> String {
        "sin".into()
    }
    fn f(&self, x: T) -> T {
        x.sin()
    }
    fn df(&self, x: T, _y: T) -> T {
        x.cos()
    }
    /// `dx = g cos x`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * x.cos())
    }
}

/// `y = cos x`, `dy/dx = -sin x`.
pub struct Cos;
impl<T: Float> UnaryRule<T> for Cos {
    fn name(&self) -> String {
        "cos".into()
    }
    fn f(&self, x: T) -> T {
        x.cos()
    }
    fn df(&self, x: T, _y: T) -> T {
        -x.sin()
    }
    /// `dx = -g sin x`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(-(g * x.sin()))
    }
}

/// A function of two elements and its partial derivatives.
pub trait BinaryRule<T: Float>: Send + Sync + 'static {
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
    /// ([`Op::pass_through`]).
    const DA_IS_ONE: bool = false;
    /// `db` is 1 everywhere.
    const DB_IS_ONE: bool = false;
    /// `[g dz/da, g dz/db]` recorded on the tape with ordinary ops, at the output's shape
    /// ([`Binary`] sums a broadcast operand's back to its shape), for the operands `wanted`
    /// ([`Op::backward_graph`]). `None`, the default, means the rule has none, and a recording
    /// backward that reaches the op panics naming it.
    #[allow(clippy::type_complexity)]
    fn backward_graph<'t>(
        &self,
        operands: [Var<'t, T>; 2],
        z: Var<'t, T>,
        g: Var<'t, T>,
        wanted: [bool; 2],
    ) -> Option<[Option<Var<'t, T>>; 2]> {
        let _ = (operands, z, g, wanted);
        None
    }
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

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let (a, b) = (inputs[0], inputs[1]);
        let f = |(z, (&x, &y)): (&mut T, (&T, &T))| *z = self.0.f(x, y);
        // Large tensors in parts, one per thread (whole rows for a bias): each element is
        // computed alike either way.
        let parts = parts_for(a.numel());
        match Pairing::of(a.shape(), b.shape(), &self.0) {
            Pairing::Same => {
                let data = (out.overwrite_as(a.shape()), a.data(), b.data());
                run_parts(data, parts, ALIGN, &|_, (z, x, y): (&mut [T], &[T], &[T])| {
                    z.iter_mut().zip(x.iter().zip(y)).for_each(f);
                });
            }
            Pairing::BiasRow(n) => {
                let data = (out.overwrite_as(a.shape()), a.data());
                run_parts(data, parts, n, &|_, (z, x): (&mut [T], &[T])| {
                    for (z, x) in z.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
                        z.iter_mut().zip(x.iter().zip(b.data())).for_each(f);
                    }
                });
            }
            Pairing::General(bc) => bc.map_into(out.overwrite_as(bc.out()), a.data(), b.data(), |x, y| self.0.f(x, y)),
        }
    }

    fn pass_through(&self, inputs: &[&Tensor<T>], output: &Tensor<T>) -> Option<usize> {
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
        let da = |((&x, &y), &g): ((&T, &T), &T)| g * self.0.da(x, y);
        let db = |((&x, &y), &g): ((&T, &T), &T)| g * self.0.db(x, y);
        match Pairing::of(a.shape(), b.shape(), &self.0) {
            Pairing::Same => {
                // One plain pass per operand, in parts for large tensors.
                if let Some(ga) = ga {
                    same_shape_pass(ga, (ad, bd, gd), &da);
                }
                if let Some(gb) = gb {
                    same_shape_pass(gb, (ad, bd, gd), &db);
                }
            }
            Pairing::BiasRow(n) => {
                let parts = parts_for(gd.len());
                // `a`'s gradient row by row, in parts of whole rows.
                if let Some(ga) = ga {
                    let (mode, ga) = ga.elements();
                    run_parts((ga, ad, gd), parts, n, &|_, (ga, x, g): (&mut [T], &[T], &[T])| {
                        for (ga, (x, g)) in ga.chunks_exact_mut(n).zip(x.chunks_exact(n).zip(g.chunks_exact(n))) {
                            assign_or_add(ga, x.iter().zip(bd).zip(g).map(da), mode);
                        }
                    });
                }
                // `b`'s summed over the rows, in parts of columns: each column's sum runs over
                // the rows in order, whatever the parts.
                if let Some(gb) = gb {
                    let (first, gb) = gb.elements();
                    let columns = parts.min(n / ALIGN).max(1);
                    run_parts((gb, bd), columns, ALIGN, &|j0, (gb, bd): (&mut [T], &[T])| {
                        let (j1, mut mode) = (j0 + gb.len(), first);
                        for (x, g) in ad.chunks_exact(n).zip(gd.chunks_exact(n)) {
                            assign_or_add(gb, x[j0..j1].iter().zip(bd).zip(&g[j0..j1]).map(db), mode);
                            mode = Write::Add;
                        }
                        if mode == Write::Assign {
                            gb.fill(T::ZERO); // no rows: nothing to sum
                        }
                    });
                }
            }
            Pairing::General(bc) => {
                if let Some(ga) = ga {
                    bc.accumulate(ga, Operand::A, (ad, bd, gd), |x, y| self.0.da(x, y));
                }
                if let Some(gb) = gb {
                    bc.accumulate(gb, Operand::B, (ad, bd, gd), |x, y| self.0.db(x, y));
                }
            }
        }
    }

    /// `da = sum_to(g dz/da, shape of a)`, `db = sum_to(g dz/db, shape of b)`: the rule's
    /// [`BinaryRule::backward_graph`], summed over the axes each operand was broadcast along.
    fn backward_graph<'t>(
        &self,
        ab: &[Var<'t, T>],
        z: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let (operands, wanted) = ([ab[0], ab[1]], [wanted[0], wanted[1]]);
        let Some(partials) = self.0.backward_graph(operands, z, g, wanted) else { no_graph_rule(self.0.name()) };
        operands
            .iter()
            .zip(partials)
            .zip(wanted)
            .map(|((&v, d), w)| d.filter(|_| w).map(|d| sum_to(d, &v.shape())))
            .collect()
    }
}

/// `grad += partial(a, b, g)` elementwise over operands of one shape, in parts for large
/// tensors.
fn same_shape_pass<T: Float>(
    grad: &mut InputGrad<'_, T>,
    (ad, bd, gd): (&[T], &[T], &[T]),
    partial: &(impl Fn(((&T, &T), &T)) -> T + Sync),
) {
    let (mode, grad) = grad.elements();
    run_parts((grad, ad, bd, gd), parts_for(gd.len()), ALIGN, &|_, (d, x, y, g): (&mut [T], &[T], &[T], &[T])| {
        assign_or_add(d, x.iter().zip(y).zip(g).map(partial), mode);
    });
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
    /// `[g, g]`.
    fn backward_graph<'t>(
        &self,
        [_a, _b]: [Var<'t, T>; 2],
        _z: Var<'t, T>,
        g: Var<'t, T>,
        _w: [bool; 2],
    ) -> Option<[Option<Var<'t, T>>; 2]> {
        Some([Some(g), Some(g)])
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
    /// `[g, -g]`.
    fn backward_graph<'t>(
        &self,
        [_a, _b]: [Var<'t, T>; 2],
        _z: Var<'t, T>,
        g: Var<'t, T>,
        w: [bool; 2],
    ) -> Option<[Option<Var<'t, T>>; 2]> {
        Some([Some(g), w[1].then(|| -g)])
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
    /// `[g b, g a]`.
    fn backward_graph<'t>(
        &self,
        [a, b]: [Var<'t, T>; 2],
        _z: Var<'t, T>,
        g: Var<'t, T>,
        w: [bool; 2],
    ) -> Option<[Option<Var<'t, T>>; 2]> {
        Some([w[0].then(|| g * b), w[1].then(|| g * a)])
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
    /// `[g / b, -g z / b]`.
    fn backward_graph<'t>(
        &self,
        [_a, b]: [Var<'t, T>; 2],
        z: Var<'t, T>,
        g: Var<'t, T>,
        w: [bool; 2],
    ) -> Option<[Option<Var<'t, T>>; 2]> {
        Some([w[0].then(|| g / b), w[1].then(|| -(g * z / b))])
    }
}

/// `z = a^b`: `dz/da = b a^(b-1)` (0 where `b = 0`), `dz/db = a^b ln a` (0 where `a = 0` and
/// `b >= 0`), PyTorch's `pow_backward_self` and `pow_backward_exponent`.
///
/// The two masks keep `0 * inf = NaN` out of the gradients of `0^0 = 1` and `0^b = 0`. Elsewhere
/// IEEE arithmetic speaks: at `a = 0` and `0 < b < 1` the base's partial is inf, at `a = 0` and
/// `b < 0` the value is inf and the exponent's partial `inf * ln 0 = -inf`; for `a < 0` the
/// exponent's partial is NaN (`ln a`), and so is the value unless `b` is an integer.
pub struct PowRule;
impl<T: Float> BinaryRule<T> for PowRule {
    fn name(&self) -> &'static str {
        "pow"
    }
    fn symbol(&self) -> &'static str {
        "^"
    }
    fn f(&self, a: T, b: T) -> T {
        a.powf(b)
    }
    fn da(&self, a: T, b: T) -> T {
        if b == T::ZERO { T::ZERO } else { b * a.powf(b - T::ONE) }
    }
    fn db(&self, a: T, b: T) -> T {
        if a == T::ZERO && b >= T::ZERO { T::ZERO } else { a.powf(b) * a.ln() }
    }
    /// `[g b a^(b-1), g z ln a]`, each 0 where its mask says (`b = 0`; `a = 0` and `b >= 0`).
    fn backward_graph<'t>(
        &self,
        [a, b]: [Var<'t, T>; 2],
        z: Var<'t, T>,
        g: Var<'t, T>,
        w: [bool; 2],
    ) -> Option<[Option<Var<'t, T>>; 2]> {
        // Selects rather than products with 0/1 masks, so that the masked-out 0 * inf stays out.
        let zero = a.tape().constant(Tensor::scalar(T::ZERO));
        let da = || {
            let b_nonzero = b.with_value(|b| b.to_mask(|b| b != T::ZERO));
            Var::select(&b_nonzero, g * b * a.pow(b.add_scalar(-T::ONE)), zero)
        };
        let db = || {
            let partial = g * z * a.log();
            let (a_nonzero, b_negative) =
                (a.with_value(|a| a.to_mask(|a| a != T::ZERO)), b.with_value(|b| b.to_mask(|b| b < T::ZERO)));
            Var::select(&a_nonzero, partial, Var::select(&b_negative, partial, zero))
        };
        Some([w[0].then(da), w[1].then(db)])
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

    /// `self^exponent` elementwise, both differentiable, broadcasting like [`add`](Var::add).
    /// At a zero base PyTorch's masks apply: `0^0 = 1` with both partials 0, and `0^b` for
    /// `b > 0` has exponent partial 0 instead of `0 * ln 0 = NaN`. A negative base gives NaN
    /// (value for a non-integer exponent, and the exponent's partial always). For a constant
    /// exponent use [`powf`](Var::powf) or [`powi`](Var::powi).
    ///
    /// # Panics
    /// If the shapes do not broadcast: `pow: [2, 3] ^ [2]: shapes do not broadcast`.
    pub fn pow(self, exponent: Var<'t, T>) -> Var<'t, T> {
        self.apply(Binary(PowRule), &[exponent])
    }
}

/// The unary ops built on [`Unary`], one line each: every line gives `Var` its recorded method
/// and `Tensor` the method of the same name, which runs the same forward without a tape.
macro_rules! unary_methods {
    ($($(#[doc = $doc:literal])* $name:ident $(($($arg:ident: $ty:ty),*))? => $rule:expr;)*) => {
        impl<'t, T: Float> Var<'t, T> {
            $(
                $(#[doc = $doc])*
                #[allow(clippy::should_implement_trait)] // `neg` beside `-`, which calls it
                pub fn $name(self $($(, $arg: $ty)*)?) -> Var<'t, T> {
                    self.apply(Unary($rule), &[])
                }
            )*
        }

        impl<T: Float> Tensor<T> {
            $(
                $(#[doc = $doc])*
                ///
                /// On a plain tensor: the same forward, without a tape.
                #[allow(clippy::should_implement_trait)]
                pub fn $name(&self $($(, $arg: $ty)*)?) -> Tensor<T> {
                    self.map_rule($rule)
                }
            )*
        }
    };
}

pub(crate) use unary_methods;

unary_methods! {
    /// `c * self`.
    scale(c: T) => Scale(c);
    /// `self + c` for a constant `c`.
    add_scalar(c: T) => AddScalar(c);
    /// `-self`.
    neg => Neg;
    /// `self^2` elementwise.
    square => Square;
    /// `e^self` elementwise.
    exp => Exp;
    /// `ln(self)` elementwise.
    log => Log;
    /// `|self|` elementwise; its derivative at 0 is taken as 0.
    abs => Abs;
    /// `sqrt(self)` elementwise; at 0 the value is 0 and the derivative inf, below 0 both are
    /// NaN (as in PyTorch).
    sqrt => Sqrt;
    /// `1 / sqrt(self)` elementwise; inf at 0 (derivative -inf), NaN below 0.
    rsqrt => Rsqrt;
    /// `1 / self` elementwise; ±inf at ±0 (derivative -inf).
    recip => Recip;
    /// `self^n` elementwise for an integer `n`, negative too; `powi(0)` has derivative 0
    /// everywhere, 0 included (as in PyTorch).
    powi(n: i32) => Powi(n);
    /// `self^c` elementwise for a real constant `c`: NaN for a negative base and non-integer
    /// `c`; derivative 0 everywhere for `c = 0` and inf at 0 for `0 < c < 1` (as in PyTorch).
    powf(c: T) => Powf(c);
    /// `sin(self)` elementwise (radians).
    sin => Sin;
    /// `cos(self)` elementwise (radians).
    cos => Cos;
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

    /// `self^exponent` elementwise with broadcasting, without a tape.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn pow(&self, exponent: &Tensor<T>) -> Tensor<T> {
        crate::eval(&Binary(PowRule), &[self, exponent])
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    #[test]
    fn a_bias_over_zero_rows_gets_a_zero_gradient() {
        // The row loop runs no times; the bias gradient's first (and only) write must still
        // happen, or its reused buffer would pass the last step's values on.
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
            drop(grads);
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
