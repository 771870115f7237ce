//! Reductions along one axis beyond sums: max, min, logsumexp, variance and standard deviation.
//!
//! Each removes the axis, or with `keepdim` keeps it with length 1 (PyTorch's `keepdim=True`),
//! which changes only the output's shape: the elements, and so every rule, are the same.

use super::elementwise::constant_map;
use crate::input_grad::Write;
use crate::{Float, InputGrad, Op, Output, Shape, Tensor, Var};

/// The input viewed as `[outer, len, inner]`, the reduced axis in the middle: output element
/// `o * inner + i` reduces the lane `x[(o * len + j) * inner + i]`, `j < len`.
#[derive(Clone, Copy)]
struct Lanes {
    outer: usize,
    len: usize,
    inner: usize,
}

impl Lanes {
    /// # Panics
    /// If `axis` is out of range for the shape, naming `op`.
    fn of(op: &str, axis: usize, shape: &Shape) -> Self {
        let dims = shape.dims();
        assert!(axis < dims.len(), "{op}: axis {axis} out of range for shape {shape}");
        // With no elements, the axes around a zero may have a product that overflows: there are
        // lanes (each of nothing) only if the reduced axis is the zero and the output has
        // elements, and then every product below is at most the output's count.
        if shape.numel() == 0 {
            let out: usize = dims
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != axis)
                .map(|(_, &d)| d)
                .try_fold(1usize, |p, d| p.checked_mul(d))
                .unwrap_or(0);
            if dims[axis] > 0 || out == 0 {
                return Lanes { outer: 0, len: dims[axis], inner: 0 };
            }
        }
        Lanes { outer: dims[..axis].iter().product(), len: dims[axis], inner: dims[axis + 1..].iter().product() }
    }

    /// How many lanes, one per output element.
    fn count(self) -> usize {
        self.outer * self.inner
    }

    /// The input indices of lane `k` (output element `k`), in order along the axis.
    #[inline]
    fn lane(self, k: usize) -> impl Iterator<Item = usize> + Clone {
        let (o, i) = (k / self.inner.max(1), k % self.inner.max(1));
        let start = o * self.len * self.inner + i;
        (0..self.len).map(move |j| start + j * self.inner)
    }
}

/// The output's shape: `shape` without `axis`, or with it as 1 if `keepdim`.
fn reduced(shape: &Shape, axis: usize, keepdim: bool) -> Shape {
    let mut dims = shape.dims().to_vec();
    if keepdim {
        dims[axis] = 1;
    } else {
        dims.remove(axis);
    }
    Shape::from(dims)
}

/// The op's name in listings: `max(axis=1)`, `max(axis=1, keepdim)`.
fn op_name(what: &str, axis: usize, extra: &str, keepdim: bool) -> String {
    format!("{what}(axis={axis}{extra}{})", if keepdim { ", keepdim" } else { "" })
}

/// `x` is NaN (the only value unequal to itself, written so for a generic `T`).
#[inline]
fn is_nan<T: Float>(x: T) -> bool {
    x.partial_cmp(&x).is_none()
}

/// `y = max_j x[.., j, ..]` along one axis: `dx[.., j, ..] = g` at the first `j` attaining the
/// max, 0 elsewhere (PyTorch's `max(dim)`, whose index is the first on ties).
///
/// A NaN in a lane makes its max NaN (the first NaN is the arg-max), as in PyTorch.
pub type MaxAxis = ExtremeAxis<true>;

/// `y = min_j x[.., j, ..]` along one axis: `dx[.., j, ..] = g` at the first `j` attaining the
/// min, 0 elsewhere (PyTorch's `min(dim)`). NaN as in [`MaxAxis`].
pub type MinAxis = ExtremeAxis<false>;

/// The max (`MAX`) or min along one axis: [`MaxAxis`] and [`MinAxis`], which differ only in
/// the comparison.
pub struct ExtremeAxis<const MAX: bool> {
    /// The axis reduced.
    pub axis: usize,
    /// Keep the axis with length 1.
    pub keepdim: bool,
}

impl<const MAX: bool> ExtremeAxis<MAX> {
    /// The name in messages.
    const OP: &str = if MAX { "max_axis" } else { "min_axis" };

