//! Activations: the engine's named nonlinearities, a user's own [`UnaryRule`], or a closure pair.

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::str::FromStr;
use std::sync::Arc;
use tapegrad_autograd::ops::activation::{Elu, Gelu, LeakyRelu, LogSigmoid, Relu, Sigmoid, Silu, Softplus, Tanh};
use tapegrad_autograd::ops::elementwise::{Unary, UnaryRule};
use tapegrad_autograd::{Float, Precision, Tensor, Var};

/// A nonlinearity applied elementwise after a layer: one of the engine's named activations, or
/// a user's own ([`Activation::rule`], [`Activation::custom`]).
///
/// Every named activation has the PyTorch module of the same function
/// ([`torch_module`](Activation::torch_module)), which is how [`crate::io`] records it; a
/// custom one has none, so a model using one cannot be saved.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::Activation;
///
/// let z = Tensor::from_vec([3], vec![-2.0f64, 0.0, 3.0]);
/// assert_eq!(Activation::Relu.apply(&z).data(), &[0.0, 0.0, 3.0]);
/// assert_eq!(Activation::LeakyRelu(0.1).apply(&z).data(), &[-0.2, 0.0, 3.0]);
///
/// // A closure pair: the value and the derivative, in f64 (f32 models convert).
/// let cube = Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x);
/// assert_eq!(cube.apply(&z).data(), &[-8.0, 0.0, 27.0]);
/// assert_eq!(cube.name(), "cube");
/// assert!(cube.torch_module().is_none());
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Activation {
    /// `z` unchanged (PyTorch's `Identity`).
    Identity,
    /// `max(z, 0)`; derivative 1 for `z > 0`, else 0. NaN stays NaN (derivative 0), as in
    /// PyTorch.
    Relu,
    /// `z` for `z > 0`, else `slope z` (PyTorch's `LeakyReLU(negative_slope)`); derivative
    /// `slope` at 0.
    LeakyRelu(f64),
    /// `z` for `z > 0`, else `e^z - 1` (PyTorch's `ELU()`, `alpha = 1`).
    Elu,
    /// The exact GELU, `z Phi(z)` (PyTorch's `GELU()`, `approximate = "none"`).
    Gelu,
    // The tanh approximation of GELU belongs here, recorded as `GELU(approximate="tanh")`.
    /// `z sigmoid(z)` (PyTorch's `SiLU`).
    Silu,
    /// `ln(1 + e^z)` (PyTorch's `Softplus()`; PyTorch returns `z` itself above its threshold of
    /// 20, where the two differ by less than `e^-20`).
    Softplus,
    /// `1 / (1 + e^-z)`; derivative `a (1 - a)`.
    Sigmoid,
    /// `tanh z`; derivative `1 - a^2`.
    Tanh,
    /// `ln sigmoid(z)` (PyTorch's `LogSigmoid`).
    LogSigmoid,
    /// A user's own activation: see [`Activation::rule`] and [`Activation::custom`].
    Custom(CustomActivation),
}

/// A user's activation, behind [`Activation::Custom`]: a name and a shared rule. Two are equal
/// when they share the same rule (clones of one [`Activation::custom`]).
#[derive(Clone)]
pub struct CustomActivation {
    rule: Arc<dyn ErasedRule>,
}

impl CustomActivation {
    /// The name it was given (shown in listings and errors).
    pub fn name(&self) -> String {
        self.rule.name()
    }
}

/// A rule for both float types, behind a pointer: [`UnaryRule`] itself has an associated const,
/// so it cannot be a trait object. Unwind-safe, so that a model holding one stays so.
trait ErasedRule: Send + Sync + RefUnwindSafe + UnwindSafe {
    fn name(&self) -> String;
    fn f32(&self, x: f32) -> f32;
    fn df32(&self, x: f32, y: f32) -> f32;
    fn f64(&self, x: f64) -> f64;
    fn df64(&self, x: f64, y: f64) -> f64;
}

/// A user's [`UnaryRule`] for `f32` and `f64`.
struct RuleFor<R>(R);

impl<R: UnaryRule<f32> + UnaryRule<f64> + Sync + RefUnwindSafe + UnwindSafe> ErasedRule for RuleFor<R> {
    fn name(&self) -> String {
        UnaryRule::<f64>::name(&self.0)
    }
    fn f32(&self, x: f32) -> f32 {
        self.0.f(x)
    }
    fn df32(&self, x: f32, y: f32) -> f32 {
        self.0.df(x, y)
    }
    fn f64(&self, x: f64) -> f64 {
        self.0.f(x)
    }
    fn df64(&self, x: f64, y: f64) -> f64 {
        self.0.df(x, y)
    }
}

