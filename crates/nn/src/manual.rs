//! Backprop for an [`Mlp`] derived by hand, on plain tensors: the formulas a person writes on
//! paper, kept here so the tape's gradients can be checked against them.
//!
//! With `a_0 = x`, `z_l = a_{l-1} W_l + b_l`, `a_l = f(z_l)` for hidden layers, logits `z_L`, and
//! `loss = -(1/N) sum_i log softmax(z_L)[i, y_i] + (lambda/2) sum_l ||W_l||^2`:
//!
//! | quantity | formula |
//! |---|---|
//! | output delta | `delta_L = (softmax(z_L) - onehot(y)) / N` |
//! | hidden delta | `delta_l = (delta_{l+1} W_{l+1}^T) * f'(z_l)` |
//! | weight gradient | `dW_l = a_{l-1}^T delta_l + lambda W_l` |
//! | bias gradient | `db_l = sum over rows of delta_l` |
//!
//! Each hidden layer's `f` and `f'` are written here from the math, not taken from the tape's
//! rules, so that agreement between the two is a check of both:
//!
//! | activation | `f(z)` | `f'(z)` |
//! |---|---|---|
//! | identity | `z` | `1` |
//! | relu | `max(z, 0)` (NaN stays NaN) | `1` if `z > 0`, else `0` |
//! | leaky_relu(s) | `z` if `z > 0`, else `s z` | `1` if `z > 0`, else `s` |
//! | elu | `z` if `z > 0`, else `e^z - 1` | `1` if `z > 0`, else `e^z` |
//! | gelu | `z Phi(z)`, `Phi(z) = erfc(-z / sqrt 2) / 2` | `Phi(z) + z e^(-z^2/2) / sqrt(2 pi)` |
//! | silu | `z s`, `s = 1 / (1 + e^-z)` | `s + z s (1 - s)` |
//! | softplus | `ln(1 + e^z)` | `1 / (1 + e^-z)` |
//! | sigmoid | `a = 1 / (1 + e^-z)` | `a (1 - a)` |
//! | tanh | `a = tanh z` | `1 - a^2` |
//! | log_sigmoid | `-ln(1 + e^-z)` | `1 / (1 + e^z)` |
//!
//! A custom activation ([`Activation::custom`], [`Activation::rule`]) has no formula here:
//! [`ManualBackprop::try_run`] returns [`UncoveredActivation`] for it, and
//! [`ManualBackprop::covers`] says so beforehand.

use crate::{Activation, Mlp};
use std::fmt;
use tapegrad_autograd::{Float, Shape, Tensor};

/// [`ManualBackprop::try_run`] was given a model with an activation it has no formula for (a
/// custom one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UncoveredActivation {
    /// The hidden layer (0-based) the activation follows.
    pub layer: usize,
    /// The activation's name.
    pub activation: String,
}

impl fmt::Display for UncoveredActivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no hand-derived formula for activation '{}' after hidden layer {} (ManualBackprop covers the named activations only)",
            self.activation, self.layer
        )
    }
}

impl std::error::Error for UncoveredActivation {}

/// The buffers of a hand-derived forward and backward pass, allocated on first use and reused
/// by every later call with the same shapes.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::{Activation, Init, Mlp, manual::ManualBackprop};
/// use rand::{SeedableRng, rngs::StdRng};
/// let mut rng = StdRng::seed_from_u64(0);
/// let mlp = Mlp::<f64>::new(&[2, 3, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
/// let x = Tensor::from_rows(&[[0.5, -1.0]]);
/// let mut bp = ManualBackprop::new();
/// let loss = bp.run(&mlp, &x, &[1], 0.0);
/// assert!(loss > 0.0);
/// assert_eq!(bp.gradients().len(), 4); // dW_1, db_1, dW_2, db_2
/// ```
#[derive(Default)]
pub struct ManualBackprop<T: Float> {
    /// `z_l` per layer.
    pre: Vec<Tensor<T>>,
    /// `a_l = f(z_l)` per hidden layer.
    post: Vec<Tensor<T>>,
    /// `delta_l` per layer.
    delta: Vec<Tensor<T>>,
    /// `dW_1, db_1, dW_2, db_2, ...`: the order of [`crate::Module::parameters`].
    grads: Vec<Tensor<T>>,
}

impl<T: Float> ManualBackprop<T> {
    /// Empty buffers; the first [`run`](ManualBackprop::run) sizes them.
    pub fn new() -> Self {
        ManualBackprop { pre: Vec::new(), post: Vec::new(), delta: Vec::new(), grads: Vec::new() }
    }

