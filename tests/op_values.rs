//! Values and gradients worked out by hand, the derivation beside each expected number.
//!
//! These complement the unit tests at the bottom of each op file (sigmoid'(0), relu' at 0 and
//! 2, the uniform log-softmax of [3; 4], a 2x2 by 2x1 matmul, sum_axis of 0..12, ...) with other
//! points and with non-uniform upstream gradients. Inputs are chosen so the answers are simple
//! fractions; where a value goes through exp, ln, pow, sin or cos it carries rounding of a few
//! ulps, hence the 1e-15 tolerances (a few ulps of numbers of order 1); everything else must be
//! exact.

mod common;

use common::assert_close;
use tapegrad::autograd::{Float, Tape, Tensor, Var};

/// A few ulps of an O(1) result that went through exp or ln.
const ULPS: f64 = 1e-15;

#[test]
fn square_by_multiplying_a_var_by_itself() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::scalar(3.0));
    let y = x * x;
    // 3 * 3 = 9; d(x x)/dx = x + x = 6: one contribution per use of x.
    assert_eq!(y.item(), 9.0);
    assert_eq!(y.backward()[x].item(), 6.0);
}

#[test]
fn cube_by_chaining_two_products() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::scalar(2.0));
    let y = x * x * x;
    // 2^3 = 8; d(x^3)/dx = 3 x^2 = 12, reached as (x x)' x + (x x) = 2x * x + x^2.
    assert_eq!(y.item(), 8.0);
    assert_eq!(y.backward()[x].item(), 12.0);
}

#[test]
fn doubling_by_adding_a_var_to_itself() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([2], vec![5.0, -1.0]));
    let y = (x + x).sum();
    // 2 (5 - 1) = 8; each entry of x is used twice with slope 1.
    assert_eq!(y.item(), 8.0);
    assert_eq!(y.backward()[x].data(), &[2.0, 2.0]);
}

#[test]
fn affine_chain_of_scale_add_scalar_and_neg() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::scalar(1.0));
    let y = -(x.scale(3.0).add_scalar(2.0));
    // -(3 * 1 + 2) = -5; dy/dx = -3 (the scalar added has no slope).
    assert_eq!(y.item(), -5.0);
    assert_eq!(y.backward()[x].item(), -3.0);
}

#[test]
fn square_of_a_negative_number() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::scalar(-1.5));
    let y = x.square();
    // (-1.5)^2 = 2.25; d/dx x^2 = 2x = -3.
    assert_eq!(y.item(), 2.25);
    assert_eq!(y.backward()[x].item(), -3.0);
}

#[test]
fn sigmoid_at_plus_and_minus_ln_3() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([2], vec![3f64.ln(), -(3f64.ln())]));
    let y = x.sigmoid();
    // s(ln 3) = 1 / (1 + 1/3) = 3/4 and s(-ln 3) = 1 / (1 + 3) = 1/4;
    // s' = s (1 - s) = 3/16 at both points (s' is even).
    assert_close("sigmoid", y.value().data(), &[0.75, 0.25], ULPS);
    assert_close("sigmoid'", y.sum().backward()[x].data(), &[3.0 / 16.0, 3.0 / 16.0], ULPS);
}

#[test]
fn sigmoid_gradient_deep_in_the_tail_keeps_its_relative_precision() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::scalar(-40.0));
    let g = x.sigmoid().backward()[x].item();
    // s(-40) = e^-40 / (1 + e^-40) and s' = s (1 - s) = e^-40 / (1 + e^-40)^2, which is e^-40 to
    // within 2e-17 relative. Computing s(-40) as 1 - s(40) would give exactly 0 (s(40) rounds
    // to 1 in f64), and so would its derivative.
    let want = (-40f64).exp();
    assert!(((g - want) / want).abs() < 1e-14, "sigmoid'(-40) = {g:e}, expected {want:e}");
}

#[test]
fn tanh_at_ln_2() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::scalar(2f64.ln()));
    let y = x.tanh();
    // tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 3/5; tanh' = 1 - tanh^2 = 1 - 9/25 = 16/25.
    assert_close("tanh", &[y.item()], &[0.6], ULPS);
    assert_close("tanh'", &[y.backward()[x].item()], &[0.64], ULPS);
}

#[test]
fn exp_and_log_at_simple_points() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([2], vec![2f64.ln(), 0.0]));
    // e^(ln 2) = 2, e^0 = 1; exp is its own derivative.
    let y = x.exp();
    assert_close("exp", y.value().data(), &[2.0, 1.0], ULPS);
    assert_close("exp'", y.sum().backward()[x].data(), &[2.0, 1.0], ULPS);

    let z = tape.leaf(Tensor::from_vec([2], vec![4.0, 1.0]));
    // ln 4 = 2 ln 2, ln 1 = 0; d ln z / dz = 1/z = 1/4 and 1 (exact in binary).
    let l = z.log();
    assert_close("log", l.value().data(), &[2.0 * 2f64.ln(), 0.0], ULPS);
    assert_eq!(l.sum().backward()[z].data(), &[0.25, 1.0]);
}

#[test]
fn abs_takes_slope_zero_at_zero() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([3], vec![-2.0, 0.0, 3.0]));
    let y = x.abs();
    // |x| = [2, 0, 3]; sign(x) = [-1, 0, 1], 0 at the kink by the documented convention.
    assert_eq!(y.value().data(), &[2.0, 0.0, 3.0]);
    assert_eq!(y.sum().backward()[x].data(), &[-1.0, 0.0, 1.0]);
}

#[test]
fn quotient_and_its_two_partials() {
    let tape = Tape::<f64>::new();
    let a = tape.leaf(Tensor::scalar(3.0));
    let b = tape.leaf(Tensor::scalar(2.0));
    let q = a / b;
    // 3 / 2 = 1.5; d/da (a/b) = 1/b = 1/2; d/db (a/b) = -a/b^2 = -3/4.
    assert_eq!(q.item(), 1.5);
    let grads = q.backward();
    assert_eq!(grads[a].item(), 0.5);
    assert_eq!(grads[b].item(), -0.75);
}

#[test]
fn row_vector_product_gradient_sums_over_rows() {
    let tape = Tape::<f64>::new();
    let a = tape.leaf(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0]]));
    let b = tape.leaf(Tensor::from_vec([2], vec![10.0, 100.0]));
    let y = a * b;
    // b scales each column: [[10, 200], [30, 400]].
    assert_eq!(y.value().data(), &[10.0, 200.0, 30.0, 400.0]);
    let grads = y.sum().backward();
    // d/da_ij = b_j; d/db_j = sum_i a_ij = column sums [1 + 3, 2 + 4].
    assert_eq!(grads[a].data(), &[10.0, 100.0, 10.0, 100.0]);
    assert_eq!(grads[b].data(), &[4.0, 6.0]);
}

