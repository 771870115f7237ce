//! Softmax and log-softmax along the last axis, each one numerically stable primitive.

use super::broadcast::sum_to;
use crate::input_grad::assign_or_add;
use crate::{Float, InputGrad, Op, Output, Shape, Tensor, Var};

/// `y = x - max(x) - ln(sum(exp(x - max(x))))` per row (last axis):
/// `dx = g - softmax(x) * sum(g)` per row, with `softmax(x) = exp(y)` from the saved output.
pub struct LogSoftmax;

impl<T: Float> Op<T> for LogSoftmax {
    fn name(&self) -> String {
        "log_softmax".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        forward_rows("log_softmax", inputs[0], out, |y, x, max, sum| {
            let log_sum = sum.ln();
            y.iter_mut().zip(x).for_each(|(y, &v)| *y = v - max - log_sum);
        });
    }

    fn backward(&self, _inputs: &[&Tensor<T>], y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        backward_rows(y, g, grads, |y, g| {
            let g_sum: T = g.iter().copied().sum();
            y.iter().zip(g).map(move |(&y, &g)| g - y.exp() * g_sum)
        });
    }

    /// `dx = g - exp(y) * sum_to(g, rows of length 1)`, from the output `y`.
    fn backward_graph<'t>(
        &self,
        _: &[Var<'t, T>],
        y: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| g - y.exp() * row_sums(g))]
    }
}

/// `y = e^(x - max(x)) / sum(e^(x - max(x)))` per row (last axis):
/// `dx = y (g - sum(g y))` per row, from the saved output (PyTorch's `_softmax_backward_data`).
///
/// One node and one exponential per element, where `exp(log_softmax(x))` takes two of each.
pub struct Softmax;

impl<T: Float> Op<T> for Softmax {
    fn name(&self) -> String {
        "softmax".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        forward_rows("softmax", inputs[0], out, |y, _, _, sum| {
            let inv = T::ONE / sum;
            y.iter_mut().for_each(|y| *y *= inv);
        });
    }

    fn backward(&self, _inputs: &[&Tensor<T>], y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        backward_rows(y, g, grads, |y, g| {
            let gy: T = y.iter().zip(g).map(|(&y, &g)| g * y).sum();
            y.iter().zip(g).map(move |(&y, &g)| y * (g - gy))
        });
    }

    /// `dx = y (g - sum_to(g y, rows of length 1))`, from the output `y`.
    fn backward_graph<'t>(
        &self,
        _: &[Var<'t, T>],
        y: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| y * (g - row_sums(g * y)))]
    }
}

/// The forward pass both share, row by row (last axis) after checking `x` has an axis:
/// `finish(y, x, max, sum)` with the row's max and `sum = sum(e^(x - max))`, `y` holding the
/// row's `e^(x - max)`. Subtracting the max makes every exponent <= 0 and the largest term
/// exactly 1, so the sum is in [1, n]: it neither overflows nor vanishes, and its log is finite.
fn forward_rows<T: Float>(op: &str, x: &Tensor<T>, out: Output<'_, T>, finish: impl Fn(&mut [T], &[T], T, T)) {
    assert!(x.shape().rank() >= 1, "{op}: needs at least one axis, got a scalar");
    let out = out.overwrite_as(x.shape());
    let n = x.shape().last_dim();
    if n == 0 {
        return;
    }
    for (y, x) in out.chunks_exact_mut(n).zip(x.data().chunks_exact(n)) {
        let max = x.iter().copied().fold(x[0], T::max);
        let mut sum = T::ZERO;
        for (y, &v) in y.iter_mut().zip(x) {
            *y = (v - max).exp();
            sum += *y;
        }
        finish(y, x, max, sum);
    }
}

/// The backward both share: the input's gradient row by row from `row(y, g)`, the output's and
/// its gradient's rows. Every element is written once: a first contribution assigns.
fn backward_rows<'a, T: Float, I: Iterator<Item = T>>(
    y: &'a Tensor<T>,
    g: &'a Tensor<T>,
    grads: &mut [Option<InputGrad<'_, T>>],
    row: impl Fn(&'a [T], &'a [T]) -> I,
) {
    let Some(gx) = &mut grads[0] else { return };
    let n = y.shape().last_dim();
    if n == 0 {
        return;
    }
    let (mode, gx) = gx.elements();
    for ((gx, y), g) in gx.chunks_exact_mut(n).zip(y.data().chunks_exact(n)).zip(g.data().chunks_exact(n)) {
        assign_or_add(gx, row(y, g), mode);
    }
}

/// `v` summed along its last axis, kept with length 1: one sum per row.
fn row_sums<'t, T: Float>(v: Var<'t, T>) -> Var<'t, T> {
    let mut rows = v.shape().dims().to_vec();
    *rows.last_mut().expect("softmax works along the last axis, which a scalar lacks") = 1;
    sum_to(v, &Shape::new(&rows))
}