    /// Whether there is a hand-derived formula for `activation`: for every named one, not for
    /// a custom one.
    ///
    /// ```
    /// use tapegrad_nn::{Activation, manual::ManualBackprop};
    /// assert!(Activation::ALL.iter().all(ManualBackprop::<f64>::covers));
    /// assert!(!ManualBackprop::<f64>::covers(&Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x)));
    /// ```
    pub fn covers(activation: &Activation) -> bool {
        !matches!(activation, Activation::Custom(_))
    }

    /// Forward and backward for a batch; returns the loss (mean cross-entropy plus the L2 term)
    /// and leaves the gradients in [`gradients`](ManualBackprop::gradients).
    ///
    /// # Panics
    /// If `x` is not `[batch, inputs]`, `labels` has another length, or a label is out of range;
    /// and, with the message of [`UncoveredActivation`], if an activation is custom
    /// ([`try_run`](ManualBackprop::try_run) returns that as an error instead).
    pub fn run(&mut self, mlp: &Mlp<T>, x: &Tensor<T>, labels: &[usize], lambda: T) -> T {
        self.try_run(mlp, x, labels, lambda).unwrap_or_else(|e| panic!("ManualBackprop::run: {e}"))
    }

    /// [`run`](ManualBackprop::run), with an error for an activation it has no formula for,
    /// found before any work is done.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// use tapegrad_nn::{Activation, Init, Mlp, manual::ManualBackprop};
    /// use rand::{SeedableRng, rngs::StdRng};
    /// let acts = vec![Activation::Tanh, Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x)];
    /// let mlp = Mlp::<f64>::with_activations(&[2, 3, 3, 2], acts, Init::GlorotUniform, &mut StdRng::seed_from_u64(0));
    /// let err = ManualBackprop::new().try_run(&mlp, &Tensor::zeros([1, 2]), &[0], 0.0).unwrap_err();
    /// assert_eq!((err.layer, err.activation.as_str()), (1, "cube"));
    /// ```
    ///
    /// # Errors
    /// [`UncoveredActivation`] for the first custom activation.
    ///
    /// # Panics
    /// If `x` is not `[batch, inputs]`, `labels` has another length, or a label is out of range.
    pub fn try_run(
        &mut self,
        mlp: &Mlp<T>,
        x: &Tensor<T>,
        labels: &[usize],
        lambda: T,
    ) -> Result<T, UncoveredActivation> {
        if let Some((layer, act)) = mlp.activations().iter().enumerate().find(|(_, a)| !Self::covers(a)) {
            return Err(UncoveredActivation { layer, activation: act.name() });
        }
        let layers = mlp.layers();
        let depth = layers.len();
        let acts = mlp.activations();
        let n = x.shape().matrix("ManualBackprop::run").0;
        assert_eq!(labels.len(), n, "ManualBackprop::run: {} labels for {n} rows", labels.len());
        self.pre.resize_with(depth, Tensor::default);
        self.post.resize_with(depth - 1, Tensor::default);
        self.delta.resize_with(depth, Tensor::default);
        self.grads.resize_with(2 * depth, Tensor::default);

        // Forward: z_l = a_{l-1} W_l + b_l, a_l = f(z_l).
        for (l, layer) in layers.iter().enumerate() {
            let input = if l == 0 { x } else { &self.post[l - 1] };
            let z = &mut self.pre[l];
            z.matmul_into(input, false, &layer.weight, false, false);
            add_row(z, &layer.bias);
            if l + 1 < depth {
                let a = &mut self.post[l];
                activate(a, z, &acts[l]);
            }
        }

        // Loss and delta_L = (softmax(z_L) - onehot(y)) / N, one row at a time.
        let classes = layers[depth - 1].outputs();
        let inv_n = T::ONE / T::from_f64(n as f64);
        let mut loss = T::ZERO;
        let delta = &mut self.delta[depth - 1];
        overwrite(delta, self.pre[depth - 1].shape()).copy_from_slice(self.pre[depth - 1].data());
        for (row, &y) in delta.data_mut().chunks_exact_mut(classes).zip(labels) {
            assert!(y < classes, "ManualBackprop::run: label {y} is out of range for {classes} classes");
            // log softmax(v) = (v - max) - ln(sum(exp(v - max))): stable for any logits.
            let max = row.iter().copied().fold(row[0], T::max);
            let log_sum = row.iter().map(|&v| (v - max).exp()).sum::<T>().ln();
            row.iter_mut().for_each(|v| *v = *v - max - log_sum);
            loss -= row[y] * inv_n;
            row.iter_mut().for_each(|v| *v = v.exp() * inv_n);
            row[y] -= inv_n;
        }

        for l in (0..depth).rev() {
            // dW_l = a_{l-1}^T delta_l + lambda W_l;  db_l = sum_rows(delta_l).
            let input = if l == 0 { x } else { &self.post[l - 1] };
            let (dw, rest) = self.grads[2 * l..].split_first_mut().expect("sized above");
            dw.matmul_into(input, true, &self.delta[l], false, false);
            let w = &layers[l].weight;
            if lambda != T::ZERO {
                dw.data_mut().iter_mut().zip(w.data()).for_each(|(g, &w)| *g += lambda * w);
                loss += T::from_f64(0.5) * lambda * w.data().iter().map(|&w| w * w).sum::<T>();
            }
            overwrite(&mut rest[0], layers[l].bias.shape()).fill(T::ZERO);
            sum_rows_into(&mut rest[0], &self.delta[l]);

            // delta_{l-1} = (delta_l W_l^T) * f'(z_{l-1}).
            if l > 0 {
                let (before, after) = self.delta.split_at_mut(l);
                let d = &mut before[l - 1];
                d.matmul_into(&after[0], false, w, true, false);
                multiply_by_derivative(d, &self.pre[l - 1], &self.post[l - 1], &acts[l - 1]);
            }
        }
        Ok(loss)
    }

