//! Reductions: sums and means.

use super::broadcast::expand;
use crate::kernels::sum;
use crate::{Float, InputGrad, Op, Output, Shape, Tensor, Var};

/// `y = sum_i x_i` (a scalar): `dx_i = g`.
pub struct Sum;

impl<T: Float> Op<T> for Sum {
    fn name(&self) -> String {
        "sum".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        out.assign(Shape::scalar(), [sum(inputs[0].data())]);
    }

    fn backward(&self, _: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        if let Some(gx) = &mut grads[0] {
            gx.add_scalar(g.item());
        }
    }

    /// `dx = broadcast_to(g, shape of x)`.
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| expand(g, &x[0].shape()))]
    }
}

/// `y = (1/n) sum_i x_i` (a scalar): `dx_i = g / n`.
pub struct Mean;

impl<T: Float> Op<T> for Mean {
    fn name(&self) -> String {
        "mean".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        assert!(x.numel() > 0, "mean: of an empty tensor (shape {})", x.shape());
        let n = T::from_f64(x.numel() as f64);
        out.assign(Shape::scalar(), [sum(x.data()) / n]);
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        if let Some(gx) = &mut grads[0] {
            gx.add_scalar(g.item() / T::from_f64(inputs[0].numel() as f64));
        }
    }

    /// `dx = broadcast_to(g / n, shape of x)`.
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let shape = x[0].shape();
        vec![wanted[0].then(|| expand(g.scale(T::ONE / T::from_f64(shape.numel() as f64)), &shape))]
    }
}

/// `y[.., ..] = sum_j x[.., j, ..]` along one axis, which disappears from the shape (or stays
/// with length 1, with `keepdim`): `dx[.., j, ..] = g[.., ..]` for every `j`.
pub struct SumAxis {
    /// The axis summed over.
    pub axis: usize,
    /// Whether the axis stays, with length 1 (so the result broadcasts against the input).
    pub keepdim: bool,
}

impl SumAxis {
    /// `(outer, len, inner)`: the input viewed as `[outer, len, inner]` with the axis in the middle.
    fn split<T: Float>(&self, x: &Tensor<T>) -> (usize, usize, usize) {
        let dims = x.shape().dims();
        assert!(self.axis < dims.len(), "{}: axis {} out of range for shape {}", self.method(), self.axis, x.shape());
        // With no elements there is nothing to visit; the axes around a zero, say [2^40, 2^40, 0],
        // may have a product that overflows. Otherwise every product below is at most `numel`.
        if x.numel() == 0 {
            return (0, dims[self.axis], 0);
        }
        let outer = dims[..self.axis].iter().product();
        let inner = dims[self.axis + 1..].iter().product();
        (outer, dims[self.axis], inner)
    }

    /// The method that records this op, for messages.
    fn method(&self) -> &'static str {
        if self.keepdim { "sum_axis_keepdim" } else { "sum_axis" }
    }
}

impl<T: Float> Op<T> for SumAxis {
    fn name(&self) -> String {
        if self.keepdim { format!("sum(axis={}, keepdim)", self.axis) } else { format!("sum(axis={})", self.axis) }
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        let (outer, len, inner) = self.split(x);
        let mut dims = x.shape().dims().to_vec();
        if self.keepdim {
            dims[self.axis] = 1;
        } else {
            dims.remove(self.axis);
        }
        let (xd, od) = (x.data(), out.zeros(dims));
        for o in 0..outer {
            for j in 0..len {
                let src = &xd[(o * len + j) * inner..][..inner];
                for (y, &v) in od[o * inner..][..inner].iter_mut().zip(src) {
                    *y += v;
                }
            }
        }
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let (outer, len, inner) = self.split(inputs[0]);
        let (gd, gx) = (g.data(), gx.tensor().data_mut());
        for o in 0..outer {
            for j in 0..len {
                let dst = &mut gx[(o * len + j) * inner..][..inner];
                for (d, &v) in dst.iter_mut().zip(&gd[o * inner..][..inner]) {
                    *d += v;
                }
            }
        }
    }

    /// `dx = repeat(g, len of the axis, along the axis)`, or with `keepdim`
    /// `dx = broadcast_to(g, shape of x)` (the axis is there already, with length 1).
    fn backward_graph<'t>(
        &self,
        x: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        if !wanted[0] {
            return vec![None];
        }
        let shape = x[0].shape();
        if self.keepdim {
            return vec![Some(expand(g, &shape))];
        }
        vec![Some(g.apply(RepeatAxis { axis: self.axis, len: shape[self.axis] }, &[]))]
    }
}

/// `y[.., j, ..] = x[.., ..]` for `j < len`: a new axis `axis` of length `len`, along which `x`
/// repeats (the gradient of [`SumAxis`]). `dx = sum_axis(g, axis)`.
pub struct RepeatAxis {
    /// Where the new axis goes.
    pub axis: usize,
    /// Its length.
    pub len: usize,
}