    /// `v` replaces `best`, the extreme so far: a NaN beats everything, and nothing beats a NaN.
    fn beats<T: Float>(v: T, best: T) -> bool {
        !is_nan(best) && (is_nan(v) || if MAX { v > best } else { v < best })
    }

    /// Calls `f(k, i)` with each output element `k` and the input index `i` of the first element
    /// of its lane equal to it (the arg-max `forward` chose; NaN matching NaN).
    fn for_each_arg<T: Float>(&self, x: &Tensor<T>, y: &Tensor<T>, mut f: impl FnMut(usize, usize)) {
        let lanes = Lanes::of(Self::OP, self.axis, x.shape());
        let xd = x.data();
        for (k, &y) in y.data().iter().enumerate() {
            let nan = is_nan(y);
            if let Some(i) = lanes.lane(k).find(|&i| xd[i] == y || nan && is_nan(xd[i])) {
                f(k, i);
            }
        }
    }
}

impl<T: Float, const MAX: bool> Op<T> for ExtremeAxis<MAX> {
    fn name(&self) -> String {
        op_name(if MAX { "max" } else { "min" }, self.axis, "", self.keepdim)
    }
    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }
    /// The first extreme of each lane, a NaN beating everything (as in PyTorch).
    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let (x, op, axis) = (inputs[0], Self::OP, self.axis);
        let lanes = Lanes::of(op, axis, x.shape());
        assert!(
            lanes.len > 0 || x.numel() == 0 && lanes.count() == 0,
            "{op}: axis {axis} of shape {} is empty",
            x.shape()
        );
        let (xd, y) = (x.data(), out.overwrite_as(&reduced(x.shape(), axis, self.keepdim)));
        for (k, y) in y.iter_mut().enumerate() {
            let mut lane = lanes.lane(k).map(|i| xd[i]);
            let first = lane.next().expect("a lane has an element");
            *y = lane.fold(first, |best, v| if Self::beats(v, best) { v } else { best });
        }
    }
    fn backward(&self, inputs: &[&Tensor<T>], y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let (gd, gx) = (g.data(), gx.tensor().data_mut());
        self.for_each_arg(inputs[0], y, |k, i| gx[i] += gd[k]);
    }
    /// `dx = onehot(first arg-max, or arg-min) * g` with the axis kept, the one-hot a constant.
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
        let x = x[0];
        let one_hot = x.with_value(|xv| {
            y.with_value(|yv| {
                let mut hot = vec![T::ZERO; xv.numel()];
                self.for_each_arg(xv, yv, |_, i| hot[i] = T::ONE);
                Tensor::from_vec(xv.shape().clone(), hot)
            })
        });
        vec![Some(x.tape().constant(one_hot) * kept(g, self.axis, self.keepdim))]
    }
}

/// `y = m + ln sum_j e^(x_j - m)` along one axis, `m` the lane's max (0 if infinite):
/// `dx_j = g e^(x_j - y) = g e^(x_j - m) / sum_k e^(x_k - m)` (PyTorch's `logsumexp_backward`).
///
/// Subtracting the max keeps every exponent `<= 0`, so nothing overflows. As in PyTorch, an
/// infinite max is not subtracted: a lane of all -inf (or an empty one) gives -inf, one with
/// +inf gives +inf. The gradient of an all -inf lane is `e^(-inf + inf)`, NaN, as in PyTorch.
pub struct LogSumExp {
    /// The axis reduced.
    pub axis: usize,
    /// Keep the axis with length 1.
    pub keepdim: bool,
}