/// A closure pair, evaluated in f64.
struct Closures<F, D> {
    name: String,
    f: F,
    df: D,
}

impl<F, D> ErasedRule for Closures<F, D>
where
    F: Fn(f64) -> f64 + Send + Sync + RefUnwindSafe + UnwindSafe + 'static,
    D: Fn(f64) -> f64 + Send + Sync + RefUnwindSafe + UnwindSafe + 'static,
{
    fn name(&self) -> String {
        self.name.clone()
    }
    fn f32(&self, x: f32) -> f32 {
        (self.f)(f64::from(x)) as f32
    }
    fn df32(&self, x: f32, _y: f32) -> f32 {
        (self.df)(f64::from(x)) as f32
    }
    fn f64(&self, x: f64) -> f64 {
        (self.f)(x)
    }
    fn df64(&self, x: f64, _y: f64) -> f64 {
        (self.df)(x)
    }
}

/// A [`CustomActivation`] as a rule the tape records; each value goes through the rule of its
/// own float type (the conversions through f64 are exact for both).
struct Dyn(Arc<dyn ErasedRule>);

impl<T: Float> UnaryRule<T> for Dyn {
    fn name(&self) -> String {
        self.0.name()
    }
    fn f(&self, x: T) -> T {
        match T::PRECISION {
            Precision::F32 => T::from_f64(f64::from(self.0.f32(x.to_f64() as f32))),
            Precision::F64 => T::from_f64(self.0.f64(x.to_f64())),
        }
    }
    fn df(&self, x: T, y: T) -> T {
        match T::PRECISION {
            Precision::F32 => T::from_f64(f64::from(self.0.df32(x.to_f64() as f32, y.to_f64() as f32))),
            Precision::F64 => T::from_f64(self.0.df64(x.to_f64(), y.to_f64())),
        }
    }
}

/// Runs `$body` with `$rule` bound to the engine's rule of a named activation, or `$custom`
/// for a user's.
macro_rules! with_rule {
    ($act:expr, $t:ty, |$rule:ident| $body:expr) => {
        match $act {
            Activation::Identity => {
                let $rule = IdentityRule;
                $body
            }
            Activation::Relu => {
                let $rule = Relu;
                $body
            }
            Activation::LeakyRelu(s) => {
                let $rule = LeakyRelu(<$t>::from_f64(*s));
                $body
            }
            Activation::Elu => {
                let $rule = Elu;
                $body
            }
            Activation::Gelu => {
                let $rule = Gelu;
                $body
            }
            Activation::Silu => {
                let $rule = Silu;
                $body
            }
            Activation::Softplus => {
                let $rule = Softplus;
                $body
            }
            Activation::Sigmoid => {
                let $rule = Sigmoid;
                $body
            }
            Activation::Tanh => {
                let $rule = Tanh;
                $body
            }
            Activation::LogSigmoid => {
                let $rule = LogSigmoid;
                $body
            }
            Activation::Custom(c) => {
                let $rule = Dyn(c.rule.clone());
                $body
            }
        }
    };
}

/// `y = x`, `dy/dx = 1`.
struct IdentityRule;
impl<T: Float> UnaryRule<T> for IdentityRule {
    fn name(&self) -> String {
        "identity".into()
    }
    const DF_IS_ONE: bool = true;
    fn f(&self, x: T) -> T {
        x
    }
    fn df(&self, _x: T, _y: T) -> T {
        T::ONE
    }
}

