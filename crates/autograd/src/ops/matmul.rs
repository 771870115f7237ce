//! Matrix product and transpose.

use crate::input_grad::Write;
use crate::kernels::{MatRef, gemm};
use crate::{Float, InputGrad, Op, Output, Shape, Tensor, Var};

/// `C = A B` for `A: [m, k]`, `B: [k, n]`: `dA = G B^T`, `dB = A^T G`; batched, per batch `i`
/// for `A: [b, m, k]`, `B: [b, k, n]`, and for `A: [b, m, k]`, `B: [k, n]` with `dB = sum_i A_i^T G_i`.
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
        let d = Dims::of(a, b);
        // gemm with beta = 0 writes every element.
        let c = out.overwrite_as(&d.out_shape());
        if d.batches == 1 {
            // One product (most calls): no batch slicing on the per-step path.
            gemm(d.a(a.data(), 0), d.b(b.data(), 0), T::ZERO, c);
        } else {
            for (i, c) in d.batches(c) {
                gemm(d.a(a.data(), i), d.b(b.data(), i), T::ZERO, c);
            }
        }
    }

    fn backward(&self, inputs: &[&Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>, grads: &mut [Option<InputGrad<'_, T>>]) {
        let (a, b) = (inputs[0], inputs[1]);
        let d = Dims::of(a, b);
        let [ga, gb] = grads else { unreachable!("matmul with {} inputs", grads.len()) };
        // beta = 0 assigns over a gradient buffer's old values, beta = 1 adds to it.
        let beta = |mode: Write| if mode == Write::Assign { T::ZERO } else { T::ONE };
        if let Some(ga) = ga {
            let (mode, ga) = ga.elements();
            if d.batches == 1 {
                gemm(d.g(g.data(), 0), d.b(b.data(), 0).t(), beta(mode), ga);
            } else {
                for (i, ga) in d.batches_of(ga, d.rows * d.k) {
                    gemm(d.g(g.data(), i), d.b(b.data(), i).t(), beta(mode), ga);
                }
            }
        }
        if let Some(gb) = gb {
            let (mode, gb) = gb.elements();
            if d.batches == 1 {
                // With a shared `B` (`rows = b m`) this one product sums over the batch.
                gemm(d.a(a.data(), 0).t(), d.g(g.data(), 0), beta(mode), gb);
            } else {
                for (i, gb) in d.batches_of(gb, d.k * d.n) {
                    gemm(d.a(a.data(), i).t(), d.g(g.data(), i), beta(mode), gb);
                }
            }
        }
    }

    /// `dA = G B^T`, `dB = A^T G`, per batch (the transposes of its last two axes), and for a
    /// shared `B` summed over the batch: `dB = A^T G` with the batch along the rows.
    fn backward_graph<'t>(
        &self,
        ab: &[Var<'t, T>],
        _: Var<'t, T>,
        g: Var<'t, T>,
        wanted: &[bool],
    ) -> Vec<Option<Var<'t, T>>> {
        let (a, b) = (ab[0], ab[1]);
        let (sa, sb) = (a.shape(), b.shape());
        let da = || g.matmul(matrix_transpose(b));
        let db = || match (sa.dims(), sb.dims()) {
            (&[batch, m, k], &[_, n]) => {
                let rows = |v: Var<'t, T>, cols| v.reshape([batch * m, cols]);
                rows(a, k).transpose().matmul(rows(g, n))
            }
            _ => matrix_transpose(a).matmul(g),
        };
        vec![wanted[0].then(da), wanted[1].then(db)]
    }
}

/// A matmul as `batches` independent `rows x k` by `k x n` products, the operands' matrices
/// stored one after another. `[b, m, k] x [k, n]` is one product of `b m` rows: its batch
/// lies along the rows of `A` and `C`, and `B` is shared.
#[derive(Clone, Copy)]
struct Dims {
    /// Independent products: `b` for `[b, m, k] x [b, k, n]`, else 1.
    batches: usize,
    /// Rows of each product's `A` and `C`.
    rows: usize,
    k: usize,
    n: usize,
    /// The output's leading axes: `[m]` or `[b, m]`.
    lead: [usize; 2],
    rank: usize,
}

