//! Misuse fails loudly, at record time, with a message that names the op and the shapes (or
//! the var) involved. Each expected message is the one the library documents or the format its
//! `panic!` writes, filled in by hand for the inputs below.

use tapegrad::autograd::ops::{activation::Relu, elementwise::Unary};
use tapegrad::autograd::{GradcheckError, GradcheckOptions, Tape, Tensor, gradcheck};

#[test]
#[should_panic(expected = "matmul: [2, 3] x [4, 5]: inner dimensions differ")]
fn matmul_inner_dimensions_differ() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 3])).matmul(tape.leaf(Tensor::zeros([4, 5])));
}

#[test]
#[should_panic(expected = "matmul: [2, 3, 4] x [2, 5, 6]: inner dimensions differ")]
fn batched_matmul_inner_dimensions_differ() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 3, 4])).matmul(tape.leaf(Tensor::zeros([2, 5, 6])));
}

#[test]
#[should_panic(expected = "matmul: [2, 3, 4] x [3, 4, 5]: batch sizes differ")]
fn batched_matmul_batch_sizes_differ() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 3, 4])).matmul(tape.leaf(Tensor::zeros([3, 4, 5])));
}

#[test]
#[should_panic(expected = "matmul: [2, 3, 4] x [5, 6]: inner dimensions differ")]
fn matmul_of_a_batch_by_a_matrix_inner_dimensions_differ() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 3, 4])).matmul(tape.leaf(Tensor::zeros([5, 6])));
}

#[test]
#[should_panic(expected = "matmul: [3] x [3, 2]: expects [m, k] x [k, n], [b, m, k] x [b, k, n] or [b, m, k] x [k, n]")]
fn matmul_of_a_vector() {
    // No implicit promotion of a vector to a row: that is what would hide a missing batch axis.
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([3])).matmul(tape.leaf(Tensor::zeros([3, 2])));
}

#[test]
#[should_panic(expected = "add: [3, 2] + [3]: shapes do not broadcast")]
fn add_of_shapes_that_do_not_broadcast() {
    // Axes match from the right: 2 against 3.
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([3, 2])) + tape.leaf(Tensor::zeros([3]));
}

#[test]
#[should_panic(expected = "sub: [2, 3, 4] - [3, 3]: shapes do not broadcast")]
fn sub_of_shapes_that_do_not_broadcast() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 3, 4])) - tape.leaf(Tensor::zeros([3, 3]));
}

#[test]
#[should_panic(expected = "mul: [3, 2] * [2, 3]: shapes do not broadcast")]
fn mul_of_a_matrix_and_its_transpose_shape() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([3, 2])) * tape.leaf(Tensor::zeros([2, 3]));
}

#[test]
#[should_panic(expected = "div: [4] / [3]: shapes do not broadcast")]
fn div_of_shapes_that_do_not_broadcast() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::ones([4])) / tape.leaf(Tensor::ones([3]));
}

#[test]
#[should_panic(expected = "pick: label 4 at row 2 is out of range for 4 classes")]
fn pick_label_equal_to_the_class_count() {
    // Labels are 0-based: with 4 classes, 4 is the first label out of range.
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([3, 4])).pick([0, 3, 4]);
}

#[test]
#[should_panic(expected = "nll: label 7 at row 0 is out of range for 5 classes")]
fn nll_checks_labels_too() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 5])).log_softmax().nll([7, 1]);
}

#[test]
#[should_panic(expected = "pick: 3 labels for 2 rows (shape [2, 4])")]
fn pick_with_more_labels_than_rows() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 4])).pick([0, 1, 2]);
}

#[test]
#[should_panic(expected = "pick: expected a [batch, classes] matrix, got shape [4]")]
fn pick_from_a_vector() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([4])).pick([1]);
}

#[test]
#[should_panic(expected = "backward: the loss must be a single value, but var #1 has shape [2, 3]")]
fn backward_on_a_non_scalar() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::zeros([2, 3]));
    let _ = x.tanh().backward();
}

#[test]
#[should_panic(expected = "add: input 1 (var #0) belongs to another tape")]
fn an_op_given_a_var_from_another_tape() {
    let (tape, other) = (Tape::<f64>::new(), Tape::<f64>::new());
    let x = tape.leaf(Tensor::zeros([2]));
    let _ = tape.leaf(Tensor::zeros([2]));
    let y = other.leaf(Tensor::zeros([2]));
    // x is recorded on `tape`, y on `other`: the op is recorded on x's tape.
    let _ = x + y;
}

