//! Steady-state heap allocations of a training step, counted by a global allocator: the guard
//! for the buffer reuse that keeps the tape from allocating (a count, not a timing, so it is
//! exact on any machine).
//!
//! The only test in this binary, so the harness's own threads are idle while it counts; the
//! count is over every thread, so allocations on the pool's threads count too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{Tape, Tensor, set_num_threads};
use tapegrad::nn::manual::ManualBackprop;
use tapegrad::nn::{Activation, Init, Mlp, Module, Optimizer, Sgd, softmax_cross_entropy};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator unchanged; counting touches only an
// atomic counter, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Allocations in [`STEPS`] steps of tape training and of the hand-written backprop, after
/// warm-up, and the nodes the tape records.
fn totals(sizes: &[usize], batch: usize) -> (usize, usize, usize) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut mlp = Mlp::<f32>::new(sizes, Activation::Relu, Init::HeUniform, &mut rng);
    let x = Tensor::<f32>::rand_uniform([batch, sizes[0]], -1.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..batch).map(|i| i % sizes[sizes.len() - 1]).collect();
    let mut opt = Sgd::new(0.01).momentum(0.9);
    let mut tape = Tape::new();
    let mut nodes = 0;
    let mut tape_step = |mlp: &mut Mlp<f32>, opt: &mut Sgd<f32>| {
        tape.reset();
        let loss = softmax_cross_entropy(mlp.forward(tape.constant(&x)), &labels);
        let grads = loss.backward();
        opt.step(mlp, &grads);
        nodes = tape.len();
        drop(grads);
    };
    let steps = STEPS;
    for _ in 0..3 {
        tape_step(&mut mlp, &mut opt);
    }
    let tape_allocs = allocations_during(|| (0..steps).for_each(|_| tape_step(&mut mlp, &mut opt)));
    let mut bp = ManualBackprop::new();
    let mut hand_step = |mlp: &mut Mlp<f32>, opt: &mut Sgd<f32>| {
        bp.run(mlp, &x, &labels, 0.0);
        opt.update(&mut mlp.parameters_mut(), &bp.gradients());
    };
    for _ in 0..3 {
        hand_step(&mut mlp, &mut opt);
    }
    let hand_allocs = allocations_during(|| (0..steps).for_each(|_| hand_step(&mut mlp, &mut opt)));
    (tape_allocs, hand_allocs, nodes)
}

/// Steps [`totals`] counts over.
const STEPS: usize = 20;

/// Allocations per step of tape training and of the hand-written backprop, after warm-up,
/// each the same in every step, and the nodes the tape records.
fn per_step(sizes: &[usize], batch: usize) -> (usize, usize, usize) {
    let (tape, hand, nodes) = totals(sizes, batch);
    assert_eq!(tape % STEPS, 0, "a steady state allocates the same each step");
    assert_eq!(hand % STEPS, 0, "a steady state allocates the same each step");
    (tape / STEPS, hand / STEPS, nodes)
}

#[test]
fn a_reset_tape_allocates_no_more_per_step_than_hand_written_backprop() {
    // batch 1 (every GEMM in the direct loops) and batch 32 (packed GEMMs, whose packing
    // buffers `matrixmultiply` allocates on every call, in both columns alike).
    set_num_threads(1);
    for (sizes, batch) in [(&[64, 10, 10][..], 1), (&[64, 64, 10][..], 32), (&[64, 32, 32, 10][..], 16)] {
        let (tape, hand, nodes) = per_step(sizes, batch);
        // The tape side builds one list per step, the optimiser's `parameters_mut`; the
        // hand-written side builds that and `ManualBackprop::gradients`. Every value and
        // gradient buffer, the labels' included, is reused.
        assert!(
            tape <= hand,
            "{sizes:?} batch {batch}: {tape} allocations per tape step, {hand} per hand-written step"
        );
        assert!(tape <= nodes, "{sizes:?} batch {batch}: {tape} allocations for {nodes} recorded nodes");
    }

    // Threaded: products past the split threshold (128 x 256 x 512 forward, and backward
    // alike) run as two blocks. `matrixmultiply` allocates its packing buffer in every call, so
    // a product split in two allocates two; and the pool's queue takes a new block of 63 slots
    // after every 63 products handed to it (fewer than one allocation per step here, since a
    // step splits fewer than 63). Nothing else may allocate: the pool's jobs live on the stack.
    let sizes = &[256, 512, 256, 10][..];
    let (tape1, hand1, _) = per_step(sizes, 128);
    set_num_threads(2);
    let (tape2, hand2, _) = totals(sizes, 128);
    set_num_threads(1);
    assert!(tape1 <= hand1, "{sizes:?} at 1 thread: {tape1} allocations per tape step, {hand1} by hand");
    let bound = |one: usize| 2 * one * STEPS + STEPS;
    assert!(tape2 <= bound(tape1), "{tape2} allocations in {STEPS} tape steps at 2 threads, {tape1} per step at 1");
    assert!(
        hand2 <= bound(hand1),
        "{hand2} allocations in {STEPS} hand-written steps at 2 threads, {hand1} per step at 1"
    );
    println!(
        "{sizes:?} batch 128: allocations in {STEPS} steps at 1 thread {} / {}, at 2 threads {tape2} / {hand2}",
        tape1 * STEPS,
        hand1 * STEPS
    );
}