impl<T: Float> Op<T> for LogSumExp {
    fn name(&self) -> String {
        op_name("logsumexp", self.axis, "", self.keepdim)
    }
    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }
    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        let lanes = Lanes::of("logsumexp", self.axis, x.shape());
        let (xd, y) = (x.data(), out.overwrite_as(&reduced(x.shape(), self.axis, self.keepdim)));
        for (k, y) in y.iter_mut().enumerate() {
            let (shift, sum) = shifted_sum(xd, lanes.lane(k));
            *y = sum.ln() + shift;
        }
    }
    fn backward(&self, inputs: &[&Tensor<T>], _y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let x = inputs[0];
        let lanes = Lanes::of("logsumexp", self.axis, x.shape());
        let xd = x.data();
        // Every input element is in exactly one lane: a first contribution assigns.
        let (mode, gx) = gx.elements();
        for (k, &g) in g.data().iter().enumerate() {
            // e^(x_j - y) as e^(x_j - m) / sum: equal in exact arithmetic, but y = 1e4 + ln 2 has
            // lost most of ln 2 to rounding in f32. The singular lanes come out as PyTorch's:
            // 0 / 0 = NaN for all -inf, inf / inf = NaN at a +inf.
            let (shift, sum) = shifted_sum(xd, lanes.lane(k));
            let scale = g / sum;
            for i in lanes.lane(k) {
                let d = scale * (xd[i] - shift).exp();
                match mode {
                    Write::Assign => gx[i] = d,
                    Write::Add => gx[i] += d,
                }
            }
        }
    }
    /// `dx = softmax(x along the axis) * g` with the axis kept.
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
        let (x, last) = (x[0], x[0].shape().rank() - 1);
        // Softmax works along the last axis: move the reduced one there and back.
        let p = if self.axis == last {
            x.softmax()
        } else {
            x.swap_axes(self.axis, last).softmax().swap_axes(self.axis, last)
        };
        vec![Some(p * kept(g, self.axis, self.keepdim))]
    }
}

/// `(m, sum_j e^(x_j - m))` of a lane, `m` its max, or 0 if that is infinite (PyTorch's rule).
#[inline]
fn shifted_sum<T: Float>(xd: &[T], lane: impl Iterator<Item = usize> + Clone) -> (T, T) {
    let max = lane.clone().map(|i| xd[i]).fold(T::from_f64(f64::NEG_INFINITY), T::max);
    let shift = if max.is_finite() { max } else { T::ZERO };
    (shift, lane.map(|i| (xd[i] - shift).exp()).sum())
}

/// The mean of a lane and the sum of its squared deviations from it (two passes, which keeps
/// the precision a one-pass `E[x^2] - E[x]^2` loses to cancellation).
#[inline]
fn mean_and_squares<T: Float>(xd: &[T], lane: impl Iterator<Item = usize> + Clone, len: usize) -> (T, T) {
    let n = T::from_f64(len as f64);
    let mean = lane.clone().map(|i| xd[i]).sum::<T>() / n;
    let squares = lane.map(|i| (xd[i] - mean) * (xd[i] - mean)).sum::<T>();
    (mean, squares)
}

/// `y = sum_j (x_j - mean)^2 / (n - c)` along one axis, `c` the correction (1: unbiased, 0: the
/// population variance): `dx_j = g 2 (x_j - mean) / (n - c)` (PyTorch's `var_backward`).
///
/// As in PyTorch the divisor is `max(n - c, 0)`: with `n <= c` the value is inf, or NaN (0 / 0)
/// for a lane of equal values such as a single one; the gradient there is NaN too.
pub struct VarAxis {
    /// The axis reduced.
    pub axis: usize,
    /// Subtracted from the lane's length in the divisor (Bessel's correction is 1).
    pub correction: usize,
    /// Keep the axis with length 1.
    pub keepdim: bool,
}

impl VarAxis {
    /// `(forward divisor, backward divisor)`: PyTorch's `max(n - c, 0)` and `n - c`.
    fn divisors<T: Float>(&self, len: usize) -> (T, T) {
        let d = len as f64 - self.correction as f64;
        (T::from_f64(d.max(0.0)), T::from_f64(d))
    }
}

impl<T: Float> Op<T> for VarAxis {
    fn name(&self) -> String {
        op_name("var", self.axis, &format!(", correction={}", self.correction), self.keepdim)
    }
    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }
    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        variance_forward("var_axis", self, inputs[0], out, |v| v);
    }
    fn backward(&self, inputs: &[&Tensor<T>], _y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        if let Some(gx) = &mut grads[0] {
            variance_backward("var_axis", self, inputs[0], g.data(), gx);
        }
    }
    /// `dx = g 2 (x - mean) / (n - c)` with the axis kept.
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| variance_graph(self, x[0], kept(g, self.axis, self.keepdim)))]
    }
}

