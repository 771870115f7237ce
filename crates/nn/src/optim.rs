//! Optimisers: SGD (with momentum, Nesterov and weight decay) and Adam (with decoupled weight
//! decay, i.e. AdamW), following `torch.optim.SGD` and `torch.optim.AdamW` update for update.
//!
//! An optimiser sees the parameters as [`ParameterMut`]s with their gradients beside them:
//! [`Optimizer::step`] finds each parameter's gradient in the tape's store, and the hand-derived
//! backprop ([`crate::manual`]) passes its own through [`Optimizer::update`], so both drive the
//! same code.
//!
//! Weight decay applies to weights only (`is_weight`), never to biases, as in
//! [`l2_penalty`](crate::l2_penalty): shrinking a bias does not reduce the model's capacity, it
//! only moves the decision boundary.

use crate::{Module, ParameterMut};
use smallvec::SmallVec;
use tapegrad_autograd::{Float, Gradients, MIN_PART, Shape, Tensor, for_each_part};

/// Updates a model's parameters from their gradients.
///
/// The trait is dyn-compatible, so the optimiser can be picked at run time, and requires `Send`
/// (optimisers are plain data), so a boxed one can move to a worker thread with its model:
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Activation, Adam, Init, Mlp, Optimizer, Sgd, softmax_cross_entropy};
/// use rand::{SeedableRng, rngs::StdRng};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mut mlp = Mlp::<f64>::new(&[2, 8, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
/// let x = Tensor::from_rows(&[[1.0, 0.5], [-1.0, -0.5], [0.5, 1.0], [-0.5, -1.0]]);
/// let labels = [0, 1, 0, 1];
///
/// let use_adam = true; // say, from the command line
/// let mut opt: Box<dyn Optimizer<f64>> =
///     if use_adam { Box::new(Adam::new(0.05)) } else { Box::new(Sgd::new(0.5).momentum(0.9)) };
///
/// let mut tape = Tape::new();
/// let mut losses = Vec::new();
/// for _ in 0..50 {
///     tape.reset(); // keeps the buffers of the last step
///     let loss = softmax_cross_entropy(mlp.forward(tape.constant(&x)), &labels);
///     let grads = loss.backward();
///     losses.push(loss.item());
///     opt.step(&mut mlp, &grads);
/// }
/// assert!(losses[49] < losses[0] / 10.0);
/// ```
pub trait Optimizer<T: Float>: Send {
    /// One update of every parameter: `params[i]` from `grads[i]`.
    ///
    /// The optimiser's state (momentum buffers, moments) is created on the first call for this
    /// list of parameters, and later calls must pass a list of the same length and shapes.
    ///
    /// # Panics
    /// If the counts differ, a gradient's shape differs from its parameter's, or the parameters
    /// differ in number or shape from those of the first call.
    fn update(&mut self, params: &mut [ParameterMut<'_, T>], grads: &[&Tensor<T>]);

    /// One update of `model` from the gradients of a backward pass through its forward.
    ///
    /// # Panics
    /// If a parameter of `model` was not recorded on the tape `grads` came from (the forward
    /// pass did not use it), or as [`update`](Optimizer::update).
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Gradients<'_, T>) {
        let mut params = model.parameters_mut();
        // Inline for up to 8 parameters (a 4-layer MLP): no allocation per training step.
        let grads: SmallVec<[&Tensor<T>; 8]> = params.iter().map(|p| &grads[&*p.param]).collect();
        self.update(&mut params, &grads);
    }

    /// The learning rate.
    fn lr(&self) -> T;

    /// Sets the learning rate, for schedules; the optimiser's state is kept.
    ///
    /// # Panics
    /// If `lr` is negative, NaN or infinite.
    fn set_lr(&mut self, lr: T);
}

/// `opt.step(&mut model, &grads)` on each optimiser type, so a training loop needs no trait
/// import.
macro_rules! inherent_step {
    ($($opt:ident),*) => {$(
        impl<T: Float> $opt<T> {
            /// One update of `model` from the gradients of a backward pass through its forward:
            /// [`Optimizer::step`], callable without importing the trait.
            ///
            /// # Panics
            /// As [`Optimizer::step`].
            pub fn step(&mut self, model: &mut dyn Module<T>, grads: &Gradients<'_, T>) {
                Optimizer::step(self, model, grads);
            }
        }
    )*};
}

inherent_step!(Sgd, Adam);

/// Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay,
/// as `torch.optim.SGD` (without dampening). For each parameter `w` with gradient `grad`:
///
/// ```text
/// g = grad + weight_decay * w                  (weights only)
/// buf = momentum * buf + g                     (if momentum > 0; buf = g at the first step)
/// g = nesterov ? g + momentum * buf : buf      (if momentum > 0)
/// w -= lr * g
/// ```
///
/// Weight decay so applied is exactly the gradient of the L2 penalty
/// `0.5 * weight_decay * sum ||W||^2` ([`l2_penalty`](crate::l2_penalty)): the two are
/// interchangeable for SGD.
///
/// ```
/// use tapegrad_autograd::{Param, Tensor};
/// use tapegrad_nn::{Optimizer, ParameterMut, Sgd};
///
/// let mut w = Param::new(Tensor::from_vec([1], vec![1.0f64]));
/// let g = Tensor::from_vec([1], vec![0.5]);
/// let mut opt = Sgd::new(0.5).momentum(0.75);
/// opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&g]);
/// assert_eq!(w.data(), &[0.75]); // buf = 0.5, w = 1 - 0.5 * 0.5
/// opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&g]);
/// assert_eq!(w.data(), &[0.3125]); // buf = 0.75 * 0.5 + 0.5 = 0.875, w = 0.75 - 0.5 * 0.875
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T: Float> {
    lr: T,
    momentum: T,
    nesterov: bool,
    weight_decay: T,
    layout: Layout,
    /// One momentum buffer per parameter; empty without momentum.
    buffers: Vec<Tensor<T>>,
}

impl<T: Float> Sgd<T> {
    /// Plain SGD, `w -= lr * grad`: no momentum, no weight decay.
    ///
    /// # Panics
    /// If `lr` is negative, NaN or infinite.
    pub fn new(lr: T) -> Self {
        check_lr("Sgd::new", lr);
        Sgd {
            lr,
            momentum: T::ZERO,
            nesterov: false,
            weight_decay: T::ZERO,
            layout: Layout::default(),
            buffers: vec![],
        }
    }