#[test]
fn matmul_gradients_under_a_nonuniform_upstream_gradient() {
    let tape = Tape::<f64>::new();
    let a = tape.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    let b = tape.leaf(Tensor::from_rows(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]));
    let g = tape.constant(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0]]));
    let c = a.matmul(b);
    // Column 0 of B picks a0 + a2, column 1 picks a1 + a2:
    // C = [[1 + 3, 2 + 3], [4 + 6, 5 + 6]] = [[4, 5], [10, 11]].
    assert_eq!(c.value().data(), &[4.0, 5.0, 10.0, 11.0]);
    let loss = (c * g).sum();
    // sum(C * G) = 4*1 + 5*2 + 10*3 + 11*4 = 88.
    assert_eq!(loss.item(), 88.0);
    let grads = loss.backward();
    // dA = G B^T, B^T = [[1, 0, 1], [0, 1, 1]]:
    //   row 0: [1, 2, 1 + 2] = [1, 2, 3]; row 1: [3, 4, 3 + 4] = [3, 4, 7].
    assert_eq!(grads[a].data(), &[1.0, 2.0, 3.0, 3.0, 4.0, 7.0]);
    // dB = A^T G, A^T = [[1, 4], [2, 5], [3, 6]]:
    //   [1*1 + 4*3, 1*2 + 4*4] = [13, 18]; [2 + 15, 4 + 20] = [17, 24]; [3 + 18, 6 + 24] = [21, 30].
    assert_eq!(grads[b].data(), &[13.0, 18.0, 17.0, 24.0, 21.0, 30.0]);
}

#[test]
fn batched_matmul_and_a_shared_right_operand_by_hand() {
    let tape = Tape::<f64>::new();
    // Two batches of 1x2 rows: A_0 = [1, 2], A_1 = [3, 4]; B_0 = [[1], [1]], B_1 = [[2], [0]].
    let a = tape.leaf(Tensor::from_vec([2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]));
    let b = tape.leaf(Tensor::from_vec([2, 2, 1], vec![1.0, 1.0, 2.0, 0.0]));
    let g = tape.constant(Tensor::from_vec([2, 1, 1], vec![5.0, 7.0]));
    let c = a.matmul(b);
    // C_0 = 1 + 2 = 3, C_1 = 3*2 + 4*0 = 6.
    assert_eq!(c.value().data(), &[3.0, 6.0]);
    let grads = (c * g).sum().backward();
    // dA_i = G_i B_i^T: 5 [1, 1] = [5, 5], 7 [2, 0] = [14, 0].
    assert_eq!(grads[a].data(), &[5.0, 5.0, 14.0, 0.0]);
    // dB_i = A_i^T G_i: 5 [1, 2]^T = [5, 10], 7 [3, 4]^T = [21, 28].
    assert_eq!(grads[b].data(), &[5.0, 10.0, 21.0, 28.0]);

    // The same A against one W = [[1, -1], [2, 0]] for both batches.
    let tape = Tape::<f64>::new();
    let a = tape.leaf(Tensor::from_vec([2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]));
    let w = tape.leaf(Tensor::from_rows(&[[1.0, -1.0], [2.0, 0.0]]));
    let g = tape.constant(Tensor::from_vec([2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]));
    let c = a.matmul(w);
    // [1, 2] W = [1 + 4, -1] = [5, -1]; [3, 4] W = [3 + 8, -3] = [11, -3].
    assert_eq!(c.value().shape().dims(), &[2, 1, 2]);
    assert_eq!(c.value().data(), &[5.0, -1.0, 11.0, -3.0]);
    let grads = (c * g).sum().backward();
    // dA_i = G_i W^T, W^T = [[1, 2], [-1, 0]]: [1 - 2, 2] = [-1, 2]; [3 - 4, 6] = [-1, 6].
    assert_eq!(grads[a].data(), &[-1.0, 2.0, -1.0, 6.0]);
    // dW = sum_i A_i^T G_i = [1, 2]^T [1, 2] + [3, 4]^T [3, 4]
    //    = [[1, 2], [2, 4]] + [[9, 12], [12, 16]] = [[10, 14], [14, 20]].
    assert_eq!(grads[w].data(), &[10.0, 14.0, 14.0, 20.0]);
}

#[test]
fn transpose_gradient_is_the_upstream_gradient_transposed() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    let g = tape.constant(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    // x^T is [[1, 4], [2, 5], [3, 6]]; sum(x^T * G) has d/dx_ij = G_ji, so dx = G^T.
    let y = x.transpose();
    assert_eq!(y.value().data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    assert_eq!((y * g).sum().backward()[x].data(), &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
}

#[test]
fn sum_axis_sends_each_output_gradient_along_its_own_axis() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0]]));
    let w = tape.constant(Tensor::from_vec([2], vec![10.0, 100.0]));
    // Along axis 0, column sums [1 + 3, 2 + 4]; column j gets w_j: dx = [[10, 100], [10, 100]].
    let cols = x.sum_axis(0);
    assert_eq!(cols.value().data(), &[4.0, 6.0]);
    assert_eq!((cols * w).sum().backward()[x].data(), &[10.0, 100.0, 10.0, 100.0]);
    // Along axis 1, row sums [1 + 2, 3 + 4]; row i gets w_i: dx = [[10, 10], [100, 100]].
    let rows = x.sum_axis(1);
    assert_eq!(rows.value().data(), &[3.0, 7.0]);
    assert_eq!((rows * w).sum().backward()[x].data(), &[10.0, 10.0, 100.0, 100.0]);
}

#[test]
fn mean_axis_divides_by_the_length_of_that_axis_only() {
    let tape = Tape::<f64>::new();
    // Shape [2, 4]: row means divide by 4, column means by 2.
    let x = tape.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0, 6.0], [0.0, 4.0, 8.0, 4.0]]));
    let rows = x.mean_axis(1);
    // (1 + 2 + 3 + 6) / 4 = 3, (0 + 4 + 8 + 4) / 4 = 4; each entry gets 1/4 of its row's gradient.
    assert_eq!(rows.value().data(), &[3.0, 4.0]);
    let w = tape.constant(Tensor::from_vec([2], vec![1.0, 2.0]));
    assert_eq!((rows * w).sum().backward()[x].data(), &[0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 0.5, 0.5]);
    let cols = x.mean_axis(0);
    // Column means [1/2, 6/2, 11/2, 10/2]; each entry gets 1/2 of its column's gradient.
    assert_eq!(cols.value().data(), &[0.5, 3.0, 5.5, 5.0]);
    assert_eq!(cols.sum().backward()[x].data(), &[0.5; 8]);
}

#[test]
fn sum_and_mean_of_a_rank_3_tensor() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([2, 3, 4], (1..=24).map(f64::from).collect()));
    // 1 + ... + 24 = 24 * 25 / 2 = 300, and 300 / 24 = 12.5.
    assert_eq!(x.sum().item(), 300.0);
    let m = x.mean();
    assert_eq!(m.item(), 12.5);
    // d mean / dx_i = 1/24 for every entry (not exact in binary: compare within an ulp).
    assert_close("mean'", m.backward()[x].data(), &[1.0 / 24.0; 24], 1e-17);
}

