//! Matrix product and transpose.

use crate::input_grad::Write;
use crate::kernels::{MatRef, gemm};
use crate::{Float, InputGrad, Op, Output, Shape, Tensor, Var};

/// `C = A B` for `A: [m, k]`, `B: [k, n]`: `dA = G B^T`, `dB = A^T G`.
pub struct MatMul;

impl<T: Float> Op<T> for MatMul {
    fn name(&self) -> String {
        "matmul".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(2)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let (a, b) = (inputs[0], inputs[1]);
        let (m, k, n) = matmul_dims(a, b);
        // gemm with beta = 0 writes every element.
        let c = out.overwrite_as(&Shape::from([m, n]));
        gemm(MatRef::row_major(a.data(), m, k), MatRef::row_major(b.data(), k, n), T::ZERO, c);
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let (a, b) = (inputs[0], inputs[1]);
        let (m, k, n) = matmul_dims(a, b);
        let g = MatRef::row_major(g.data(), m, n);
        let [ga, gb] = grads else { unreachable!("matmul with {} inputs", grads.len()) };
        // beta = 0 assigns over a gradient buffer's old values, beta = 1 adds to it.
        let beta = |mode: Write| if mode == Write::Assign { T::ZERO } else { T::ONE };
        if let Some(ga) = ga {
            let (mode, ga) = ga.elements();
            gemm(g, MatRef::row_major(b.data(), k, n).t(), beta(mode), ga);
        }
        if let Some(gb) = gb {
            let (mode, gb) = gb.elements();
            gemm(MatRef::row_major(a.data(), m, k).t(), g, beta(mode), gb);
        }
    }

    /// `dA = G B^T`, `dB = A^T G`, recorded with `matmul` and `transpose`.
    fn backward_graph<'t>(
        &self,
        ab: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let (a, b) = (ab[0], ab[1]);
        vec![wanted[0].then(|| g.matmul(b.transpose())), wanted[1].then(|| a.transpose().matmul(g))]
    }
}

fn matmul_dims<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> (usize, usize, usize) {
    let (sa, sb) = (a.shape(), b.shape());
    if sa.rank() != 2 || sb.rank() != 2 {
        panic!("matmul: {sa} x {sb}: both operands must be matrices (rank 2)");
    }
    let ((m, k), (k2, n)) = (sa.matrix("matmul"), sb.matrix("matmul"));
    if k != k2 {
        panic!("matmul: {sa} x {sb}: inner dimensions differ");
    }
    (m, k, n)
}

/// `Y = X^T` for a matrix: `dX = G^T`.
pub struct Transpose;

impl<T: Float> Op<T> for Transpose {
    fn name(&self) -> String {
        "transpose".into()
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }

    fn forward(&self, inputs: &[&Tensor<T>], out: Output<'_, T>) {
        let x = inputs[0];
        let (r, c) = x.shape().matrix("transpose");
        // A plain double loop: gradients recorded through matmul transpose on every step.
        let (d, y) = (x.data(), out.overwrite_as(&Shape::from([c, r])));
        for (i, row) in d.chunks_exact(c.max(1)).enumerate().take(r) {
            row.iter().enumerate().for_each(|(j, &v)| y[j * r + i] = v);
        }
    }

    fn backward(&self, _: &[&Tensor<T>], _: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let Some(gx) = &mut grads[0] else { return };
        let (c, r) = g.shape().matrix("transpose");
        let (gd, gx) = (g.data(), gx.tensor().data_mut());
        for i in 0..r {
            for j in 0..c {
                gx[i * c + j] += gd[j * r + i];
            }
        }
    }

    /// `dX = G^T`.
    fn backward_graph<'t>(
        &self,
        _: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        vec![wanted[0].then(|| g.transpose())]
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// The matrix product `self @ other`.
    ///
    /// # Panics
    /// If either is not a matrix, or the inner dimensions differ:
    /// `matmul: [2, 3] x [4, 5]: inner dimensions differ`.
    pub fn matmul(self, other: Var<'t, T>) -> Var<'t, T> {
        self.apply(MatMul, &[other])
    }

    /// The transpose of a matrix.
    ///
    /// # Panics
    /// If `self` is not a matrix.
    pub fn transpose(self) -> Var<'t, T> {
        self.apply(Transpose, &[])
    }
}