impl Dims {
    #[inline]
    fn of<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> Dims {
        let (sa, sb) = (a.shape(), b.shape());
        let (batches, (bm, m, k), (k2, n)) = match (sa.dims(), sb.dims()) {
            (&[m, k], &[k2, n]) => (1, (1, m, k), (k2, n)),
            (&[b, m, k], &[b2, k2, n]) => {
                if b != b2 {
                    panic!("matmul: {sa} x {sb}: batch sizes differ");
                }
                (b, (1, m, k), (k2, n))
            }
            (&[b, m, k], &[k2, n]) => (1, (b, m, k), (k2, n)),
            _ => panic!("matmul: {sa} x {sb}: expects [m, k] x [k, n], [b, m, k] x [b, k, n] or [b, m, k] x [k, n]"),
        };
        if k != k2 {
            panic!("matmul: {sa} x {sb}: inner dimensions differ");
        }
        // `bm * m` is at most `A`'s element count when k > 0; with k = 0 it is checked, as the
        // output's shape is.
        let rows = bm.checked_mul(m).unwrap_or_else(|| panic!("matmul: {sa} x {sb}: too many rows"));
        let lead = if sa.rank() == 3 { [sa.dims()[0], m] } else { [m, 0] };
        Dims { batches, rows, k, n, lead, rank: sa.rank() }
    }

    #[inline]
    fn out_shape(&self) -> Shape {
        match self.rank {
            3 => Shape::from([self.lead[0], self.lead[1], self.n]),
            _ => Shape::from([self.lead[0], self.n]),
        }
    }

    /// `A_i`, `B_i` (the shared `B` when there is one) and `G_i`.
    #[inline]
    fn a<'a, T: Float>(&self, a: &'a [T], i: usize) -> MatRef<'a, T> {
        let len = self.rows * self.k;
        MatRef::row_major(&a[i * len..(i + 1) * len], self.rows, self.k)
    }

    #[inline]
    fn b<'a, T: Float>(&self, b: &'a [T], i: usize) -> MatRef<'a, T> {
        let len = self.k * self.n;
        MatRef::row_major(&b[i * len..(i + 1) * len], self.k, self.n)
    }

    #[inline]
    fn g<'a, T: Float>(&self, g: &'a [T], i: usize) -> MatRef<'a, T> {
        let len = self.rows * self.n;
        MatRef::row_major(&g[i * len..(i + 1) * len], self.rows, self.n)
    }

    /// The output's `batches` matrices, with their index.
    fn batches<'c, T>(&self, c: &'c mut [T]) -> impl Iterator<Item = (usize, &'c mut [T])> {
        self.batches_of(c, self.rows * self.n)
    }

    /// `x` cut into `batches` matrices of `len` elements each (none when `len` is 0, since
    /// every product then writes nothing).
    fn batches_of<'c, T>(&self, x: &'c mut [T], len: usize) -> impl Iterator<Item = (usize, &'c mut [T])> {
        x.chunks_exact_mut(len.max(1)).take(self.batches).enumerate()
    }
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

