//! Matrix-multiply kernels, picked by size.
//!
//! A packed GEMM (`matrixmultiply`) wins once the matrices are large enough to amortise its
//! packing; for a single row or a handful of multiply-adds, plain loops win (BENCHMARKS.md has
//! the measurements).

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

    /// Every element `(i, j)` of the view, at `i * rs + j * cs`, lies inside `data`: the last
    /// one is the largest index, and checked arithmetic keeps a huge stride from wrapping
    /// around to a small, in-bounds-looking one.
    fn fits(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1).checked_mul(self.rs).zip((self.cols - 1).checked_mul(self.cs));
        matches!(last.and_then(|(r, c)| r.checked_add(c)), Some(end) if end < self.data.len())
    }

    /// The largest stride fits an `isize`, as the packed kernel's signature needs.
    fn strides(&self) -> (isize, isize) {
        let stride = |s: usize| isize::try_from(s).expect("gemm: a stride within a slice fits an isize");
        (stride(self.rs), stride(self.cs))
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
    assert!(
        a.fits() && b.fits() && m.checked_mul(n) == Some(c.len()),
        "gemm: a view runs past its slice: {m}x{k} times {}x{n} into {} elements",
        b.rows,
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.iter_mut().for_each(|x| *x = beta * *x);
        return;
    }
    // Saturating: a product too large to count is certainly past the limit.
    if m.saturating_mul(k).saturating_mul(n) <= DIRECT_LIMIT || m == 1 {
        direct(a, b, beta, c);
    } else {
        let threads = crate::threads::num_threads();
        // Saturating, as above; at one thread this is the whole cost of threading.
        if threads > 1 && m >= 2 * ROW_ALIGN && m.saturating_mul(k).saturating_mul(n) >= PARALLEL_LIMIT {
            let parts = threads.min(m / ROW_ALIGN);
            crate::threads::run_parts(c, parts, ROW_ALIGN * n, &|offset, c_rows: &mut [T]| {
                let (i0, rows) = (offset / n, c_rows.len() / n);
                let a_rows = MatRef { data: &a.data[i0 * a.rs..], rows, ..a };
                packed(a_rows, b, beta, c_rows);
            });
            return;
        }
        packed(a, b, beta, c);
    }
}

/// Above this many multiply-adds a product is split over threads by blocks of output rows:
/// about 6 us of work on one core, several times the cost of handing a part to a waiting
/// worker (a product of the bench's `mlp64`, 2^17, stays whole).
const PARALLEL_LIMIT: usize = 1 << 18;

/// Row blocks of a split product are multiples of this many rows (the packed kernel's tiles
/// are 8 or 16 rows high, so whole tiles stay whole).
const ROW_ALIGN: usize = 16;

/// The packed kernel on views that `gemm` has checked, or sub-views of them (a block of rows
/// of `a` and of `c`), checked again here since the kernel trusts them.
fn packed<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        k == b.rows && a.fits() && b.fits() && m.checked_mul(n) == Some(c.len()),
        "gemm: a view runs past its slice: {m}x{k} times {}x{n} into {} elements",
        b.rows,
        c.len()
    );
    let ((rsa, csa), (rsb, csb)) = (a.strides(), b.strides());
    let rsc = isize::try_from(n).expect("gemm: a row within a slice fits an isize");
    // SAFETY: `fits` checked, without overflow, that the last element of `a` and of `b`
    // (the largest index `i * rs + j * cs`, strides being non-negative) lies inside its
    // slice, so every element does; `c` is `m x n` row-major (strides `n` and 1) and its
    // length was checked to be exactly `m * n`. `c` is a unique borrow, so nothing else
    // aliases it while the kernel writes. These checks run on every call, whatever the
    // caller passed.
    unsafe {
        T::packed_gemm(
            (m, k, n),
            T::ONE,
            (a.data.as_ptr(), rsa, csa),
            (b.data.as_ptr(), rsb, csb),
            beta,
            (c.as_mut_ptr(), rsc, 1),
        );
    }
}