/// `y = sqrt(var)` along one axis (see [`VarAxis`]): `dx_j = g (x_j - mean) / ((n - c) y)`,
/// taken as 0 where `y = 0` (PyTorch's `std_backward` masks `g / 2y` there, so a lane of equal
/// values gets a zero gradient rather than `0 / 0`).
pub struct StdAxis {
    /// The axis reduced.
    pub axis: usize,
    /// Subtracted from the lane's length in the divisor (Bessel's correction is 1).
    pub correction: usize,
    /// Keep the axis with length 1.
    pub keepdim: bool,
}

impl<T: Float> Op<T> for StdAxis {
    fn name(&self) -> String {
        op_name("std", self.axis, &format!(", correction={}", self.correction), self.keepdim)
    }
    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }
    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        variance_forward("std_axis", &self.as_var(), inputs[0], out, T::sqrt);
    }
    fn backward(&self, inputs: &[&Tensor<T>], y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        // The variance's upstream gradient: g / 2y, masked to 0 where y = 0.
        let two = T::from_f64(2.0);
        let g_var: Vec<T> =
            y.data().iter().zip(g.data()).map(|(&y, &g)| if y == T::ZERO { T::ZERO } else { g / (two * y) }).collect();
        variance_backward("std_axis", &self.as_var(), inputs[0], &g_var, gx);
    }
    /// `dx = var's rule with g_var = g / 2y`, masked to 0 where `y = 0` (constants).
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
        // g / 2y where y != 0, else 0: the zeros' divisor is 1 instead of 0, so that no 0 / 0
        // enters the gradient's graph.
        let nonzero = constant_map(y, |y| if y == T::ZERO { T::ZERO } else { T::ONE });
        let zero = constant_map(y, |y| if y == T::ZERO { T::ONE } else { T::ZERO });
        let g_var = g * nonzero / (y.scale(T::from_f64(2.0)) + zero);
        vec![Some(variance_graph(&self.as_var(), x[0], kept(g_var, self.axis, self.keepdim)))]
    }
}

impl StdAxis {
    fn as_var(&self) -> VarAxis {
        VarAxis { axis: self.axis, correction: self.correction, keepdim: self.keepdim }
    }
}

/// `finish(variance)` of each lane.
fn variance_forward<T: Float>(op: &str, var: &VarAxis, x: &Tensor<T>, out: Output<'_, T>, finish: impl Fn(T) -> T) {
    let lanes = Lanes::of(op, var.axis, x.shape());
    let (divisor, _) = var.divisors::<T>(lanes.len);
    let (xd, y) = (x.data(), out.overwrite_as(&reduced(x.shape(), var.axis, var.keepdim)));
    for (k, y) in y.iter_mut().enumerate() {
        let (_, squares) = mean_and_squares(xd, lanes.lane(k), lanes.len);
        *y = finish(squares / divisor);
    }
}

/// `dx_j += g_var 2 (x_j - mean) / (n - c)` for each lane, `g_var` the lane's upstream gradient.
fn variance_backward<T: Float>(op: &str, var: &VarAxis, x: &Tensor<T>, g_var: &[T], gx: &mut InputGrad<'_, T>) {
    let lanes = Lanes::of(op, var.axis, x.shape());
    let (_, divisor) = var.divisors::<T>(lanes.len);
    let two = T::from_f64(2.0);
    let xd = x.data();
    let (mode, gx) = gx.elements();
    for (k, &g) in g_var.iter().enumerate() {
        let (mean, _) = mean_and_squares(xd, lanes.lane(k), lanes.len);
        let scale = two * g / divisor;
        for i in lanes.lane(k) {
            let d = scale * (xd[i] - mean);
            match mode {
                Write::Assign => gx[i] = d,
                Write::Add => gx[i] += d,
            }
        }
    }
}

/// `v`, a reduction's output or its gradient, with the reduced axis there (length 1), so that
/// it broadcasts against the input.
fn kept<'t, T: Float>(v: Var<'t, T>, axis: usize, keepdim: bool) -> Var<'t, T> {
    if keepdim { v } else { v.unsqueeze(axis) }
}

