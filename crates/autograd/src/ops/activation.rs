//! Activation functions, as [`UnaryRule`]s on the elementwise wiring.

use super::elementwise::{Unary, UnaryRule};
use crate::{Float, Tensor, Var};

/// `y = max(x, 0)`, `dy/dx = 1 if x > 0 else 0` (0 at the kink, as PyTorch).
///
/// NaN propagates as in PyTorch: `relu(NaN) = NaN`, with derivative 0 there (NaN > 0 is false).
pub struct Relu;
impl<T: Float> UnaryRule<T> for Relu {
    fn name(&self) -> String {
        "relu".into()
    }
    fn f(&self, x: T) -> T {
        // `x <= 0` is false for NaN, so NaN passes through instead of hiding as 0.
        if x <= T::ZERO { T::ZERO } else { x }
    }
    fn df(&self, x: T, _y: T) -> T {
        if x > T::ZERO { T::ONE } else { T::ZERO }
    }
}

/// `y = 1 / (1 + e^-x)`, `dy/dx = y (1 - y)`.
pub struct Sigmoid;
impl<T: Float> UnaryRule<T> for Sigmoid {
    fn name(&self) -> String {
        "sigmoid".into()
    }
    fn f(&self, x: T) -> T {
        // Only ever exponentiate a non-positive number: no overflow for large |x|.
        if x >= T::ZERO {
            T::ONE / (T::ONE + (-x).exp())
        } else {
            let e = x.exp();
            e / (T::ONE + e)
        }
    }
    fn df(&self, _x: T, y: T) -> T {
        y * (T::ONE - y)
    }
}

/// `y = tanh x`, `dy/dx = 1 - y^2`.
pub struct Tanh;
impl<T: Float> UnaryRule<T> for Tanh {
    fn name(&self) -> String {
        "tanh".into()
    }
    fn f(&self, x: T) -> T {
        x.tanh()
    }
    fn df(&self, _x: T, y: T) -> T {
        T::ONE - y * y
    }
}

/// `y = x if x > 0 else slope x`, `dy/dx = 1 if x > 0 else slope` (`slope` at the kink, as
/// PyTorch's `leaky_relu_backward`).
///
/// NaN propagates: `leaky_relu(NaN) = NaN`, with derivative `slope` there (NaN > 0 is false).
pub struct LeakyRelu<T>(pub T);
impl<T: Float> UnaryRule<T> for LeakyRelu<T> {
    fn name(&self) -> String {
        format!("leaky_relu({})", self.0)
    }
    fn f(&self, x: T) -> T {
        if x > T::ZERO { x } else { self.0 * x }
    }
    fn df(&self, x: T, _y: T) -> T {
        if x > T::ZERO { T::ONE } else { self.0 }
    }
}

/// `y = x if x > 0 else e^x - 1`, `dy/dx = 1 if x > 0 else y + 1 = e^x` (1 at the kink, as
/// PyTorch's `elu_backward` with `alpha = 1`).
pub struct Elu;
impl<T: Float> UnaryRule<T> for Elu {
    fn name(&self) -> String {
        "elu".into()
    }
    fn f(&self, x: T) -> T {
        if x > T::ZERO { x } else { exp_m1(x) }
    }
    fn df(&self, x: T, _y: T) -> T {
        // e^x rather than y + 1: y + 1 rounds to 0 long before e^x underflows.
        if x > T::ZERO { T::ONE } else { x.exp() }
    }
}

/// `y = x s` with `s = sigmoid(x)`, `dy/dx = s (1 + x (1 - s))`.
pub struct Silu;
impl<T: Float> UnaryRule<T> for Silu {
    fn name(&self) -> String {
        "silu".into()
    }
    fn f(&self, x: T) -> T {
        x * Sigmoid.f(x)
    }
    fn df(&self, x: T, _y: T) -> T {
        let s = Sigmoid.f(x);
        s * (T::ONE + x * (T::ONE - s))
    }
}

/// `y = ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|)`, `dy/dx = sigmoid(x)`.
pub struct Softplus;
impl<T: Float> UnaryRule<T> for Softplus {
    fn name(&self) -> String {
        "softplus".into()
    }
    fn f(&self, x: T) -> T {
        softplus(x)
    }
    fn df(&self, x: T, _y: T) -> T {
        Sigmoid.f(x)
    }
}

/// `y = ln sigmoid(x) = -softplus(-x)`, `dy/dx = 1 - sigmoid(x) = sigmoid(-x)`.
pub struct LogSigmoid;
impl<T: Float> UnaryRule<T> for LogSigmoid {
    fn name(&self) -> String {
        "log_sigmoid".into()
    }
    fn f(&self, x: T) -> T {
        -softplus(-x)
    }
    fn df(&self, x: T, _y: T) -> T {
        // sigmoid(-x), not 1 - sigmoid(x): no cancellation for large x.
        Sigmoid.f(-x)
    }
}

/// `ln(1 + e^x)` without overflow for large `x` or underflow to 0 for very negative `x`.
fn softplus<T: Float>(x: T) -> T {
    x.max(T::ZERO) + ln_1p((-x.abs()).exp())
}

// `Float` has no `exp_m1` or `ln_1p`; going through f64 is exact for f64 and more than accurate
// enough for f32.
fn exp_m1<T: Float>(x: T) -> T {
    T::from_f64(x.to_f64().exp_m1())
}

