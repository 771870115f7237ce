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
