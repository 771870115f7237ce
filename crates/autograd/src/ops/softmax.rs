//! Log-softmax along the last axis, as one numerically stable primitive.

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
        let x = inputs[0];
        assert!(x.shape().rank() >= 1, "log_softmax: needs at least one axis, got a scalar");
        let out = out.overwrite_as(x.shape());
        let n = x.shape().last_dim();
        if n == 0 {
            return;
        }
        for (y, x) in out.chunks_exact_mut(n).zip(x.data().chunks_exact(n)) {
            // Subtracting the row max makes every exponent <= 0: no overflow, and the largest
            // term is exactly 1, so the log never sees 0.
            let max = x.iter().copied().fold(x[0], T::max);
            let log_sum = x.iter().map(|&v| (v - max).exp()).sum::<T>().ln();
            y.iter_mut().zip(x).for_each(|(y, &v)| *y = v - max - log_sum);
        }
    }

    fn backward(&self, _inputs: &[&Tensor<T>], y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let n = y.shape().last_dim();
        if n == 0 {
            return;
        }
        // Every element is written once: a first contribution assigns.
        let (mode, gx) = gx.elements();
        let rows = gx.chunks_exact_mut(n).zip(y.data().chunks_exact(n)).zip(g.data().chunks_exact(n));
        for ((gx, y), g) in rows {
            let g_sum: T = g.iter().copied().sum();
            assign_or_add(gx, y.iter().zip(g).map(|(&y, &g)| g - y.exp() * g_sum), mode);
        }
    }

    /// `dx = g - exp(y) * sum_to(g, rows of length 1)`, from the output `y`.
    fn backward_graph<'t>(
        &self,
        _: &[Var<'t, T>],
        y: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        if !wanted[0] {
            return vec![None];
        }
        let mut rows = y.shape().dims().to_vec();
        *rows.last_mut().expect("log_softmax has at least one axis") = 1;
        vec![Some(g - y.exp() * sum_to(g, &Shape::new(&rows)))]
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `log(softmax(self))` along the last axis, computed stably (finite for logits of +-1e4).
    ///
    /// # Panics
    /// If `self` is a scalar.
    pub fn log_softmax(self) -> Var<'t, T> {
        self.apply(LogSoftmax, &[])
    }

    /// `softmax(self)` along the last axis, as `exp(log_softmax(self))`.
    ///
    /// # Panics
    /// If `self` is a scalar.
    pub fn softmax(self) -> Var<'t, T> {
        self.log_softmax().exp()
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
        let mut p = self.log_softmax();
        p.data_mut().iter_mut().for_each(|v| *v = v.exp());
        p
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
}