#[test]
fn log_softmax_of_logs_of_1_2_3() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_rows(&[[0.0, 2f64.ln(), 3f64.ln()]]));
    let y = x.log_softmax();
    // softmax is proportional to e^x = [1, 2, 3], so it is [1/6, 2/6, 3/6] and
    // log_softmax = [ln(1/6), ln(1/3), ln(1/2)] = [-ln 6, -ln 3, -ln 2].
    assert_close("log_softmax", y.value().data(), &[-(6f64.ln()), -(3f64.ln()), -(2f64.ln())], ULPS);
    // d y_2 / dx_j = [j == 2] - softmax_j = [-1/6, -2/6, 1 - 3/6].
    let grads = y.pick([2]).sum().backward();
    assert_close("d log_softmax_2", grads[x].data(), &[-1.0 / 6.0, -2.0 / 6.0, 0.5], ULPS);
}

#[test]
fn log_softmax_of_large_equal_logits_in_a_rank_3_tensor() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::full([2, 1, 5], 1000.0));
    let y = x.log_softmax();
    // Each row of 5 equal logits is uniform: every entry is ln(1/5) = -ln 5, and e^1000 would
    // overflow, so this also needs the max subtraction.
    assert_close("log_softmax", y.value().data(), &[-(5f64.ln()); 10], ULPS);
    // pick needs a matrix, so read entry (0, 0, 3) through a one-hot mask:
    // d y_3 / dx_j = [j == 3] - 1/5 in row 0, and row 1 gets nothing.
    let mut mask = Tensor::zeros([2, 1, 5]);
    mask.data_mut()[3] = 1.0;
    let mask = tape.constant(mask);
    let grads = (y * mask).sum().backward();
    let want = [-0.2, -0.2, -0.2, 0.8, -0.2, 0.0, 0.0, 0.0, 0.0, 0.0];
    assert_close("d log_softmax_3", grads[x].data(), &want, ULPS);
}

#[test]
fn softmax_of_two_logits_and_its_jacobian() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_rows(&[[0.0, 3f64.ln()]]));
    let p = x.softmax();
    // e^x = [1, 3], so p = [1/4, 3/4].
    assert_close("softmax", p.value().data(), &[0.25, 0.75], ULPS);
    // d p_1 / dx = [-p_0 p_1, p_1 (1 - p_1)] = [-3/16, 3/16].
    let grads = p.pick([1]).sum().backward();
    assert_close("d softmax_1", grads[x].data(), &[-3.0 / 16.0, 3.0 / 16.0], ULPS);
}

#[test]
fn pick_routes_each_row_gradient_to_its_label() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    let y = x.pick([2, 0]);
    // Row 0 label 2 -> 3, row 1 label 0 -> 4.
    assert_eq!(y.value().data(), &[3.0, 4.0]);
    let w = tape.constant(Tensor::from_vec([2], vec![10.0, 100.0]));
    // Row i's gradient w_i lands on (i, label_i) only.
    assert_eq!((y * w).sum().backward()[x].data(), &[0.0, 0.0, 10.0, 100.0, 0.0, 0.0]);
}

#[test]
fn cross_entropy_of_two_rows_by_hand() {
    let tape = Tape::<f64>::new();
    let ln3 = 3f64.ln();
    let x = tape.leaf(Tensor::from_rows(&[[0.0, ln3], [ln3, 0.0]]));
    let loss = x.log_softmax().nll([1, 1]);
    // Row softmaxes [1/4, 3/4] and [3/4, 1/4]; both rows pick class 1:
    // loss = -(ln(3/4) + ln(1/4)) / 2 = (ln(4/3) + ln 4) / 2.
    assert_close("loss", &[loss.item()], &[((4.0f64 / 3.0).ln() + 4f64.ln()) / 2.0], ULPS);
    // d loss / dx = (softmax - onehot) / N with N = 2:
    // row 0: [1/4, 3/4 - 1] / 2 = [1/8, -1/8]; row 1: [3/4, 1/4 - 1] / 2 = [3/8, -3/8].
    assert_close("d loss", loss.backward()[x].data(), &[0.125, -0.125, 0.375, -0.375], ULPS);
}

#[test]
fn sqrt_rsqrt_and_recip_at_powers_of_two() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([2], vec![4.0, 0.25]));
    // sqrt [4, 1/4] = [2, 1/2]; d sqrt x / dx = 1 / (2 sqrt x) = [1/4, 1]. All exact in binary.
    let y = x.sqrt();
    assert_eq!(y.value().data(), &[2.0, 0.5]);
    assert_eq!(y.sum().backward()[x].data(), &[0.25, 1.0]);
    // rsqrt = 1 / sqrt = [1/2, 2]; d x^(-1/2) / dx = -x^(-3/2) / 2 = -y^3 / 2 = [-1/16, -4].
    let r = x.rsqrt();
    assert_eq!(r.value().data(), &[0.5, 2.0]);
    assert_eq!(r.sum().backward()[x].data(), &[-0.0625, -4.0]);
    // 1 / [2, -1/2] = [1/2, -2]; d (1/x) / dx = -1/x^2 = [-1/4, -4].
    let z = tape.leaf(Tensor::from_vec([2], vec![2.0, -0.5]));
    let q = z.recip();
    assert_eq!(q.value().data(), &[0.5, -2.0]);
    assert_eq!(q.sum().backward()[z].data(), &[-0.25, -4.0]);
}

#[test]
fn integer_powers_of_either_sign() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([2], vec![-2.0, 0.5]));
    // (-2)^3 = -8, (1/2)^3 = 1/8; d x^3 / dx = 3 x^2 = [12, 3/4].
    let y = x.powi(3);
    assert_eq!(y.value().data(), &[-8.0, 0.125]);
    assert_eq!(y.sum().backward()[x].data(), &[12.0, 0.75]);
    // (-2)^-2 = 1/4, (1/2)^-2 = 4; d x^-2 / dx = -2 x^-3 = [-2 / -8, -2 * 8] = [1/4, -16].
    let y = x.powi(-2);
    assert_eq!(y.value().data(), &[0.25, 4.0]);
    assert_eq!(y.sum().backward()[x].data(), &[0.25, -16.0]);
    // x^0 = 1 with slope 0 (not 0 * x^-1).
    let y = x.powi(0);
    assert_eq!(y.value().data(), &[1.0, 1.0]);
    assert_eq!(y.sum().backward()[x].data(), &[0.0, 0.0]);
}

#[test]
fn real_powers_of_four() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::scalar(4.0));
    // 4^1.5 = 2^3 = 8; d x^c / dx = c x^(c-1) = 1.5 * 4^0.5 = 3. pow is not always correctly
    // rounded, hence the ulps.
    let y = x.powf(1.5);
    assert_close("powf(1.5)", &[y.item()], &[8.0], ULPS);
    assert_close("powf(1.5)'", &[y.backward()[x].item()], &[3.0], ULPS);
    // 4^-0.5 = 1/2; -0.5 * 4^-1.5 = -0.5 / 8 = -1/16.
    let y = x.powf(-0.5);
    assert_close("powf(-0.5)", &[y.item()], &[0.5], ULPS);
    assert_close("powf(-0.5)'", &[y.backward()[x].item()], &[-0.0625], ULPS);
}