#[test]
#[should_panic(expected = "relu: input 0 (var #1) belongs to another tape")]
fn tape_apply_given_a_var_from_another_tape() {
    let (tape, other) = (Tape::<f64>::new(), Tape::<f64>::new());
    let _ = other.leaf(Tensor::zeros([2]));
    let y = other.leaf(Tensor::zeros([2]));
    let _ = tape.apply(Unary(Relu), &[y]);
}

#[test]
#[should_panic(expected = "gradients: var #0 is from another tape")]
fn gradient_looked_up_with_a_var_from_another_tape() {
    let (tape, other) = (Tape::<f64>::new(), Tape::<f64>::new());
    let x = tape.leaf(Tensor::ones([2]));
    let y = other.leaf(Tensor::ones([2]));
    let grads = x.sum().backward();
    // y has index 0 like x: without the tape check this would silently return x's gradient.
    let _ = grads.get(y);
}

#[test]
#[should_panic(expected = "gradients: var #1 has no gradient: only leaves recorded before backward keep one")]
fn gradients_indexed_with_an_intermediate_var() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones([2]));
    let h = x.exp();
    let grads = h.sum().backward();
    let _ = &grads[h];
}

#[test]
#[should_panic(expected = "gradients: var #0 has no gradient: only leaves recorded before backward keep one")]
fn gradients_indexed_with_a_constant() {
    let tape = Tape::<f64>::new();
    let c = tape.constant(Tensor::ones([2]));
    let x = tape.leaf(Tensor::ones([2]));
    let grads = (c * x).sum().backward();
    let _ = &grads[c];
}

#[test]
#[should_panic(expected = "sum_axis: axis 3 out of range for shape [2, 3, 4]")]
fn sum_axis_past_the_last_axis() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 3, 4])).sum_axis(3);
}

#[test]
#[should_panic(expected = "mean_axis: axis 2 out of range for shape [2, 3]")]
fn mean_axis_past_the_last_axis() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 3])).mean_axis(2);
}

#[test]
#[should_panic(expected = "transpose: expected a matrix (rank 2), got shape [2, 3, 4]")]
fn transpose_of_a_rank_3_tensor() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2, 3, 4])).transpose();
}

#[test]
#[should_panic(expected = "log_softmax: needs at least one axis, got a scalar")]
fn log_softmax_of_a_scalar() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::scalar(1.0)).log_softmax();
}

#[test]
#[should_panic(expected = "mean: of an empty tensor (shape [0, 3])")]
fn mean_of_an_empty_tensor() {
    // 0 / 0 would be a NaN loss far from its cause.
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([0, 3])).mean();
}

#[test]
#[should_panic(expected = "Tensor::item: tensor of shape [2] is not a single value")]
fn item_of_a_vector() {
    let tape = Tape::<f64>::new();
    let _ = tape.leaf(Tensor::zeros([2])).item();
}

#[test]
fn gradcheck_reports_a_non_finite_value_and_where() {
    // Entry 1 sits at 5e-4, closer to log's domain edge than the stencil's reach of 2 eps =
    // 2e-3: ln(5e-4 - 2e-3) is NaN, so that entry has no finite difference. Entry 0, at 1, is
    // fine, so the error must name entry 1, not the first one looked at.
    let x = Tensor::from_vec([2], vec![1.0, 5e-4]);
    let err = gradcheck(|v| v[0].log().sum(), &[x], &GradcheckOptions::default()).unwrap_err();
    assert_eq!(err, GradcheckError::NonFinite { input: 0, index: 1 });
}

#[test]
#[should_panic(expected = "gradients: var #2 has no gradient: only leaves recorded before backward keep one")]
fn gradients_indexed_with_a_leaf_recorded_after_backward() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones([2]));
    let grads = x.sum().backward();
    // A leaf of the same tape, but recorded after the store was made: no entry, and the message
    // must not claim it is not a leaf.
    let late = tape.leaf(Tensor::ones([2]));
    let _ = &grads[late];
}

#[test]
#[should_panic(expected = "gather_rows: row 3 is out of range for a matrix of shape [3, 2]")]
fn gather_rows_out_of_range() {
    let tape = Tape::<f32>::new();
    let _ = tape.gather_rows(&Tensor::zeros([3, 2]), &[0, 3]);
}

#[test]
#[should_panic(expected = "gather_rows: expected a matrix (rank 2), got shape [6]")]
fn gather_rows_of_a_vector() {
    let tape = Tape::<f32>::new();
    let _ = tape.gather_rows(&Tensor::zeros([6]), &[0]);
}

#[test]
fn gather_rows_of_no_rows_is_an_empty_batch() {
    let tape = Tape::<f32>::new();
    let batch = tape.gather_rows(&Tensor::zeros([3, 2]), &[]);
    assert_eq!(batch.shape().dims(), &[0, 2]);
}

