//! A dense, row-major tensor of floats.

use crate::{Float, Shape};
use rand::{Rng, RngExt};
use std::fmt;

/// A dense tensor: a [`Shape`] and its elements in row-major order.
///
/// Tensors are plain values; they record nothing. Put one on a [`crate::Tape`] to differentiate
/// through it.
///
/// ```
/// use tapegrad_autograd::Tensor;
/// let t = Tensor::from_vec([2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// assert_eq!(t.shape().dims(), &[2, 3]);
/// assert_eq!(t.at(&[1, 2]), 6.0);
/// assert_eq!(t.row(1), &[4.0, 5.0, 6.0]);
/// ```
#[derive(Clone, PartialEq, Default)]
pub struct Tensor<T> {
    shape: Shape,
    data: Vec<T>,
}

impl<T: Float> Tensor<T> {
    /// A tensor of the given shape from row-major data.
    ///
    /// # Panics
    /// If `data.len()` is not the number of elements of `shape`.
    pub fn from_vec(shape: impl Into<Shape>, data: Vec<T>) -> Self {
        let shape = shape.into();
        assert_eq!(
            shape.numel(),
            data.len(),
            "Tensor::from_vec: shape {shape} holds {} elements, data has {}",
            shape.numel(),
            data.len()
        );
        Tensor { shape, data }
    }

