//! Activation functions, as [`UnaryRule`]s on the elementwise wiring.

use super::elementwise::{Unary, UnaryRule, constant_map, unary_methods};
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
    /// `dx = g (x > 0), the mask a constant`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * constant_map(x, |x| self.df(x, x)))
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
    /// `dx = g y (1 - y)`.
    fn backward_graph<'t>(&self, _x: Var<'t, T>, y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * (y * (-y).add_scalar(T::ONE)))
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
    /// `dx = g (1 - y^2)`.
    fn backward_graph<'t>(&self, _x: Var<'t, T>, y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * (-y.square()).add_scalar(T::ONE))
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
    /// `dx = g (1 if x > 0 else slope), the factor a constant`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * constant_map(x, |x| self.df(x, x)))
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
    /// `dx = g e^(x m) with the constant mask m = (x <= 0): e^x where x <= 0, 1 elsewhere`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * (x * constant_map(x, |x| if x > T::ZERO { T::ZERO } else { T::ONE })).exp())
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
    /// `dx = g (s + x s (1 - s)), s = sigmoid(x)`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some({
            let s = x.sigmoid();
            g * (s + x * s * (-s).add_scalar(T::ONE))
        })
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
    /// `dx = g sigmoid(x)`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * x.sigmoid())
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
    /// `dx = g sigmoid(-x)`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * (-x).sigmoid())
    }
}

/// `y = x Phi(x)` with `Phi(x) = (1 + erf(x / sqrt 2)) / 2` (exact GELU, PyTorch's default
/// `approximate = "none"`), `dy/dx = Phi(x) + x phi(x)`, `phi(x) = e^(-x^2 / 2) / sqrt(2 pi)`.
pub struct Gelu;
impl<T: Float> UnaryRule<T> for Gelu {
    fn name(&self) -> String {
        "gelu".into()
    }
    fn f(&self, x: T) -> T {
        let x = x.to_f64();
        T::from_f64(x * normal_cdf(x))
    }
    fn df(&self, x: T, _y: T) -> T {
        let x = x.to_f64();
        let pdf = (-0.5 * x * x).exp() * (0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2);
        T::from_f64(normal_cdf(x) + x * pdf)
    }
    /// `dx = g (Phi(x) + x phi(x))`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * (x.apply(Unary(NormalCdf), &[]) + x * normal_pdf(x)))
    }
}

/// `y = Phi(x)`, the standard normal CDF (GELU's factor, for its second derivative),
/// `dy/dx = phi(x) = e^(-x^2 / 2) / sqrt(2 pi)`.
pub struct NormalCdf;
impl<T: Float> UnaryRule<T> for NormalCdf {
    fn name(&self) -> String {
        "normal_cdf".into()
    }
    fn f(&self, x: T) -> T {
        T::from_f64(normal_cdf(x.to_f64()))
    }
    fn df(&self, x: T, _y: T) -> T {
        let x = x.to_f64();
        T::from_f64((-0.5 * x * x).exp() * FRAC_1_SQRT_2PI)
    }
    /// `dx = g phi(x)`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * normal_pdf(x))
    }
}

/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f64 = 0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2;

/// `phi(x) = e^(-x^2 / 2) / sqrt(2 pi)`, recorded.
fn normal_pdf<'t, T: Float>(x: Var<'t, T>) -> Var<'t, T> {
    x.square().scale(T::from_f64(-0.5)).exp().scale(T::from_f64(FRAC_1_SQRT_2PI))
}

/// `y = 0.5 x (1 + tanh(u))` with `u = sqrt(2 / pi) (x + 0.044715 x^3)` (PyTorch's
/// `gelu(approximate = "tanh")`), `dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2 / pi) (1 + 3 * 0.044715 x^2)`.
///
/// Computed in `T` with PyTorch's formula term for term; NaN stays NaN.
pub struct GeluTanh;

