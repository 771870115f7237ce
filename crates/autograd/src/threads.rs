//! How many threads the kernels use, and the pool they run on.
//!
//! Only work large enough to pay for a hand-over is split (see `kernels` and [`for_each_part`]),
//! and only into independent parts: each output element is computed by the same sequence of
//! operations whatever the thread count, so results are bitwise identical for every count. At
//! one thread no pool exists and nothing is handed over.
//!
//! The pool is small and built for short jobs issued back to back, as a training step issues
//! them: the calling thread computes the first part itself while `threads - 1` workers compute
//! the others, and a worker that has just finished a job keeps watching for the next one for
//! a moment ([`SPIN`]) before it sleeps, so a training step's products, a few hundred
//! microseconds apart, are handed over without waking a sleeping thread each time.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The thread count; 0 until first asked for or set.
static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// The environment variable read for the default thread count.
pub const NUM_THREADS_ENV: &str = "TAPEGRAD_NUM_THREADS";

/// Sets how many threads large kernels use, from now on; 1 runs everything on the calling
/// thread, as a build without the `threads` feature does. Results do not depend on it: they
/// are bitwise identical for every count.
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

/// How many threads large kernels use: see [`set_num_threads`].
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

/// Data that can be cut in two at an element index, for [`for_each_part`]: a mutable or a
/// shared slice, or a tuple of them of equal length, cut at the same index.
pub trait Split: Sized + Send {
    /// The number of elements (of the first slice, for a tuple).
    fn len(&self) -> usize;
    /// Whether there are no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The first `mid` elements and the rest.
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl<T: Send> Split for &mut [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

impl<T: Sync> Split for &[T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        <[T]>::split_at(self, mid)
    }
}

macro_rules! split_tuple {
    ($($name:ident),+) => {
        impl<$($name: Split),+> Split for ($($name,)+) {
            /// # Panics
            /// If the slices differ in length.
            #[allow(non_snake_case)]
            fn len(&self) -> usize {
                let len = self.0.len();
                let ($($name,)+) = self;
                $(assert_eq!($name.len(), len, "for_each_part: the slices of a tuple differ in length");)+
                len
            }
            #[allow(non_snake_case)]
            fn split_at(self, mid: usize) -> (Self, Self) {
                let ($($name,)+) = self;
                $(let $name = $name.split_at(mid);)+
                (($($name.0,)+), ($($name.1,)+))
            }
        }
    };
}

split_tuple!(A, B);
split_tuple!(A, B, C);
split_tuple!(A, B, C, D);

/// A part size for [`for_each_part`] that suits a few arithmetic operations per element: below
/// it (a few microseconds of work), handing the part to another thread costs more than it
/// saves. The engine's own elementwise kernels use it too.
pub const MIN_PART: usize = 1 << 13;

/// Calls `f(offset, part)` on consecutive parts of `data` that together cover it, on up to
/// [`num_threads`] threads at once, each part at least `min_len` elements long (one part if
/// `data` is shorter than `2 * min_len`), and returns when every call has returned. `offset`
/// is the index of the part's first element in `data`. A tuple of slices is cut at the same
/// indices, so the parts line up.
///
/// Meant for elementwise work on large buffers (an optimiser's update, say): the cut depends on
/// the length and the thread count only, and each element is computed by `f` alone, so a
/// computation that treats elements independently gives bitwise identical results at every
/// thread count. [`MIN_PART`] is a bound that suits a few arithmetic operations per element.
///
/// ```
/// use tapegrad_autograd::{MIN_PART, for_each_part};
/// let grad = vec![1.0f32; 100_000];
/// let (mut w, mut velocity) = (vec![0.5f32; 100_000], vec![0.0f32; 100_000]);
/// for_each_part((&mut w[..], &mut velocity[..], &grad[..]), MIN_PART, |_, (w, v, g)| {
///     for ((w, v), g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
///         *v = 0.9 * *v + g;
///         *w -= 0.1 * *v;
///     }
/// });
/// assert!(w.iter().all(|&w| w == 0.4));
/// ```
///
/// # Panics
/// If `f` panics (after every other part has finished), or the slices of a tuple differ in
/// length.
pub fn for_each_part<S: Split>(data: S, min_len: usize, f: impl Fn(usize, S) + Sync) {
    let parts = num_threads().min(data.len() / min_len.max(1)).max(1);
    run_parts(data, parts, ALIGN, &f);
}

/// How many parts `work` elements' worth of elementwise work is worth splitting into: one per
/// thread, each at least [`MIN_PART`] elements.
#[inline]
pub(crate) fn parts_for(work: usize) -> usize {
    if work < 2 * MIN_PART { 1 } else { num_threads().min(work / MIN_PART) }
}

/// Elementwise parts start at a multiple of this many elements, a few cache lines, so no two
/// threads write one line.
pub(crate) const ALIGN: usize = 64;

/// Calls `f(offset, part)` on `parts` consecutive parts of `data`, every part but the last a
/// multiple of `align` elements long, the first on the calling thread and the others on the
/// pool; returns when all are done. One part runs `f` directly.
pub(crate) fn run_parts<S: Split>(data: S, parts: usize, align: usize, f: &(impl Fn(usize, S) + Sync)) {
    let len = data.len();
    #[cfg(feature = "threads")]
    let parts = parts.min(pool::MAX_PARTS);
    if parts <= 1 || len == 0 {
        return f(0, data);
    }
    // Elements per part, rounded up to the alignment, so the last part is the short one.
    let per = len.div_ceil(parts).div_ceil(align.max(1)) * align.max(1);
    #[cfg(feature = "threads")]
    {
        // Each part waits in its slot for the thread that takes it.
        /// A part and its offset, until a thread takes it.
        type Slot<S> = std::sync::Mutex<Option<(usize, S)>>;
        let mut slots: smallvec::SmallVec<[Slot<S>; 8]> = smallvec::SmallVec::new();
        let (mut rest, mut offset) = (data, 0);
        while rest.len() > per {
            let (part, tail) = rest.split_at(per);
            slots.push(std::sync::Mutex::new(Some((offset, part))));
            (rest, offset) = (tail, offset + per);
        }
        slots.push(std::sync::Mutex::new(Some((offset, rest))));
        pool::run(slots.len(), &|i| {
            let taken = slots[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            let (offset, part) = taken.expect("each part is taken once");
            f(offset, part);
        });
    }
    #[cfg(not(feature = "threads"))]
    {
        let (mut rest, mut offset) = (data, 0);
        while rest.len() > per {
            let (part, tail) = rest.split_at(per);
            f(offset, part);
            (rest, offset) = (tail, offset + per);
        }
        f(offset, rest);
    }
}

/// How long a worker keeps watching for the next job after one, before it sleeps: long enough
/// to span the single-threaded work between two products of a training step, short enough
/// that an idle process gives its cores back at once.
#[cfg(feature = "threads")]
const SPIN: std::time::Duration = std::time::Duration::from_micros(500);

/// How long the calling thread watches for the other parts to finish before it sleeps until
/// they do: parts are of equal size, so they usually finish together; when they do not (the
/// machine is busy and a worker was preempted), sleeping frees the core for it.
#[cfg(feature = "threads")]
const WAIT_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

#[cfg(feature = "threads")]
mod pool {
    //! `threads - 1` workers and the calling thread share one job at a time: a function of the
    //! part index. A job is published in one word, `state`: its number, its part count and
    //! the next part not yet taken. Every thread, the caller first, takes parts by bumping that
    //! index until none is left, so a part no worker came for in time is done by the caller
    //! (a busy machine slows the job down, never stalls it). The caller returns once
    //! `remaining`, the parts not yet finished, is 0.

    use std::any::Any;
    use std::cell::UnsafeCell;
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};
    use std::thread::{self, Thread};
    use std::time::Instant;

    use super::{SPIN, WAIT_SPIN};

    /// A job: called once for each part index, from whichever thread takes the part.
    type Job<'a> = dyn Fn(usize) + Sync + 'a;

    /// `state` is `job number * JOB + part count * PARTS + next part`.
    const PARTS: usize = 1 << 8;
    const JOB: usize = 1 << 16;
    /// At most this many parts per job (more threads still help the ones that exist).
    pub(super) const MAX_PARTS: usize = PARTS - 1;

    struct Shared {
        state: AtomicUsize,
        /// The current job, valid while `remaining > 0`; written only by the caller holding
        /// `Pool::callers`, before it publishes the job in `state`.
        job: UnsafeCell<Option<*const Job<'static>>>,
        /// Parts of the current job not yet finished.
        remaining: AtomicUsize,
        /// The calling thread, and whether it sleeps waiting for `remaining` to reach 0.
        caller: Mutex<Option<Thread>>,
        caller_sleeping: AtomicBool,
        /// The first panic of a worker's part, re-raised on the calling thread.
        panic: Mutex<Option<Box<dyn Any + Send>>>,
    }

    // SAFETY: `job` is written only while no thread reads it: by the caller holding the
    // `callers` lock, after the previous job's `remaining` reached 0 (every part taken was
    // finished, so no thread holds a part of it) and before the store of `state` that lets
    // threads take the new job's parts; a thread reads `job` only after taking a part, by a
    // compare-exchange on `state` that acquires that store, and a part is counted in
    // `remaining` until it has returned. The pointee is `Sync`, so calling it from several
    // threads at once is sound.
    unsafe impl Sync for Shared {}
    // SAFETY: as above; the raw pointer is only dereferenced under that protocol.
    unsafe impl Send for Shared {}

    struct Worker {
        thread: Thread,
        /// Set by the worker before it parks, so the caller knows to unpark it.
        sleeping: Arc<AtomicBool>,
    }

    struct Pool {
        shared: Arc<Shared>,
        /// Held by the one caller whose job is running; other callers run their work alone.
        callers: Mutex<Vec<Worker>>,
    }

    static POOL: OnceLock<Pool> = OnceLock::new();

    /// Calls `job(i)` for every `i < parts` (at most [`MAX_PARTS`]), on the calling thread and
    /// the workers, and returns when all have returned; re-raises the first panic of any part
    /// after all have finished. If the pool is busy (another thread's job, or a part calling
    /// back in), runs every part on the calling thread instead, in order.
    pub(super) fn run(parts: usize, job: &Job<'_>) {
        debug_assert!(parts <= MAX_PARTS);
        let pool = POOL.get_or_init(|| Pool {
            shared: Arc::new(Shared {
                state: AtomicUsize::new(0),
                job: UnsafeCell::new(None),
                remaining: AtomicUsize::new(0),
                caller: Mutex::new(None),
                caller_sleeping: AtomicBool::new(false),
                panic: Mutex::new(None),
            }),
            callers: Mutex::new(Vec::new()),
        });
        let Ok(mut workers) = pool.callers.try_lock() else {
            (0..parts).for_each(job);
            return;
        };
        while workers.len() + 1 < parts {
            let index = workers.len() + 1;
            workers.push(spawn(index, Arc::clone(&pool.shared)));
        }
        let shared = &*pool.shared;
        *shared.caller.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread::current());
        // SAFETY: the lifetime is erased only for the time other threads use the pointer: this
        // function does not return, nor unwind (its parts run under `catch_unwind`), before
        // `remaining` is 0, that is, before every part has returned; the next write of `job`
        // happens after that too (see `Shared`).
        let erased: *const Job<'static> = unsafe { std::mem::transmute::<&Job<'_>, &'static Job<'static>>(job) };
        // SAFETY: no thread reads `job` now: the previous job's `remaining` reached 0 before
        // its caller returned, and this thread holds the `callers` lock (see `Shared`).
        unsafe { *shared.job.get() = Some(erased) };
        shared.remaining.store(parts, Ordering::Relaxed);
        let number = (shared.state.load(Ordering::Relaxed) / JOB + 1) % (usize::MAX / JOB);
        // SeqCst pairs with the worker's SeqCst store of `sleeping` and load of `state`: either
        // the worker sees this job before it parks, or this thread sees it asleep and wakes it.
        shared.state.store(number * JOB + parts * PARTS, Ordering::SeqCst);
        for worker in &workers[..parts - 1] {
            if worker.sleeping.load(Ordering::SeqCst) {
                worker.thread.unpark();
            }
        }
        let mut mine = Ok(());
        while let Some(part) = take_part(shared) {
            let result = catch_unwind(AssertUnwindSafe(|| job(part)));
            if mine.is_ok() {
                mine = result;
            }
            shared.remaining.fetch_sub(1, Ordering::SeqCst);
        }
        wait_for_parts(shared);
        drop(workers);
        if let Err(payload) = mine {
            resume_unwind(payload);
        }
        if let Some(payload) = shared.panic.lock().unwrap_or_else(PoisonError::into_inner).take() {
            resume_unwind(payload);
        }
    }

    /// Takes the next part of the published job, if one is left.
    fn take_part(shared: &Shared) -> Option<usize> {
        let mut state = shared.state.load(Ordering::Acquire);
        loop {
            let (parts, next) = (state % JOB / PARTS, state % PARTS);
            if next >= parts {
                return None;
            }
            match shared.state.compare_exchange_weak(state, state + 1, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => return Some(next),
                Err(now) => state = now,
            }
        }
    }

    /// The caller's wait for parts other threads took: spin briefly, then sleep until the
    /// thread that finishes the last one wakes it.
    fn wait_for_parts(shared: &Shared) {
        let started = Instant::now();
        while shared.remaining.load(Ordering::Acquire) != 0 {
            if started.elapsed() < WAIT_SPIN {
                std::hint::spin_loop();
                continue;
            }
            // SeqCst pairs with the worker's count-down and load of the flag (see `work`).
            shared.caller_sleeping.store(true, Ordering::SeqCst);
            while shared.remaining.load(Ordering::SeqCst) != 0 {
                thread::park();
            }
            shared.caller_sleeping.store(false, Ordering::Relaxed);
        }
    }

    /// Starts worker `index`.
    fn spawn(index: usize, shared: Arc<Shared>) -> Worker {
        let sleeping = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&sleeping);
        let handle = thread::Builder::new()
            .name(format!("tapegrad-{index}"))
            .spawn(move || work(&shared, &flag))
            .expect("tapegrad: cannot start a worker thread");
        Worker { thread: handle.thread().clone(), sleeping }
    }

    /// A worker's life: take parts while the published job has some, then wait for the next.
    fn work(shared: &Shared, sleeping: &AtomicBool) -> ! {
        loop {
            while let Some(part) = take_part(shared) {
                // SAFETY: this thread took a part, so the job's caller waits for this part's
                // count-down before it returns or writes `job` again, and the take acquired the
                // caller's publication, after its write of `job` (see `Shared`).
                let job = unsafe { (*shared.job.get()).expect("a published job") };
                // SAFETY: as above, the pointee outlives this call.
                let result = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(part) }));
                if let Err(payload) = result {
                    shared.panic.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(payload);
                }
                // SeqCst pairs with the caller's store of `caller_sleeping` and its load of
                // `remaining`: either it sees the count reach 0, or this thread sees it asleep.
                if shared.remaining.fetch_sub(1, Ordering::SeqCst) == 1
                    && shared.caller_sleeping.load(Ordering::SeqCst)
                    && let Some(caller) = &*shared.caller.lock().unwrap_or_else(PoisonError::into_inner)
                {
                    caller.unpark();
                }
            }
            wait_for_job(shared, sleeping);
        }
    }

    /// Spins for up to [`SPIN`], then parks, until the published job has a part to take.
    fn wait_for_job(shared: &Shared, sleeping: &AtomicBool) {
        let takeable = |state: usize| state % PARTS < state % JOB / PARTS;
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            if takeable(shared.state.load(Ordering::Acquire)) {
                return;
            }
            // Between short spins, give the core to any other thread that wants it: on a busy
            // machine a spinning worker would otherwise slow down the thread it works for.
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) {
                std::hint::spin_loop();
                continue;
            }
            if started.elapsed() < SPIN {
                thread::yield_now();
                continue;
            }
            // SeqCst pairs with the caller's store of `state` and load of `sleeping`: either
            // this thread sees the job, or the caller sees it asleep and unparks it.
            sleeping.store(true, Ordering::SeqCst);
            if !takeable(shared.state.load(Ordering::SeqCst)) {
                thread::park();
            }
            sleeping.store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Every element visited once, by the part that holds it, at the offset it has in the whole.
    #[test]
    fn parts_cover_the_data_once_with_their_offsets() {
        for len in [0, 1, 63, 64, 65, 1000, 4096, 10_001] {
            for parts in [1, 2, 3, 4, 7] {
                for align in [1, 16, 64] {
                    let mut data = vec![0usize; len];
                    let calls = AtomicUsize::new(0);
                    run_parts(&mut data[..], parts, align, &|offset, part: &mut [usize]| {
                        calls.fetch_add(1, Ordering::Relaxed);
                        assert!(offset % align == 0, "part at {offset} not aligned to {align}");
                        part.iter_mut().enumerate().for_each(|(i, x)| *x += offset + i + 1);
                    });
                    let expected: Vec<usize> = (1..=len).collect();
                    assert_eq!(data, expected, "len {len}, {parts} parts, align {align}");
                    assert!(calls.load(Ordering::Relaxed) <= parts.max(1));
                }
            }
        }
    }

    #[test]
    fn a_tuple_is_cut_at_the_same_indices() {
        let src: Vec<f64> = (0..5000).map(f64::from).collect();
        let (mut a, mut b) = (vec![0.0; 5000], vec![0.0; 5000]);
        run_parts((&mut a[..], &mut b[..], &src[..]), 3, 64, &|_, (a, b, s): (&mut [f64], &mut [f64], &[f64])| {
            for ((a, b), s) in a.iter_mut().zip(b.iter_mut()).zip(s) {
                (*a, *b) = (2.0 * s, s + 1.0);
            }
        });
        assert!(a.iter().zip(&src).all(|(a, s)| *a == 2.0 * s));
        assert!(b.iter().zip(&src).all(|(b, s)| *b == s + 1.0));
    }

    #[test]
    #[should_panic(expected = "for_each_part: the slices of a tuple differ in length")]
    fn slices_of_different_lengths_are_refused() {
        let (mut a, b) = (vec![0.0f32; 10], vec![0.0f32; 9]);
        for_each_part((&mut a[..], &b[..]), 1, |_, _| {});
    }

    /// A part that panics (on a worker or on the calling thread) is re-raised after the others
    /// finish, and the pool keeps working.
    #[test]
    fn a_panicking_part_is_reraised_and_the_pool_survives() {
        for bad in [0, 1, 2] {
            let mut data = [0u8; 3 * 64];
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_parts(&mut data[..], 3, 64, &|offset, part: &mut [u8]| {
                    if offset / 64 == bad {
                        panic!("part {bad} fails");
                    }
                    part.fill(1);
                });
            }));
            let message = caught.expect_err("the panic reaches the caller");
            assert_eq!(
                message.downcast_ref::<String>().map(String::as_str),
                Some(format!("part {bad} fails").as_str())
            );
            let mut data = [0u8; 3 * 64];
            run_parts(&mut data[..], 3, 64, &|_, part: &mut [u8]| part.fill(1));
            assert!(data.iter().all(|&x| x == 1), "the pool works after part {bad} panicked");
        }
    }

    /// Jobs from several threads at once, and a job started from inside a part, all complete
    /// (a busy pool runs the later caller's parts on that caller's thread).
    #[test]
    fn concurrent_and_nested_jobs_complete() {
        std::thread::scope(|s| {
            for t in 0..4u64 {
                s.spawn(move || {
                    for round in 0..200u64 {
                        let mut data = vec![0u64; 1000];
                        run_parts(&mut data[..], 4, 16, &|offset, part: &mut [u64]| {
                            let mut inner = vec![0u64; 256];
                            run_parts(&mut inner[..], 2, 16, &|o, p: &mut [u64]| p.fill(o as u64));
                            part.iter_mut().enumerate().for_each(|(i, x)| *x = (offset + i) as u64 * t + round);
                            assert!(inner[..128].iter().all(|&x| x == 0) && inner[128..].iter().all(|&x| x == 128));
                        });
                        assert!(data.iter().enumerate().all(|(i, &x)| x == i as u64 * t + round));
                    }
                });
            }
        });
    }
}