fn ln_1p<T: Float>(x: T) -> T {
    T::from_f64(x.to_f64().ln_1p())
}

impl<'t, T: Float> Var<'t, T> {
    /// `max(self, 0)` elementwise; its derivative at 0 is taken as 0. NaN stays NaN (its
    /// derivative is 0), as in PyTorch.
    pub fn relu(self) -> Var<'t, T> {
        self.apply(Unary(Relu), &[])
    }

    /// The logistic function `1 / (1 + e^-x)` elementwise, stable for large `|x|`.
    pub fn sigmoid(self) -> Var<'t, T> {
        self.apply(Unary(Sigmoid), &[])
    }

    /// `tanh(self)` elementwise.
    pub fn tanh(self) -> Var<'t, T> {
        self.apply(Unary(Tanh), &[])
    }
    /// `self` where positive, `slope * self` elsewhere, elementwise; its derivative at 0 is
    /// taken as `slope`, as in PyTorch. NaN stays NaN.
    pub fn leaky_relu(self, slope: T) -> Var<'t, T> {
        self.apply(Unary(LeakyRelu(slope)), &[])
    }

    /// `self` where positive, `e^self - 1` elsewhere (ELU with `alpha = 1`), elementwise; its
    /// derivative at 0 is taken as 1, as in PyTorch.
    pub fn elu(self) -> Var<'t, T> {
        self.apply(Unary(Elu), &[])
    }

    /// `self * sigmoid(self)` elementwise (SiLU, or swish).
    pub fn silu(self) -> Var<'t, T> {
        self.apply(Unary(Silu), &[])
    }

    /// `ln(1 + e^self)` elementwise, stable (finite value and gradient) for large `|x|`.
    pub fn softplus(self) -> Var<'t, T> {
        self.apply(Unary(Softplus), &[])
    }

    /// `ln(sigmoid(self))` elementwise, stable (finite value and gradient) for large `|x|`.
    pub fn log_sigmoid(self) -> Var<'t, T> {
        self.apply(Unary(LogSigmoid), &[])
    }
}

impl<T: Float> Tensor<T> {
    /// Applies an elementwise rule without a tape.
    pub fn map_rule(&self, rule: impl UnaryRule<T>) -> Tensor<T> {
        crate::eval(&Unary(rule), &[self])
    }

    /// `max(x, 0)` elementwise, without a tape; NaN stays NaN.
    pub fn relu(&self) -> Tensor<T> {
        self.map_rule(Relu)
    }

    /// The logistic function elementwise, without a tape.
    pub fn sigmoid(&self) -> Tensor<T> {
        self.map_rule(Sigmoid)
    }

    /// `tanh` elementwise, without a tape.
    pub fn tanh(&self) -> Tensor<T> {
        self.map_rule(Tanh)
    }
    /// Leaky ReLU with negative-side `slope` elementwise, without a tape; NaN stays NaN.
    pub fn leaky_relu(&self, slope: T) -> Tensor<T> {
        self.map_rule(LeakyRelu(slope))
    }

    /// ELU with `alpha = 1` elementwise, without a tape.
    pub fn elu(&self) -> Tensor<T> {
        self.map_rule(Elu)
    }

    /// `x * sigmoid(x)` elementwise, without a tape.
    pub fn silu(&self) -> Tensor<T> {
        self.map_rule(Silu)
    }

    /// `ln(1 + e^x)` elementwise, stable for large `|x|`, without a tape.
    pub fn softplus(&self) -> Tensor<T> {
        self.map_rule(Softplus)
    }

    /// `ln(sigmoid(x))` elementwise, stable for large `|x|`, without a tape.
    pub fn log_sigmoid(&self) -> Tensor<T> {
        self.map_rule(LogSigmoid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;

    #[test]
    fn derivatives_at_known_points() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_vec([3], vec![0.0, 2.0, -1.0]));
        // sigmoid'(0) = 0.25; relu'(0) = 0 by convention, relu'(2) = 1; tanh'(0) = 1.
        let g = x.sigmoid().sum().backward();
        assert_eq!(g[x].data()[0], 0.25);
        let g = x.relu().sum().backward();
        assert_eq!(g[x].data(), &[0.0, 1.0, 0.0]);
        let g = x.tanh().sum().backward();
        assert_eq!(g[x].data()[0], 1.0);
    }

    #[test]
    fn relu_propagates_nan_on_and_off_the_tape_with_pytorchs_zero_derivative() {
        let x = Tensor::from_vec([3], vec![f32::NAN, -1.0, 2.0]);
        let check = |y: &[f32]| assert!(y[0].is_nan() && y[1..] == [0.0, 2.0], "{y:?}");
        check(x.relu().data());
        let tape = Tape::new();
        let v = tape.leaf(&x);
        let y = v.relu();
        y.with_value(|y| check(y.data()));
        // PyTorch's threshold_backward: grad * (x > 0), which is 0 at NaN.
        let g = y.sum().backward();
        assert_eq!(g[v].data(), &[0.0, 0.0, 1.0]);
    }

    #[test]
    fn saturation_stays_finite() {
        for &v in &[50.0f32, -50.0, 1e4, -1e4] {
            let t = Tensor::from_vec([1], vec![v]);
            let s = t.sigmoid().data()[0];
            assert!(s.is_finite() && (0.0..=1.0).contains(&s), "sigmoid({v}) = {s}");
            assert!(t.tanh().data()[0].is_finite());
        }
    }
}