    /// The gradients of the last [`run`](ManualBackprop::run), in parameter order
    /// (`dW_1, db_1, dW_2, db_2, ...`).
    pub fn gradients(&self) -> Vec<&Tensor<T>> {
        self.grads.iter().collect()
    }
}

/// `buffer`'s elements, made `shape`-shaped, in the buffer kept from the last run, so a training
/// loop stops allocating; the caller writes every element.
fn overwrite<'a, T: Float>(buffer: &'a mut Tensor<T>, shape: &Shape) -> &'a mut [T] {
    if buffer.shape() != shape {
        // Within its capacity (a smaller last batch, then full ones again) the buffer stays.
        let mut values = std::mem::take(buffer).into_vec();
        values.resize(shape.numel(), T::ZERO);
        *buffer = Tensor::from_vec(shape.clone(), values);
    }
    buffer.data_mut()
}

/// `z[i, :] += b` for every row.
fn add_row<T: Float>(z: &mut Tensor<T>, b: &Tensor<T>) {
    let n = b.numel();
    for row in z.data_mut().chunks_exact_mut(n) {
        row.iter_mut().zip(b.data()).for_each(|(z, &b)| *z += b);
    }
}

/// `out += sum over rows of m`.
fn sum_rows_into<T: Float>(out: &mut Tensor<T>, m: &Tensor<T>) {
    let n = out.numel();
    for row in m.data().chunks_exact(n) {
        out.data_mut().iter_mut().zip(row).for_each(|(o, &v)| *o += v);
    }
}

/// `a = f(z)` elementwise. The match on the activation is outside the loop, so each loop is
/// one plain function the compiler can vectorise (a match per element branches every time).
fn activate<T: Float>(a: &mut Tensor<T>, z: &Tensor<T>, act: &Activation) {
    fn with<T: Float>(a: &mut Tensor<T>, z: &Tensor<T>, f: impl Fn(T) -> T) {
        overwrite(a, z.shape()).iter_mut().zip(z.data()).for_each(|(a, &z)| *a = f(z));
    }
    match act {
        Activation::Identity => with(a, z, |z| z),
        // Only `z <= 0` becomes 0: a NaN (for which the comparison is false) stays NaN.
        Activation::Relu => with(a, z, |z| if z <= T::ZERO { T::ZERO } else { z }),
        Activation::LeakyRelu(s) => {
            let s = T::from_f64(*s);
            with(a, z, |z| if z > T::ZERO { z } else { s * z })
        }
        Activation::Elu => with(a, z, |z| if z > T::ZERO { z } else { T::from_f64(z.to_f64().exp_m1()) }),
        Activation::Gelu => with(a, z, |z| T::from_f64(z.to_f64() * phi(z.to_f64()))),
        Activation::Silu => with(a, z, |z| z * logistic(z)),
        Activation::Softplus => with(a, z, softplus),
        Activation::Sigmoid => with(a, z, logistic),
        Activation::Tanh => with(a, z, |z| z.tanh()),
        Activation::LogSigmoid => with(a, z, |z| -softplus(-z)),
        Activation::Custom(_) => unreachable!("try_run refuses custom activations first"),
    }
}