#[test]
fn sin_and_cos_at_0_pi_over_6_and_pi_over_2() {
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_6};
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([3], vec![0.0, FRAC_PI_6, FRAC_PI_2]));
    let half_root3 = 3f64.sqrt() / 2.0;
    // sin = [0, 1/2, 1]; sin' = cos = [1, sqrt(3)/2, 0] (cos of the rounded pi/2 is 6e-17).
    let s = x.sin();
    assert_close("sin", s.value().data(), &[0.0, 0.5, 1.0], ULPS);
    assert_close("sin'", s.sum().backward()[x].data(), &[1.0, half_root3, 0.0], ULPS);
    // cos = [1, sqrt(3)/2, 0]; cos' = -sin = [0, -1/2, -1].
    let c = x.cos();
    assert_close("cos", c.value().data(), &[1.0, half_root3, 0.0], ULPS);
    assert_close("cos'", c.sum().backward()[x].data(), &[0.0, -0.5, -1.0], ULPS);
}

/// `f` of each of `xs` and the gradient of their sum, on a tape of `T`, both as f64.
fn value_and_gradient<T: Float>(xs: &[f64], f: impl for<'t> Fn(Var<'t, T>) -> Var<'t, T>) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::<T>::new();
    let x = tape.leaf(Tensor::from_vec([xs.len()], xs.iter().map(|&v| T::from_f64(v)).collect()));
    let y = f(x);
    let value = y.value().data().iter().map(|v| v.to_f64()).collect();
    let grad = y.sum().backward()[x].data().iter().map(|v| v.to_f64()).collect();
    (value, grad)
}

/// Equal entry by entry, NaN matching NaN and infinities their sign.
#[track_caller]
fn assert_same(what: &str, got: &[f64], want: &[f64]) {
    let same = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g == w || (g.is_nan() && w.is_nan()));
    assert!(same, "{what}: got {got:?}, expected {want:?}");
}

/// PyTorch's values at the singular points: its derivative formulas evaluated there, except
/// that `pow_backward` gives 0 for exponent 0 outright (instead of `0 * 0^-1 = NaN` at 0).
fn singular_points<T: Float>() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    // sqrt: 0 -> 0 with 1 / (2 * 0) = inf; below 0 NaN, and so its derivative.
    let (v, g) = value_and_gradient::<T>(&[0.0, -1.0], |x| x.sqrt());
    assert_same("sqrt", &v, &[0.0, nan]);
    assert_same("sqrt'", &g, &[inf, nan]);
    // rsqrt(0) = 1 / 0 = inf and -inf^3 / 2 = -inf; recip(±0) = ±inf, -(±inf)^2 = -inf.
    let (v, g) = value_and_gradient::<T>(&[0.0], |x| x.rsqrt());
    assert_same("rsqrt", &v, &[inf]);
    assert_same("rsqrt'", &g, &[-inf]);
    let (v, g) = value_and_gradient::<T>(&[0.0, -0.0], |x| x.recip());
    assert_same("recip", &v, &[inf, -inf]);
    assert_same("recip'", &g, &[-inf, -inf]);
    // powf(0.5) at 0: 0, and 0.5 * 0^-0.5 = inf; at -1 NaN (no real square root).
    let (v, g) = value_and_gradient::<T>(&[0.0, -1.0], |x| x.powf(T::from_f64(0.5)));
    assert_same("powf(0.5)", &v, &[0.0, nan]);
    assert_same("powf(0.5)'", &g, &[inf, nan]);
    // powf(0) and powi(0): 0^0 = 1 with derivative 0, not 0 * 0^-1 = NaN.
    let (v, g) = value_and_gradient::<T>(&[0.0, 2.0], |x| x.powf(T::ZERO));
    assert_same("powf(0)", &v, &[1.0, 1.0]);
    assert_same("powf(0)'", &g, &[0.0, 0.0]);
    let (v, g) = value_and_gradient::<T>(&[0.0, -2.0], |x| x.powi(0));
    assert_same("powi(0)", &v, &[1.0, 1.0]);
    assert_same("powi(0)'", &g, &[0.0, 0.0]);
    // powi(1) at 0: 1 * 0^0 = 1; powi(-1) at 0: 1/0 = inf and -1 * 0^-2 = -inf.
    let (_, g) = value_and_gradient::<T>(&[0.0], |x| x.powi(1));
    assert_same("powi(1)'", &g, &[1.0]);
    let (v, g) = value_and_gradient::<T>(&[0.0], |x| x.powi(-1));
    assert_same("powi(-1)", &v, &[inf]);
    assert_same("powi(-1)'", &g, &[-inf]);
    // The most negative exponent n = -2^31, where n - 1 does not fit an i32: (±1)^n = 1 (n is
    // even) and n x^(n-1) = n / x = [-2^31, 2^31], exact in both precisions; 2^n underflows to 0
    // and n 2^(n-1) to -0, 0.5^n overflows to inf and so does n 0.5^(n-1), to -inf. (A wrapped
    // n - 1 = 2^31 - 1 would give -inf and -0 for the last two.)
    let (v, g) = value_and_gradient::<T>(&[1.0, -1.0, 2.0, 0.5], |x| x.powi(i32::MIN));
    assert_same("powi(MIN)", &v, &[1.0, 1.0, 0.0, inf]);
    assert_same("powi(MIN)'", &g, &[-2f64.powi(31), 2f64.powi(31), -0.0, -inf]);
    // Off the tape, the same values.
    let t = Tensor::from_vec([2], vec![T::ZERO, T::from_f64(-1.0)]);
    assert_same("Tensor::sqrt", &t.sqrt().data().iter().map(|v| v.to_f64()).collect::<Vec<_>>(), &[0.0, nan]);
}

#[test]
fn singular_points_follow_pytorch_in_f32() {
    singular_points::<f32>();
}

#[test]
fn singular_points_follow_pytorch_in_f64() {
    singular_points::<f64>();
}

#[test]
fn leaky_relu_on_both_sides_and_pytorchs_slope_at_the_kink() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([3], vec![-2.0, 0.0, 3.0]));
    let y = x.leaky_relu(0.25);
    // 0.25 * -2 = -0.5; 0.25 * 0 = 0; 3 passes.
    assert_eq!(y.value().data(), &[-0.5, 0.0, 3.0]);
    // dy/dx = [0.25, 0.25, 1] (PyTorch's leaky_relu_backward takes x > 0 ? 1 : slope, so the
    // slope at 0), times the upstream weights [1, 10, 100]: all exact in binary.
    let w = tape.constant(Tensor::from_vec([3], vec![1.0, 10.0, 100.0]));
    assert_eq!((y * w).sum().backward()[x].data(), &[0.25, 2.5, 100.0]);
}