    /// A matrix from equal-length rows.
    ///
    /// # Panics
    /// If the rows differ in length.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// let t = Tensor::from_rows(&[[1.0f64, 2.0], [3.0, 4.0]]);
    /// assert_eq!(t.shape().dims(), &[2, 2]);
    /// ```
    pub fn from_rows<R: AsRef<[T]>>(rows: &[R]) -> Self {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let shape = Shape::from([rows.len(), cols]);
        let mut data = Vec::with_capacity(shape.numel());
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            assert_eq!(r.len(), cols, "Tensor::from_rows: row {i} has {} elements, row 0 has {cols}", r.len());
            data.extend_from_slice(r);
        }
        Tensor { shape, data }
    }

    /// A rank-0 tensor holding one value.
    pub fn scalar(value: T) -> Self {
        Tensor { shape: Shape::scalar(), data: vec![value] }
    }

    /// All elements equal to `value`.
    pub fn full(shape: impl Into<Shape>, value: T) -> Self {
        let shape = shape.into();
        let data = vec![value; shape.numel()];
        Tensor { shape, data }
    }

    /// All zeros.
    pub fn zeros(shape: impl Into<Shape>) -> Self {
        Self::full(shape, T::ZERO)
    }

    /// All ones.
    pub fn ones(shape: impl Into<Shape>) -> Self {
        Self::full(shape, T::ONE)
    }

    /// Independent draws from the uniform distribution on `[low, high)`.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// use rand::{SeedableRng, rngs::StdRng};
    /// let mut rng = StdRng::seed_from_u64(7);
    /// let t = Tensor::<f32>::rand_uniform([3, 4], -0.5, 0.5, &mut rng);
    /// assert!(t.data().iter().all(|&x| (-0.5..0.5).contains(&x)));
    /// ```
    pub fn rand_uniform<R: Rng + ?Sized>(shape: impl Into<Shape>, low: f64, high: f64, rng: &mut R) -> Self {
        let shape = shape.into();
        let data = (0..shape.numel()).map(|_| T::from_f64(low + (high - low) * rng.random::<f64>())).collect();
        Tensor { shape, data }
    }

    /// Independent draws from the normal distribution with the given mean and standard deviation
    /// (Box-Muller, so no extra dependency).
    pub fn rand_normal<R: Rng + ?Sized>(shape: impl Into<Shape>, mean: f64, std: f64, rng: &mut R) -> Self {
        let shape = shape.into();
        let data = (0..shape.numel()).map(|_| T::from_f64(mean + std * standard_normal(rng))).collect();
        Tensor { shape, data }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// The elements, row-major, for writing.
    pub fn data_mut(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// The elements, giving up the shape.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The only element of a one-element tensor (a scalar loss, say).
    ///
    /// # Panics
    /// If the tensor does not hold exactly one element.
    pub fn item(&self) -> T {
        assert_eq!(self.data.len(), 1, "Tensor::item: tensor of shape {} is not a single value", self.shape);
        self.data[0]
    }

    /// The element at a multi-index.
    ///
    /// # Panics
    /// If the index has the wrong rank or is out of range.
    pub fn at(&self, index: &[usize]) -> T {
        let dims = self.shape.dims();
        assert_eq!(index.len(), dims.len(), "Tensor::at: index {index:?} for shape {}", self.shape);
        let mut flat = 0;
        for (&i, &d) in index.iter().zip(dims) {
            assert!(i < d, "Tensor::at: index {index:?} out of range for shape {}", self.shape);
            flat = flat * d + i;
        }
        self.data[flat]
    }

    /// Row `i` of the tensor viewed as `[numel / last_dim, last_dim]`.
    ///
    /// # Panics
    /// If `i` is out of range: `Tensor::row: row 5 is out of range for shape [2, 3] (2 rows)`.
    pub fn row(&self, i: usize) -> &[T] {
        let n = self.shape.last_dim();
        let rows = self.data.len().checked_div(n).unwrap_or(0);
        assert!(i < rows, "Tensor::row: row {i} is out of range for shape {} ({rows} rows)", self.shape);
        &self.data[i * n..(i + 1) * n]
    }

    /// Iterator over the rows (last axis) of the tensor.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, T> {
        self.data.chunks_exact(self.shape.last_dim().max(1))
    }

    /// The index of the largest entry of each row (last axis); the first one on ties.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// let t = Tensor::from_rows(&[[0.1f32, 0.7, 0.2], [0.5, 0.2, 0.3]]);
    /// assert_eq!(t.argmax(), vec![1, 0]);
    /// ```
    pub fn argmax(&self) -> Vec<usize> {
        self.rows()
            .map(|r| {
                let mut best = 0;
                for (j, &v) in r.iter().enumerate() {
                    if v > r[best] {
                        best = j;
                    }
                }
                best
            })
            .collect()
    }

    /// A new tensor with `f` applied to each element.
    pub fn map(&self, f: impl Fn(T) -> T) -> Self {
        Tensor { shape: self.shape.clone(), data: self.data.iter().map(|&x| f(x)).collect() }
    }

    /// The same values in another precision.
    pub fn cast<U: Float>(&self) -> Tensor<U> {
        Tensor { shape: self.shape.clone(), data: self.data.iter().map(|&x| U::from_f64(x.to_f64())).collect() }
    }

    /// The rows listed in `indices`, in that order, as a new tensor (a mini-batch); the entries
    /// listed, for a vector.
    ///
    /// # Panics
    /// If an index is out of range, or the tensor has more than two axes.
    pub fn select_rows(&self, indices: &[usize]) -> Self {
        let (rows, n) = match self.shape.dims() {
            [] => (1, 1),
            [n] => (*n, 1),
            [rows, n] => (*rows, *n),
            _ => panic!("select_rows: expected a vector or a matrix, got shape {}", self.shape),
        };
        let shape = if self.shape.rank() == 2 { Shape::from([indices.len(), n]) } else { Shape::from([indices.len()]) };
        let mut data = Vec::with_capacity(shape.numel());
        for &i in indices {
            assert!(i < rows, "select_rows: row {i} out of range for shape {}", self.shape);
            data.extend_from_slice(&self.data[i * n..(i + 1) * n]);
        }
        Tensor { shape, data }
    }

    /// True when every element is finite (no NaN, no infinity).
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|x| x.is_finite())
    }

    // Buffer reuse: the tape writes each step's values and gradients into the last step's
    // tensors through these, which keep a buffer when it is big enough.

    /// Makes this tensor `shape`-shaped and all zeros.
    pub(crate) fn reset_zeroed(&mut self, shape: &Shape) {
        self.shape.clone_from(shape);
        self.data.clear();
        self.data.resize(shape.numel(), T::ZERO);
    }

    /// Makes this tensor `shape`-shaped for a caller that is about to overwrite every element:
    /// the contents are left unspecified (but initialised), which saves zeroing a buffer that is
    /// written right after.
    #[inline]
    pub(crate) fn reset_for_overwrite(&mut self, shape: &Shape) {
        self.shape.clone_from(shape);
        // A reused buffer nearly always has the length already: the check inlines, the resize
        // does not.
        if self.data.len() != shape.numel() {
            self.resize_for_overwrite(shape.numel());
        }
    }

    #[cold]
    #[inline(never)]
    fn resize_for_overwrite(&mut self, len: usize) {
        self.data.resize(len, T::ZERO);
    }

    /// Makes this tensor a copy of `other`.
    pub(crate) fn copy_from(&mut self, other: &Tensor<T>) {
        self.shape.clone_from(&other.shape);
        self.data.resize(other.data.len(), T::ZERO);
        let parts = crate::threads::parts_for(other.data.len());
        crate::threads::run_parts((&mut self.data[..], &other.data[..]), parts, crate::threads::ALIGN, &|_, (d, s)| {
            copy_slice(d, s);
        });
    }

    /// Makes this tensor `shape`-shaped with elements taken from `values`.
    ///
    /// # Panics
    /// If `values` does not yield exactly `shape.numel()` elements.
    pub(crate) fn assign(&mut self, shape: impl Into<Shape>, values: impl IntoIterator<Item = T>) {
        self.shape = shape.into();
        self.data.clear();
        self.data.extend(values);
        assert_eq!(
            self.data.len(),
            self.shape.numel(),
            "Output::assign: {} values for shape {}",
            self.data.len(),
            self.shape
        );
    }

    /// Adds `other` element by element.
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn add_assign(&mut self, other: &Tensor<T>) {
        assert_eq!(self.shape, other.shape, "add_assign: {} + {}: shapes differ", self.shape, other.shape);
        for (a, &b) in self.data.iter_mut().zip(&other.data) {
            *a += b;
        }
    }
}

