//! A model as a list of layers, as `torch.nn.Sequential`: linear layers, activations, dropout
//! and layer normalisation, in any order.

use crate::{Activation, Init, Linear, Mlp, Module, Parameter, ParameterMut};
use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use std::sync::Mutex;
use tapegrad_autograd::{Float, InputGrad, Op, Output, Param, Tape, Tensor, Var};

/// Whether a model is training or evaluating: in [`Train`](Mode::Train), [`Dropout`] zeroes a
/// random fraction of its inputs; in [`Eval`](Mode::Eval) it passes them through. No other
/// layer here depends on the mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Training: dropout is active (PyTorch's `model.train()`).
    Train,
    /// Evaluation: dropout is the identity (PyTorch's `model.eval()`).
    Eval,
}

/// Inverted dropout, as PyTorch's `nn.Dropout(p)`: in [`Mode::Train`] each element is zeroed
/// with probability `p` and the others are scaled by `1 / (1 - p)`, so the expected output is
/// the input; in [`Mode::Eval`] the input passes unchanged.
///
/// The masks come from the layer's own random generator, seeded at construction, so a run is
/// reproducible: the same seed and the same sequence of training forwards give the same masks.
/// Cloning copies the generator's state.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Dropout, Mode};
///
/// let drop = Dropout::new(0.5, 7);
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::ones([2, 1000]));
/// let y = drop.forward(x, Mode::Train).value();
/// // Every element is 0 or 1 / (1 - 0.5) = 2; about half are 2.
/// assert!(y.data().iter().all(|&v| v == 0.0 || v == 2.0));
/// let kept = y.data().iter().filter(|&&v| v == 2.0).count();
/// assert!((900..1100).contains(&kept), "{kept}");
/// // Evaluation is the identity.
/// assert_eq!(drop.forward(x, Mode::Eval).value(), Tensor::ones([2, 1000]));
/// ```
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    rng: Mutex<SmallRng>,
}

impl Dropout {
    /// Dropout with probability `p` of zeroing each element, its masks drawn from a generator
    /// seeded with `seed`.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`: `Dropout::new: p must be in [0, 1], got 1.5`.
    pub fn new(p: f64, seed: u64) -> Dropout {
        assert!((0.0..=1.0).contains(&p), "Dropout::new: p must be in [0, 1], got {p}");
        Dropout { p, rng: Mutex::new(SmallRng::seed_from_u64(seed)) }
    }

    /// The probability of zeroing an element.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The mask of the next training forward for `shape`: 0 with probability `p`, else
    /// `1 / (1 - p)` (all 0 for `p = 1`, as PyTorch).
    fn mask<T: Float>(&self, shape: &tapegrad_autograd::Shape) -> Tensor<T> {
        let scale = if self.p < 1.0 { T::from_f64(1.0 / (1.0 - self.p)) } else { T::ZERO };
        // A panic elsewhere while the lock was held leaves the generator intact: keep using it.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        Tensor::from_vec(
            shape.clone(),
            (0..shape.numel()).map(|_| if rng.random::<f64>() < self.p { T::ZERO } else { scale }).collect(),
        )
    }

    /// `x` times a fresh mask in [`Mode::Train`] (recorded as a product with a constant, so the
    /// gradient is the mask too); `x` itself in [`Mode::Eval`] and for `p = 0`.
    pub fn forward<'t, T: Float>(&self, x: Var<'t, T>, mode: Mode) -> Var<'t, T> {
        if mode == Mode::Eval || self.p == 0.0 {
            return x;
        }
        let mask = self.mask(&x.shape());
        x.mul(x.tape().constant(mask))
    }
}

impl Clone for Dropout {
    fn clone(&self) -> Dropout {
        let rng = self.rng.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Dropout { p: self.p, rng: Mutex::new(rng) }
    }
}

impl PartialEq for Dropout {
    /// Equal probabilities (the generators' states are not compared).
    fn eq(&self, other: &Dropout) -> bool {
        self.p == other.p
    }
}