impl RepeatAxis {
    /// `(outer, inner)`: the input viewed as `[outer, inner]`, split where the axis goes in.
    fn split<T: Float>(&self, x: &Tensor<T>) -> (usize, usize) {
        let dims = x.shape().dims();
        assert!(self.axis <= dims.len(), "repeat_axis: axis {} out of range for shape {}", self.axis, x.shape());
        (dims[..self.axis].iter().product(), dims[self.axis..].iter().product())
    }
}

impl<T: Float> Op<T> for RepeatAxis {
    fn name(&self) -> String {
        format!("repeat(axis={}, {})", self.axis, self.len)
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        let (outer, inner) = self.split(x);
        let mut dims = x.shape().dims().to_vec();
        dims.insert(self.axis, self.len);
        let xd = x.data();
        let rows = (0..outer).flat_map(|o| std::iter::repeat_n(&xd[o * inner..(o + 1) * inner], self.len));
        out.assign(dims, rows.flatten().copied());
    }

    fn backward(&self, inputs: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let (outer, inner) = self.split(inputs[0]);
        let (gd, gx) = (g.data(), gx.tensor().data_mut());
        for o in 0..outer {
            for j in 0..self.len {
                let src = &gd[(o * self.len + j) * inner..][..inner];
                gx[o * inner..][..inner].iter_mut().zip(src).for_each(|(d, &v)| *d += v);
            }
        }
    }

    /// `dx = sum_axis(g, axis)`.
    fn backward_graph<'t>(
        &self,
        _: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| g.sum_axis(self.axis))]
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// The sum of all elements, as a scalar.
    pub fn sum(self) -> Var<'t, T> {
        self.apply(Sum, &[])
    }

    /// The mean of all elements, as a scalar.
    ///
    /// # Panics
    /// If the var has no elements.
    pub fn mean(self) -> Var<'t, T> {
        self.apply(Mean, &[])
    }

    /// Sums along `axis`, removing it: `[m, n]` summed along 0 is `[n]` (a bias gradient's shape).
    ///
    /// # Panics
    /// If `axis` is out of range for the shape.
    pub fn sum_axis(self, axis: usize) -> Var<'t, T> {
        self.apply(SumAxis { axis, keepdim: false }, &[])
    }

    /// Sums along `axis`, keeping it with length 1: `[m, n]` summed along 1 is `[m, 1]`, which
    /// broadcasts against the input (`x - x.sum_axis_keepdim(1)` centres each row).
    ///
    /// # Panics
    /// If `axis` is out of range for the shape.
    pub fn sum_axis_keepdim(self, axis: usize) -> Var<'t, T> {
        self.apply(SumAxis { axis, keepdim: true }, &[])
    }

    /// The mean along `axis`, removing it.
    ///
    /// # Panics
    /// If `axis` is out of range for the shape or has length 0 (as [`mean`](Var::mean) of an
    /// empty tensor).
    pub fn mean_axis(self, axis: usize) -> Var<'t, T> {
        let scale = self.with_value(|v| mean_scale(v.shape(), axis, "mean_axis"));
        self.sum_axis(axis).scale(scale)
    }

    /// The mean along `axis`, keeping it with length 1 (see
    /// [`sum_axis_keepdim`](Var::sum_axis_keepdim)).
    ///
    /// # Panics
    /// As [`mean_axis`](Var::mean_axis).
    pub fn mean_axis_keepdim(self, axis: usize) -> Var<'t, T> {
        let scale = self.with_value(|v| mean_scale(v.shape(), axis, "mean_axis_keepdim"));
        self.sum_axis_keepdim(axis).scale(scale)
    }
}

/// `1 / len` for the mean along `axis` of `shape`, after checking the axis exists and is not
/// empty; `op` names the caller.
fn mean_scale<T: Float>(shape: &Shape, axis: usize, op: &str) -> T {
    let dims = shape.dims();
    assert!(axis < dims.len(), "{op}: axis {axis} out of range for shape {shape}");
    assert!(dims[axis] > 0, "{op}: axis {axis} of shape {shape} is empty");
    T::ONE / T::from_f64(dims[axis] as f64)
}

impl<T: Float> Tensor<T> {
    /// Sums along `axis`, removing it, without a tape.
    ///
    /// # Panics
    /// If `axis` is out of range for the shape.
    pub fn sum_axis(&self, axis: usize) -> Tensor<T> {
        crate::eval(&SumAxis { axis, keepdim: false }, &[self])
    }

    /// Sums along `axis`, keeping it with length 1, without a tape.
    ///
    /// # Panics
    /// If `axis` is out of range for the shape.
    pub fn sum_axis_keepdim(&self, axis: usize) -> Tensor<T> {
        crate::eval(&SumAxis { axis, keepdim: true }, &[self])
    }

    /// The mean along `axis`, removing it, without a tape (the same two steps as
    /// [`Var::mean_axis`], a sum and a scale, so the values agree bit for bit).
    ///
    /// # Panics
    /// As [`Var::mean_axis`].
    pub fn mean_axis(&self, axis: usize) -> Tensor<T> {
        let scale = mean_scale(self.shape(), axis, "mean_axis");
        self.sum_axis(axis).scale(scale)
    }