    /// With momentum `momentum` (0.9 is usual; 0 turns it off).
    ///
    /// # Panics
    /// If `momentum` is negative, NaN or infinite, or it is 0 and Nesterov momentum is on.
    pub fn momentum(self, momentum: T) -> Self {
        check_non_negative("Sgd::momentum", "momentum", momentum);
        assert!(
            !(self.nesterov && momentum == T::ZERO),
            "Sgd::momentum: Nesterov momentum needs momentum > 0, got 0 (turn Nesterov off first)"
        );
        Sgd { momentum, ..self }
    }

    /// With Nesterov momentum on or off. Set [`momentum`](Sgd::momentum) first.
    ///
    /// # Panics
    /// If `nesterov` is true and the momentum is 0: Nesterov momentum without momentum is plain
    /// SGD under another name, surely not what was meant (PyTorch refuses it too).
    pub fn nesterov(self, nesterov: bool) -> Self {
        assert!(
            !(nesterov && self.momentum == T::ZERO),
            "Sgd::nesterov: Nesterov momentum needs momentum > 0 (call .momentum(m) before .nesterov(true))"
        );
        Sgd { nesterov, ..self }
    }

    /// With weight decay `weight_decay` on weights (not biases): `grad + weight_decay * w`.
    ///
    /// # Panics
    /// If `weight_decay` is negative, NaN or infinite.
    pub fn weight_decay(self, weight_decay: T) -> Self {
        check_non_negative("Sgd::weight_decay", "weight decay", weight_decay);
        Sgd { weight_decay, ..self }
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn update(&mut self, params: &mut [ParameterMut<'_, T>], grads: &[&Tensor<T>]) {
        let first = self.layout.check("Sgd::update", params, grads);
        let Sgd { lr, momentum, nesterov, weight_decay, .. } = *self;
        if first && momentum > T::ZERO {
            // Zeros, so that the first step's `momentum * 0 + g` is PyTorch's `buf = g` exactly.
            self.buffers = params.iter().map(|p| Tensor::zeros(p.param.shape())).collect();
        }
        // Each element is updated alone, so large parameters go in parts, one per thread, with
        // the same result.
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let decay = p.is_weight && weight_decay != T::ZERO;
            let w = p.param.value_mut().data_mut();
            if momentum == T::ZERO {
                // `move`: the settings are copied into the closure, so the loop can keep them in registers.
                for_each_part((w, g.data()), MIN_PART, move |_, (w, g)| {
                    for (w, &g) in w.iter_mut().zip(g) {
                        let g = if decay { g + weight_decay * *w } else { g };
                        *w -= lr * g;
                    }
                });
            } else {
                for_each_part((w, self.buffers[i].data_mut(), g.data()), MIN_PART, move |_, (w, b, g)| {
                    for ((w, b), &g) in w.iter_mut().zip(b.iter_mut()).zip(g) {
                        let g = if decay { g + weight_decay * *w } else { g };
                        *b = momentum * *b + g;
                        let g = if nesterov { g + momentum * *b } else { *b };
                        *w -= lr * g;
                    }
                });
            }
        }
    }

    fn lr(&self) -> T {
        self.lr
    }

    fn set_lr(&mut self, lr: T) {
        check_lr("Sgd::set_lr", lr);
        self.lr = lr;
    }
}

/// Adam (Kingma & Ba, 2015, "Adam: A Method for Stochastic Optimization") with bias-corrected
/// moments, and weight decay in the decoupled form of AdamW (Loshchilov & Hutter, 2019,
/// "Decoupled Weight Decay Regularization"), as `torch.optim.AdamW`. At step `t` (from 1), for
/// each parameter `w` with gradient `g`:
///
/// ```text
/// w -= lr * weight_decay * w                   (weights only; as w *= 1 - lr * weight_decay)
/// m = beta1 * m + (1 - beta1) * g
/// v = beta2 * v + (1 - beta2) * g^2
/// w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// ```
///
/// The decay shrinks the weight directly instead of being added to the gradient: an L2 term in
/// the gradient would be divided by `sqrt(v)` like the rest of it, so weights with large
/// gradients would be decayed less. `torch.optim.Adam`'s own `weight_decay` is that coupled L2
/// form; for it, add [`l2_penalty`](crate::l2_penalty) to the loss instead.
///
/// ```
/// use tapegrad_autograd::{Param, Tensor};
/// use tapegrad_nn::{Adam, Optimizer, ParameterMut};
///
/// let mut w = Param::new(Tensor::from_vec([2], vec![1.0f64, 1.0]));
/// let g = Tensor::from_vec([2], vec![0.5, -2.0]);
/// let mut opt = Adam::new(0.25).eps(0.0);
/// opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&g]);
/// // The first bias-corrected step is lr * sign(g), whatever the size of g.
/// assert_eq!(w.data(), &[0.75, 1.25]);
/// ```
#[derive(Clone, Debug)]
pub struct Adam<T: Float> {
    lr: T,
    beta1: T,
    beta2: T,
    eps: T,
    weight_decay: T,
    layout: Layout,
    /// Updates done so far: `t` of the bias corrections.
    steps: u64,
    /// First moments, one per parameter.
    m: Vec<Tensor<T>>,
    /// Second moments, one per parameter.
    v: Vec<Tensor<T>>,
}

impl<T: Float> Adam<T> {
    /// Adam with PyTorch's defaults: `betas = (0.9, 0.999)`, `eps = 1e-8`, no weight decay.
    ///
    /// # Panics
    /// If `lr` is negative, NaN or infinite.
    pub fn new(lr: T) -> Self {
        check_lr("Adam::new", lr);
        Adam {
            lr,
            beta1: T::from_f64(0.9),
            beta2: T::from_f64(0.999),
            eps: T::from_f64(1e-8),
            weight_decay: T::ZERO,
            layout: Layout::default(),
            steps: 0,
            m: vec![],
            v: vec![],
        }
    }