impl Activation {
    /// Every named activation (leaky relu with PyTorch's default slope 0.01), for listings and
    /// tests.
    pub const ALL: [Activation; 10] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::Elu,
        Activation::Gelu,
        Activation::Silu,
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::LogSigmoid,
    ];

    /// A user's own elementwise rule (a pure function: `Sync` and unwind-safe), for both float types (a rule written
    /// `impl<T: Float> UnaryRule<T> for MyRule` is), named by its [`UnaryRule::name`].
    ///
    /// ```
    /// use tapegrad_autograd::{Float, Tensor, ops::elementwise::UnaryRule};
    /// use tapegrad_nn::Activation;
    ///
    /// /// y = x / (1 + |x|), dy/dx = 1 / (1 + |x|)^2.
    /// struct Softsign;
    /// impl<T: Float> UnaryRule<T> for Softsign {
    ///     fn name(&self) -> String { "softsign".into() }
    ///     fn f(&self, x: T) -> T { x / (T::ONE + x.abs()) }
    ///     fn df(&self, x: T, _y: T) -> T { let d = T::ONE + x.abs(); T::ONE / (d * d) }
    /// }
    ///
    /// let act = Activation::rule(Softsign);
    /// assert_eq!(act.apply(&Tensor::from_vec([2], vec![1.0f32, -3.0])).data(), &[0.5, -0.75]);
    /// ```
    pub fn rule<R: UnaryRule<f32> + UnaryRule<f64> + Sync + RefUnwindSafe + UnwindSafe>(rule: R) -> Activation {
        Activation::Custom(CustomActivation { rule: Arc::new(RuleFor(rule)) })
    }

    /// A user's own activation from its value `f(z)` and derivative `f'(z)` (pure functions:
    /// `Sync` and unwind-safe), both in f64 (an
    /// f32 model converts each value to f64 and back).
    ///
    /// See the [type's example](Activation).
    pub fn custom(
        name: impl Into<String>,
        f: impl Fn(f64) -> f64 + Send + Sync + RefUnwindSafe + UnwindSafe + 'static,
        df: impl Fn(f64) -> f64 + Send + Sync + RefUnwindSafe + UnwindSafe + 'static,
    ) -> Activation {
        Activation::Custom(CustomActivation { rule: Arc::new(Closures { name: name.into(), f, df }) })
    }

    /// Records the activation of `z` on its tape.
    pub fn forward<'t, T: Float>(&self, z: Var<'t, T>) -> Var<'t, T> {
        if let Activation::Identity = self {
            return z;
        }
        with_rule!(self, T, |rule| z.apply(Unary(rule), &[]))
    }

    /// The activation of every element of `z`, without a tape.
    pub fn apply<T: Float>(&self, z: &Tensor<T>) -> Tensor<T> {
        with_rule!(self, T, |rule| z.map_rule(rule))
    }

    /// `f(z)` of one value, by the rule the tape uses.
    pub fn f<T: Float>(&self, z: T) -> T {
        with_rule!(self, T, |rule| rule.f(z))
    }

    /// `f'(z)`, given `z` and `a = f(z)`, by the rule the tape uses.
    pub fn derivative<T: Float>(&self, z: T, a: T) -> T {
        with_rule!(self, T, |rule| rule.df(z, a))
    }

    /// The name: lowercase for the named ones (`"relu"`, `"leaky_relu(0.2)"`), which is also
    /// what [`FromStr`] accepts; a custom activation's own name.
    pub fn name(&self) -> String {
        match self {
            Activation::Identity => "identity".into(),
            Activation::Relu => "relu".into(),
            Activation::LeakyRelu(s) => format!("leaky_relu({s})"),
            Activation::Elu => "elu".into(),
            Activation::Gelu => "gelu".into(),
            Activation::Silu => "silu".into(),
            Activation::Softplus => "softplus".into(),
            Activation::Sigmoid => "sigmoid".into(),
            Activation::Tanh => "tanh".into(),
            Activation::LogSigmoid => "log_sigmoid".into(),
            Activation::Custom(c) => c.name(),
        }
    }

    /// The PyTorch module computing the same function, as the JSON object [`crate::io`]
    /// records: `"type"` is the class in `torch.nn`, the other keys its constructor's keyword
    /// arguments (`{"type":"LeakyReLU","negative_slope":0.2}`). `None` for a custom activation,
    /// which PyTorch does not know.
    ///
    /// ```
    /// use tapegrad_nn::Activation;
    /// assert_eq!(Activation::Tanh.torch_module().as_deref(), Some(r#"{"type":"Tanh"}"#));
    /// ```
    pub fn torch_module(&self) -> Option<String> {
        let class = match self {
            Activation::Identity => "Identity",
            Activation::Relu => "ReLU",
            Activation::LeakyRelu(s) => return Some(format!(r#"{{"type":"LeakyReLU","negative_slope":{s:?}}}"#)),
            Activation::Elu => "ELU",
            Activation::Gelu => "GELU",
            Activation::Silu => "SiLU",
            Activation::Softplus => "Softplus",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::LogSigmoid => "LogSigmoid",
            Activation::Custom(_) => return None,
        };
        Some(format!(r#"{{"type":"{class}"}}"#))
    }

    /// The named activation of a PyTorch module class (`"ReLU"`) and its `negative_slope`
    /// argument, if any: the inverse of [`torch_module`](Activation::torch_module). `None` for
    /// a class that is no activation here.
    pub fn from_torch(class: &str, negative_slope: Option<f64>) -> Option<Activation> {
        Some(match class {
            "Identity" => Activation::Identity,
            "ReLU" => Activation::Relu,
            "LeakyReLU" => Activation::LeakyRelu(negative_slope.unwrap_or(0.01)),
            "ELU" => Activation::Elu,
            "GELU" => Activation::Gelu,
            "SiLU" => Activation::Silu,
            "Softplus" => Activation::Softplus,
            "Sigmoid" => Activation::Sigmoid,
            "Tanh" => Activation::Tanh,
            "LogSigmoid" => Activation::LogSigmoid,
            _ => return None,
        })
    }
}

impl PartialEq for Activation {
    /// Named activations by value (leaky relu by slope); custom ones when they are clones of
    /// one rule.
    fn eq(&self, other: &Activation) -> bool {
        match (self, other) {
            (Activation::LeakyRelu(a), Activation::LeakyRelu(b)) => a == b,
            (Activation::Custom(a), Activation::Custom(b)) => Arc::ptr_eq(&a.rule, &b.rule),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl fmt::Debug for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Custom(c) => write!(f, "Custom({:?})", c.name()),
            other => f.write_str(&other.name()),
        }
    }
}

impl fmt::Debug for CustomActivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomActivation({:?})", self.name())
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The names [`FromStr`] accepts, for its error message.
const EXPECTED: &str =
    "identity, relu, leaky_relu, leaky_relu(SLOPE), elu, gelu, silu, softplus, sigmoid, tanh or log_sigmoid";

impl FromStr for Activation {
    type Err = String;

    /// A named activation by its [`name`](Activation::name), case-insensitively;
    /// `leaky_relu` alone has PyTorch's slope 0.01.
    ///
    /// ```
    /// use tapegrad_nn::Activation;
    /// assert_eq!("tanh".parse::<Activation>(), Ok(Activation::Tanh));
    /// assert_eq!("leaky_relu(0.2)".parse::<Activation>(), Ok(Activation::LeakyRelu(0.2)));
    /// assert!("swish".parse::<Activation>().unwrap_err().starts_with("unknown activation 'swish' (expected identity, relu,"));
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        if t == "leaky_relu" {
            return Ok(Activation::LeakyRelu(0.01));
        }
        if let Some(slope) = t.strip_prefix("leaky_relu(").and_then(|r| r.strip_suffix(')')) {
            return slope
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite())
                .map(Activation::LeakyRelu)
                .ok_or_else(|| format!("bad slope in activation '{s}' (expected a finite number)"));
        }
        Activation::ALL
            .into_iter()
            .find(|a| !matches!(a, Activation::LeakyRelu(_)) && a.name() == t)
            .ok_or_else(|| format!("unknown activation '{s}' (expected {EXPECTED})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_torch_modules_map_back() {
        for act in Activation::ALL.iter().chain([&Activation::LeakyRelu(0.25)]) {
            assert_eq!(act.name().parse::<Activation>().as_ref(), Ok(act));
            let module = act.torch_module().unwrap();
            let class = module.split('"').nth(3).unwrap();
            let slope = module.split("negative_slope\":").nth(1).map(|s| s.trim_end_matches('}').parse().unwrap());
            assert_eq!(Activation::from_torch(class, slope).as_ref(), Some(act), "{module}");
        }
        assert!("leaky_relu(x)".parse::<Activation>().is_err());
    }

    #[test]
    fn custom_rules_go_through_their_own_float_type() {
        // A rule that tells the types apart: f32 adds 1, f64 adds 2.
        struct Marks;
        impl UnaryRule<f32> for Marks {
            fn name(&self) -> String {
                "marks".into()
            }
            fn f(&self, x: f32) -> f32 {
                x + 1.0
            }
            fn df(&self, _x: f32, _y: f32) -> f32 {
                1.0
            }
        }
        impl UnaryRule<f64> for Marks {
            fn name(&self) -> String {
                "marks".into()
            }
            fn f(&self, x: f64) -> f64 {
                x + 2.0
            }
            fn df(&self, _x: f64, _y: f64) -> f64 {
                2.0
            }
        }
        let act = Activation::rule(Marks);
        assert_eq!((act.f(1.0f32), act.f(1.0f64)), (2.0, 3.0));
        assert_eq!((act.derivative(0.0f32, 0.0), act.derivative(0.0f64, 0.0)), (1.0, 2.0));
        assert_eq!(act, act.clone());
        assert_ne!(act, Activation::rule(Marks));
        assert_eq!(format!("{act:?}"), "Custom(\"marks\")");
    }
}
