//! Results do not depend on the thread count: large products are split only over independent
//! blocks of output rows, so each output element is computed by the same operations at any
//! count. Checked bit for bit at 1 and 2 threads (2 threads split even on a 1-core machine).
//!
//! The only test in this binary: it sets the process-wide thread count.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{Tape, Tensor, num_threads, set_num_threads};
use tapegrad::nn::{Activation, Init, Mlp, Module, Sgd, softmax_cross_entropy};

/// Two SGD steps of a 784-512-512-10 MLP at batch 256 (every product past the split
/// threshold, forward and backward), returning the loss and the parameters after.
fn train(threads: usize) -> (f32, Vec<Vec<f32>>) {
    set_num_threads(threads);
    let mut rng = StdRng::seed_from_u64(7);
    let mut mlp = Mlp::<f32>::new(&[784, 512, 512, 10], Activation::Relu, Init::HeUniform, &mut rng);
    let x = Tensor::<f32>::rand_uniform([256, 784], -1.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..256).map(|i| i * 7 % 10).collect();
    let mut opt = Sgd::new(0.05).momentum(0.9);
    let mut tape = Tape::new();
    let mut loss = 0.0;
    for _ in 0..2 {
        tape.reset();
        let l = softmax_cross_entropy(mlp.forward(tape.constant(&x)), &labels);
        loss = l.item();
        opt.step(&mut mlp, &l.backward());
    }
    (loss, mlp.parameters().iter().map(|p| p.param.value().data().to_vec()).collect())
}

#[test]
fn one_and_two_threads_give_bitwise_identical_products_and_training() {
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
    let (loss1, params1) = train(1);
    let (loss2, params2) = train(2);
    assert_eq!(loss1.to_bits(), loss2.to_bits(), "loss {loss1} at 1 thread, {loss2} at 2");
    for (k, (p1, p2)) in params1.iter().zip(&params2).enumerate() {
        assert!(p1 == p2, "parameter {k} differs between 1 and 2 threads after two steps");
    }
}