/// The message of a panic caught from `f`.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("expected a panic");
    err.downcast_ref::<String>().cloned().or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
}

#[test]
fn a_shape_whose_element_count_overflows_is_refused_before_any_kernel_runs() {
    // 128 * (2^58 + 1) wraps to 128 in unchecked release arithmetic, so 128 values used to be
    // accepted for a [128, 2^58 + 1] tensor and the matmul below read far past them.
    let huge = (1usize << 58) + 1;
    let msg = panic_message(move || {
        let a = Tensor::<f32>::from_vec([128, huge], vec![1.0; 128]);
        let b = Tensor::<f32>::from_vec([huge, 64], vec![1.0; 64]);
        let _ = a.matmul(&b);
    });
    assert!(msg.contains("shape [128, 288230376151711745]") && msg.contains("more than any tensor can hold"), "{msg}");
    // On a tape the same shapes never get that far either, as a leaf or a constant.
    for leaf in [true, false] {
        let msg = panic_message(move || {
            let tape = Tape::<f32>::new();
            let record = |t| if leaf { tape.leaf(t) } else { tape.constant(t) };
            let a = record(Tensor::from_vec([128, huge], vec![1.0; 128]));
            let b = record(Tensor::from_vec([huge, 64], vec![1.0; 64]));
            let _ = a.matmul(b).sum().backward();
        });
        assert!(
            msg.contains("shape [128, 288230376151711745]: about 2^65 elements, more than any tensor can hold"),
            "{msg}"
        );
    }
    // 2^32 * 2^32 wraps to 0: this "succeeded" with no elements at all.
    let msg = panic_message(|| drop(Tensor::<f64>::zeros([1 << 32, 1 << 32])));
    assert!(msg.contains("shape [4294967296, 4294967296]: about 2^64 elements"), "{msg}");
}

#[test]
fn an_mlp_with_layers_too_large_to_exist_is_refused() {
    use rand::{SeedableRng, rngs::StdRng};
    use tapegrad::nn::{Activation, Init, Mlp};
    let msg = panic_message(|| {
        let _ =
            Mlp::<f32>::new(&[1 << 33, 1 << 31, 2], Activation::Relu, Init::HeUniform, &mut StdRng::seed_from_u64(0));
    });
    assert!(
        msg.starts_with("Mlp::new: layer 0 of [8589934592, 2147483648, 2] needs a [8589934592, 2147483648] weight"),
        "{msg}"
    );
}

#[test]
fn broadcasting_an_axis_of_one_against_an_axis_of_zero_gives_zero() {
    // NumPy and PyTorch: [3, 1] * [1, 0] is [3, 0]. It used to make a [3, 1] output and index
    // past the empty operand.
    let tape = Tape::<f64>::new();
    let (a, b) = (tape.leaf(Tensor::ones([3, 1])), tape.leaf(Tensor::ones([1, 0])));
    let y = a * b;
    assert_eq!(y.shape().dims(), &[3, 0]);
    let grads = y.sum().backward();
    assert_eq!((grads[a].data(), grads[b].shape().dims()), (&[0.0, 0.0, 0.0][..], &[1, 0][..]));
    assert_eq!(Tensor::<f32>::ones([1, 0]).add(&Tensor::ones([3, 1])).shape().dims(), &[3, 0]);
}

#[test]
#[should_panic(expected = "Tensor::row: row 5 is out of range for shape [2, 3] (2 rows)")]
fn tensor_row_out_of_range() {
    let _ = Tensor::<f32>::zeros([2, 3]).row(5);
}

#[test]
#[should_panic(expected = "Tape: cannot record an op inside Var::with_value")]
fn recording_inside_with_value() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones([2]));
    x.with_value(|_| x.exp());
}

#[test]
#[should_panic(expected = "relu: takes 1 input, given 2")]
fn an_op_given_too_many_inputs() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones([2]));
    let _ = tape.apply(Unary(Relu), &[x, x]);
}

#[test]
#[should_panic(expected = "matmul: takes 2 inputs, given 1")]
fn an_op_given_too_few_inputs() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones([2, 2]));
    let _ = tape.apply(tapegrad::autograd::ops::matmul::MatMul, &[x]);
}

#[test]
#[should_panic(expected = "nll: label 16777217 at row 1 cannot be stored exactly as f32")]
fn an_f32_label_that_would_round_to_another_class() {
    // 2^24 + 1 is the first integer f32 cannot hold: it would become 2^24, another class.
    let tape = Tape::<f32>::new();
    let classes = (1 << 24) + 2;
    let _ = tape.leaf(Tensor::zeros([2, classes])).log_softmax().nll([0, (1 << 24) + 1]);
}