/// Layer normalisation over the last axis, as PyTorch's `nn.LayerNorm(d)`: each row `x` of
/// `d` features becomes `(x - mean) / sqrt(var + eps) * weight + bias`, with the biased
/// variance, `eps = 1e-5`, `weight` starting at ones and `bias` at zeros.
///
/// Recorded as one op ([`LayerNormOp`]) with its own backward.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::LayerNorm;
///
/// let norm = LayerNorm::<f64>::new(4);
/// let tape = Tape::new();
/// let y = norm.forward(tape.constant(Tensor::from_rows(&[[1.0, 2.0, 3.0, 4.0]]))).value();
/// // mean 2.5, variance 1.25: (x - 2.5) / sqrt(1.25 + 1e-5).
/// let s = (1.25f64 + 1e-5).sqrt();
/// for (got, x) in y.data().iter().zip([1.0, 2.0, 3.0, 4.0]) {
///     assert!((got - (x - 2.5) / s).abs() < 1e-15);
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm<T: Float> {
    /// The gain, `[d]`.
    pub weight: Param<T>,
    /// The shift, `[d]`.
    pub bias: Param<T>,
    eps: f64,
}

impl<T: Float> LayerNorm<T> {
    /// PyTorch's default epsilon.
    pub const DEFAULT_EPS: f64 = 1e-5;

    /// Normalisation of `d` features, weight ones, bias zeros, `eps = 1e-5`.
    ///
    /// # Panics
    /// If `d` is 0.
    pub fn new(d: usize) -> Self {
        assert!(d > 0, "LayerNorm::new: the feature count must be positive");
        LayerNorm::from_tensors(Tensor::ones([d]), Tensor::zeros([d]), Self::DEFAULT_EPS)
    }

    /// Normalisation with the given weight `[d]`, bias `[d]` and epsilon.
    ///
    /// # Panics
    /// If the weight is not a non-empty vector, the bias's shape differs from the weight's, or
    /// `eps` is negative or not finite.
    pub fn from_tensors(weight: Tensor<T>, bias: Tensor<T>, eps: f64) -> Self {
        assert!(
            weight.shape().dims().len() == 1 && weight.numel() > 0,
            "LayerNorm::from_tensors: weight shape {} is not a non-empty vector",
            weight.shape()
        );
        assert_eq!(
            weight.shape(),
            bias.shape(),
            "LayerNorm::from_tensors: weight shape {} and bias shape {} differ",
            weight.shape(),
            bias.shape()
        );
        assert!(eps >= 0.0 && eps.is_finite(), "LayerNorm::from_tensors: eps must be finite and >= 0, got {eps}");
        LayerNorm { weight: Param::new(weight), bias: Param::new(bias), eps }
    }

    /// The number of features normalised together.
    pub fn features(&self) -> usize {
        self.weight.numel()
    }

    /// The epsilon added to the variance.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The normalisation of `x: [..., d]` over its last axis, recorded on `x`'s tape.
    ///
    /// # Panics
    /// If `x`'s last axis is not `d`: `layer_norm: input shape [2, 5] does not end in the
    /// weight's [4]`.
    pub fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let tape = x.tape();
        tape.apply(LayerNormOp { eps: self.eps }, &[x, tape.param(&self.weight), tape.param(&self.bias)])
    }
}

/// The op of [`LayerNorm`]: inputs `x: [..., d]`, `weight: [d]`, `bias: [d]`. Per row, with
/// `r = 1 / sqrt(var + eps)` and `h = (x - mean) r`: `y = h w + b`;
/// `dx = r (gw - mean(gw) - h mean(gw h))` (with `gw = g w`), `dw = sum_rows g h`,
/// `db = sum_rows g`.
pub struct LayerNormOp {
    /// Added to the variance.
    pub eps: f64,
}

impl LayerNormOp {
    /// For each row of `x`: its normalised values `h` (written to `h`) and `r`.
    fn normalise<T: Float>(&self, row: &[T], h: &mut [T]) -> T {
        let n = T::from_f64(row.len() as f64);
        let mean = row.iter().copied().sum::<T>() / n;
        let var = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<T>() / n;
        let r = T::ONE / (var + T::from_f64(self.eps)).sqrt();
        h.iter_mut().zip(row).for_each(|(h, &v)| *h = (v - mean) * r);
        r
    }
}

impl<T: Float> Op<T> for LayerNormOp {
    fn name(&self) -> String {
        format!("layer_norm(eps={})", self.eps)
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(3)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let (x, w, b) = (inputs[0], inputs[1], inputs[2]);
        let d = w.numel();
        assert!(
            x.shape().dims().last() == Some(&d) && w.shape().dims().len() == 1,
            "layer_norm: input shape {} does not end in the weight's {}",
            x.shape(),
            w.shape()
        );
        assert_eq!(w.shape(), b.shape(), "layer_norm: weight shape {} and bias shape {} differ", w.shape(), b.shape());
        let y = out.overwrite(x.shape().clone());
        for (row, y) in x.data().chunks_exact(d).zip(y.chunks_exact_mut(d)) {
            self.normalise(row, y);
            for ((y, &w), &b) in y.iter_mut().zip(w.data()).zip(b.data()) {
                *y = *y * w + b;
            }
        }
    }

