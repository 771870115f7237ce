//! A multi-layer perceptron: linear layers with an activation between them, logits out.

use crate::{Activation, Init, Linear, Module, Parameter, ParameterMut};
use rand::Rng;
use tapegrad_autograd::{Float, Tape, Tensor, Var};

/// A multi-layer perceptron: `Linear, act, Linear, act, ..., Linear`, producing logits, with
/// one [`Activation`] per hidden layer ([`new`](Mlp::new) gives them all the same one,
/// [`with_activations`](Mlp::with_activations) one each).
///
/// It is the special case `Linear, act, ..., Linear` of a [`Sequential`](crate::Sequential),
/// kept as its own type for what that shape allows: [`layers`](Mlp::layers) as a plain slice
/// of [`Linear`], which the hand-derived backprop ([`crate::manual`]) walks, and no layer
/// kinds to dispatch on in the training loop. [`to_sequential`](Mlp::to_sequential) and
/// [`Sequential::to_mlp`](crate::Sequential::to_mlp) convert, keeping the function and the
/// parameter names.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Activation, Init, Mlp, softmax_cross_entropy};
/// use rand::{SeedableRng, rngs::StdRng};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mlp = Mlp::<f32>::new(&[4, 8, 3], Activation::Relu, Init::HeUniform, &mut rng);
/// let x = Tensor::rand_uniform([5, 4], -1.0, 1.0, &mut rng);
///
/// let tape = Tape::new();
/// let logits = mlp.forward(tape.constant(&x));
/// let loss = softmax_cross_entropy(logits, &[0, 1, 2, 0, 1]);
/// let grads = loss.backward();
/// assert_eq!(grads[&mlp.layers()[0].weight].shape().dims(), &[4, 8]); // "0.weight"
/// assert_eq!(mlp.predict(&x).len(), 5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp<T: Float> {
    layers: Vec<Linear<T>>,
    /// One per hidden layer: `activations[l]` follows `layers[l]`.
    activations: Vec<Activation>,
}

impl<T: Float> Mlp<T> {
    /// An MLP with the given layer sizes (`[64, 64, 10]`: 64 inputs, one hidden layer of 64,
    /// 10 outputs), weights from `init`, biases zero.
    ///
    /// # Panics
    /// If fewer than two sizes are given, a size is 0, or a layer's weight would have more than
    /// [`Shape::MAX_NUMEL`](tapegrad_autograd::Shape::MAX_NUMEL) elements (its element count or byte
    /// size overflows): `Mlp::new: layer 0 of [8589934592, 2147483648, 2] needs a
    /// [8589934592, 2147483648] weight, more elements than any tensor can hold (...)`. Every layer
    /// is checked before any is allocated. Sizes that can be described but not allocated abort
    /// in the allocator, as `Vec` does.
    pub fn new<R: Rng + ?Sized>(sizes: &[usize], activation: Activation, init: Init, rng: &mut R) -> Self {
        let hidden = sizes.len().saturating_sub(2);
        Mlp::build("Mlp::new", sizes, vec![activation; hidden], init, rng)
    }

    /// An MLP with the given layer sizes and one activation per hidden layer
    /// (`activations[l]` after layer `l`), weights from `init`, biases zero.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// use tapegrad_nn::{Activation, Init, Mlp};
    /// use rand::{SeedableRng, rngs::StdRng};
    ///
    /// let acts = vec![Activation::Gelu, Activation::LeakyRelu(0.1)];
    /// let mlp = Mlp::<f32>::with_activations(&[4, 16, 8, 3], acts.clone(), Init::HeUniform, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(mlp.activations(), &acts[..]);
    /// assert_eq!(mlp.logits(&Tensor::zeros([2, 4])).shape().dims(), &[2, 3]);
    /// ```
    ///
    /// # Panics
    /// As [`new`](Mlp::new), and if there is not one activation per hidden layer
    /// (`sizes.len() - 2`).
    pub fn with_activations<R: Rng + ?Sized>(
        sizes: &[usize],
        activations: Vec<Activation>,
        init: Init,
        rng: &mut R,
    ) -> Self {
        Mlp::build("Mlp::with_activations", sizes, activations, init, rng)
    }

    fn build<R: Rng + ?Sized>(
        what: &str,
        sizes: &[usize],
        activations: Vec<Activation>,
        init: Init,
        rng: &mut R,
    ) -> Self {
        assert!(sizes.len() >= 2, "{what}: need at least input and output sizes, got {sizes:?}");
        assert!(sizes.iter().all(|&s| s > 0), "{what}: layer sizes must be positive, got {sizes:?}");
        assert_eq!(
            activations.len(),
            sizes.len() - 2,
            "{what}: {} activations for the {} hidden layers of {sizes:?}",
            activations.len(),
            sizes.len() - 2
        );
        // All layers first: a later layer too large to exist should not wait for earlier,
        // merely large ones to be allocated and drawn.
        if let Some(l) = sizes.windows(2).position(|w| !crate::linear::weight_fits(w[0], w[1])) {
            panic!(
                "{what}: layer {l} of {sizes:?} needs a [{}, {}] weight, more elements than any tensor can hold (at most {})",
                sizes[l],
                sizes[l + 1],
                tapegrad_autograd::Shape::MAX_NUMEL
            );
        }
        let layers = sizes.windows(2).map(|w| Linear::new(w[0], w[1], init, rng)).collect();
        Mlp { layers, activations }
    }