/// `sqrt(2 / pi)` and the cubic's coefficient of the tanh approximation.
const GELU_BETA: f64 = std::f64::consts::SQRT_2 * std::f64::consts::FRAC_2_SQRT_PI * 0.5;
const GELU_KAPPA: f64 = 0.044715;

impl<T: Float> UnaryRule<T> for GeluTanh {
    fn name(&self) -> String {
        "gelu_tanh".into()
    }
    fn f(&self, x: T) -> T {
        let (beta, kappa, half) = (T::from_f64(GELU_BETA), T::from_f64(GELU_KAPPA), T::from_f64(0.5));
        let inner = beta * (x + kappa * (x * x * x));
        half * x * (T::ONE + inner.tanh())
    }
    fn df(&self, x: T, _y: T) -> T {
        let (beta, kappa, half) = (T::from_f64(GELU_BETA), T::from_f64(GELU_KAPPA), T::from_f64(0.5));
        let x_sq = x * x;
        let tanh_inner = (beta * (x + kappa * x_sq * x)).tanh();
        let left_derivative = half * (T::ONE + tanh_inner);
        let inner_derivative = beta * (T::ONE + T::from_f64(3.0) * kappa * x_sq);
        left_derivative + half * x * (T::ONE - tanh_inner * tanh_inner) * inner_derivative
    }
    /// `dx = g (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2))`, `t = tanh u`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        let (beta, kappa, half) = (T::from_f64(GELU_BETA), T::from_f64(GELU_KAPPA), T::from_f64(0.5));
        let t = (x + x.powi(3).scale(kappa)).scale(beta).tanh();
        let left = t.add_scalar(T::ONE).scale(half);
        let inner = x.square().scale(T::from_f64(3.0) * kappa).add_scalar(T::ONE).scale(half * beta);
        Some(g * (left + x * (-t.square()).add_scalar(T::ONE) * inner))
    }
}

/// `y = erf x = (2 / sqrt pi) int_0^x e^(-t^2) dt`, `dy/dx = (2 / sqrt pi) e^(-x^2)`.
///
/// Evaluated in f64 with fdlibm's `s_erf.c`, so to within an ulp in both precisions; odd, with
/// `erf(±inf) = ±1` and `erf(NaN) = NaN`.
pub struct Erf;
impl<T: Float> UnaryRule<T> for Erf {
    fn name(&self) -> String {
        "erf".into()
    }
    fn f(&self, x: T) -> T {
        T::from_f64(erf(x.to_f64()))
    }
    fn df(&self, x: T, _y: T) -> T {
        let x = x.to_f64();
        T::from_f64(std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp())
    }
    /// `dx = g (2 / sqrt pi) e^(-x^2)`.
    fn backward_graph<'t>(&self, x: Var<'t, T>, _y: Var<'t, T>, g: Var<'t, T>) -> Option<Var<'t, T>> {
        Some(g * (-x.square()).exp().scale(T::from_f64(std::f64::consts::FRAC_2_SQRT_PI)))
    }
}