impl<T: Float> Tensor<T> {
    /// The matrix product `self @ other`, without a tape.
    ///
    /// # Panics
    /// As [`Var::matmul`].
    pub fn matmul(&self, other: &Tensor<T>) -> Tensor<T> {
        crate::eval(&MatMul, &[self, other])
    }

    /// The transpose of a matrix, without a tape.
    ///
    /// # Panics
    /// If `self` is not a matrix.
    pub fn transpose(&self) -> Tensor<T> {
        crate::eval(&Transpose, &[self])
    }

    /// `self = op(a) op(b)` (or `self += ...` when `accumulate`), where `op` transposes when asked;
    /// `self` is resized in place, reusing its buffer. For hand-written backprop with
    /// preallocated buffers: `dW = a^T delta` is `dw.matmul_into(a, true, delta, false, false)`.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// let a = Tensor::from_rows(&[[1.0f64, 2.0], [3.0, 4.0]]);
    /// let mut c = Tensor::zeros([2, 2]);
    /// c.matmul_into(&a, true, &a, false, false); // a^T a
    /// assert_eq!(c.data(), &[10.0, 14.0, 14.0, 20.0]);
    /// ```
    ///
    /// # Panics
    /// If an operand is not a matrix, the inner dimensions differ, or `accumulate` is set and
    /// `self` does not already have the product's shape.
    pub fn matmul_into(
        &mut self,
        a: &Tensor<T>,
        transpose_a: bool,
        b: &Tensor<T>,
        transpose_b: bool,
        accumulate: bool,
    ) {
        fn view<T: Float>(t: &Tensor<T>, transpose: bool) -> MatRef<'_, T> {
            let (r, c) = t.shape().matrix("matmul_into");
            let m = MatRef::row_major(t.data(), r, c);
            if transpose { m.t() } else { m }
        }
        let (a, b) = (view(a, transpose_a), view(b, transpose_b));
        if a.cols != b.rows {
            panic!("matmul_into: [{}, {}] x [{}, {}]: inner dimensions differ", a.rows, a.cols, b.rows, b.cols);
        }
        let shape = [a.rows, b.cols];
        if accumulate {
            assert_eq!(self.shape().dims(), &shape, "matmul_into: accumulating into shape {}", self.shape());
        } else {
            self.reset_for_overwrite(&Shape::from(shape));
        }
        gemm(a, b, if accumulate { T::ONE } else { T::ZERO }, self.data_mut());
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    #[test]
    fn product_and_gradients_by_hand() {
        let tape = Tape::<f64>::new();
        let a = tape.leaf(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0]]));
        let b = tape.leaf(Tensor::from_rows(&[[5.0], [6.0]]));
        let c = a.matmul(b);
        // [1*5 + 2*6, 3*5 + 4*6]
        assert_eq!(c.value().data(), &[17.0, 39.0]);
        let grads = c.sum().backward();
        // dA = 1 b^T = [[5, 6], [5, 6]]; dB = A^T 1 = [1 + 3, 2 + 4].
        assert_eq!(grads[a].data(), &[5.0, 6.0, 5.0, 6.0]);
        assert_eq!(grads[b].data(), &[4.0, 6.0]);
    }

    #[test]
    #[should_panic(expected = "matmul: [2, 3] x [4, 5]: inner dimensions differ")]
    fn mismatched_inner_dimensions_name_both_shapes() {
        let tape = Tape::<f32>::new();
        let a = tape.leaf(Tensor::zeros([2, 3]));
        let b = tape.leaf(Tensor::zeros([4, 5]));
        let _ = a.matmul(b);
    }

    #[test]
    fn transpose_moves_rows_to_columns() {
        let t = Tensor::from_rows(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]).transpose();
        assert_eq!(t.shape().dims(), &[3, 2]);
        assert_eq!(t.data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