    /// An MLP from existing layers.
    ///
    /// # Panics
    /// If there are no layers, a layer is empty or its bias does not match its weight, or a
    /// layer's inputs differ from the previous layer's outputs.
    pub fn from_layers(layers: Vec<Linear<T>>, activation: Activation) -> Self {
        let hidden = layers.len().saturating_sub(1);
        Mlp::from_layers_with_activations(layers, vec![activation; hidden])
    }

    /// An MLP from existing layers and one activation per hidden layer (`activations[l]` after
    /// `layers[l]`).
    ///
    /// # Panics
    /// As [`from_layers`](Mlp::from_layers), and if there is not one activation per layer but
    /// the last.
    pub fn from_layers_with_activations(layers: Vec<Linear<T>>, activations: Vec<Activation>) -> Self {
        assert!(!layers.is_empty(), "Mlp::from_layers: no layers");
        assert_eq!(
            activations.len(),
            layers.len() - 1,
            "Mlp::from_layers: {} activations for {} layers (one per layer but the last)",
            activations.len(),
            layers.len()
        );
        for (i, l) in layers.iter().enumerate() {
            let (inputs, outputs) = l.weight.shape().matrix("Mlp::from_layers");
            assert!(inputs > 0 && outputs > 0, "Mlp::from_layers: layer {i} has shape [{inputs}, {outputs}]");
            assert_eq!(
                l.bias.shape().dims(),
                &[outputs],
                "Mlp::from_layers: layer {i} bias shape {} for {outputs} outputs",
                l.bias.shape()
            );
        }
        for (i, w) in layers.windows(2).enumerate() {
            assert_eq!(
                w[0].outputs(),
                w[1].inputs(),
                "Mlp::from_layers: layer {i} has {} outputs but layer {} has {} inputs",
                w[0].outputs(),
                i + 1,
                w[1].inputs()
            );
        }
        Mlp { layers, activations }
    }

    /// The layers, input first.
    pub fn layers(&self) -> &[Linear<T>] {
        &self.layers
    }

    /// The layers, for changing weights in place (their shapes must stay).
    pub fn layers_mut(&mut self) -> &mut [Linear<T>] {
        &mut self.layers
    }

    /// The activation every hidden layer shares ([`Activation::Identity`] when there is no
    /// hidden layer).
    ///
    /// # Panics
    /// If the hidden layers' activations differ: [`activations`](Mlp::activations) lists them.
    pub fn activation(&self) -> Activation {
        match self.activations.split_first() {
            None => Activation::Identity,
            Some((first, rest)) => {
                assert!(
                    rest.iter().all(|a| a == first),
                    "Mlp::activation: the hidden layers have different activations {:?}; use Mlp::activations",
                    self.activations
                );
                first.clone()
            }
        }
    }

    /// The activation after each hidden layer, input side first (one fewer than the layers).
    pub fn activations(&self) -> &[Activation] {
        &self.activations
    }

    /// The activations, for changing them in place.
    pub fn activations_mut(&mut self) -> &mut [Activation] {
        &mut self.activations
    }

    /// The layer sizes, input first (the argument of [`new`](Mlp::new)).
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.layers[0].inputs()).chain(self.layers.iter().map(Linear::outputs)).collect()
    }

    /// The logits of `x: [batch, inputs]`, recorded on `x`'s tape: each layer records its
    /// parameters with [`Tape::param`], so their gradients are found from the parameters.
    ///
    /// # Panics
    /// If `x` is not `[batch, inputs]`.
    pub fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (last, hidden) = self.layers.split_last().expect("an Mlp has at least one layer");
        let h = hidden.iter().zip(&self.activations).fold(x, |h, (layer, act)| act.forward(layer.forward(h)));
        last.forward(h)
    }

    /// The logits of a batch `[n, inputs]`: [`forward`](Mlp::forward) on a tape of its own,
    /// which is dropped after (nothing is kept for a backward pass).
    ///
    /// # Panics
    /// If `x` is not `[batch, inputs]`.
    pub fn logits(&self, x: &Tensor<T>) -> Tensor<T> {
        let tape = Tape::new();
        self.forward(tape.constant(x)).value()
    }

    /// Class probabilities (softmax of the logits), one row per sample.
    ///
    /// # Panics
    /// If `x` is not `[batch, inputs]`.
    pub fn predict_proba(&self, x: &Tensor<T>) -> Tensor<T> {
        self.logits(x).softmax()
    }

    /// The most probable class of each sample.
    ///
    /// # Panics
    /// If `x` is not `[batch, inputs]`.
    pub fn predict(&self, x: &Tensor<T>) -> Vec<usize> {
        self.logits(x).argmax()
    }
}