#[test]
fn leaky_relu_propagates_nan_in_f32_on_and_off_the_tape() {
    let t = Tensor::from_vec([2], vec![f32::NAN, -4.0]);
    let off = t.leaky_relu(0.5);
    assert!(off.data()[0].is_nan() && off.data()[1] == -2.0, "{:?}", off.data());
    let tape = Tape::<f32>::new();
    let x = tape.leaf(&t);
    let y = x.leaky_relu(0.5);
    assert!(y.value().data()[0].is_nan());
    // NaN > 0 is false, so the derivative there is the slope, as in PyTorch.
    assert_eq!(y.sum().backward()[x].data(), &[0.5, 0.5]);
}

#[test]
fn elu_at_minus_ln_2_zero_and_two() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([3], vec![-(2f64.ln()), 0.0, 2.0]));
    let y = x.elu();
    // e^-ln2 - 1 = -1/2; e^0 - 1 = 0; 2 passes.
    assert_close("elu", y.value().data(), &[-0.5, 0.0, 2.0], ULPS);
    // dy/dx = e^x = 1/2 below 0; 1 above; at 0 PyTorch's elu_backward takes the x <= 0 branch,
    // e^0 = 1 (both sides agree: elu with alpha = 1 is C^1).
    assert_close("d elu", y.sum().backward()[x].data(), &[0.5, 1.0, 1.0], ULPS);
}

#[test]
fn elu_derivative_at_zero_is_one_in_f32() {
    let tape = Tape::<f32>::new();
    let x = tape.leaf(Tensor::from_vec([2], vec![0.0, -0.0]));
    assert_eq!(x.elu().sum().backward()[x].data(), &[1.0, 1.0]);
}

#[test]
fn silu_where_the_sigmoid_is_a_quarter_a_half_and_three_quarters() {
    let tape = Tape::<f64>::new();
    let ln3 = 3f64.ln();
    let x = tape.leaf(Tensor::from_vec([3], vec![-ln3, 0.0, ln3]));
    let y = x.silu();
    // sigmoid(±ln 3) = 1 / (1 + 3^∓1) = 1/4, 3/4; sigmoid(0) = 1/2. y = x s.
    assert_close("silu", y.value().data(), &[-ln3 / 4.0, 0.0, 3.0 * ln3 / 4.0], ULPS);
    // dy/dx = s (1 + x (1 - s)): 1/4 (1 - ln3 * 3/4), 1/2, 3/4 (1 + ln3 / 4).
    let want = [0.25 * (1.0 - 0.75 * ln3), 0.5, 0.75 * (1.0 + 0.25 * ln3)];
    assert_close("d silu", y.sum().backward()[x].data(), &want, ULPS);
}

#[test]
fn softplus_and_log_sigmoid_at_plus_minus_ln_3() {
    let tape = Tape::<f64>::new();
    let ln3 = 3f64.ln();
    let x = tape.leaf(Tensor::from_vec([3], vec![-ln3, 0.0, ln3]));
    // softplus: ln(1 + e^x) = ln(4/3), ln 2, ln 4; derivative sigmoid(x) = 1/4, 1/2, 3/4.
    let y = x.softplus();
    let want = [(4.0f64 / 3.0).ln(), 2f64.ln(), 4f64.ln()];
    assert_close("softplus", y.value().data(), &want, ULPS);
    assert_close("d softplus", y.sum().backward()[x].data(), &[0.25, 0.5, 0.75], ULPS);
    // log_sigmoid: ln(1 / (1 + e^-x)) = ln(1/4), ln(1/2), ln(3/4); derivative sigmoid(-x).
    let y = x.log_sigmoid();
    let want = [0.25f64.ln(), 0.5f64.ln(), 0.75f64.ln()];
    assert_close("log_sigmoid", y.value().data(), &want, ULPS);
    assert_close("d log_sigmoid", y.sum().backward()[x].data(), &[0.75, 0.5, 0.25], ULPS);
}

#[test]
fn softplus_and_log_sigmoid_stay_finite_at_plus_minus_1e4() {
    fn check<T: tapegrad::autograd::Float>() {
        let v = |x: f64| T::from_f64(x);
        let t = Tensor::from_vec([2], vec![v(-1e4), v(1e4)]);
        // The naive ln(1 + e^x) overflows at 1e4 and ln(sigmoid(-1e4)) is ln 0. Stably:
        // softplus(-1e4) = e^-1e4 = 0 (underflow), softplus(1e4) = 1e4 + ln(1 + e^-1e4) = 1e4;
        // log_sigmoid(x) = -softplus(-x): -1e4 and -0. Derivatives sigmoid(±x): 0 and 1.
        let tape = Tape::<T>::new();
        let x = tape.leaf(&t);
        for (name, y, want, dwant) in [
            ("softplus", x.softplus(), [0.0, 1e4], [0.0, 1.0]),
            ("log_sigmoid", x.log_sigmoid(), [-1e4, 0.0], [1.0, 0.0]),
        ] {
            let got: Vec<f64> = y.value().data().iter().map(|y| y.to_f64()).collect();
            assert_eq!(got, want, "{name} in {}", T::NAME);
            let off: Vec<f64> = match name {
                "softplus" => t.softplus(),
                _ => t.log_sigmoid(),
            }
            .data()
            .iter()
            .map(|y| y.to_f64())
            .collect();
            assert_eq!(off, want, "tape-free {name} in {}", T::NAME);
            let g: Vec<f64> = y.sum().backward()[x].data().iter().map(|g| g.to_f64()).collect();
            assert_eq!(g, dwant, "d {name} in {}", T::NAME);
        }
    }
    check::<f32>();
    check::<f64>();
}

#[test]
#[allow(clippy::excessive_precision)] // reference values keep all the digits they were given to
fn gelu_at_minus_two_zero_and_one() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([3], vec![-2.0, 0.0, 1.0]));
    let y = x.gelu();
    // y = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2; Phi(0) = 1/2, so gelu(0) = 0. The other two
    // from Phi(1) = 0.841344746068542948586 and Phi(-2) = 0.022750131948179207200 (mpmath at 30
    // digits): gelu(1) = Phi(1), gelu(-2) = -2 Phi(-2).
    assert_close("gelu", y.value().data(), &[-0.045500263896358414401, 0.0, 0.84134474606854294859], ULPS);
    // dy/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2 / 2) / sqrt(2 pi): 1/2 at 0;
    // Phi(1) + e^(-1/2) / sqrt(2 pi) and Phi(-2) - 2 e^-2 / sqrt(2 pi), evaluated here from the
    // closed-form phi and the tabulated Phi.
    let phi = |x: f64| (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let want = [0.022750131948179207200 - 2.0 * phi(-2.0), 0.5, 0.84134474606854294859 + phi(1.0)];
    assert_close("d gelu", y.sum().backward()[x].data(), &want, ULPS);
}

