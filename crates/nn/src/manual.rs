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

use crate::{Activation, Mlp};
use tapegrad_autograd::ops::activation::{Relu, Sigmoid, Tanh};
use tapegrad_autograd::ops::elementwise::UnaryRule;
use tapegrad_autograd::{Float, Shape, Tensor};

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

    /// Forward and backward for a batch; returns the loss (mean cross-entropy plus the L2 term)
    /// and leaves the gradients in [`gradients`](ManualBackprop::gradients).
    ///
    /// # Panics
    /// If `x` is not `[batch, inputs]`, `labels` has another length, or a label is out of range.
    pub fn run(&mut self, mlp: &Mlp<T>, x: &Tensor<T>, labels: &[usize], lambda: T) -> T {
        let layers = mlp.layers();
        let depth = layers.len();
        let act = mlp.activation();
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
                activate(a, z, act);
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
                multiply_by_derivative(d, &self.pre[l - 1], &self.post[l - 1], act);
            }
        }
        loss
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
fn activate<T: Float>(a: &mut Tensor<T>, z: &Tensor<T>, act: Activation) {
    fn with<T: Float>(a: &mut Tensor<T>, z: &Tensor<T>, rule: impl UnaryRule<T>) {
        overwrite(a, z.shape()).iter_mut().zip(z.data()).for_each(|(a, &z)| *a = rule.f(z));
    }
    match act {
        Activation::Relu => with(a, z, Relu),
        Activation::Sigmoid => with(a, z, Sigmoid),
        Activation::Tanh => with(a, z, Tanh),
    }
}

/// `d *= f'(z)` elementwise, with `a = f(z)` for the rules that use it; one loop per activation,
/// as in [`activate`].
fn multiply_by_derivative<T: Float>(d: &mut Tensor<T>, z: &Tensor<T>, a: &Tensor<T>, act: Activation) {
    fn with<T: Float>(d: &mut Tensor<T>, z: &Tensor<T>, a: &Tensor<T>, rule: impl UnaryRule<T>) {
        for ((d, &z), &a) in d.data_mut().iter_mut().zip(z.data()).zip(a.data()) {
            *d *= rule.df(z, a);
        }
    }
    match act {
        Activation::Relu => with(d, z, a, Relu),
        Activation::Sigmoid => with(d, z, a, Sigmoid),
        Activation::Tanh => with(d, z, a, Tanh),
    }
}