/// `dst = src` (equal lengths), in pieces of at most 2 KiB. One large `memcpy` can be many times
/// slower when the destination lies a few bytes past the source modulo 4 KiB (glibc's
/// `rep movsb` path on some AMD processors), depending only on where the allocator put the two
/// buffers; pieces below glibc's `rep movsb` threshold take its vector loop instead, which has
/// no such case. BENCHMARKS.md has the measurements.
pub(crate) fn copy_slice<T: Copy>(dst: &mut [T], src: &[T]) {
    const PIECE_BYTES: usize = 2048;
    let piece = (PIECE_BYTES / std::mem::size_of::<T>()).max(1);
    for (d, s) in dst.chunks_mut(piece).zip(src.chunks(piece)) {
        d.copy_from_slice(s);
    }
}

/// One draw from N(0, 1) by the Box-Muller transform.
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 - u lies in (0, 1], so the log is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// numpy-like printing: nested brackets, at most 6 entries per axis shown (`...` between).
impl<T: Float> fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write_axis<T: Float>(f: &mut fmt::Formatter<'_>, dims: &[usize], data: &[T], depth: usize) -> fmt::Result {
            let prec = f.precision().unwrap_or(4);
            if dims.is_empty() {
                return write!(f, "{:.*}", prec, data[0]);
            }
            let (n, inner) = (dims[0], &dims[1..]);
            let stride: usize = inner.iter().product();
            let shown: Vec<usize> = if n > 6 { (0..3).chain(n - 3..n).collect() } else { (0..n).collect() };
            write!(f, "[")?;
            for (k, &i) in shown.iter().enumerate() {
                if k > 0 {
                    if inner.is_empty() {
                        write!(f, ", ")?;
                    } else {
                        write!(f, ",\n{:width$}", "", width = depth + 1)?;
                    }
                }
                if n > 6 && k == 3 {
                    write!(f, "...")?;
                    write!(f, "{}", if inner.is_empty() { ", " } else { ",\n" })?;
                    if !inner.is_empty() {
                        write!(f, "{:width$}", "", width = depth + 1)?;
                    }
                }
                write_axis(f, inner, &data[i * stride..(i + 1) * stride], depth + 1)?;
            }
            write!(f, "]")
        }
        if self.data.is_empty() {
            return write!(f, "[] (shape {})", self.shape);
        }
        write_axis(f, self.shape.dims(), &self.data, 0)
    }
}