#[test]
#[allow(clippy::excessive_precision)] // reference values keep all the digits they were given to
fn erf_at_zero_one_and_minus_two_with_its_gaussian_derivative() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([3], vec![0.0, 1.0, -2.0]));
    let y = x.erf();
    // erf(0) = 0; erf(1) = 0.842700792949714869 and erf(-2) = -0.995322265018952734 (mpmath at
    // 30 digits; erf is odd).
    assert_close("erf", y.value().data(), &[0.0, 0.84270079294971486934, -0.99532226501895273416], ULPS);
    // d erf / dx = (2 / sqrt pi) e^(-x^2) (PyTorch's rule): 2 / sqrt pi at 0, times e^-1 and e^-4.
    let c = std::f64::consts::FRAC_2_SQRT_PI;
    assert_close("d erf", y.sum().backward()[x].data(), &[c, c * (-1f64).exp(), c * (-4f64).exp()], ULPS);
}

#[test]
#[allow(clippy::excessive_precision)] // reference values keep all the digits they were given to
fn gelu_tanh_at_minus_two_minus_one_zero_and_one() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec([4], vec![-2.0, -1.0, 0.0, 1.0]));
    let y = x.gelu_tanh();
    // y = x (1 + tanh u) / 2, u = sqrt(2 / pi) (x + 0.044715 x^3), evaluated with mpmath at 30
    // digits; at 0 u = 0, so y = 0 with slope (1 + tanh 0) / 2 = 1/2, as for the exact gelu.
    let want = [-0.045402305912224981219, -0.15880800939172329522, 0.0, 0.84119199060827670478];
    assert_close("gelu_tanh", y.value().data(), &want, ULPS);
    // dy/dx = (1 + tanh u) / 2 + x (1 - tanh^2 u) sqrt(2 / pi) (1 + 3 * 0.044715 x^2) / 2, the
    // same mpmath evaluation. gelu_tanh(x) - gelu_tanh(-x) = x, so the slopes at ±1 sum to 1.
    let dwant = [-0.086099256623618381565, -0.08296408384578255514, 0.5, 1.0829640838457825551];
    assert_close("d gelu_tanh", y.sum().backward()[x].data(), &dwant, ULPS);
}

#[test]
fn gelu_tanh_saturates_to_zero_and_identity_in_f32() {
    let tape = Tape::<f32>::new();
    let x = tape.leaf(Tensor::from_vec([3], vec![-1e4, 1e4, f32::NAN]));
    let y = x.gelu_tanh();
    // tanh(±sqrt(2/pi) (1e4 + 0.044715e12)) = ±1 exactly in f32: y = 0.5 x (1 ± 1) = -0 and 1e4,
    // with slopes (1 ± 1) / 2 + 0 = 0 and 1 (1 - tanh^2 = 0 exactly, and x^2 = 1e8 is finite).
    let v = y.value();
    assert_eq!(&v.data()[..2], &[-0.0, 1e4]);
    assert!(v.data()[2].is_nan());
    assert_eq!(&y.sum().backward()[x].data()[..2], &[0.0, 1.0]);
}

/// `f(a, b)` and the gradients of its sum with respect to `a` and `b`, on a tape of `T`, as f64.
fn binary_value_and_gradients<T: Float>(
    (sa, a): (&[usize], &[f64]),
    (sb, b): (&[usize], &[f64]),
    f: impl for<'t> Fn(Var<'t, T>, Var<'t, T>) -> Var<'t, T>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let tape = Tape::<T>::new();
    let leaf = |s: &[usize], v: &[f64]| tape.leaf(Tensor::from_vec(s, v.iter().map(|&v| T::from_f64(v)).collect()));
    let (x, y) = (leaf(sa, a), leaf(sb, b));
    let z = f(x, y);
    let f64s = |t: &Tensor<T>| t.data().iter().map(|v| v.to_f64()).collect::<Vec<_>>();
    let grads = z.sum().backward();
    (f64s(&z.value()), f64s(&grads[x]), f64s(&grads[y]))
}