    fn backward(&self, inputs: &[&Tensor<T>], _y: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let (x, w) = (inputs[0], inputs[1]);
        let d = w.numel();
        let n = T::from_f64(d as f64);
        let (gx, rest) = grads.split_first_mut().expect("three inputs");
        let (gw, gb) = rest.split_at_mut(1);
        let (mut gx, gw, gb) = (gx.as_mut().map(|g| g.tensor()), gw[0].as_mut(), gb[0].as_mut());
        let mut gw = gw.map(|g| g.tensor());
        let mut gb = gb.map(|g| g.tensor());
        let mut h = vec![T::ZERO; d];
        for (r_i, (row, g)) in x.data().chunks_exact(d).zip(g.data().chunks_exact(d)).enumerate() {
            let r = self.normalise(row, &mut h);
            if let Some(gw) = &mut gw {
                gw.data_mut().iter_mut().zip(g).zip(&h).for_each(|((a, &g), &h)| *a += g * h);
            }
            if let Some(gb) = &mut gb {
                gb.data_mut().iter_mut().zip(g).for_each(|(a, &g)| *a += g);
            }
            if let Some(gx) = &mut gx {
                // gw = g w; dx = r (gw - mean(gw) - h mean(gw h)).
                let (mut m1, mut m2) = (T::ZERO, T::ZERO);
                for ((&g, &w), &h) in g.iter().zip(w.data()).zip(&h) {
                    m1 += g * w;
                    m2 += g * w * h;
                }
                let (m1, m2) = (m1 / n, m2 / n);
                let out = &mut gx.data_mut()[r_i * d..(r_i + 1) * d];
                for (((o, &g), &w), &h) in out.iter_mut().zip(g).zip(w.data()).zip(&h) {
                    *o += r * (g * w - m1 - h * m2);
                }
            }
        }
    }
}

/// One layer of a [`Sequential`]. Each converts from its own type with `into()`.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer<T: Float> {
    /// A fully connected layer (PyTorch's `Linear`).
    Linear(Linear<T>),
    /// An activation (PyTorch's module of the same function: `ReLU`, `Tanh`, ...).
    Activation(Activation),
    /// Dropout (PyTorch's `Dropout`).
    Dropout(Dropout),
    /// Layer normalisation over the last axis (PyTorch's `LayerNorm`).
    LayerNorm(LayerNorm<T>),
}

impl<T: Float> Layer<T> {
    /// A [`Linear`] layer with weights from `init`, biases zero.
    ///
    /// # Panics
    /// As [`Linear::new`].
    pub fn linear<R: Rng + ?Sized>(inputs: usize, outputs: usize, init: Init, rng: &mut R) -> Layer<T> {
        Layer::Linear(Linear::new(inputs, outputs, init, rng))
    }

    /// The layer's output for `x`, recorded on `x`'s tape, in `mode`.
    ///
    /// # Panics
    /// If `x`'s shape does not fit the layer (see [`Linear::forward`], [`LayerNorm::forward`]).
    pub fn forward<'t>(&self, x: Var<'t, T>, mode: Mode) -> Var<'t, T> {
        match self {
            Layer::Linear(l) => l.forward(x),
            Layer::Activation(a) => a.forward(x),
            Layer::Dropout(d) => d.forward(x, mode),
            Layer::LayerNorm(n) => n.forward(x),
        }
    }

    /// A short description for messages: `Linear(4 -> 8)`, `relu`, `Dropout(0.5)`,
    /// `LayerNorm(8)`.
    pub fn describe(&self) -> String {
        match self {
            Layer::Linear(l) => format!("Linear({} -> {})", l.inputs(), l.outputs()),
            Layer::Activation(a) => a.name(),
            Layer::Dropout(d) => format!("Dropout({})", d.p()),
            Layer::LayerNorm(n) => format!("LayerNorm({})", n.features()),
        }
    }
}

impl<T: Float> From<Linear<T>> for Layer<T> {
    fn from(l: Linear<T>) -> Self {
        Layer::Linear(l)
    }
}

impl<T: Float> From<Activation> for Layer<T> {
    fn from(a: Activation) -> Self {
        Layer::Activation(a)
    }
}

impl<T: Float> From<Dropout> for Layer<T> {
    fn from(d: Dropout) -> Self {
        Layer::Dropout(d)
    }
}