    /// The mean along `axis`, keeping it with length 1, without a tape.
    ///
    /// # Panics
    /// As [`Var::mean_axis`].
    pub fn mean_axis_keepdim(&self, axis: usize) -> Tensor<T> {
        let scale = mean_scale(self.shape(), axis, "mean_axis_keepdim");
        self.sum_axis_keepdim(axis).scale(scale)
    }

    /// The sum of all elements.
    pub fn sum(&self) -> T {
        self.data().iter().copied().sum()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    #[test]
    fn sums_along_each_axis() {
        let t = Tensor::from_vec([2, 3, 2], (0..12).map(f64::from).collect());
        // axis 0: x[0,j,k] + x[1,j,k] = (2j + k) + (6 + 2j + k)
        assert_eq!(t.sum_axis(0).data(), &[6.0, 8.0, 10.0, 12.0, 14.0, 16.0]);
        // axis 1: rows of the 3x2 blocks summed: [0+2+4, 1+3+5], [6+8+10, 7+9+11]
        assert_eq!(t.sum_axis(1).data(), &[6.0, 9.0, 24.0, 27.0]);
        assert_eq!(t.sum_axis(2).shape().dims(), &[2, 3]);
        assert_eq!(t.sum_axis(2).data(), &[1.0, 5.0, 9.0, 13.0, 17.0, 21.0]);
    }

    #[test]
    fn keepdim_keeps_the_axis_with_length_1_and_the_same_values() {
        let t = Tensor::from_vec([2, 3, 2], (0..12).map(f64::from).collect());
        for axis in 0..3 {
            let kept = t.sum_axis_keepdim(axis);
            let mut dims = t.shape().dims().to_vec();
            dims[axis] = 1;
            assert_eq!(kept.shape().dims(), &dims[..]);
            assert_eq!(kept.data(), t.sum_axis(axis).data(), "axis {axis}");
        }
        // mean along 1 of [[0, 1, 2], [3, 4, 5]] is [[1], [4]]; centring the rows with it broadcasts.
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_rows(&[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]));
        let m = x.mean_axis_keepdim(1);
        assert_eq!((m.shape().dims(), m.value().data()), (&[2, 1][..], &[1.0, 4.0][..]));
        assert_eq!((x - m).value().data(), &[-1.0, 0.0, 1.0, -1.0, 0.0, 1.0]);
        // d/dx sum((x - mean_row(x)) * c) = c - mean_row(c) for c = [[1, 0, 0], [0, 0, 3]].
        let c = tape.constant(Tensor::from_rows(&[[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]]));
        let grads = ((x - x.mean_axis_keepdim(1)) * c).sum().backward();
        let third = 1.0 / 3.0;
        let want = [1.0 - third, -third, -third, -1.0, -1.0, 2.0];
        // 1/3 is rounded once and subtracted: a couple of ulps of an O(1) value.
        assert!(grads[x].data().iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-15), "{:?}", grads[x]);
        assert_eq!(Tensor::from_rows(&[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]).mean_axis_keepdim(1), m.value());
    }

    #[test]
    fn rank_1_and_empty_axes() {
        // A vector sums to a scalar, or to [1] keeping the axis.
        let v = Tensor::from_vec([3], vec![1.0, 2.0, 4.0]);
        assert_eq!((v.sum_axis(0).shape().rank(), v.sum_axis(0).item()), (0, 7.0));
        assert_eq!(v.sum_axis_keepdim(0).shape().dims(), &[1]);
        // Summing over an empty axis gives zeros of the other axes' shape, and an empty gradient;
        // summing an empty tensor along a non-empty axis gives an empty result.
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::zeros([2, 0, 3]));
        let y = x.sum_axis(1);
        assert_eq!((y.shape().dims(), y.value().data()), (&[2, 3][..], &[0.0; 6][..]));
        assert_eq!(y.sum().backward()[x].numel(), 0);
        assert_eq!(Tensor::<f64>::zeros([2, 0, 3]).sum_axis_keepdim(2).shape().dims(), &[2, 0, 1]);
        assert_eq!(Tensor::<f64>::zeros([2, 0, 3]).mean_axis(0).shape().dims(), &[0, 3]);
    }

    #[test]
    #[should_panic(expected = "mean_axis_keepdim: axis 1 of shape [2, 0] is empty")]
    fn mean_over_an_empty_axis() {
        let _ = Tensor::<f64>::zeros([2, 0]).mean_axis_keepdim(1);
    }

    #[test]
    fn mean_gradient_is_one_over_n() {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::from_vec([4], vec![1.0, 2.0, 3.0, 6.0]));
        let m = x.mean();
        assert_eq!(m.item(), 3.0);
        assert_eq!(m.backward()[x].data(), &[0.25; 4]);
    }

    #[test]
    #[should_panic(expected = "sum_axis: axis 2 out of range for shape [2, 3]")]
    fn axis_out_of_range() {
        let tape = Tape::<f32>::new();
        let _ = tape.leaf(Tensor::zeros([2, 3])).sum_axis(2);
    }
}
