//! Tensor shapes.

use smallvec::SmallVec;
use std::fmt;

/// The extent of each axis of a tensor, outermost first; `[]` is a scalar.
///
/// Up to four axes live inline, so building a shape never allocates for the tensors this
/// library works with.
///
/// Every shape's element count fits in memory's address range: a shape of more than
/// [`Shape::MAX_NUMEL`] elements is refused when it is built, so that no size computed from a
/// shape (an index, a byte count, a matrix view's extent) can wrap.
///
/// ```
/// use tapegrad_autograd::Shape;
/// let s = Shape::from([2, 3]);
/// assert_eq!(s.numel(), 6);
/// assert_eq!(s.to_string(), "[2, 3]");
/// ```
pub struct Shape {
    dims: SmallVec<[usize; 4]>,
    /// The product of `dims`, kept because every op asks for it and shapes never change.
    numel: usize,
}

impl Shape {
    /// The most elements a shape may hold: as many `f64` values as fit in `isize::MAX` bytes,
    /// the largest allocation Rust allows.
    pub const MAX_NUMEL: usize = isize::MAX as usize / std::mem::size_of::<f64>();

    /// The shape of a scalar: no axes, one element.
    #[inline]
    pub fn scalar() -> Self {
        Shape { dims: SmallVec::new(), numel: 1 }
    }

    /// A shape from a slice of axis lengths.
    ///
    /// # Panics
    /// If the element count (the product of `dims`) exceeds [`Shape::MAX_NUMEL`]:
    /// `shape [4294967296, 4294967296]: about 2^64 elements, more than any tensor can hold (...)`.
    #[inline]
    pub fn new(dims: &[usize]) -> Self {
        Shape { dims: inline_dims(dims), numel: checked_numel(dims) }
    }

    /// The axis lengths.
    #[inline]
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Number of axes.
    #[inline]
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Number of elements: the product of the axis lengths (1 for a scalar).
    #[inline]
    pub fn numel(&self) -> usize {
        self.numel
    }

    /// Length of the last axis (1 for a scalar): the row length in row-major order.
    #[inline]
    pub fn last_dim(&self) -> usize {
        self.dims.last().copied().unwrap_or(1)
    }

    /// `(rows, cols)` of a rank-2 shape.
    ///
    /// # Panics
    /// If the shape is not rank 2; `op` names the caller in the message.
    #[inline]
    pub fn matrix(&self, op: &str) -> (usize, usize) {
        match self.dims[..] {
            [r, c] => (r, c),
            _ => panic!("{op}: expected a matrix (rank 2), got shape {self}"),
        }
    }
}

impl Default for Shape {
    #[inline]
    fn default() -> Self {
        Shape::scalar()
    }
}

// By hand, here and below: every op compares and copies shapes, and the derived versions go
// through a generic extend or a `memcmp` call for what is at most four numbers.
impl Clone for Shape {
    #[inline]
    fn clone(&self) -> Self {
        Shape { dims: inline_dims(&self.dims), numel: self.numel }
    }

    #[inline]
    fn clone_from(&mut self, source: &Self) {
        // A buffer reused for the same node nearly always has its shape already: keep that
        // check inline and the copy out of line.
        #[cold]
        #[inline(never)]
        fn copy(dst: &mut Shape, src: &Shape) {
            dst.dims.clear();
            dst.dims.extend_from_slice(&src.dims);
            dst.numel = src.numel;
        }
        if *self != *source {
            copy(self, source);
        }
    }
}

/// The product of `dims`, checked: a wrapped count would let a tensor claim fewer elements
/// than its shape describes, and every index computed from the shape would then run past its
/// buffer.
#[inline]
fn checked_numel(dims: &[usize]) -> usize {
    match dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(n) if n <= Shape::MAX_NUMEL => n,
        // A zero anywhere makes the true product 0, however large the axes before it.
        _ if dims.contains(&0) => 0,
        _ => too_many_elements(dims),
    }
}

#[cold]
#[inline(never)]
fn too_many_elements(dims: &[usize]) -> ! {
    let log2: f64 = dims.iter().map(|&d| (d as f64).log2()).sum();
    panic!("shape {dims:?}: about 2^{log2:.0} elements, more than any tensor can hold (at most {})", Shape::MAX_NUMEL)
}