impl<T: Float> From<LayerNorm<T>> for Layer<T> {
    fn from(n: LayerNorm<T>) -> Self {
        Layer::LayerNorm(n)
    }
}

/// Layers applied in order, as `torch.nn.Sequential`. Layer `i`'s parameters are named
/// `"{i}.weight"` and `"{i}.bias"`, as PyTorch names them (activations and dropout count as
/// layers, without parameters), so [`crate::io`] writes files that load into the
/// `torch.nn.Sequential` of the same layer list.
///
/// A new model is in [`Mode::Train`], as in PyTorch; [`eval`](Sequential::eval) and
/// [`train`](Sequential::train) switch. [`forward`](Sequential::forward) follows the mode;
/// [`logits`](Sequential::logits) and [`predict`](Sequential::predict) always evaluate.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// use tapegrad_nn::{Activation, Dropout, Init, Layer, LayerNorm, Mode, Module, Sequential, softmax_cross_entropy};
/// use rand::{SeedableRng, rngs::StdRng};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mut model = Sequential::<f32>::new(vec![
///     Layer::linear(4, 16, Init::HeUniform, &mut rng),
///     LayerNorm::new(16).into(),
///     Activation::Gelu.into(),
///     Dropout::new(0.1, 42).into(),
///     Layer::linear(16, 3, Init::GlorotUniform, &mut rng),
/// ]);
/// let names: Vec<String> = model.parameters().into_iter().map(|p| p.name).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]);
///
/// let x = Tensor::rand_uniform([5, 4], -1.0, 1.0, &mut rng);
/// assert_eq!(model.mode(), Mode::Train);
/// let tape = Tape::new();
/// let loss = softmax_cross_entropy(model.forward(tape.constant(&x)), &[0, 1, 2, 0, 1]);
/// let grads = loss.backward();
/// assert_eq!(grads[model.parameters()[0].param].shape().dims(), &[4, 16]); // "0.weight", ours [in, out]
///
/// model.eval();
/// assert_eq!(model.predict(&x).len(), 5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Sequential<T: Float> {
    layers: Vec<Layer<T>>,
    mode: Mode,
}

impl<T: Float> Sequential<T> {
    /// A model of `layers`, in [`Mode::Train`].
    ///
    /// # Panics
    /// If `layers` is empty, or a layer's input size differs from the features the layers
    /// before it produce: `Sequential::new: layer 2 (Linear(5 -> 3)) takes 5 features but
    /// layer 0 (Linear(4 -> 8)) gives 8`.
    pub fn new(layers: Vec<Layer<T>>) -> Self {
        assert!(!layers.is_empty(), "Sequential::new: no layers");
        // (index, description, features) of the last layer that fixed the feature count.
        let mut last: Option<(usize, String, usize)> = None;
        for (i, layer) in layers.iter().enumerate() {
            let (takes, gives) = match layer {
                Layer::Linear(l) => (l.inputs(), l.outputs()),
                Layer::LayerNorm(n) => (n.features(), n.features()),
                Layer::Activation(_) | Layer::Dropout(_) => continue,
            };
            if let Some((j, what, features)) = &last
                && *features != takes
            {
                panic!(
                    "Sequential::new: layer {i} ({}) takes {takes} features but layer {j} ({what}) gives {features}",
                    layer.describe()
                );
            }
            last = Some((i, layer.describe(), gives));
        }
        Sequential { layers, mode: Mode::Train }
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Layer<T>] {
        &self.layers
    }

    /// The layers, for changing parameters in place (their shapes must stay).
    pub fn layers_mut(&mut self) -> &mut [Layer<T>] {
        &mut self.layers
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Switches to [`Mode::Train`]: dropout active.
    pub fn train(&mut self) -> &mut Self {
        self.mode = Mode::Train;
        self
    }

    /// Switches to [`Mode::Eval`]: dropout is the identity.
    pub fn eval(&mut self) -> &mut Self {
        self.mode = Mode::Eval;
        self
    }

    /// The output for `x`, recorded on `x`'s tape, in the model's [`mode`](Sequential::mode).
    ///
    /// # Panics
    /// If `x`'s shape does not fit the first layer that has a size.
    pub fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        self.forward_in(x, self.mode)
    }

