//! Tensor shapes.

use smallvec::SmallVec;
use std::fmt;

/// The extent of each axis of a tensor, outermost first; `[]` is a scalar.
///
/// Up to four axes live inline, so building a shape never allocates for the tensors this
/// library works with.
///
/// ```
/// use autograd::Shape;
/// let s = Shape::from([2, 3]);
/// assert_eq!(s.numel(), 6);
/// assert_eq!(s.to_string(), "[2, 3]");
/// ```
#[derive(PartialEq, Eq, Hash, Default)]
pub struct Shape(SmallVec<[usize; 4]>);

impl Shape {
    /// The shape of a scalar: no axes, one element.
    pub fn scalar() -> Self {
        Shape(SmallVec::new())
    }

    /// A shape from a slice of axis lengths.
    pub fn new(dims: &[usize]) -> Self {
        Shape(SmallVec::from_slice(dims))
    }

    /// The axis lengths.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements: the product of the axis lengths (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// Length of the last axis (1 for a scalar): the row length in row-major order.
    pub fn last_dim(&self) -> usize {
        self.0.last().copied().unwrap_or(1)
    }

    /// `(rows, cols)` of a rank-2 shape.
    ///
    /// # Panics
    /// If the shape is not rank 2; `op` names the caller in the message.
    pub fn matrix(&self, op: &str) -> (usize, usize) {
        match self.0[..] {
            [r, c] => (r, c),
            _ => panic!("{op}: expected a matrix (rank 2), got shape {self}"),
        }
    }
}

// By hand: SmallVec's derived clone goes through a generic extend; a slice copy is a memcpy.
impl Clone for Shape {
    fn clone(&self) -> Self {
        Shape(SmallVec::from_slice(&self.0))
    }

    fn clone_from(&mut self, source: &Self) {
        self.0.clear();
        self.0.extend_from_slice(&source.0);
    }
}

impl std::ops::Index<usize> for Shape {
    type Output = usize;
    fn index(&self, axis: usize) -> &usize {
        &self.0[axis]
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Shape::new(&dims)
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape::new(dims)
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape(SmallVec::from_vec(dims))
    }
}

impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
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