    /// With the decay rates of the first and second moments.
    ///
    /// # Panics
    /// If either is outside `[0, 1)` (NaN is).
    pub fn betas(self, beta1: T, beta2: T) -> Self {
        for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
            assert!(b >= T::ZERO && b < T::ONE, "Adam::betas: {name} must be in [0, 1), got {b}");
        }
        Adam { beta1, beta2, ..self }
    }

    /// With `eps`, added to `sqrt(v_hat)` to keep the step finite where `v` is 0. With `eps = 0`
    /// an element whose gradient has always been exactly 0 becomes NaN (0 / 0), as in PyTorch.
    ///
    /// # Panics
    /// If `eps` is negative, NaN or infinite.
    pub fn eps(self, eps: T) -> Self {
        check_non_negative("Adam::eps", "eps", eps);
        Adam { eps, ..self }
    }

    /// With decoupled weight decay on weights (not biases): `w *= 1 - lr * weight_decay` before
    /// each Adam update, which makes this AdamW (PyTorch's AdamW default is 0.01).
    ///
    /// # Panics
    /// If `weight_decay` is negative, NaN or infinite.
    pub fn weight_decay(self, weight_decay: T) -> Self {
        check_non_negative("Adam::weight_decay", "weight decay", weight_decay);
        Adam { weight_decay, ..self }
    }
}

impl<T: Float> Optimizer<T> for Adam<T> {
    fn update(&mut self, params: &mut [ParameterMut<'_, T>], grads: &[&Tensor<T>]) {
        if self.layout.check("Adam::update", params, grads) {
            self.m = params.iter().map(|p| Tensor::zeros(p.param.shape())).collect();
            self.v = self.m.clone();
        }
        self.steps += 1;
        let Adam { lr, beta1, beta2, eps, weight_decay, .. } = *self;
        // Past 2^31 steps beta^t has long been 0 in any precision.
        let t = i32::try_from(self.steps).unwrap_or(i32::MAX);
        let step_size = lr / (T::ONE - beta1.powi(t));
        let bias_correction2_sqrt = (T::ONE - beta2.powi(t)).sqrt();
        let shrink = T::ONE - lr * weight_decay;
        let (one_minus_beta1, one_minus_beta2) = (T::ONE - beta1, T::ONE - beta2);
        for (((p, g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            let decay = p.is_weight && weight_decay != T::ZERO;
            let w = p.param.value_mut().data_mut();
            // In parts for large parameters, as in Sgd.
            for_each_part((w, m.data_mut(), v.data_mut(), g.data()), MIN_PART, move |_, (w, m, v, g)| {
                for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                    if decay {
                        *w *= shrink;
                    }
                    *m = beta1 * *m + one_minus_beta1 * g;
                    *v = beta2 * *v + one_minus_beta2 * (g * g);
                    *w -= step_size * (*m / (v.sqrt() / bias_correction2_sqrt + eps));
                }
            });
        }
    }

    fn lr(&self) -> T {
        self.lr
    }

    fn set_lr(&mut self, lr: T) {
        check_lr("Adam::set_lr", lr);
        self.lr = lr;
    }
}

fn check_lr<T: Float>(who: &str, lr: T) {
    check_non_negative(who, "learning rate", lr);
}

/// An infinite rate or decay turns every parameter it touches into inf or NaN at the first step.
fn check_non_negative<T: Float>(who: &str, what: &str, value: T) {
    assert!(value.is_finite() && value >= T::ZERO, "{who}: {what} must be finite and non-negative, got {value}");
}

/// The parameter shapes an optimiser's state was built for, recorded at its first update.
#[derive(Clone, Debug, Default)]
struct Layout {
    shapes: Option<Vec<Shape>>,
}

impl Layout {
    /// Checks `params` against `grads` and against the shapes of the first update, recording
    /// them if this is the first; returns true if it is. Allocates only on the first update.
    fn check<T: Float>(&mut self, who: &str, params: &[ParameterMut<'_, T>], grads: &[&Tensor<T>]) -> bool {
        assert_eq!(params.len(), grads.len(), "{who}: {} parameters but {} gradients", params.len(), grads.len());
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let (ps, gs) = (p.param.shape(), g.shape());
            assert_eq!(ps, gs, "{who}: parameter {i} is {ps} but its gradient is {gs}");
        }
        let Some(shapes) = &self.shapes else {
            self.shapes = Some(params.iter().map(|p| p.param.shape().clone()).collect());
            return true;
        };
        assert_eq!(
            shapes.len(),
            params.len(),
            "{who}: {} parameters, but the optimiser's state was built for {}: use a new optimiser for another model",
            params.len(),
            shapes.len()
        );
        for (i, (was, p)) in shapes.iter().zip(params).enumerate() {
            let now = p.param.shape();
            assert_eq!(
                was, now,
                "{who}: parameter {i} is {now} but was {was} when the optimiser's state was built: \
                 use a new optimiser for another model"
            );
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapegrad_autograd::Param;

    /// A weight and a bias as an optimiser sees them.
    fn pair<'a>(w: &'a mut Param<f64>, b: &'a mut Param<f64>) -> [ParameterMut<'a, f64>; 2] {
        [ParameterMut { param: w, is_weight: true }, ParameterMut { param: b, is_weight: false }]
    }

    fn p(values: &[f64]) -> Param<f64> {
        Param::new(t(values))
    }

    fn t(values: &[f64]) -> Tensor<f64> {
        Tensor::from_vec([values.len()], values.to_vec())
    }

    // The SGD cases use powers of two (and sums of a few), so every product and sum below is
    // exact in f64 and the expected values are compared with `==`.

    #[test]
    fn sgd_plain_two_steps() {
        let (mut w, mut b) = (p(&[1.0, -2.0]), p(&[0.5]));
        let (gw, gb) = (t(&[0.25, 0.5]), t(&[-1.0]));
        let mut opt = Sgd::new(0.5);
        opt.update(&mut pair(&mut w, &mut b), &[&gw, &gb]);
        // w = [1 - 0.5 * 0.25, -2 - 0.5 * 0.5] = [0.875, -2.25]; b = 0.5 + 0.5 * 1 = 1.
        assert_eq!((w.data(), b.data()), (&[0.875, -2.25][..], &[1.0][..]));
        opt.update(&mut pair(&mut w, &mut b), &[&gw, &gb]);
        // w = [0.875 - 0.125, -2.25 - 0.25] = [0.75, -2.5]; b = 1 + 0.5 = 1.5.
        assert_eq!((w.data(), b.data()), (&[0.75, -2.5][..], &[1.5][..]));
    }

    #[test]
    fn sgd_momentum_two_steps() {
        let mut w = p(&[1.0]);
        let mut opt = Sgd::new(0.5).momentum(0.75);
        let mut after = vec![];
        for g in [0.5, -0.25] {
            opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&t(&[g])]);
            after.push(w.data()[0]);
        }
        // Step 1, g = 0.5: buf = g = 0.5 (no dampening: not (1 - momentum) g); w = 1 - 0.25 = 0.75.
        // Step 2, g = -0.25: buf = 0.75 * 0.5 - 0.25 = 0.125; w = 0.75 - 0.5 * 0.125 = 0.6875.
        assert_eq!(after, [0.75, 0.6875]);
    }

    #[test]
    fn sgd_nesterov_two_steps() {
        let mut w = p(&[1.0]);
        let mut opt = Sgd::new(0.5).momentum(0.75).nesterov(true);
        let mut after = vec![];
        for g in [0.5, -0.25] {
            opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&t(&[g])]);
            after.push(w.data()[0]);
        }
        // Step 1, g = 0.5: buf = 0.5; g + m buf = 0.5 + 0.375 = 0.875; w = 1 - 0.4375 = 0.5625.
        // Step 2, g = -0.25: buf = 0.375 - 0.25 = 0.125; g + m buf = -0.25 + 0.09375 = -0.15625;
        //   w = 0.5625 + 0.078125 = 0.640625.
        assert_eq!(after, [0.5625, 0.640625]);
    }

