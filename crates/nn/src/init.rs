//! Weight initialisers, drawn from the caller's RNG so runs are reproducible.

use rand::Rng;
use tapegrad_autograd::{Float, Shape, Tensor};

/// How to fill a new weight matrix of shape `[fan_in, fan_out]`.
///
/// The Glorot and He variants scale with the layer's fan-in and fan-out so that activations keep
/// their variance from layer to layer: Glorot for tanh and sigmoid, He for relu.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros (biases; a weight so initialised never breaks symmetry).
    Zeros,
    /// Uniform on `[-a, a)`.
    Uniform(f64),
    /// Normal with mean 0 and the given standard deviation.
    Normal(f64),
    /// Glorot/Xavier uniform: `a = sqrt(6 / (fan_in + fan_out))`.
    GlorotUniform,
    /// Glorot/Xavier normal: `std = sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// He/Kaiming uniform: `a = sqrt(6 / fan_in)` (PyTorch's `kaiming_uniform_` with relu gain).
    HeUniform,
    /// He/Kaiming normal: `std = sqrt(2 / fan_in)`.
    HeNormal,
}

impl Init {
    /// A new tensor of `shape` drawn from this initialiser.
    ///
    /// `fan_in` and `fan_out` are taken from a matrix shape `[fan_in, fan_out]`; a vector `[n]`
    /// counts as `fan_in = fan_out = n`.
    ///
    /// Allocation follows [`Shape`]'s check: a shape of more than [`Shape::MAX_NUMEL`] elements
    /// panics when it is built, before anything is allocated; a describable shape too large for
    /// memory aborts in the allocator, as `Vec` does.
    ///
    /// ```
    /// use tapegrad_nn::Init;
    /// use rand::{SeedableRng, rngs::StdRng};
    /// let w = Init::HeUniform.tensor::<f32, _>([64, 10], &mut StdRng::seed_from_u64(0));
    /// let bound = (6.0f32 / 64.0).sqrt();
    /// assert!(w.data().iter().all(|x| x.abs() <= bound));
    /// ```
    pub fn tensor<T: Float, R: Rng + ?Sized>(&self, shape: impl Into<Shape>, rng: &mut R) -> Tensor<T> {
        let shape = shape.into();
        let (fan_in, fan_out) = match shape.dims() {
            [] => (1, 1),
            [n] => (*n, *n),
            [.., i, o] => (*i, *o),
        };
        let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
        match *self {
            Init::Zeros => Tensor::zeros(shape),
            Init::Uniform(a) => Tensor::rand_uniform(shape, -a, a, rng),
            Init::Normal(std) => Tensor::rand_normal(shape, 0.0, std, rng),
            Init::GlorotUniform => {
                let a = (6.0 / (fan_in + fan_out)).sqrt();
                Tensor::rand_uniform(shape, -a, a, rng)
            }
            Init::GlorotNormal => Tensor::rand_normal(shape, 0.0, (2.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::HeUniform => {
                let a = (6.0 / fan_in).sqrt();
                Tensor::rand_uniform(shape, -a, a, rng)
            }
            Init::HeNormal => Tensor::rand_normal(shape, 0.0, (2.0 / fan_in).sqrt(), rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn variance(t: &Tensor<f64>) -> f64 {
        let n = t.numel() as f64;
        let mean = t.data().iter().sum::<f64>() / n;
        t.data().iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n
    }

    #[test]
    fn each_initialiser_has_its_variance() {
        let mut rng = StdRng::seed_from_u64(3);
        let (fan_in, fan_out) = (200, 100);
        // Uniform(-a, a) has variance a^2 / 3.
        let cases = [
            (Init::Uniform(0.5), 0.25 / 3.0),
            (Init::Normal(0.2), 0.04),
            (Init::GlorotUniform, 6.0 / 300.0 / 3.0),
            (Init::GlorotNormal, 2.0 / 300.0),
            (Init::HeUniform, 6.0 / 200.0 / 3.0),
            (Init::HeNormal, 2.0 / 200.0),
        ];
        for (init, want) in cases {
            let v = variance(&init.tensor([fan_in, fan_out], &mut rng));
            // 20000 draws: the sample variance is within 3% of the true one with high probability
            // (its relative standard error is sqrt(2 / n) = 1% for a normal, less for a uniform).
            assert!((v / want - 1.0).abs() < 0.03, "{init:?}: variance {v}, expected {want}");
        }
        assert!(Init::Zeros.tensor::<f64, _>([3, 2], &mut rng).data().iter().all(|&x| x == 0.0));
    }
}
