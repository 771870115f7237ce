//! How many threads the kernels use, and the pool they run on.
//!
//! Only products large enough to pay for waking a thread are split (see `kernels`), and only
//! over independent blocks of output rows: each output element is computed by the same
//! sequence of operations whatever the thread count, so results are bitwise identical for
//! every count. At one thread no pool exists and nothing is woken.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The thread count; 0 until first asked for or set.
static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// The environment variable read for the default thread count.
pub const NUM_THREADS_ENV: &str = "TAPEGRAD_NUM_THREADS";

/// Sets how many threads large matrix products use, from now on; 1 runs everything on the
/// calling thread, as a build without the `threads` feature does. Results do not depend on it:
/// they are bitwise identical for every count.
///
/// The default is [`TAPEGRAD_NUM_THREADS`](NUM_THREADS_ENV) if set to a positive integer,
/// else every core (`std::thread::available_parallelism`). Without the `threads` feature
/// this has no effect and [`num_threads`] stays 1.
///
/// ```
/// tapegrad_autograd::set_num_threads(1);
/// assert_eq!(tapegrad_autograd::num_threads(), 1);
/// ```
///
/// # Panics
/// If `n` is 0.
pub fn set_num_threads(n: usize) {
    assert!(n > 0, "set_num_threads: 0 threads");
    if cfg!(feature = "threads") {
        NUM_THREADS.store(n, Ordering::Relaxed);
    }
}

/// How many threads large matrix products use: see [`set_num_threads`].
#[inline]
pub fn num_threads() -> usize {
    if !cfg!(feature = "threads") {
        return 1;
    }
    match NUM_THREADS.load(Ordering::Relaxed) {
        0 => default_num_threads(),
        n => n,
    }
}

#[cold]
fn default_num_threads() -> usize {
    let from_env = std::env::var(NUM_THREADS_ENV).ok().and_then(|s| s.trim().parse::<usize>().ok());
    let n = from_env.filter(|&n| n > 0).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // A concurrent `set_num_threads` wins over the default.
    match NUM_THREADS.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => n,
        Err(set) => set,
    }
}

/// Calls `f(first_row, block)` for `parts` consecutive blocks of `c`, a matrix of `rows` rows of
/// `row_len` elements, on `parts` threads of the pool; every block but the last has a multiple
/// of `align` rows. Returns when all are done.
#[cfg(feature = "threads")]
pub(crate) fn for_row_blocks<T: Send>(
    c: &mut [T],
    row_len: usize,
    parts: usize,
    align: usize,
    f: &(impl Fn(usize, &mut [T]) + Sync),
) {
    let rows = c.len() / row_len;
    // Rows per block, rounded up to the alignment, so the last block is the short one.
    let per = rows.div_ceil(parts).div_ceil(align) * align;
    pool::with(parts, || split(c, 0, per, row_len, f));
}

/// Halves the blocks of `c` (starting at row `row0`) until one is left, running the halves with
/// `join`: a job on the stack, so nothing is allocated per call.
#[cfg(feature = "threads")]
fn split<T: Send>(c: &mut [T], row0: usize, per: usize, row_len: usize, f: &(impl Fn(usize, &mut [T]) + Sync)) {
    let rows = c.len() / row_len;
    let blocks = rows.div_ceil(per);
    if blocks <= 1 {
        f(row0, c);
        return;
    }
    let left_rows = blocks / 2 * per;
    let (left, right) = c.split_at_mut(left_rows * row_len);
    rayon_core::join(|| split(left, row0, per, row_len, f), || split(right, row0 + left_rows, per, row_len, f));
}

#[cfg(feature = "threads")]
mod pool {
    use std::sync::{Arc, Mutex, PoisonError};

    use rayon_core::{ThreadPool, ThreadPoolBuilder};

    /// The pool, built on first use with as many threads as asked for then, and rebuilt
    /// larger if more are asked for later (a smaller count uses part of it).
    static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);

    /// Runs `f` inside a pool of at least `threads` threads.
    pub(super) fn with<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        let pool = {
            let mut slot = POOL.lock().unwrap_or_else(PoisonError::into_inner);
            match &*slot {
                Some(pool) if pool.current_num_threads() >= threads => Arc::clone(pool),
                _ => {
                    let pool = ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .thread_name(|i| format!("tapegrad-{i}"))
                        .build()
                        .expect("tapegrad: cannot start the thread pool");
                    Arc::clone(slot.insert(Arc::new(pool)))
                }
            }
        };
        pool.install(f)
    }
}