    /// The output for `x` in `mode`, whatever the model's own mode.
    ///
    /// # Panics
    /// As [`forward`](Sequential::forward).
    pub fn forward_in<'t>(&self, x: Var<'t, T>, mode: Mode) -> Var<'t, T> {
        self.layers.iter().fold(x, |h, layer| layer.forward(h, mode))
    }

    /// The output for a batch, in [`Mode::Eval`], on a tape of its own.
    ///
    /// # Panics
    /// As [`forward`](Sequential::forward).
    pub fn logits(&self, x: &Tensor<T>) -> Tensor<T> {
        let tape = Tape::new();
        self.forward_in(tape.constant(x), Mode::Eval).value()
    }

    /// Softmax of the [`logits`](Sequential::logits), one row per sample.
    ///
    /// # Panics
    /// As [`forward`](Sequential::forward).
    pub fn predict_proba(&self, x: &Tensor<T>) -> Tensor<T> {
        self.logits(x).softmax()
    }

    /// The most probable class of each sample, in [`Mode::Eval`].
    ///
    /// # Panics
    /// As [`forward`](Sequential::forward).
    pub fn predict(&self, x: &Tensor<T>) -> Vec<usize> {
        self.logits(x).argmax()
    }

    /// The [`Mlp`] of these layers, if they are one: `Linear, act, Linear, ..., act, Linear`.
    pub fn to_mlp(&self) -> Option<Mlp<T>> {
        let mut linears = Vec::new();
        let mut activations = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            match (i % 2, layer) {
                (0, Layer::Linear(l)) => linears.push(l.clone()),
                (1, Layer::Activation(a)) => activations.push(a.clone()),
                _ => return None,
            }
        }
        (self.layers.len() % 2 == 1).then(|| Mlp::from_layers_with_activations(linears, activations))
    }
}

impl<T: Float> From<Mlp<T>> for Sequential<T> {
    /// `Linear, act, Linear, ..., Linear`: the same function and the same parameter names.
    fn from(mlp: Mlp<T>) -> Self {
        mlp.to_sequential()
    }
}

impl<T: Float> Mlp<T> {
    /// The [`Sequential`] of the same layers (`Linear, act, ..., Linear`), computing the same
    /// function with the same parameter names.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// use tapegrad_nn::{Activation, Init, Mlp};
    /// use rand::{SeedableRng, rngs::StdRng};
    /// let mlp = Mlp::<f64>::new(&[3, 4, 2], Activation::Tanh, Init::GlorotUniform, &mut StdRng::seed_from_u64(0));
    /// let seq = mlp.to_sequential();
    /// let x = Tensor::from_rows(&[[0.5, -1.0, 2.0]]);
    /// assert_eq!(seq.logits(&x), mlp.logits(&x));
    /// assert_eq!(seq.to_mlp(), Some(mlp));
    /// ```
    pub fn to_sequential(&self) -> Sequential<T> {
        let mut layers = Vec::with_capacity(2 * self.layers().len() - 1);
        for (l, linear) in self.layers().iter().enumerate() {
            if l > 0 {
                layers.push(Layer::Activation(self.activations()[l - 1].clone()));
            }
            layers.push(Layer::Linear(linear.clone()));
        }
        Sequential::new(layers)
    }
}

/// Parameters as PyTorch names them in the `Sequential`: `"{i}.weight"`, `"{i}.bias"` for
/// layer `i`. A [`LayerNorm`]'s gain and shift count as biases ([`Parameter::is_weight`]
/// false), so weight decay and L2 leave them alone, as is usual for normalisation.
impl<T: Float> Module<T> for Sequential<T> {
    fn parameters(&self) -> Vec<Parameter<'_, T>> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let (weight, bias, is_weight) = match layer {
                Layer::Linear(l) => (&l.weight, &l.bias, true),
                Layer::LayerNorm(n) => (&n.weight, &n.bias, false),
                Layer::Activation(_) | Layer::Dropout(_) => continue,
            };
            out.push(Parameter { name: format!("{i}.weight"), param: weight, is_weight });
            out.push(Parameter { name: format!("{i}.bias"), param: bias, is_weight: false });
        }
        out
    }

    fn parameters_mut(&mut self) -> Vec<ParameterMut<'_, T>> {
        let mut out = Vec::new();
        for layer in &mut self.layers {
            match layer {
                Layer::Linear(l) => out.extend(l.weight_and_bias_mut()),
                Layer::LayerNorm(n) => {
                    out.push(ParameterMut { param: &mut n.weight, is_weight: false });
                    out.push(ParameterMut { param: &mut n.bias, is_weight: false });
                }
                Layer::Activation(_) | Layer::Dropout(_) => {}
            }
        }
        out
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }
}
