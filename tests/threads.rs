//! Results do not depend on the thread count: large products are split only over independent
//! blocks of output rows, and large elementwise kernels, column sums and optimiser updates only
//! over independent parts, so each output element is computed by the same operations at any
//! count. Checked bit for bit at 1, 2 and 3 threads (which split even on a 1-core machine).
//!
//! The only test in this binary: it sets the process-wide thread count.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{Tape, Tensor, num_threads, set_num_threads};
use tapegrad::nn::{Activation, Adam, Init, Mlp, Module, Optimizer, Sgd, softmax_cross_entropy};

/// Two steps of a 784-512-512-10 MLP at batch 256 (every product past the split threshold,
/// forward and backward; relu, bias and optimiser state of 131k to 401k elements, past the
/// elementwise one), with `opt`, returning the loss and the parameters after.
fn train(threads: usize, mut opt: impl Optimizer<f32>) -> (f32, Vec<Vec<f32>>) {
    set_num_threads(threads);
    let mut rng = StdRng::seed_from_u64(7);
    let mut mlp = Mlp::<f32>::new(&[784, 512, 512, 10], Activation::Relu, Init::HeUniform, &mut rng);
    let x = Tensor::<f32>::rand_uniform([300, 784], -1.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..300).map(|i| i * 7 % 10).collect();
    let rows: Vec<usize> = (0..256).map(|i| (i * 37) % 300).collect();
    let mut tape = Tape::new();
    let mut loss = 0.0;
    for _ in 0..2 {
        tape.reset();
        let batch = tape.gather_rows(&x, &rows);
        let picked: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
        let l = softmax_cross_entropy(mlp.forward(batch), &picked);
        loss = l.item();
        opt.step(&mut mlp, &l.backward());
    }
    (loss, mlp.parameters().iter().map(|p| p.param.value().data().to_vec()).collect())
}

/// Elementwise ops past the split threshold, unary and binary, same-shape and bias-row, and
/// their gradients: the values and gradients, flattened.
fn elementwise(threads: usize) -> Vec<Vec<f64>> {
    set_num_threads(threads);
    let mut rng = StdRng::seed_from_u64(11);
    let a = Tensor::<f64>::rand_uniform([300, 517], -2.0, 2.0, &mut rng);
    let b = Tensor::<f64>::rand_uniform([300, 517], -2.0, 2.0, &mut rng);
    let bias = Tensor::<f64>::rand_uniform([517], -1.0, 1.0, &mut rng);
    let tape = Tape::new();
    let (av, bv, biasv) = (tape.leaf(&a), tape.leaf(&b), tape.leaf(&bias));
    let y = (av.tanh() * bv + biasv).relu() + av.exp().scale(0.5) - bv.sigmoid();
    let grads = (y * y).sum().backward();
    vec![y.value().data().to_vec(), grads[av].data().to_vec(), grads[bv].data().to_vec(), grads[biasv].data().to_vec()]
}

/// Two training steps with the optimiser `make` builds give the same bits at 1, 2 and 3 threads.
fn same_training_at_every_count<O: Optimizer<f32>>(name: &str, make: impl Fn() -> O) {
    let (loss1, params1) = train(1, make());
    for threads in [2, 3] {
        let (loss2, params2) = train(threads, make());
        assert_eq!(loss1.to_bits(), loss2.to_bits(), "{name}: loss {loss1} at 1 thread, {loss2} at {threads}");
        for (k, (p1, p2)) in params1.iter().zip(&params2).enumerate() {
            assert!(p1 == p2, "{name}: parameter {k} differs between 1 and {threads} threads after two steps");
        }
    }
}

/// The names of this process's threads (Linux; empty elsewhere).
fn thread_names() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

/// Training steps of the bench's two small configurations (64-10-10 at batch 1, 64-64-10 at
/// batch 32) with 4 threads allowed hand nothing to another thread: the pool, started on the
/// first job, has no thread yet. Runs first, before anything else in this binary splits.
fn small_networks_start_no_thread() {
    set_num_threads(4);
    let mut rng = StdRng::seed_from_u64(5);
    for (sizes, batch) in [(&[64, 10, 10][..], 1), (&[64, 64, 10][..], 32)] {
        let mut mlp = Mlp::<f32>::new(sizes, Activation::Relu, Init::HeUniform, &mut rng);
        let x = Tensor::<f32>::rand_uniform([batch, 64], -1.0, 1.0, &mut rng);
        let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
        let mut opt = Sgd::new(0.05).momentum(0.9).weight_decay(1e-4);
        let mut tape = Tape::new();
        for _ in 0..3 {
            tape.reset();
            let l = softmax_cross_entropy(mlp.forward(tape.constant(&x)), &labels);
            opt.step(&mut mlp, &l.backward());
        }
    }
    let names = thread_names();
    assert!(!names.iter().any(|n| n.starts_with("tapegrad-")), "small networks started a worker: {names:?}");
    // And a large product does start one, so the check above can fail.
    let a = Tensor::<f32>::rand_uniform([256, 512], -1.0, 1.0, &mut rng);
    let _ = a.matmul(&a.transpose());
    if cfg!(target_os = "linux") {
        let names = thread_names();
        assert!(names.iter().any(|n| n.starts_with("tapegrad-")), "a 256x512x256 product started no worker: {names:?}");
    }
}

#[test]
fn one_and_two_threads_give_bitwise_identical_products_and_training() {
    small_networks_start_no_thread();
    let mut rng = StdRng::seed_from_u64(3);
    // 300 rows: two blocks of unequal size (a multiple of the block alignment, then the rest).
    let a = Tensor::<f32>::rand_uniform([300, 700], -1.0, 1.0, &mut rng);
    let b = Tensor::<f32>::rand_uniform([700, 500], -1.0, 1.0, &mut rng);
    let product = |threads| {
        set_num_threads(threads);
        assert_eq!(num_threads(), threads);
        let mut at_b = Tensor::zeros([0]);
        at_b.matmul_into(&b, true, &a, true, false); // b^T a^T, both operands transposed
        (a.matmul(&b), at_b)
    };
    let one = product(1);
    let two = product(2);
    // Bitwise: `==` on the data, not a tolerance.
    assert!(one.0.data() == two.0.data(), "a b differs between 1 and 2 threads");
    assert!(one.1.data() == two.1.data(), "b^T a^T differs between 1 and 2 threads");
    let one = elementwise(1);
    for threads in [2, 3] {
        let many = elementwise(threads);
        for (k, (x, y)) in one.iter().zip(&many).enumerate() {
            assert!(x == y, "elementwise result {k} differs between 1 and {threads} threads");
        }
    }
    same_training_at_every_count("sgd", || Sgd::new(0.05).momentum(0.9).weight_decay(1e-4));
    same_training_at_every_count("adam", || Adam::new(1e-3).weight_decay(1e-2));
}