/// The standard normal CDF, `erfc(-x / sqrt 2) / 2`: through `erfc`, so that the far left tail
/// keeps its relative precision instead of cancelling in `1 + erf`.
fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// The complementary error function, to within about an ulp: the rational approximations of
/// Sun's public-domain `s_erf.c` (fdlibm, as in FreeBSD's libm), whose error is below 2^-57 on
/// each interval. Rust's std has no `erf` on stable.
#[allow(clippy::excessive_precision)]
fn erfc(x: f64) -> f64 {
    const ERX: f64 = 8.45062911510467529297e-01;
    // erf on [0.84375, 1.25]: erf(1 + s) = ERX + P(s) / Q(s).
    const PA: [f64; 7] = [
        -2.36211856075265944077e-03,
        4.14856118683748331666e-01,
        -3.72207876035701323847e-01,
        3.18346619901161753674e-01,
        -1.10894694282396677476e-01,
        3.54783043256182359371e-02,
        -2.16637559486879084300e-03,
    ];
    const QA: [f64; 6] = [
        1.06420880400844228286e-01,
        5.40397917702171048937e-01,
        7.18286544141962662868e-02,
        1.26171219808761642112e-01,
        1.36370839120290507362e-02,
        1.19844998467991074170e-02,
    ];
    // erfc on [1.25, 1 / 0.35]: erfc(x) = e^(-x^2 - 0.5625 + R(1/x^2) / S(1/x^2)) / x.
    const RA: [f64; 8] = [
        -9.86494403484714822705e-03,
        -6.93858572707181764372e-01,
        -1.05586262253232909814e+01,
        -6.23753324503260060396e+01,
        -1.62396669462573470355e+02,
        -1.84605092906711035994e+02,
        -8.12874355063065934246e+01,
        -9.81432934416914548592e+00,
    ];
    const SA: [f64; 8] = [
        1.96512716674392571292e+01,
        1.37657754143519042600e+02,
        4.34565877475229228821e+02,
        6.45387271733267880336e+02,
        4.29008140027567833386e+02,
        1.08635005541779435134e+02,
        6.57024977031928170135e+00,
        -6.04244152148580987438e-02,
    ];
    // erfc on [1 / 0.35, 28], same form.
    const RB: [f64; 7] = [
        -9.86494292470009928597e-03,
        -7.99283237680523006574e-01,
        -1.77579549177547519889e+01,
        -1.60636384855821916062e+02,
        -6.37566443368389627722e+02,
        -1.02509513161107724954e+03,
        -4.83519191608651397019e+02,
    ];
    const SB: [f64; 7] = [
        3.03380607434824582924e+01,
        3.25792512996573918826e+02,
        1.53672958608443695994e+03,
        3.19985821950859553908e+03,
        2.55305040643316442583e+03,
        4.74528541206955367215e+02,
        -2.24409524465858183362e+01,
    ];
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax < 0.84375 {
        let y = erf_ratio(x * x);
        return if x < 0.25 { 1.0 - (x + x * y) } else { 0.5 - (x * y + (x - 0.5)) };
    }
    if ax < 1.25 {
        let s = ax - 1.0;
        let p = poly(&PA, s) / one_plus(&QA, s);
        return if x > 0.0 { 1.0 - ERX - p } else { 1.0 + (ERX + p) };
    }
    if ax >= 28.0 {
        return if x > 0.0 { 0.0 } else { 2.0 };
    }
    let s = 1.0 / (ax * ax);
    let rs = if ax < 1.0 / 0.35 {
        poly(&RA, s) / one_plus(&SA, s)
    } else {
        if x < -6.0 {
            return 2.0; // 2 - erfc(6) rounds to 2
        }
        poly(&RB, s) / one_plus(&SB, s)
    };
    // e^(-x^2) as e^(-z^2) e^((z - x)(z + x)) with z = x cut to 21 bits of mantissa, so z^2 is
    // exact and the large exponent loses nothing to rounding.
    let z = f64::from_bits(ax.to_bits() & 0xffff_ffff_0000_0000);
    let r = (-z * z - 0.5625).exp() * ((z - ax) * (z + ax) + rs).exp();
    if x > 0.0 { r / ax } else { 2.0 - r / ax }
}

/// The error function, to within about an ulp: fdlibm's `s_erf.c` again. Near 0 it is
/// `x + x R(x^2) / S(x^2)` directly (`1 - erfc(x)` would cancel to nothing there); further out
/// `1 - erfc(|x|)`, which loses nothing since `erfc(|x|) < 0.24`, with the sign put back.
#[allow(clippy::excessive_precision)]
fn erf(x: f64) -> f64 {
    // 2 / sqrt(pi) - 1, times 8: below 2^-28 erf(x) = x + x EFX to the last bit, and scaling by 8
    // keeps `EFX x` from losing bits to underflow for subnormal `x`.
    const EFX8: f64 = 1.02703333676410069053e+00;
    let ax = x.abs();
    if ax < 0.84375 {
        if ax < f64::from_bits(0x3e30_0000_0000_0000) {
            return 0.125 * (8.0 * x + EFX8 * x);
        }
        return x + x * erf_ratio(x * x);
    }
    // NaN falls through here: erfc(NaN) is NaN.
    let y = 1.0 - erfc(ax);
    if x < 0.0 { -y } else { y }
}