    #[test]
    fn sgd_weight_decay_on_weights_not_biases() {
        let (mut w, mut b) = (p(&[2.0]), p(&[2.0]));
        let g = t(&[0.5]);
        let mut opt = Sgd::new(0.5).weight_decay(0.25);
        opt.update(&mut pair(&mut w, &mut b), &[&g, &g]);
        // Weight: g = 0.5 + 0.25 * 2 = 1; w = 2 - 0.5 = 1.5. Bias: b = 2 - 0.25 = 1.75.
        assert_eq!((w.data(), b.data()), (&[1.5][..], &[1.75][..]));
        opt.update(&mut pair(&mut w, &mut b), &[&g, &g]);
        // Weight: g = 0.5 + 0.25 * 1.5 = 0.875; w = 1.5 - 0.4375 = 1.0625. Bias: b = 1.5.
        assert_eq!((w.data(), b.data()), (&[1.0625][..], &[1.5][..]));
    }

    #[test]
    fn sgd_weight_decay_goes_into_the_momentum_buffer() {
        let (mut w, mut b) = (p(&[2.0]), p(&[2.0]));
        let g = t(&[0.5]);
        let mut opt = Sgd::new(0.5).momentum(0.75).weight_decay(0.25);
        opt.update(&mut pair(&mut w, &mut b), &[&g, &g]);
        opt.update(&mut pair(&mut w, &mut b), &[&g, &g]);
        // Weight, step 1: g = 0.5 + 0.25 * 2 = 1; buf = 1; w = 2 - 0.5 = 1.5.
        //   Step 2: g = 0.5 + 0.25 * 1.5 = 0.875; buf = 0.75 + 0.875 = 1.625; w = 1.5 - 0.8125 = 0.6875.
        // Bias, step 1: buf = 0.5; b = 1.75. Step 2: buf = 0.375 + 0.5 = 0.875; b = 1.75 - 0.4375 = 1.3125.
        assert_eq!((w.data(), b.data()), (&[0.6875][..], &[1.3125][..]));
    }