/// clamp and its one-sided forms at and beyond the bounds, NaN, and lo > hi.
fn clamp_points<T: Float>() {
    let nan = f64::NAN;
    let xs = [-2.0, -1.0, 0.5, 1.0, 3.0, nan];
    // Clamped to [-1, 1]; PyTorch's clamp_backward passes the gradient where lo <= x <= hi, so
    // at both bounds too, and not at NaN (where both comparisons are false); NaN stays NaN.
    let (v, g) = value_and_gradient::<T>(&xs, |x| x.clamp(T::from_f64(-1.0), T::from_f64(1.0)));
    assert_same("clamp", &v, &[-1.0, -1.0, 0.5, 1.0, 1.0, nan]);
    assert_same("clamp'", &g, &[0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    // lo = 2 > hi = 1: min(max(x, 2), 1) = 1 for every number (PyTorch's documented result), and
    // lo <= x <= hi holds nowhere, so no gradient passes.
    let (v, g) = value_and_gradient::<T>(&xs, |x| x.clamp(T::from_f64(2.0), T::ONE));
    assert_same("clamp(2, 1)", &v, &[1.0, 1.0, 1.0, 1.0, 1.0, nan]);
    assert_same("clamp(2, 1)'", &g, &[0.0; 6]);
    // clamp_min(1): grad * (x >= 1); clamp_max(1): grad * (x <= 1). Both pass at the bound.
    let (v, g) = value_and_gradient::<T>(&xs, |x| x.clamp_min(T::ONE));
    assert_same("clamp_min", &v, &[1.0, 1.0, 1.0, 1.0, 3.0, nan]);
    assert_same("clamp_min'", &g, &[0.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    let (v, g) = value_and_gradient::<T>(&xs, |x| x.clamp_max(T::ONE));
    assert_same("clamp_max", &v, &[-2.0, -1.0, 0.5, 1.0, 1.0, nan]);
    assert_same("clamp_max'", &g, &[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    // Off the tape, the same values.
    let t = Tensor::from_vec([6], xs.iter().map(|&x| T::from_f64(x)).collect());
    let off: Vec<f64> = t.clamp(T::from_f64(-1.0), T::ONE).data().iter().map(|v| v.to_f64()).collect();
    assert_same("Tensor::clamp", &off, &[-1.0, -1.0, 0.5, 1.0, 1.0, nan]);
}

#[test]
fn clamp_passes_the_gradient_at_its_bounds_like_pytorch_in_f32() {
    clamp_points::<f32>();
}

#[test]
fn clamp_passes_the_gradient_at_its_bounds_like_pytorch_in_f64() {
    clamp_points::<f64>();
}

/// maximum and minimum on ties, NaN, and a broadcast tie.
fn maximum_minimum_points<T: Float>() {
    let nan = f64::NAN;
    let (a, b) = ([1.0, 2.0, 3.0, nan, 0.0], [2.0, 2.0, 1.0, 0.0, nan]);
    // PyTorch's maximum backward: a's gradient where(a == b, g / 2, g) masked to 0 where a < b,
    // b's the mirror image: a tie splits evenly. NaN makes every comparison false, so both
    // operands get the full gradient there, and the value is NaN.
    let (v, ga, gb) = binary_value_and_gradients::<T>((&[5], &a), (&[5], &b), |a, b| a.maximum(b));
    assert_same("maximum", &v, &[2.0, 2.0, 3.0, nan, nan]);
    assert_same("d maximum / da", &ga, &[0.0, 0.5, 1.0, 1.0, 1.0]);
    assert_same("d maximum / db", &gb, &[1.0, 0.5, 0.0, 1.0, 1.0]);
    let (v, ga, gb) = binary_value_and_gradients::<T>((&[5], &a), (&[5], &b), |a, b| a.minimum(b));
    assert_same("minimum", &v, &[1.0, 2.0, 1.0, nan, nan]);
    assert_same("d minimum / da", &ga, &[1.0, 0.5, 0.0, 1.0, 1.0]);
    assert_same("d minimum / db", &gb, &[0.0, 0.5, 1.0, 1.0, 1.0]);
    // A scalar 2 against [1, 2, 3]: maximum [2, 2, 3]; the scalar wins once, ties once and loses
    // once, so its gradient sums 1 + 1/2 + 0.
    let (v, ga, gb) = binary_value_and_gradients::<T>((&[3], &[1.0, 2.0, 3.0]), (&[], &[2.0]), |a, b| a.maximum(b));
    assert_same("maximum with a scalar", &v, &[2.0, 2.0, 3.0]);
    assert_same("d maximum / dx", &ga, &[0.0, 0.5, 1.0]);
    assert_same("d maximum / ds", &gb, &[1.5]);
}

#[test]
fn maximum_and_minimum_split_ties_and_pass_nan_like_pytorch_in_f32() {
    maximum_minimum_points::<f32>();
}

#[test]
fn maximum_and_minimum_split_ties_and_pass_nan_like_pytorch_in_f64() {
    maximum_minimum_points::<f64>();
}

#[test]
fn select_sends_the_gradient_to_the_chosen_side_only_even_past_a_nan() {
    use tapegrad::autograd::Mask;
    let tape = Tape::<f64>::new();
    let a = tape.leaf(Tensor::from_vec([3], vec![1.0, 2.0, 3.0]));
    let b = tape.leaf(Tensor::from_vec([3], vec![f64::NAN, 20.0, f64::INFINITY]));
    let mask = Mask::new([3], vec![true, false, true]);
    let y = Var::select(&mask, a, b);
    // [a0, b1, a2]: the NaN and the inf of b are not chosen, so they appear nowhere.
    assert_eq!(y.value().data(), &[1.0, 20.0, 3.0]);
    // PyTorch's where backward: a's gradient where(mask, g, 0), b's where(mask, 0, g), exact
    // zeros (not 0 * g), under the weights [1, 10, 100].
    let w = tape.constant(Tensor::from_vec([3], vec![1.0, 10.0, 100.0]));
    let grads = (y * w).sum().backward();
    assert_eq!(grads[a].data(), &[1.0, 0.0, 100.0]);
    assert_eq!(grads[b].data(), &[0.0, 10.0, 0.0]);
    // The flipped mask swaps the roles.
    let z = Var::select(&mask.not(), a, b);
    assert_eq!(z.value().data()[1], 2.0);
}

/// pow with both operands recorded, at zero and negative bases.
fn pow_points<T: Float>() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let a = [2.0, 4.0, 0.0, 0.0, 0.0, 0.0, -2.0, -2.0];
    let b = [3.0, 0.5, 0.0, 2.0, 0.5, -1.0, 2.0, 0.5];
    let (v, ga, gb) = binary_value_and_gradients::<T>((&[8], &a), (&[8], &b), |a, b| a.pow(b));
    // 2^3 = 8, 4^0.5 = 2, 0^0 = 1, 0^2 = 0, 0^0.5 = 0, 0^-1 = inf, (-2)^2 = 4, (-2)^0.5 = NaN.
    assert_same("pow", &v, &[8.0, 2.0, 1.0, 0.0, 0.0, inf, 4.0, nan]);
    // d/da = b a^(b-1), taken as 0 where b = 0 (PyTorch's pow_backward_self):
    // 3 * 4 = 12, 0.5 / 2 = 0.25, 0, 2 * 0 = 0, 0.5 * 0^-0.5 = inf, -1 * 0^-2 = -inf, 2 * -2 = -4,
    // and NaN for the square root of -2.
    assert_same("d pow / da", &ga, &[12.0, 0.25, 0.0, 0.0, inf, -inf, -4.0, nan]);
    // d/db = a^b ln a, taken as 0 where a = 0 and b >= 0 (pow_backward_exponent): 8 ln 2 and
    // 2 ln 4 = 4 ln 2 (compared below within rounding), three masked zeros, inf * ln 0 = -inf at
    // 0^-1, and NaN wherever ln a is (a < 0), even where the value is a number.
    assert_same("d pow / db (exact entries)", &gb[2..], &[0.0, 0.0, 0.0, -inf, nan, nan]);
    let ln2 = std::f64::consts::LN_2;
    // Four ulps of 8 ln 2 = 5.5 in T: a rounding each in pow, ln, the product and the reference.
    let tol = 4.0 * 8.0 * ln2 * common::machine_epsilon::<T>();
    assert_close("d pow / db", &gb[..2], &[8.0 * ln2, 4.0 * ln2], tol);
}

#[test]
fn pow_masks_the_log_at_a_zero_base_like_pytorch_in_f32() {
    pow_points::<f32>();
}

#[test]
fn pow_masks_the_log_at_a_zero_base_like_pytorch_in_f64() {
    pow_points::<f64>();
}

/// `f` of a `shape`-shaped leaf of `T` and the gradient of `sum(f * w)`, both as f64.
fn reduction_value_and_gradient<T: Float>(
    shape: &[usize],
    xs: &[f64],
    w: &[f64],
    f: impl for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::<T>::new();
    let cast = |v: &[f64]| v.iter().map(|&v| T::from_f64(v)).collect::<Vec<_>>();
    let x = tape.leaf(Tensor::from_vec(shape, cast(xs)));
    let y = f(x);
    let w = tape.constant(Tensor::from_vec(y.shape(), cast(w)));
    let grads = (y * w).sum().backward();
    let f64s = |t: &Tensor<T>| t.data().iter().map(|v| v.to_f64()).collect::<Vec<_>>();
    (f64s(&y.value()), f64s(&grads[x]))
}

/// max and min along an axis: ties, NaN and keepdim.
fn max_min_axis_points<T: Float>() {
    let nan = f64::NAN;
    // Rows [1, 3, 3] and [NaN, 2, NaN]: max 3 (tied at 1 and 2) and NaN. As torch.max(x, 1),
    // the index is the first on ties (1) and the first NaN (0), and only it gets the gradient,
    // here the upstream weights 1 and 10.
    let xs = [1.0, 3.0, 3.0, nan, 2.0, nan];
    let (v, g) = reduction_value_and_gradient::<T>(&[2, 3], &xs, &[1.0, 10.0], |x| x.max_axis(1));
    assert_same("max_axis", &v, &[3.0, nan]);
    assert_same("max_axis'", &g, &[0.0, 1.0, 0.0, 10.0, 0.0, 0.0]);
    // min: 1 at 0, and NaN again at its first position.
    let (v, g) = reduction_value_and_gradient::<T>(&[2, 3], &xs, &[1.0, 10.0], |x| x.min_axis(1));
    assert_same("min_axis", &v, &[1.0, nan]);
    assert_same("min_axis'", &g, &[1.0, 0.0, 0.0, 10.0, 0.0, 0.0]);
    // Along axis 0 with keepdim, shape [1, 3]: column maxima 1 (row 0, NaN compares false but
    // propagates), 3 (row 0), 3 vs NaN: NaN (row 1). The gradient [1, 2, 4] goes to those rows.
    let (v, g) = reduction_value_and_gradient::<T>(&[2, 3], &xs, &[1.0, 2.0, 4.0], |x| x.max_axis_keepdim(0));
    assert_same("max_axis_keepdim", &v, &[nan, 3.0, nan]);
    assert_same("max_axis_keepdim'", &g, &[0.0, 2.0, 0.0, 1.0, 0.0, 4.0]);
}

#[test]
fn max_and_min_along_an_axis_take_the_first_arg_max_like_pytorch_in_f32() {
    max_min_axis_points::<f32>();
}

#[test]
fn max_and_min_along_an_axis_take_the_first_arg_max_like_pytorch_in_f64() {
    max_min_axis_points::<f64>();
}

/// logsumexp along an axis: simple values, huge ones, and infinite lanes.
fn logsumexp_points<T: Float>() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let ln3 = 3f64.ln();
    // Row [0, ln 3]: ln(1 + 3) = ln 4, gradient softmax = [1/4, 3/4]. Row [1e4, 1e4]: the max is
    // subtracted first, so 1e4 + ln 2 instead of ln(inf), gradient [1/2, 1/2]. Weights 1 and 2.
    let xs = [0.0, ln3, 1e4, 1e4];
    let (v, g) = reduction_value_and_gradient::<T>(&[2, 2], &xs, &[1.0, 2.0], |x| x.logsumexp(1));
    let eps = common::machine_epsilon::<T>();
    // A few ulps: one exp, one ln and one rounding of each input to T.
    assert_close("logsumexp", &v, &[4f64.ln(), 1e4 + 2f64.ln()], 4.0 * eps * 1e4);
    assert_close("logsumexp'", &g, &[0.25, 0.75, 1.0, 1.0], 4.0 * eps);
    // All -inf: PyTorch does not subtract an infinite max, so ln(0) + 0 = -inf; the gradient is
    // e^(-inf - -inf) = NaN (PyTorch's logsumexp_backward). With +inf in the lane: inf, and
    // gradients e^(-inf) = 0 for the finite entry and e^(inf - inf) = NaN for the infinite one.
    let xs = [-inf, -inf, 1.0, inf];
    let (v, g) = reduction_value_and_gradient::<T>(&[2, 2], &xs, &[1.0, 1.0], |x| x.logsumexp(1));
    assert_same("logsumexp of infinities", &v, &[-inf, inf]);
    assert_same("logsumexp' of infinities", &g, &[nan, nan, 0.0, nan]);
}

#[test]
fn logsumexp_is_stable_and_gives_minus_inf_for_an_all_minus_inf_lane_in_f32() {
    logsumexp_points::<f32>();
}

#[test]
fn logsumexp_is_stable_and_gives_minus_inf_for_an_all_minus_inf_lane_in_f64() {
    logsumexp_points::<f64>();
}

#[test]
fn var_and_std_with_both_corrections() {
    // [1, 2, 3, 6]: mean 3, deviations [-2, -1, 0, 3], squares summing to 14.
    let xs = [1.0, 2.0, 3.0, 6.0];
    let one = [1.0];
    // Unbiased (correction 1): 14 / 3, gradient 2 (x - mean) / 3 = [-4/3, -2/3, 0, 2].
    let (v, g) = reduction_value_and_gradient::<f64>(&[4], &xs, &one, |x| x.var_axis(0, 1));
    assert_close("var", &v, &[14.0 / 3.0], ULPS);
    assert_close("var'", &g, &[-4.0 / 3.0, -2.0 / 3.0, 0.0, 2.0], ULPS);
    // Population (correction 0): 14 / 4 = 3.5, gradient 2 (x - mean) / 4 = [-1, -1/2, 0, 3/2].
    let (v, g) = reduction_value_and_gradient::<f64>(&[4], &xs, &one, |x| x.var_axis(0, 0));
    assert_close("var pop", &v, &[3.5], ULPS);
    assert_close("var pop'", &g, &[-1.0, -0.5, 0.0, 1.5], ULPS);
    // std = sqrt(14 / 3); d std = d var / (2 std) = (x - mean) / (3 std).
    let s = (14.0f64 / 3.0).sqrt();
    let (v, g) = reduction_value_and_gradient::<f64>(&[4], &xs, &one, |x| x.std_axis(0, 1));
    assert_close("std", &v, &[s], ULPS);
    assert_close("std'", &g, &[-2.0 / (3.0 * s), -1.0 / (3.0 * s), 0.0, 1.0 / s], ULPS);
    // Along axis 1 of a [2, 2] with keepdim: rows [0, 2] and [5, 5] have variances 2 and 0.
    let (v, g) =
        reduction_value_and_gradient::<f64>(&[2, 2], &[0.0, 2.0, 5.0, 5.0], &[1.0, 1.0], |x| x.var_axis_keepdim(1, 1));
    assert_eq!(v, [2.0, 0.0]);
    assert_eq!(g, [-2.0, 2.0, 0.0, 0.0]);
}

/// std and var where the spread is 0 and where n <= correction.
fn std_singular_points<T: Float>() {
    let nan = f64::NAN;
    // Three equal values: std 0, and PyTorch's std_backward masks g / (2 std) to 0 there, so the
    // gradient is 0 rather than 0 / 0; var's is 2 (x - mean) / 2 = 0 anyway.
    let (v, g) = reduction_value_and_gradient::<T>(&[3], &[2.0; 3], &[1.0], |x| x.std_axis(0, 1));
    assert_same("std of equal values", &v, &[0.0]);
    assert_same("std' of equal values", &g, &[0.0; 3]);
    // One value with correction 1: var = 0 / max(1 - 1, 0) = NaN, and its gradient
    // 2 / (1 - 1) * 0 = NaN; std is NaN too, and NaN is not masked (it is not 0).
    let (v, g) = reduction_value_and_gradient::<T>(&[1], &[2.0], &[1.0], |x| x.var_axis(0, 1));
    assert_same("var of one", &v, &[nan]);
    assert_same("var' of one", &g, &[nan]);
    let (v, g) = reduction_value_and_gradient::<T>(&[1], &[2.0], &[1.0], |x| x.std_axis(0, 1));
    assert_same("std of one", &v, &[nan]);
    assert_same("std' of one", &g, &[nan]);
}

#[test]
fn std_has_pytorchs_zero_gradient_at_zero_spread_in_f32() {
    std_singular_points::<f32>();
}

#[test]
fn std_has_pytorchs_zero_gradient_at_zero_spread_in_f64() {
    std_singular_points::<f64>();
}
