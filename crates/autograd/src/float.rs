//! The element types a tensor can hold.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type: implemented for `f32` and `f64`, and sealed (no other type
/// can implement it).
///
/// Gradient checks run in `f64`; training usually runs in `f32`. The trait carries the handful of
/// math functions the ops need, so that generic code never needs a cast through `f64` on a hot
/// path; each precision's GEMM kernel sits in a crate-private supertrait.
///
/// That kernel trusts its pointers and strides, so safe code outside this crate cannot reach
/// it: not as a method of `Float`,
///
/// ```compile_fail,E0599
/// let c = [0f32; 1];
/// let p = c.as_ptr();
/// unsafe { <f32 as tapegrad_autograd::Float>::packed_gemm((1, 1, 1), 1.0, (p, 1, 1), (p, 1, 1), 0.0, (p as *mut f32, 1, 1)) }
/// ```
///
/// nor through the sealed trait, whose module is private:
///
/// ```compile_fail,E0603
/// use tapegrad_autograd::float::sealed::Gemm;
/// ```
///
/// and no other type can implement `Float`, so none can bring a kernel of its own:
///
/// ```compile_fail,E0277
/// #[derive(Clone, Copy)]
/// struct Half;
/// fn takes<T: tapegrad_autograd::Float>() {}
/// takes::<Half>();
/// ```
pub trait Float:
    sealed::Gemm
    + Copy
    + Default
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// The type's name, for messages and file headers (`"f32"`).
    const NAME: &'static str;
    /// Which of the two types this is, for code that must treat them differently (the element
    /// type of a file, the range a parser accepts) without comparing [`NAME`](Float::NAME)s.
    const PRECISION: Precision;

    /// Converts from `f64`, rounding to nearest.
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// The larger of two values (NaN-ignoring, like `f64::max`).
    fn max(self, other: Self) -> Self;
    /// The smaller of two values (NaN-ignoring, like `f64::min`).
    fn min(self, other: Self) -> Self;
    /// `self^n` for an integer `n`.
    fn powi(self, n: i32) -> Self;
    /// `self^c` for a real `c` (NaN for a negative base and a non-integer `c`).
    fn powf(self, c: Self) -> Self;
    /// Sine (radians).
    fn sin(self) -> Self;
    /// Cosine (radians).
    fn cos(self) -> Self;
    /// Neither infinite nor NaN.
    fn is_finite(self) -> bool;
}

/// The precision of a [`Float`]: [`Float::PRECISION`] is `F32` for `f32` and `F64` for `f64`.
///
/// ```
/// use tapegrad_autograd::{Float, Precision};
/// assert_eq!(<f32 as Float>::PRECISION, Precision::F32);
/// assert_eq!(<f64 as Float>::PRECISION, Precision::F64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Single precision, `f32`: 4 bytes per value.
    F32,
    /// Double precision, `f64`: 8 bytes per value.
    F64,
}

macro_rules! impl_float {
    ($t:ty, $precision:ident, $gemm:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = stringify!($t);
            const PRECISION: Precision = Precision::$precision;

            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            #[inline]
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            #[inline]
            fn powf(self, c: Self) -> Self {
                <$t>::powf(self, c)
            }
            #[inline]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }

        impl sealed::Gemm for $t {
            unsafe fn packed_gemm(
                (m, k, n): (usize, usize, usize),
                alpha: Self,
                (a, rsa, csa): (*const Self, isize, isize),
                (b, rsb, csb): (*const Self, isize, isize),
                beta: Self,
                (c, rsc, csc): (*mut Self, isize, isize),
            ) {
                // SAFETY: this function's own contract, passed on unchanged: the caller
                // guarantees that every element the strides address lies inside its operand.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_float!(f32, F32, matrixmultiply::sgemm);
impl_float!(f64, F64, matrixmultiply::dgemm);

/// Not nameable outside this crate, so `Float` cannot be implemented elsewhere, and its kernel
/// entry point is an `unsafe fn` that safe code cannot call.
pub(crate) mod sealed {
    /// The packed GEMM kernel of one precision.
    pub trait Gemm: Sized {
        /// `c = alpha * a b + beta * c` for an `m x k` matrix `a` and a `k x n` matrix `b`, each
        /// given by a pointer and its row and column strides (so a transpose is a stride swap,
        /// not a copy).
        ///
        /// # Safety
        /// For every row `i` and column `j` of each operand, `i * rs + j * cs` (computed without
        /// overflow) is the index of an element of the allocation its pointer points into, and
        /// `c`'s elements are not aliased by `a` or `b` or anything else for the call.
        #[allow(clippy::too_many_arguments)]
        unsafe fn packed_gemm(
            dims: (usize, usize, usize),
            alpha: Self,
            a: (*const Self, isize, isize),
            b: (*const Self, isize, isize),
            beta: Self,
            c: (*mut Self, isize, isize),
        );
    }
}
