//! Steady-state heap allocations of a training step, counted by a global allocator: the guard
//! for the buffer reuse that keeps the tape from allocating (a count, not a timing, so it is
//! exact on any machine).
//!
//! The only test in this binary; the counter is per thread, so the harness's own threads do
//! not disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{Tape, Tensor};
use tapegrad::nn::manual::ManualBackprop;
use tapegrad::nn::{Activation, Init, Mlp, Module, Optimizer, Sgd, softmax_cross_entropy};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to the system allocator unchanged; counting touches only a
// thread-local `Cell` (const-initialised, so counting itself never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Allocations per step of tape training and of the hand-written backprop, after warm-up.
fn per_step(sizes: &[usize], batch: usize) -> (usize, usize, usize) {
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
    let steps = 20;
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
    assert_eq!(tape_allocs % steps, 0, "a steady state allocates the same each step");
    assert_eq!(hand_allocs % steps, 0, "a steady state allocates the same each step");
    (tape_allocs / steps, hand_allocs / steps, nodes)
}

#[test]
fn a_reset_tape_allocates_no_more_per_step_than_hand_written_backprop() {
    // batch 1 (every GEMM in the direct loops) and batch 32 (packed GEMMs, whose packing
    // buffers `matrixmultiply` allocates on every call, in both columns alike).
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
}