/// Parameters are named as in `torch.nn.Sequential(Linear, Act, Linear, ..., Linear)`: layer
/// `l` is module `2 l`, so `"0.weight"`, `"0.bias"`, `"2.weight"`, ...
impl<T: Float> Module<T> for Mlp<T> {
    fn parameters(&self) -> Vec<Parameter<'_, T>> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(l, layer)| {
                layer.parameters().into_iter().map(move |p| Parameter { name: parameter_name(l, &p.name), ..p })
            })
            .collect()
    }

    fn parameters_mut(&mut self) -> Vec<ParameterMut<'_, T>> {
        // One list per step, not one per layer besides: optimisers call this every step.
        self.layers.iter_mut().flat_map(Linear::weight_and_bias_mut).collect()
    }
}

/// The name of parameter `name` of layer `l` in `torch.nn.Sequential(Linear, Act, Linear, ...)`:
/// layer `l` is module `2 l` (the activations are the odd modules), so `"{2l}.{name}"`.
pub(crate) fn parameter_name(layer: usize, name: &str) -> String {
    format!("{}.{name}", 2 * layer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let err = std::panic::catch_unwind(f).expect_err("expected a panic");
        err.downcast_ref::<String>().cloned().expect("a formatted message")
    }

    #[test]
    fn layers_too_large_to_exist_are_refused_by_name_before_any_is_built() {
        use rand::RngExt;
        // Layer 0 of the first is 2^64 elements (wraps to 0); in the second, layer 0 is 8 MiB,
        // which used to be allocated and drawn before layer 1 (2^82 elements) failed inside
        // Shape with a message naming neither Mlp::new nor the sizes.
        for (sizes, layer, weight) in [
            (vec![1 << 33, 1 << 31, 2], 0, "[8589934592, 2147483648]"),
            (vec![2, 1 << 20, 1 << 62], 1, "[1048576, 4611686018427387904]"),
        ] {
            let mut rng = StdRng::seed_from_u64(5);
            let msg = panic_message(std::panic::AssertUnwindSafe(|| {
                let _ = Mlp::<f32>::new(&sizes, Activation::Relu, Init::HeUniform, &mut rng);
            }));
            let want = format!(
                "Mlp::new: layer {layer} of {sizes:?} needs a {weight} weight, more elements than any tensor can hold"
            );
            assert!(msg.starts_with(&want), "{msg}");
            // Nothing was drawn: no layer was initialised before the check.
            assert_eq!(rng.random::<u64>(), StdRng::seed_from_u64(5).random::<u64>(), "{sizes:?}");
        }
        let msg = panic_message(|| {
            let _ = Linear::<f64>::new(1 << 40, 1 << 40, Init::Zeros, &mut StdRng::seed_from_u64(0));
        });
        assert!(msg.starts_with("Linear::new: a [1099511627776, 1099511627776] weight has more elements"), "{msg}");
        // The largest describable weight's element count passes the check (it is not allocated here).
        assert!(
            crate::linear::weight_fits(tapegrad_autograd::Shape::MAX_NUMEL, 1)
                && !crate::linear::weight_fits(tapegrad_autograd::Shape::MAX_NUMEL, 2)
        );
    }

    #[test]
    fn names_follow_pytorch_sequential() {
        let mlp = Mlp::<f32>::new(&[3, 4, 5, 2], Activation::Tanh, Init::GlorotUniform, &mut StdRng::seed_from_u64(0));
        let names: Vec<String> = mlp.parameters().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]);
        assert_eq!(mlp.sizes(), vec![3, 4, 5, 2]);
        assert_eq!(mlp.num_parameters(), 3 * 4 + 4 + 4 * 5 + 5 + 5 * 2 + 2);
    }

    #[test]
    fn relu_propagates_nan_per_value() {
        assert!(Activation::Relu.f(f64::NAN).is_nan());
        assert_eq!(Activation::Relu.derivative(f64::NAN, f64::NAN), 0.0);
    }

    #[test]
    fn a_nan_first_layer_weight_makes_nan_logits_through_relu() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut mlp = Mlp::<f32>::new(&[3, 4, 2], Activation::Relu, Init::HeUniform, &mut rng);
        // A NaN into hidden unit 0; relu used to turn it into 0 and the logits stayed finite.
        mlp.layers_mut()[0].weight.value_mut().data_mut()[0] = f32::NAN;
        let x = Tensor::rand_normal([5, 3], 0.0, 1.0, &mut rng);
        assert!(mlp.logits(&x).data().iter().all(|v| v.is_nan()));
        let loss = crate::manual::ManualBackprop::new().run(&mlp, &x, &[0, 1, 0, 1, 0], 0.0);
        assert!(loss.is_nan(), "hand-derived loss {loss}");
    }

    #[test]
    #[should_panic(expected = "Mlp::from_layers: layer 0 has 4 outputs but layer 1 has 5 inputs")]
    fn from_layers_checks_sizes() {
        let mut rng = StdRng::seed_from_u64(0);
        let a = Linear::<f32>::new(3, 4, Init::Zeros, &mut rng);
        let b = Linear::<f32>::new(5, 2, Init::Zeros, &mut rng);
        Mlp::from_layers(vec![a, b], Activation::Relu);
    }
}
