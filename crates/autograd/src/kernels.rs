//! Matrix-multiply kernels, picked by size.
//!
//! A packed GEMM (`matrixmultiply`) wins once the matrices are large enough to amortise its
//! packing; for a single row or a handful of multiply-adds, plain loops win (issue 5 measured
//! 3.3 ms vs 3.7 ms per epoch at batch 1).

use crate::Float;

/// Below this many multiply-adds (`m * k * n`), plain loops beat packing.
const DIRECT_LIMIT: usize = 4096;

/// A strided view of a matrix: data, rows, cols, row stride, column stride.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        MatRef { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The same memory read as the transpose: a stride swap, no copy.
    pub fn t(self) -> Self {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    fn fits(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `c = a b + beta * c`, with `c` row-major `a.rows x b.cols`. `beta` is 0 (overwrite) or 1
/// (accumulate, as backward does).
///
/// # Panics
/// If the inner dimensions differ or a view runs past its slice (a bug in the caller, since
/// every op checks shapes before it gets here).
pub(crate) fn gemm<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "gemm: inner dimensions differ");
    assert!(a.fits() && b.fits() && c.len() == m * n, "gemm: view out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.iter_mut().for_each(|x| *x = beta * *x);
        return;
    }
    if m * k * n <= DIRECT_LIMIT || m == 1 {
        direct(a, b, beta, c);
    } else {
        T::packed_gemm(
            (m, k, n),
            T::ONE,
            (a.data, a.rs as isize, a.cs as isize),
            (b.data, b.rs as isize, b.cs as isize),
            beta,
            (c, n as isize, 1),
        );
    }
}

/// Plain loops for small products, in whichever order keeps the inner loop contiguous:
/// - `b` row-major (forward, and `dW = a^T g`): `c_i += a_ip * b_p` row by row (an axpy the
///   compiler vectorises);
/// - `b` a transposed row-major matrix (`dA = g W^T`): `c_ij += dot(a_i, w_j)`, both rows
///   contiguous.
fn direct<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    let (k, n) = (a.cols, b.cols);
    if beta == T::ZERO {
        c.fill(T::ZERO);
    }
    if b.cs == 1 {
        for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
            for p in 0..k {
                let a_ip = a.data[i * a.rs + p * a.cs];
                let b_row = &b.data[p * b.rs..p * b.rs + n];
                for (c_ij, &b_pj) in c_row.iter_mut().zip(b_row) {
                    *c_ij += a_ip * b_pj;
                }
            }
        }
    } else if b.rs == 1 && a.cs == 1 {
        for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
            let a_row = &a.data[i * a.rs..i * a.rs + k];
            for (j, c_ij) in c_row.iter_mut().enumerate() {
                *c_ij += dot(a_row, &b.data[j * b.cs..j * b.cs + k]);
            }
        }
    } else {
        for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
            for (j, c_ij) in c_row.iter_mut().enumerate() {
                *c_ij += (0..k).map(|p| a.data[i * a.rs + p * a.cs] * b.data[p * b.rs + j * b.cs]).sum::<T>();
            }
        }
    }
}

/// `sum_i x_i y_i` with eight independent partial sums: the compiler may not reorder float
/// additions, so a single accumulator would serialise on its latency and never vectorise.
#[inline]
fn dot<T: Float>(x: &[T], y: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: T = xc.remainder().iter().zip(yc.remainder()).map(|(&a, &b)| a * b).sum();
    for (xs, ys) in xc.zip(yc) {
        for l in 0..8 {
            acc[l] += xs[l] * ys[l];
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn every_direct_loop_order_agrees_with_the_definition() {
        // a row-major or transposed, b row-major or transposed: the three loop orders.
        let (m, k, n) = (3, 13, 4);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let views = [
            (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n)),
            (MatRef::row_major(&a, m, k), MatRef::row_major(&bt, n, k).t()),
            (MatRef::row_major(&at, k, m).t(), MatRef::row_major(&bt, n, k).t()),
        ];
        for (va, vb) in views {
            let mut c = vec![0.0; m * n];
            direct(va, vb, 0.0, &mut c);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-13, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn direct_and_packed_agree_with_the_definition() {
        // Sizes on both sides of DIRECT_LIMIT, and with a transposed operand.
        for &(m, k, n) in &[(1, 3, 2), (3, 4, 5), (20, 30, 17), (64, 64, 64)] {
            let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
            let want = naive(&a, &b, m, k, n);
            let mut c = vec![1.0; m * n];
            gemm(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), 0.0, &mut c);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-12, "{m}x{k}x{n}: {x} vs {y}");
            }
            // b^T stored as n x k, read transposed.
            let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let mut c2 = vec![0.5; m * n];
            gemm(MatRef::row_major(&a, m, k), MatRef::row_major(&bt, n, k).t(), 1.0, &mut c2);
            for (x, y) in c2.iter().zip(&want) {
                assert!((x - (y + 0.5)).abs() < 1e-12, "accumulate {m}x{k}x{n}");
            }
        }
    }
}