/// Each matrix of `v` (rank 2 or 3) transposed: its last two axes swapped.
fn matrix_transpose<T: Float>(v: Var<'_, T>) -> Var<'_, T> {
    if v.shape().rank() == 2 { v.transpose() } else { v.swap_axes(1, 2) }
}

impl<'t, T: Float> Var<'t, T> {
    /// The matrix product `self @ other`: `[m, k] x [k, n] -> [m, n]`; batched,
    /// `[b, m, k] x [b, k, n] -> [b, m, n]` (one product per batch); and
    /// `[b, m, k] x [k, n] -> [b, m, n]`, one matrix applied to every batch (its gradient sums
    /// over the batch).
    ///
    /// ```
    /// use tapegrad_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_vec([2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]));
    /// let w = tape.leaf(Tensor::from_rows(&[[1.0], [10.0]]));
    /// let y = x.matmul(w); // [2, 1, 1]: 1 + 20, 3 + 40
    /// assert_eq!(y.value().data(), &[21.0, 43.0]);
    /// // dW = sum over the batch of x_i^T: [1 + 3, 2 + 4].
    /// assert_eq!(y.sum().backward()[w].data(), &[4.0, 6.0]);
    /// ```
    ///
    /// # Panics
    /// If the shapes are none of these, or the inner dimensions or batch sizes differ:
    /// `matmul: [2, 3] x [4, 5]: inner dimensions differ`,
    /// `matmul: [2, 3, 4] x [3, 4, 5]: batch sizes differ`.
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
    use rand::SeedableRng;

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
    fn batched_products_are_the_products_of_each_batch() {
        // Each batch of [3, 2, 4] x [3, 4, 5] against its own rank-2 product, and the shared
        // right operand against the rank-2 product of all 6 rows, gradients included.
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let a = Tensor::<f64>::rand_uniform([3, 2, 4], -1.0, 1.0, &mut rng);
        let b = Tensor::<f64>::rand_uniform([3, 4, 5], -1.0, 1.0, &mut rng);
        let c = a.matmul(&b);
        assert_eq!(c.shape().dims(), &[3, 2, 5]);
        for i in 0..3 {
            let ai = Tensor::from_vec([2, 4], a.data()[i * 8..(i + 1) * 8].to_vec());
            let bi = Tensor::from_vec([4, 5], b.data()[i * 20..(i + 1) * 20].to_vec());
            assert_eq!(&c.data()[i * 10..(i + 1) * 10], ai.matmul(&bi).data(), "batch {i}");
        }
        let w = Tensor::<f64>::rand_uniform([4, 5], -1.0, 1.0, &mut rng);
        let flat = Tensor::from_vec([6, 4], a.data().to_vec());
        assert_eq!(a.matmul(&w).data(), flat.matmul(&w).data());
        let tape = Tape::<f64>::new();
        let (av, wv, fv) = (tape.leaf(a.clone()), tape.leaf(w.clone()), tape.leaf(flat));
        let grads = (av.matmul(wv).sum() + fv.matmul(wv).sum()).backward();
        // The same rows through the same matrix: identical gradients, bit for bit.
        assert_eq!(grads[av].data(), grads[fv].data());
        let tape = Tape::<f64>::new();
        let fv = tape.leaf(Tensor::from_vec([6, 4], a.data().to_vec()));
        let wv2 = tape.leaf(w);
        let flat_grads = fv.matmul(wv2).sum().backward();
        let twice: Vec<f64> = flat_grads[wv2].data().iter().map(|x| 2.0 * x).collect();
        assert_eq!(grads[wv].data(), &twice[..]);
    }

    #[test]
    fn empty_batches_and_axes_give_empty_or_zero_results() {
        // k = 0: every output is an empty sum, 0; b = 0 or m = 0: nothing to compute.
        let c = Tensor::<f64>::zeros([2, 3, 0]).matmul(&Tensor::zeros([2, 0, 4]));
        assert_eq!(c.shape().dims(), &[2, 3, 4]);
        assert!(c.data().iter().all(|&x| x == 0.0));
        let c = Tensor::<f64>::zeros([0, 3, 2]).matmul(&Tensor::zeros([0, 2, 4]));
        assert_eq!(c.shape().dims(), &[0, 3, 4]);
        let c = Tensor::<f64>::zeros([2, 0, 2]).matmul(&Tensor::zeros([2, 4]));
        assert_eq!(c.shape().dims(), &[2, 0, 4]);
    }

    #[test]
    #[should_panic(expected = "matmul: [2, 3, 4] x [3, 4, 5]: batch sizes differ")]
    fn mismatched_batches_name_both_shapes() {
        let _ = Tensor::<f32>::zeros([2, 3, 4]).matmul(&Tensor::zeros([3, 4, 5]));
    }

    #[test]
    #[should_panic(
        expected = "matmul: [4, 5] x [2, 5, 6]: expects [m, k] x [k, n], [b, m, k] x [b, k, n] or [b, m, k] x [k, n]"
    )]
    fn a_matrix_times_a_batch_is_not_a_product() {
        let _ = Tensor::<f32>::zeros([4, 5]).matmul(&Tensor::zeros([2, 5, 6]));
    }

    #[test]
    fn transpose_moves_rows_to_columns() {
        let t = Tensor::from_rows(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]).transpose();
        assert_eq!(t.shape().dims(), &[3, 2]);
        assert_eq!(t.data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