/// The recorded gradient of the variance: `g_var 2 (x - mean) / (n - c)`, `g_var` with the axis
/// kept.
fn variance_graph<'t, T: Float>(var: &VarAxis, x: Var<'t, T>, g_var: Var<'t, T>) -> Var<'t, T> {
    let shape = x.shape();
    let len = shape[var.axis];
    if len == 0 {
        // No elements, and no lane to take a mean of.
        return x.tape().constant(Tensor::zeros(shape));
    }
    let (_, divisor) = var.divisors::<T>(len);
    (x - x.mean_axis_keepdim(var.axis)) * g_var.scale(T::from_f64(2.0) / divisor)
}

/// Each reduction gets four methods from one line: on `Var` and on `Tensor` (the same forward
/// without a tape), each with the axis removed and, as `*_keepdim`, kept with length 1.
macro_rules! axis_methods {
    ($($(#[doc = $doc:literal])* $name:ident, $keep:ident ($($arg:ident: $ty:ty),*) => $op:ident;)*) => {
        impl<'t, T: Float> Var<'t, T> {
            $(
                $(#[doc = $doc])*
                pub fn $name(self, axis: usize $(, $arg: $ty)*) -> Var<'t, T> {
                    self.apply($op { axis, keepdim: false $(, $arg)* }, &[])
                }

                #[doc = concat!("[`", stringify!($name), "`](Var::", stringify!($name), "), keeping the reduced axis with length 1")]
                /// (PyTorch's `keepdim=True`), so that the result broadcasts against `self`.
                ///
                /// # Panics
                #[doc = concat!("As [`", stringify!($name), "`](Var::", stringify!($name), ").")]
                pub fn $keep(self, axis: usize $(, $arg: $ty)*) -> Var<'t, T> {
                    self.apply($op { axis, keepdim: true $(, $arg)* }, &[])
                }
            )*
        }

        impl<T: Float> Tensor<T> {
            $(
                $(#[doc = $doc])*
                ///
                /// On a plain tensor: the same forward, without a tape.
                pub fn $name(&self, axis: usize $(, $arg: $ty)*) -> Tensor<T> {
                    crate::eval(&$op { axis, keepdim: false $(, $arg)* }, &[self])
                }

                #[doc = concat!("[`", stringify!($name), "`](Tensor::", stringify!($name), "), keeping the reduced axis with length 1.")]
                ///
                /// # Panics
                #[doc = concat!("As [`", stringify!($name), "`](Tensor::", stringify!($name), ").")]
                pub fn $keep(&self, axis: usize $(, $arg: $ty)*) -> Tensor<T> {
                    crate::eval(&$op { axis, keepdim: true $(, $arg)* }, &[self])
                }
            )*
        }
    };
}

axis_methods! {
    /// The largest element along `axis`, removing it (`[m, n]` along 1 is `[m]`). The gradient
    /// goes to the first largest element of each lane, as with `torch.max(x, dim)`, whose index
    /// is the first on ties; a NaN makes its lane's max NaN and takes the gradient.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// let x = Tensor::from_rows(&[[1.0f32, 3.0, 3.0], [-1.0, -2.0, 0.5]]);
    /// assert_eq!(x.max_axis(1).data(), &[3.0, 0.5]);
    /// assert_eq!(x.max_axis_keepdim(0).shape().dims(), &[1, 3]);
    /// ```
    ///
    /// # Panics
    /// If `axis` is out of range for the shape, or has length 0 while the output has elements
    /// (there is no max of nothing, as in PyTorch).
    max_axis, max_axis_keepdim () => MaxAxis;
    /// The smallest element along `axis`, removing it. The gradient goes to the first smallest
    /// element of each lane (`torch.min(x, dim)`); a NaN makes its lane's min NaN.
    ///
    /// # Panics
    /// If `axis` is out of range for the shape, or has length 0 while the output has elements.
    min_axis, min_axis_keepdim () => MinAxis;
    /// `ln(sum(exp(self)))` along `axis`, removing it, computed stably (the lane's max is
    /// subtracted first, so logits of ±1e4 are fine). A lane of all -inf gives -inf and an empty
    /// one too, as in PyTorch (the gradient of an all -inf lane is NaN, also as in PyTorch).
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// let x = Tensor::from_rows(&[[0.0f64, 0.0], [f64::NEG_INFINITY, f64::NEG_INFINITY]]);
    /// assert_eq!(x.logsumexp(1).data(), &[2f64.ln(), f64::NEG_INFINITY]);
    /// ```
    ///
    /// # Panics
    /// If `axis` is out of range for the shape.
    logsumexp, logsumexp_keepdim () => LogSumExp;
    /// The variance along `axis`, removing it: `sum_j (x_j - mean)^2 / (n - correction)`.
    /// `correction = 1` is PyTorch's default (the unbiased estimate), 0 the population variance.
    /// With `n <= correction` the divisor is 0, so the result is inf, or NaN for equal values
    /// (a single one, say), as in PyTorch.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// let x = Tensor::from_vec([4], vec![1.0f64, 2.0, 3.0, 6.0]);
    /// // mean 3, squared deviations 4 + 1 + 0 + 9 = 14
    /// assert_eq!(x.var_axis(0, 1).item(), 14.0 / 3.0);
    /// assert_eq!(x.var_axis(0, 0).item(), 3.5);
    /// ```
    ///
    /// # Panics
    /// If `axis` is out of range for the shape.
    var_axis, var_axis_keepdim (correction: usize) => VarAxis;
    /// The standard deviation along `axis`, removing it: the square root of
    /// [`var_axis`](Var::var_axis) with the same `correction`. Where a lane's values are all
    /// equal (standard deviation 0) its gradient is taken as 0, as in PyTorch's `std_backward`,
    /// instead of `0 / 0`.
    ///
    /// # Panics
    /// If `axis` is out of range for the shape.
    std_axis, std_axis_keepdim (correction: usize) => StdAxis;
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    #[test]
    fn max_along_each_axis_of_a_rank_3_tensor_sends_the_gradient_to_the_arg_max() {
        // x[i, j, k] = 6i + 2j + k grows along every axis, so the max along an axis sits at its
        // last index: along 1 it is x[i, 2, k] = 6i + 4 + k.
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_vec([2, 3, 2], (0..12).map(f64::from).collect()));
        let y = x.max_axis(1);
        assert_eq!(y.value().shape().dims(), &[2, 2]);
        assert_eq!(y.value().data(), &[4.0, 5.0, 10.0, 11.0]);
        let w = tape.constant(Tensor::from_vec([2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        let g = (y * w).sum().backward();
        let mut want = [0.0; 12];
        (want[4], want[5], want[10], want[11]) = (1.0, 2.0, 3.0, 4.0);
        assert_eq!(g[x].data(), &want);
        // Keeping the axis changes the shape only.
        let kept = x.value().max_axis_keepdim(1);
        assert_eq!(kept.shape().dims(), &[2, 1, 2]);
        assert_eq!(kept.data(), y.value().data());
        // Along 0 and 2, min: x[0, j, k] and x[i, j, 0].
        assert_eq!(x.value().min_axis(0).data(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(x.value().min_axis(2).data(), &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[test]
    fn empty_shapes() {
        // An empty axis with other axes: logsumexp of nothing is ln 0 = -inf, the variance
        // 0 / 0 = NaN; no elements elsewhere: an empty output.
        let x = Tensor::<f64>::zeros([2, 0]);
        assert_eq!(x.logsumexp(1).data(), &[f64::NEG_INFINITY; 2]);
        assert!(x.var_axis(1, 1).data().iter().all(|v| v.is_nan()));
        assert_eq!(x.max_axis(0).shape().dims(), &[0]);
        assert_eq!(Tensor::<f64>::zeros([0, 3]).max_axis_keepdim(1).shape().dims(), &[0, 1]);
    }

    #[test]
    #[should_panic(expected = "max_axis: axis 1 of shape [2, 0] is empty")]
    fn max_of_an_empty_axis_panics() {
        let _ = Tensor::<f32>::zeros([2, 0]).max_axis(1);
    }

    #[test]
    #[should_panic(expected = "var_axis: axis 2 out of range for shape [2, 3]")]
    fn axis_out_of_range() {
        let tape = Tape::<f32>::new();
        let _ = tape.leaf(Tensor::zeros([2, 3])).var_axis(2, 1);
    }
}