/// Plain loops for small products, in whichever order keeps the inner loop contiguous:
/// - `b` row-major (forward): `c_i = sum_p a_ip * b_p` over blocks of 16, 8, 4 and 2 columns whose
///   sums stay in registers across `p` (instead of one pass over `c_i` per `p`);
/// - `b` row-major and `k < 4` (`dW = a^T g` at batch 1 is an outer product): `c_i += a_ip * b_p`
///   row by row, an axpy the compiler vectorises;
/// - `b` a transposed row-major matrix (`dA = g W^T`): `c_ij += dot(a_i, w_j)`, both rows
///   contiguous.
fn direct<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    let (k, n) = (a.cols, b.cols);
    if b.cs == 1 && k >= 4 {
        for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
            let a_row = |p: usize| a.data[i * a.rs + p * a.cs];
            let mut j = 0;
            while j + BLOCK <= n {
                block::<T, BLOCK>(a_row, b, j, k, beta, &mut c_row[j..j + BLOCK]);
                j += BLOCK;
            }
            if j + BLOCK / 2 <= n {
                block::<T, { BLOCK / 2 }>(a_row, b, j, k, beta, &mut c_row[j..j + BLOCK / 2]);
                j += BLOCK / 2;
            }
            if j + BLOCK / 4 <= n {
                block::<T, { BLOCK / 4 }>(a_row, b, j, k, beta, &mut c_row[j..j + BLOCK / 4]);
                j += BLOCK / 4;
            }
            if j + BLOCK / 8 <= n {
                block::<T, { BLOCK / 8 }>(a_row, b, j, k, beta, &mut c_row[j..j + BLOCK / 8]);
                j += BLOCK / 8;
            }
            // The last column, if any: one strided sum.
            for (j, c_ij) in c_row.iter_mut().enumerate().skip(j) {
                let sum = (0..k).map(|p| a_row(p) * b.data[p * b.rs + j]).fold(T::ZERO, |s, x| s + x);
                *c_ij = if beta == T::ZERO { sum } else { *c_ij + sum };
            }
        }
        return;
    }
    if b.cs == 1 {
        // Few terms per sum (an outer product when k = 1): one pass over each row of `c` per
        // term, the first one assigning when beta is 0.
        for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
            for p in 0..k {
                let a_ip = a.data[i * a.rs + p * a.cs];
                let b_row = &b.data[p * b.rs..p * b.rs + n];
                if p == 0 && beta == T::ZERO {
                    c_row.iter_mut().zip(b_row).for_each(|(c_ij, &b_pj)| *c_ij = a_ip * b_pj);
                } else {
                    c_row.iter_mut().zip(b_row).for_each(|(c_ij, &b_pj)| *c_ij += a_ip * b_pj);
                }
            }
        }
        return;
    }
    if beta == T::ZERO {
        c.fill(T::ZERO);
    }
    if b.rs == 1 && a.cs == 1 {
        for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
            let a_row = &a.data[i * a.rs..i * a.rs + k];
            let b_row = |j: usize| &b.data[j * b.cs..j * b.cs + k];
            let mut quads = c_row.chunks_exact_mut(4);
            for (q, c4) in (&mut quads).enumerate() {
                let sums = dot4(a_row, [b_row(4 * q), b_row(4 * q + 1), b_row(4 * q + 2), b_row(4 * q + 3)]);
                c4.iter_mut().zip(sums).for_each(|(c, s)| *c += s);
            }
            let done = n - quads.into_remainder().len();
            for (j, c_ij) in c_row.iter_mut().enumerate().skip(done) {
                *c_ij += dot(a_row, b_row(j));
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

/// Column block width of the row-major-`b` loop: 16 accumulators fill four SSE registers.
const BLOCK: usize = 16;

/// `c[j..j+W] (+)= sum_p a_p b[p, j..j+W]` with the `W` sums held in registers across `p`,
/// instead of loading and storing the row of `c` once per `p`.
#[inline(always)]
fn block<T: Float, const W: usize>(
    a_row: impl Fn(usize) -> T,
    b: MatRef<'_, T>,
    j: usize,
    k: usize,
    beta: T,
    c: &mut [T],
) {
    let mut acc = [T::ZERO; W];
    for p in 0..k {
        let a_p = a_row(p);
        let b_row: &[T; W] = b.data[p * b.rs + j..p * b.rs + j + W].try_into().expect("W columns");
        for l in 0..W {
            acc[l] += a_p * b_row[l];
        }
    }
    // beta is 0 or 1; with 0, `c` may hold stale values (even NaN) that must not leak in.
    if beta == T::ZERO {
        c.copy_from_slice(&acc);
    } else {
        c.iter_mut().zip(acc).for_each(|(c, s)| *c += s);
    }
}

/// `sum_i x_i` with eight independent partial sums, for the same reason as [`dot`]: elements
/// summed one after another cost the latency of one dependent addition each.
#[inline]
pub(crate) fn sum<T: Float>(x: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let chunks = x.chunks_exact(8);
    let tail: T = chunks.remainder().iter().copied().sum();
    for c in chunks {
        for l in 0..8 {
            acc[l] += c[l];
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
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

/// Four dot products of `x` with `ys[0..4]` at once: each chunk of `x` is loaded once for all
/// four, and the loop runs a quarter as often as four separate dots.
#[inline]
fn dot4<T: Float>(x: &[T], ys: [&[T]; 4]) -> [T; 4] {
    let mut acc = [[T::ZERO; 4]; 4];
    let n4 = x.len() / 4 * 4;
    for p in (0..n4).step_by(4) {
        let xs: &[T; 4] = x[p..p + 4].try_into().expect("4");
        for (acc, y) in acc.iter_mut().zip(ys) {
            let ys: &[T; 4] = y[p..p + 4].try_into().expect("4");
            for l in 0..4 {
                acc[l] += xs[l] * ys[l];
            }
        }
    }
    let mut out = [T::ZERO; 4];
    for ((o, acc), y) in out.iter_mut().zip(acc).zip(ys) {
        let tail: T = x[n4..].iter().zip(&y[n4..]).map(|(&a, &b)| a * b).sum();
        *o = (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
    }
    out
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
    fn sum_with_partial_sums_matches_a_sequential_sum_in_f64() {
        // Every length up to a few chunks of eight, so each tail length is hit; f32 sums are
        // compared with an f64 reference, which they must match to f32 rounding (n * eps).
        for n in 0..40 {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.3).collect();
            let exact: f64 = x.iter().map(|&v| v as f64).sum();
            let got = sum(&x) as f64;
            assert!((got - exact).abs() <= 1e-6 * (1.0 + exact.abs()) * n as f64, "n {n}: {got} vs {exact}");
        }
        // Integers are exact either way.
        let ints: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(sum(&ints), 500_500.0);
    }

    #[test]
    fn column_blocks_and_their_tails_agree_with_the_definition() {
        // Widths that hit every mix of 16-, 8- and 4-column blocks and strided leftovers, with
        // few terms (the row-pass loop) and many (the blocked one). With beta = 0 the stale
        // output is NaN, which must not leak in; with beta = 1 it is added to.
        for k in [1, 3, 4, 9] {
            for n in 1..=40 {
                let m = 2;
                let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
                let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
                let want = naive(&a, &b, m, k, n);
                let mut c = vec![f64::NAN; m * n];
                direct(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), 0.0, &mut c);
                let mut c1 = vec![0.25; m * n];
                direct(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), 1.0, &mut c1);
                for ((x, x1), y) in c.iter().zip(&c1).zip(&want) {
                    // Sums of at most 9 products of terms below 1: rounding stays near 1e-15.
                    assert!((x - y).abs() < 1e-13, "k {k} n {n}: {x} vs {y}");
                    assert!((x1 - (y + 0.25)).abs() < 1e-13, "k {k} n {n}, accumulating: {x1} vs {y} + 0.25");
                }
            }
        }
    }

    #[test]
    fn the_four_dots_at_once_form_agrees_with_the_definition() {
        // `a b^T` with `b` stored row-major (the `g W^T` of backward): n around multiples of 4,
        // k around multiples of 4, so both the quads and their leftovers run.
        for n in 1..=9 {
            for k in [1, 3, 4, 5, 8, 13] {
                let m = 2;
                let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
                let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
                let want = naive(&a, &b, m, k, n);
                let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
                let mut c = vec![0.5; m * n];
                direct(MatRef::row_major(&a, m, k), MatRef::row_major(&bt, n, k).t(), 1.0, &mut c);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - (y + 0.5)).abs() < 1e-13, "n {n} k {k}: {x} vs {y} + 0.5");
                }
            }
        }
    }

    #[test]
    fn a_view_whose_extent_overflows_is_out_of_bounds() {
        // (rows - 1) * rs wraps to 0 here in unchecked arithmetic, which looked in bounds.
        let data = [1.0f64; 8];
        let wrapping = MatRef { data: &data, rows: 2, cols: 2, rs: 1 << 63, cs: 1 };
        assert!(!wrapping.fits());
        let past_end = MatRef { data: &data, rows: 3, cols: 3, rs: 3, cs: 1 };
        assert!(!past_end.fits(), "the last element, at 8, is past a slice of 8");
        assert!(MatRef::row_major(&data, 2, 4).fits() && MatRef::row_major(&data, 4, 2).t().fits());
        let result = std::panic::catch_unwind(|| {
            let mut c = vec![0.0; 2 * 64];
            let b = vec![1.0; 2 * 64];
            gemm(wrapping, MatRef::row_major(&b, 2, 64), 0.0, &mut c);
        });
        assert!(result.is_err(), "gemm ran on a view past its slice");
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