/// `dims` as a SmallVec, built from a fixed array up to rank 4: `from_slice` calls `memcpy` for
/// a handful of bytes, and ops make a shape per recorded node.
#[inline]
fn inline_dims(dims: &[usize]) -> SmallVec<[usize; 4]> {
    match *dims {
        [] => SmallVec::new(),
        [a] => SmallVec::from_buf_and_len([a, 0, 0, 0], 1),
        [a, b] => SmallVec::from_buf_and_len([a, b, 0, 0], 2),
        [a, b, c] => SmallVec::from_buf_and_len([a, b, c, 0], 3),
        [a, b, c, d] => SmallVec::from_buf([a, b, c, d]),
        _ => SmallVec::from_slice(dims),
    }
}

impl PartialEq for Shape {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.dims(), other.dims());
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
    }
}

impl Eq for Shape {}

impl std::hash::Hash for Shape {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.dims.hash(state);
    }
}

impl std::ops::Index<usize> for Shape {
    type Output = usize;
    #[inline]
    fn index(&self, axis: usize) -> &usize {
        &self.dims[axis]
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    #[inline]
    fn from(dims: [usize; N]) -> Self {
        Shape::new(&dims)
    }
}

impl From<&[usize]> for Shape {
    #[inline]
    fn from(dims: &[usize]) -> Self {
        Shape::new(dims)
    }
}

impl From<Vec<usize>> for Shape {
    #[inline]
    fn from(dims: Vec<usize>) -> Self {
        let numel = checked_numel(&dims);
        Shape { dims: SmallVec::from_vec(dims), numel }
    }
}

impl From<&Shape> for Shape {
    #[inline]
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.dims.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn hash(s: &Shape) -> u64 {
        let mut h = DefaultHasher::new();
        s.hash(&mut h);
        h.finish()
    }

    #[test]
    fn every_constructor_keeps_numel_equal_to_the_product() {
        let shapes = [
            Shape::scalar(),
            Shape::default(),
            Shape::new(&[2, 3]),
            Shape::from([4, 0, 5]),
            Shape::from(vec![2, 3, 4, 5, 6]), // spills past the four inline axes
            Shape::from(&[7usize][..]),
        ];
        for s in &shapes {
            assert_eq!(s.numel(), s.dims().iter().product::<usize>(), "{s}");
            assert_eq!(s.clone().numel(), s.numel(), "{s}");
        }
    }

    #[test]
    fn an_element_count_past_the_limit_is_refused_not_wrapped() {
        // 2^32 * 2^32 wraps to 0 and 128 * (2^58 + 1) to 128 in unchecked release arithmetic:
        // a tensor would then hold 0 or 128 elements for a shape that claims far more.
        for dims in [vec![1 << 32, 1 << 32], vec![128, (1 << 58) + 1], vec![1 << 61, 2]] {
            let err = std::panic::catch_unwind(|| Shape::from(dims.clone())).expect_err("accepted");
            let msg = err.downcast_ref::<String>().expect("a formatted message");
            assert!(msg.contains(&format!("{dims:?}")) && msg.contains("more than any tensor can hold"), "{msg}");
            assert!(std::panic::catch_unwind(|| Shape::new(&dims)).is_err(), "Shape::new accepted {dims:?}");
        }
        // At the limit itself, and a zero axis after axes whose product overflows, are fine.
        assert_eq!(Shape::from([Shape::MAX_NUMEL]).numel(), Shape::MAX_NUMEL);
        assert_eq!(Shape::from([1 << 40, 1 << 40, 0]).numel(), 0);
    }

    #[test]
    fn clone_from_copies_dims_and_numel_and_equality_ignores_nothing() {
        let mut s = Shape::from([2, 3]);
        s.clone_from(&Shape::from(vec![1, 2, 3, 4, 5]));
        assert_eq!(s, Shape::from([1, 2, 3, 4, 5]));
        assert_eq!(s.numel(), 120);
        s.clone_from(&Shape::scalar());
        assert_eq!((s.rank(), s.numel()), (0, 1));
        assert_ne!(Shape::from([2, 3]), Shape::from([3, 2]));
        assert_ne!(Shape::from([6]), Shape::from([6, 1]));
        assert_eq!(hash(&Shape::from([2, 3])), hash(&Shape::from(vec![2, 3])));
    }
}