impl<'t, T: Float> Var<'t, T> {
    /// `log(softmax(self))` along the last axis, computed stably (finite for logits of +-1e4).
    ///
    /// # Panics
    /// If `self` is a scalar.
    pub fn log_softmax(self) -> Var<'t, T> {
        self.apply(LogSoftmax, &[])
    }

    /// `softmax(self)` along the last axis (rows that sum to 1), computed stably as one op.
    ///
    /// # Panics
    /// If `self` is a scalar.
    pub fn softmax(self) -> Var<'t, T> {
        self.apply(Softmax, &[])
    }
}

impl<T: Float> Tensor<T> {
    /// `log(softmax(x))` along the last axis, without a tape.
    ///
    /// # Panics
    /// If `self` is a scalar.
    pub fn log_softmax(&self) -> Tensor<T> {
        crate::eval(&LogSoftmax, &[self])
    }

    /// `softmax(x)` along the last axis (rows that sum to 1), without a tape.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// let p = Tensor::from_rows(&[[1.0f64, 1.0], [1e4, -1e4]]).softmax();
    /// assert_eq!(p.data(), &[0.5, 0.5, 1.0, 0.0]);
    /// ```
    ///
    /// # Panics
    /// If `self` is a scalar.
    pub fn softmax(&self) -> Tensor<T> {
        crate::eval(&Softmax, &[self])
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    #[test]
    fn equal_logits_give_minus_log_n() {
        let y = Tensor::from_rows(&[[3.0f64; 4]]).log_softmax();
        // softmax is uniform: each entry is ln(1/4).
        for &v in y.data() {
            assert!((v + 4f64.ln()).abs() < 1e-15);
        }
    }

    #[test]
    fn huge_logits_stay_finite() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::from_rows(&[[1e4f32, -1e4, 0.0]]));
        let y = x.log_softmax();
        // The max entry has log-probability ln(1 / (1 + e^-1e4 + e^-2e4)) = 0 in f32.
        assert_eq!(y.value().data(), &[0.0, -2e4, -1e4]);
        let grads = y.pick([0]).sum().backward();
        // d y_0 / dx = onehot(0) - softmax(x) = [1 - 1, 0 - 0, 0 - 0].
        assert_eq!(grads[x].data(), &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn softmax_of_zero_and_ln_3_and_its_gradient() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_rows(&[[0.0, 3f64.ln()]]));
        let y = x.softmax();
        // e^0 : e^ln3 = 1 : 3, so [1/4, 3/4] (to an ulp: e^(ln 3 - ln 3) = 1 exactly, e^-ln3
        // carries the rounding of ln 3).
        let p = y.value();
        assert!((p.data()[0] - 0.25).abs() < 1e-16 && (p.data()[1] - 0.75).abs() < 1e-16, "{p:?}");
        // Upstream [1, 0]: sum(g y) = 1/4, dx = y (g - 1/4) = [1/4 * 3/4, 3/4 * -1/4] = ±3/16.
        let w = tape.constant(Tensor::from_rows(&[[1.0, 0.0]]));
        let g = (y * w).sum().backward();
        let d = g[x].data();
        assert!((d[0] - 3.0 / 16.0).abs() < 1e-16 && (d[1] + 3.0 / 16.0).abs() < 1e-16, "{d:?}");
        // One node, where exp(log_softmax) recorded two.
        assert_eq!(tape.len(), 5);
    }

    #[test]
    fn softmax_of_huge_logits_is_one_hot_with_a_zero_gradient() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::from_rows(&[[1e4f32, -1e4, 0.0], [7.0, 7.0, 7.0]]));
        let y = x.softmax();
        // e^-1e4 and e^-2e4 underflow to 0: [1, 0, 0]; equal logits give 1/3 each.
        let third = 1.0f32 / 3.0;
        assert_eq!(y.value().data(), &[1.0, 0.0, 0.0, third, third, third]);
        // y (g - sum(g y)) with y one-hot: 1 * (g_0 - g_0) = 0 and 0 elsewhere.
        let g = y.pick([0, 1]).sum().backward();
        assert_eq!(&g[x].data()[..3], &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn softmax_agrees_with_exp_of_log_softmax_to_a_few_ulps() {
        // The same function by two routes: e^(x - m) / s against e^(x - m - ln s). Each output is
        // at most 1; the two differ by the rounding of ln s (amplified by e^ at most 1) and of a
        // division, so 4 ulps of 1.
        let x = Tensor::from_vec([3, 5], (0..15).map(|i| f64::from((i * 37) % 11) * 0.7 - 3.0).collect());
        let (fused, composed) = (x.softmax(), x.log_softmax().map(f64::exp));
        for (a, b) in fused.data().iter().zip(composed.data()) {
            assert!((a - b).abs() <= 4.0 * f64::EPSILON, "{a} vs {b}");
        }
    }
}