/// `d *= f'(z)` elementwise, with `a = f(z)` for the formulas that use it; one loop per
/// activation, as in [`activate`].
fn multiply_by_derivative<T: Float>(d: &mut Tensor<T>, z: &Tensor<T>, a: &Tensor<T>, act: &Activation) {
    fn with<T: Float>(d: &mut Tensor<T>, z: &Tensor<T>, a: &Tensor<T>, df: impl Fn(T, T) -> T) {
        for ((d, &z), &a) in d.data_mut().iter_mut().zip(z.data()).zip(a.data()) {
            *d *= df(z, a);
        }
    }
    let step = |z: T, below: T| if z > T::ZERO { T::ONE } else { below };
    match act {
        Activation::Identity => {}
        Activation::Relu => with(d, z, a, |z, _| step(z, T::ZERO)),
        Activation::LeakyRelu(s) => {
            let s = T::from_f64(*s);
            with(d, z, a, |z, _| step(z, s))
        }
        Activation::Elu => with(d, z, a, |z, _| if z > T::ZERO { T::ONE } else { z.exp() }),
        Activation::Gelu => with(d, z, a, |z, _| {
            let z = z.to_f64();
            let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
            T::from_f64(phi(z) + z * density)
        }),
        Activation::Silu => with(d, z, a, |z, _| {
            let s = logistic(z);
            s + z * s * (T::ONE - s)
        }),
        Activation::Softplus => with(d, z, a, |z, _| logistic(z)),
        Activation::Sigmoid => with(d, z, a, |_, a| a * (T::ONE - a)),
        Activation::Tanh => with(d, z, a, |_, a| T::ONE - a * a),
        Activation::LogSigmoid => with(d, z, a, |z, _| logistic(-z)),
        Activation::Custom(_) => unreachable!("try_run refuses custom activations first"),
    }
}

/// `1 / (1 + e^-z)`: for very negative `z`, `e^-z` is infinite and the quotient 0, as it should.
fn logistic<T: Float>(z: T) -> T {
    T::ONE / (T::ONE + (-z).exp())
}

/// `ln(1 + e^z)`, as `z + ln(1 + e^-z)` for positive `z` so that `e^z` never overflows.
fn softplus<T: Float>(z: T) -> T {
    let ln_1p = |v: T| T::from_f64(v.to_f64().ln_1p());
    if z > T::ZERO { z + ln_1p((-z).exp()) } else { ln_1p(z.exp()) }
}

/// The standard normal CDF, `Phi(z) = erfc(-z / sqrt 2) / 2`.
fn phi(z: f64) -> f64 {
    0.5 * erfc(-z * std::f64::consts::FRAC_1_SQRT_2)
}

/// `erfc x = 1 - erf x`: below 3 in magnitude from the series
/// `erf x = (2 / sqrt pi) e^(-x^2) sum_n 2^n x^(2n+1) / (1 3 5 ... (2n+1))`, whose terms all have
/// the sign of `x` (nothing cancels); beyond, from the continued fraction
/// `erfc x = e^(-x^2) / sqrt pi / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))`, which keeps
/// the far tail's relative precision. Both to within a few ulps of `erfc` on this range.
fn erfc(x: f64) -> f64 {
    let ax = x.abs();
    if ax < 3.0 {
        let (mut term, mut sum, x2) = (x, x, x * x);
        for n in 1..200 {
            term *= 2.0 * x2 / f64::from(2 * n + 1);
            sum += term;
            if term.abs() <= f64::EPSILON * 1e-2 * sum.abs() {
                break;
            }
        }
        return 1.0 - std::f64::consts::FRAC_2_SQRT_PI * (-x2).exp() * sum;
    }
    if ax.is_nan() {
        return x;
    }
    // Evaluated from the bottom: 100 levels is far more than x >= 3 needs.
    let fraction = (1..=100).rev().fold(ax, |t, k| ax + f64::from(k) / 2.0 / t);
    let tail = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / fraction;
    if x > 0.0 { tail } else { 2.0 - tail }
}

#[cfg(test)]
mod tests {
    use super::erfc;

    #[test]
    #[allow(clippy::excessive_precision)] // reference values keep all the digits they were given to
    fn erfc_matches_reference_values_in_both_regimes() {
        // erfc to 20 significant digits (mpmath at 30 digits), from the series (|x| < 3) and
        // the continued fraction (|x| >= 3). The series loses relative precision as erfc
        // nears 0 (its 1 - erf cancels), so below 3 the bound is 1e-15 absolute; beyond, the
        // fraction keeps relative precision: 1e-14 relative.
        let cases = [
            (-5.5, 1.9999999999999926422),
            (-2.0, 1.9953222650189527342),
            (-0.5, 1.5204998778130465377),
            (0.0, 1.0),
            (0.3, 0.67137324054087257236),
            (1.0, 0.15729920705028513066),
            (2.0, 0.0046777349810472658379),
            (2.9, 0.000041097878099458835684),
            (4.5, 1.9661604415428874763e-10),
            (10.0, 2.088487583762544757e-45),
            (26.0, 5.6631924088561428465e-296),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            let ok = if x.abs() < 3.0 { (got - want).abs() <= 1e-15 } else { (got - want).abs() <= 1e-14 * want };
            assert!(ok, "erfc({x}) = {got:e}, expected {want:e}");
        }
        assert!(erfc(f64::NAN).is_nan());
        assert_eq!((erfc(f64::INFINITY), erfc(f64::NEG_INFINITY)), (0.0, 2.0));
    }
}