/// `R(z) / S(z)` of `erf(x) = x + x R(x^2) / S(x^2)` on `[0, 0.84375]`.
#[allow(clippy::excessive_precision)]
fn erf_ratio(z: f64) -> f64 {
    // erf on [0, 0.84375]: erf(x) = x + x R(x^2) / S(x^2).
    const PP: [f64; 5] = [
        1.28379167095512558561e-01,
        -3.25042107247001499370e-01,
        -2.84817495755985104766e-02,
        -5.77027029648944159157e-03,
        -2.37630166566501626084e-05,
    ];
    const QQ: [f64; 5] = [
        3.97917223959155352819e-01,
        6.50222499887672944485e-02,
        5.08130628187576562776e-03,
        1.32494738004321644526e-04,
        -3.96022827877536812320e-06,
    ];
    poly(&PP, z) / one_plus(&QQ, z)
}

/// `c0 + z (c1 + z (c2 + ...))`.
fn poly(c: &[f64], z: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &c| acc * z + c)
}

/// `1 + z (c0 + z (c1 + ...))`, the form of every denominator.
fn one_plus(c: &[f64], z: f64) -> f64 {
    1.0 + z * poly(c, z)
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

unary_methods! {
    /// `max(self, 0)` elementwise; its derivative at 0 is taken as 0. NaN stays NaN (its
    /// derivative is 0), as in PyTorch.
    relu => Relu;
    /// The logistic function `1 / (1 + e^-x)` elementwise, stable for large `|x|`.
    sigmoid => Sigmoid;
    /// `tanh(self)` elementwise.
    tanh => Tanh;
    /// `self` where positive, `slope * self` elsewhere, elementwise; its derivative at 0 is
    /// taken as `slope`, as in PyTorch. NaN stays NaN.
    leaky_relu(slope: T) => LeakyRelu(slope);
    /// `self` where positive, `e^self - 1` elsewhere (ELU with `alpha = 1`), elementwise; its
    /// derivative at 0 is taken as 1, as in PyTorch.
    elu => Elu;
    /// `self * sigmoid(self)` elementwise (SiLU, or swish).
    silu => Silu;
    /// `ln(1 + e^self)` elementwise, stable (finite value and gradient) for large `|x|`.
    softplus => Softplus;
    /// `ln(sigmoid(self))` elementwise, stable (finite value and gradient) for large `|x|`.
    log_sigmoid => LogSigmoid;
    /// The exact GELU, `self * Phi(self)` with `Phi` the standard normal CDF (erf form),
    /// elementwise.
    gelu => Gelu;
    /// The tanh approximation of GELU, `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`
    /// elementwise (PyTorch's `gelu(approximate = "tanh")`).
    gelu_tanh => GeluTanh;
    /// The error function `erf(self)` elementwise, accurate to an ulp near 0 too.
    erf => Erf;
}

impl<T: Float> Tensor<T> {
    /// Applies an elementwise rule without a tape.
    pub fn map_rule(&self, rule: impl UnaryRule<T>) -> Tensor<T> {
        crate::eval(&Unary(rule), &[self])
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

    #[test]
    #[allow(clippy::excessive_precision)] // reference values keep all the digits they were given to
    fn erfc_matches_reference_values_on_every_interval_to_a_few_ulps() {
        // erfc to 20 significant digits (mpmath at 30), two or more points in each interval of
        // the approximation, both signs; relative error of 4 ulps (about 9e-16) allows for the
        // exp calls and the final division.
        let cases = [
            (-5.5, 1.9999999999999926422),
            (-3.0, 1.9999779095030014146),
            (-2.0, 1.9953222650189527342),
            (-1.1, 1.8802050695740816998),
            (-0.5, 1.5204998778130465377),
            (-0.2, 1.2227025892104784541),
            (0.0, 1.0),
            (0.1, 0.8875370839817151078),
            (0.3, 0.67137324054087257236),
            (0.84, 0.23485728854500546534),
            (1.0, 0.15729920705028513066),
            (1.2, 0.089686021770364619762),
            (1.5, 0.033894853524689272933),
            (2.0, 0.0046777349810472658379),
            (2.9, 0.000041097878099458835684),
            (4.5, 1.9661604415428874763e-10),
            (10.0, 2.088487583762544757e-45),
            (26.0, 5.6631924088561428465e-296),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            assert!((got - want).abs() <= 4.0 * f64::EPSILON * want, "erfc({x}) = {got:e}, expected {want:e}");
        }
        assert_eq!((erfc(30.0), erfc(-30.0)), (0.0, 2.0));
        assert!(erfc(f64::NAN).is_nan());
    }

    #[test]
    fn gelu_saturates_to_zero_and_identity_with_finite_gradients() {
        let tape = Tape::<f32>::new();
        let x = tape.leaf(Tensor::from_vec([3], vec![-1e4, 1e4, f32::NAN]));
        let y = x.gelu();
        let v = y.value();
        assert_eq!(&v.data()[..2], &[-0.0, 1e4]);
        assert!(v.data()[2].is_nan());
        let g = y.sum().backward();
        assert_eq!(&g[x].data()[..2], &[0.0, 1.0]);
    }

    #[test]
    #[allow(clippy::excessive_precision)] // reference values keep all the digits they were given to
    fn erf_matches_reference_values_to_an_ulp_near_zero_too() {
        // erf to 20 significant digits (mpmath at 30) on each interval of the approximation:
        // the direct branch below 0.84375 (where 1 - erfc(x) would keep no digits of erf(1e-10)),
        // 1 - erfc(|x|) above, both signs. 2 ulps of relative error: the approximations are good
        // to 2^-57, and at most the final subtraction and a rounding of erfc add to that.
        let cases = [
            (1e-300, 1.1283791670955125739e-300),
            (1e-10, 1.1283791670955125739e-10),
            (0.1, 0.1124629160182848922),
            (-0.3, -0.32862675945912742764),
            (0.5, 0.52049987781304653768),
            (0.84, 0.76514271145499453466),
            (0.9, 0.79690821242283212852),
            (-1.0, -0.84270079294971486934),
            (1.2, 0.91031397822963538024),
            (1.5, 0.96610514647531072707),
            (-2.0, -0.99532226501895273416),
            (2.5, 0.99959304798255504106),
            (3.0, 0.99997790950300141456),
            (-4.0, -0.99999998458274209972),
            (5.9, 0.9999999999999999281),
        ];
        for (x, want) in cases {
            let got = erf(x);
            assert!((got - want).abs() <= 2.0 * f64::EPSILON * want.abs(), "erf({x}) = {got:e}, expected {want:e}");
            assert_eq!(erf(-x), -got, "erf is odd at {x}");
        }
        assert_eq!((erf(0.0), erf(30.0), erf(f64::INFINITY), erf(f64::NEG_INFINITY)), (0.0, 1.0, 1.0, -1.0));
        assert!(erf(-0.0).is_sign_negative() && erf(f64::NAN).is_nan());
        // At the smallest subnormal x, 2x / sqrt(pi) = 1.13 x rounds to x: not to 0.
        assert_eq!(erf(f64::from_bits(1)), f64::from_bits(1));
    }
}