    /// `|actual - expected| <= tol` for every element.
    fn assert_close(actual: &[f64], expected: &[f64], tol: f64) {
        assert_eq!(actual.len(), expected.len());
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!((a - e).abs() <= tol, "element {i}: {a} vs {e} (difference {:e} > {tol:e})", (a - e).abs());
        }
    }

    #[test]
    fn adam_two_steps_with_bias_correction() {
        // Element 0 sees g = 0.5 then -0.25; element 1 the mirror image, so must end at -w[0].
        let mut w = p(&[1.0, -1.0]);
        let mut opt = Adam::new(0.1); // beta1 0.9, beta2 0.999, eps 1e-8
        opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&t(&[0.5, -0.5])]);
        // m = 0.1 * 0.5 = 0.05, v = 0.001 * 0.25 = 0.00025;
        // m_hat = 0.05 / (1 - 0.9) = 0.5, v_hat = 0.00025 / (1 - 0.999) = 0.25, sqrt = 0.5;
        // w = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 1 - 0.1 / (1 + 2e-8) = 0.90000000199999996000000080.
        let w1 = 0.900_000_002; // the nearest f64 to the exact value above
        // One ulp at 0.9 (1.1e-16): the bias corrections cancel exactly at step 1.
        assert_close(w.data(), &[w1, -w1], 1.2e-16);
        opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&t(&[-0.25, 0.25])]);
        // m = 0.9 * 0.05 + 0.1 * -0.25 = 0.02, v = 0.999 * 0.00025 + 0.001 * 0.0625 = 0.00031225;
        // bias corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999;
        // m_hat = 0.02 / 0.19 = 0.105263157894736842, v_hat = 0.00031225 / 0.001999
        //   = 0.156203101550775388, sqrt(v_hat) = 0.395225380701664184;
        // step = 0.1 * 0.105263157894736842 / (0.395225380701664184 + 1e-8) = 0.0266337032921537974;
        // w = 0.900000001999999960 - 0.0266337032921537974 = 0.873366298707846163.
        let w2 = 0.873_366_298_707_846_2; // the nearest f64 to the exact value above
        // 0.999 is not exact in binary and 0.999^2 rounds, so 1 - 0.999^2 is off by up to
        // 1.7e-16, 8e-14 of 0.001999; through the square root that is 4e-14 of the 0.027 step,
        // 1.1e-15 in w. The rest rounds at the 1e-16 level.
        assert_close(w.data(), &[w2, -w2], 2e-15);
    }

    #[test]
    fn adamw_decay_is_decoupled_and_skips_biases() {
        let (mut w, mut b) = (p(&[2.0]), p(&[2.0]));
        let g = t(&[0.5]);
        // eps 0, so a bias-corrected step under a constant gradient is exactly lr * sign(g).
        let mut opt = Adam::new(0.25).eps(0.0).weight_decay(0.5);
        opt.update(&mut pair(&mut w, &mut b), &[&g, &g]);
        // Weight: w = 2 * (1 - 0.25 * 0.5) = 1.75, then the Adam step: 1.75 - 0.25 = 1.5.
        //   (Coupled L2 would give g = 0.5 + 0.5 * 2 = 1.5, the same step of 0.25 and w = 1.75.)
        // Bias: b = 2 - 0.25 = 1.75.
        // m_hat / sqrt(v_hat) is exactly 1 here; lr / (1 - 0.9) * (1 - 0.9) may round by an ulp.
        assert_close(w.data(), &[1.5], 5e-16);
        assert_close(b.data(), &[1.75], 5e-16);
        opt.update(&mut pair(&mut w, &mut b), &[&g, &g]);
        // Weight: 1.5 * 0.875 = 1.3125, then m_hat = 0.5, v_hat = 0.25: step 0.25, w = 1.0625.
        // Bias: 1.75 - 0.25 = 1.5.
        // v_hat equals g^2 only up to the rounding of 1 - 0.999^2 (see the test above): 4e-14 of
        // the step of 0.25 after the square root, so 1e-14 in w and b.
        assert_close(w.data(), &[1.0625], 1e-14);
        assert_close(b.data(), &[1.5], 1e-14);
    }

    #[test]
    fn lr_is_readable_and_settable() {
        let mut opt = Sgd::new(0.5);
        assert_eq!(opt.lr(), 0.5);
        let mut w = p(&[1.0]);
        opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&t(&[1.0])]);
        opt.set_lr(0.25);
        assert_eq!(opt.lr(), 0.25);
        opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&t(&[1.0])]);
        // 1 - 0.5 - 0.25.
        assert_eq!(w.data(), &[0.25]);

        let mut adam: Box<dyn Optimizer<f32>> = Box::new(Adam::new(1e-3));
        adam.set_lr(1e-4);
        assert_eq!(adam.lr(), 1e-4);
    }

    #[test]
    fn state_is_kept_between_steps() {
        let mut w = p(&[1.0, 2.0]);
        let g = t(&[0.5, 0.5]);
        let mut opt = Adam::new(0.1);
        opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&g]);
        let buffers = (opt.m[0].data().as_ptr(), opt.v[0].data().as_ptr());
        opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&g]);
        assert_eq!((opt.m[0].data().as_ptr(), opt.v[0].data().as_ptr()), buffers);
        assert_eq!(opt.steps, 2);

        let mut sgd = Sgd::new(0.1).momentum(0.9);
        sgd.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&g]);
        let buffer = sgd.buffers[0].data().as_ptr();
        sgd.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&g]);
        assert_eq!(sgd.buffers[0].data().as_ptr(), buffer);
    }

    #[test]
    #[should_panic(expected = "Sgd::nesterov: Nesterov momentum needs momentum > 0")]
    fn nesterov_without_momentum_panics() {
        let _ = Sgd::new(0.1f64).nesterov(true);
    }

    #[test]
    #[should_panic(expected = "Sgd::momentum: Nesterov momentum needs momentum > 0, got 0")]
    fn removing_momentum_under_nesterov_panics() {
        let _ = Sgd::new(0.1f64).momentum(0.9).nesterov(true).momentum(0.0);
    }

    #[test]
    #[should_panic(expected = "Adam::betas: beta2 must be in [0, 1), got 1")]
    fn beta_of_one_panics() {
        let _ = Adam::new(0.1f64).betas(0.9, 1.0);
    }

    #[test]
    #[should_panic(expected = "Sgd::set_lr: learning rate must be finite and non-negative, got NaN")]
    fn nan_learning_rate_panics() {
        Sgd::new(0.1f64).set_lr(f64::NAN);
    }

    #[test]
    #[should_panic(expected = "Sgd::new: learning rate must be finite and non-negative, got inf")]
    fn sgd_infinite_learning_rate_panics() {
        let _ = Sgd::new(f32::INFINITY);
    }

    #[test]
    #[should_panic(expected = "Sgd::new: learning rate must be finite and non-negative, got NaN")]
    fn sgd_nan_learning_rate_panics() {
        let _ = Sgd::new(f64::NAN);
    }

    #[test]
    #[should_panic(expected = "Sgd::new: learning rate must be finite and non-negative, got -0.1")]
    fn sgd_negative_learning_rate_panics() {
        let _ = Sgd::new(-0.1f64);
    }

    #[test]
    #[should_panic(expected = "Adam::new: learning rate must be finite and non-negative, got inf")]
    fn adam_infinite_learning_rate_panics() {
        let _ = Adam::new(f64::INFINITY);
    }

    #[test]
    #[should_panic(expected = "Adam::new: learning rate must be finite and non-negative, got NaN")]
    fn adam_nan_learning_rate_panics() {
        let _ = Adam::new(f32::NAN);
    }

    #[test]
    #[should_panic(expected = "Adam::set_lr: learning rate must be finite and non-negative, got -inf")]
    fn adam_set_lr_rejects_minus_infinity() {
        Adam::new(0.1f64).set_lr(f64::NEG_INFINITY);
    }

    #[test]
    #[should_panic(expected = "Sgd::momentum: momentum must be finite and non-negative, got inf")]
    fn infinite_momentum_panics() {
        let _ = Sgd::new(0.1f64).momentum(f64::INFINITY);
    }

    #[test]
    #[should_panic(expected = "Sgd::weight_decay: weight decay must be finite and non-negative, got inf")]
    fn sgd_infinite_weight_decay_panics() {
        let _ = Sgd::new(0.1f64).weight_decay(f64::INFINITY);
    }

    #[test]
    #[should_panic(expected = "Adam::weight_decay: weight decay must be finite and non-negative, got inf")]
    fn adam_infinite_weight_decay_panics() {
        let _ = Adam::new(0.1f64).weight_decay(f64::INFINITY);
    }

    #[test]
    #[should_panic(expected = "Adam::eps: eps must be finite and non-negative, got inf")]
    fn infinite_eps_panics() {
        let _ = Adam::new(0.1f64).eps(f64::INFINITY);
    }

    #[test]
    #[should_panic(expected = "Adam::betas: beta1 must be in [0, 1), got NaN")]
    fn nan_beta_panics() {
        let _ = Adam::new(0.1f64).betas(f64::NAN, 0.999);
    }

    #[test]
    #[should_panic(expected = "Adam::betas: beta2 must be in [0, 1), got inf")]
    fn infinite_beta_panics() {
        let _ = Adam::new(0.1f64).betas(0.9, f64::INFINITY);
    }

    #[test]
    #[should_panic(expected = "Sgd::update: 2 parameters but 1 gradients")]
    fn count_mismatch_panics() {
        let (mut w, mut b) = (p(&[1.0]), p(&[1.0]));
        Sgd::new(0.1).update(&mut pair(&mut w, &mut b), &[&t(&[1.0])]);
    }

    #[test]
    #[should_panic(expected = "Adam::update: parameter 1 is [1] but its gradient is [2]")]
    fn gradient_shape_mismatch_panics() {
        let (mut w, mut b) = (p(&[1.0]), p(&[1.0]));
        Adam::new(0.1).update(&mut pair(&mut w, &mut b), &[&t(&[1.0]), &t(&[1.0, 2.0])]);
    }

    #[test]
    #[should_panic(expected = "Sgd::update: parameter 0 is [3] but was [1] when the optimiser's state was built")]
    fn shape_change_between_steps_panics() {
        let mut opt = Sgd::new(0.1);
        let mut w = p(&[1.0]);
        opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&t(&[1.0])]);
        let mut w = p(&[1.0, 2.0, 3.0]);
        opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&t(&[1.0, 2.0, 3.0])]);
    }

    #[test]
    #[should_panic(expected = "Adam::update: 1 parameters, but the optimiser's state was built for 2")]
    fn count_change_between_steps_panics() {
        let mut opt = Adam::new(0.1);
        let (mut w, mut b) = (p(&[1.0]), p(&[1.0]));
        opt.update(&mut pair(&mut w, &mut b), &[&t(&[1.0]), &t(&[1.0])]);
        opt.update(&mut [ParameterMut { param: &mut w, is_weight: true }], &[&t(&[1.0])]);
    }
}
