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

/// Row-at-a-time loops in `i, p, j` order so the inner loop runs along a row of `b` and `c`
/// (contiguous when `b` is row-major), which the compiler vectorises.
fn direct<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    let n = b.cols;
    for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
        if beta == T::ZERO {
            c_row.fill(T::ZERO);
        }
        for p in 0..a.cols {
            let a_ip = a.data[i * a.rs + p * a.cs];
            if b.cs == 1 {
                let b_row = &b.data[p * b.rs..p * b.rs + n];
                for (c_ij, &b_pj) in c_row.iter_mut().zip(b_row) {
                    *c_ij += a_ip * b_pj;
                }
            } else {
                for (j, c_ij) in c_row.iter_mut().enumerate() {
                    *c_ij += a_ip * b.data[p * b.rs + j * b.cs];
                }
            }
        }
    }
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