impl<T: Float> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>{} ", T::NAME, self.shape)?;
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_slice_copies_every_piece_and_the_tail() {
        // 2 KiB pieces are 512 f32 or 256 f64: lengths around those, and zero.
        for n in [0, 1, 255, 256, 257, 511, 512, 513, 1500] {
            let src: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let mut dst = vec![f32::NAN; n];
            copy_slice(&mut dst, &src);
            assert_eq!(dst, src, "f32, {n} elements");
            let src64: Vec<f64> = src.iter().map(|&v| v as f64).collect();
            let mut dst64 = vec![f64::NAN; n];
            copy_slice(&mut dst64, &src64);
            assert_eq!(dst64, src64, "f64, {n} elements");
        }
    }

    #[test]
    #[should_panic(expected = "Tensor::from_vec: shape [2, 3] holds 6 elements, data has 5")]
    fn from_vec_checks_the_length() {
        Tensor::from_vec([2, 3], vec![0.0f32; 5]);
    }

    #[test]
    fn display_is_numpy_like() {
        let t = Tensor::from_rows(&[[1.0f64, 2.0], [3.0, 4.5]]);
        assert_eq!(format!("{t:.1}"), "[[1.0, 2.0],\n [3.0, 4.5]]");
        let long = Tensor::from_vec([8], (0..8).map(f64::from).collect());
        assert_eq!(format!("{long:.0}"), "[0, 1, 2, ..., 5, 6, 7]");
        assert_eq!(format!("{:?}", Tensor::scalar(0.5f32)), "Tensor<f32>[] 0.5000");
    }

    #[test]
    fn normal_draws_have_the_asked_moments() {
        use rand::{SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(1);
        let t = Tensor::<f64>::rand_normal([20000], 1.0, 2.0, &mut rng);
        let n = t.numel() as f64;
        let mean = t.data().iter().sum::<f64>() / n;
        let var = t.data().iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        // Standard errors: 2/sqrt(2e4) = 0.014 for the mean, about 0.04 for the variance 4.
        assert!((mean - 1.0).abs() < 0.05, "mean {mean}");
        assert!((var - 4.0).abs() < 0.2, "var {var}");
    }

    #[test]
    fn select_rows_of_vectors_and_empty_rows() {
        let v = Tensor::from_vec([3], vec![1.0f32, 2.0, 3.0]);
        assert_eq!(v.select_rows(&[2, 0]).data(), &[3.0, 1.0]);
        let empty_rows = Tensor::<f32>::zeros([4, 0]);
        assert_eq!(empty_rows.select_rows(&[3, 1]).shape().dims(), &[2, 0]);
    }

    #[test]
    fn select_rows_and_argmax() {
        let t = Tensor::from_rows(&[[1.0f32, 0.0], [0.0, 2.0], [3.0, 3.0]]);
        let b = t.select_rows(&[2, 1]);
        assert_eq!(b.data(), &[3.0, 3.0, 0.0, 2.0]);
        assert_eq!(b.argmax(), vec![0, 1]);
    }
}
