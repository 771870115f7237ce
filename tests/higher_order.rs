//! Higher-order derivatives against closed forms: `Tape::grad` to the fourth order on `x^3`
//! and `sin`, the Hessian of cross-entropy in the logits (`diag(p) - p p^T`), the Jacobian of
//! softmax (the same matrix), and the Hessian of an MLP's loss in its input against finite
//! differences of its gradient; `hvp` against the Hessian times the vector.

mod common;

use common::{assert_close, rng, uniform};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{GradcheckOptions, Tape, Tensor, Var, hessian, hvp, jacobian, numeric_gradient};
use tapegrad::nn::{Activation, Init, Mlp, Module, softmax_cross_entropy};

/// `d^k y / dx^k` for `k = 1..=order` of `y = f(x)` at the scalar points `xs` (elementwise, as
/// `y` is a sum of elementwise terms), each by a recording backward of the one before.
fn derivatives(f: for<'t> fn(Var<'t, f64>) -> Var<'t, f64>, xs: &[f64], order: usize) -> Vec<Vec<f64>> {
    let tape = Tape::new();
    let x = tape.leaf(Tensor::from_vec([xs.len()], xs.to_vec()));
    let mut d = f(x).sum();
    let mut out = Vec::new();
    for _ in 0..order {
        // Each derivative is elementwise, so its sum's gradient is the next derivative.
        let g = tape.grad(d, &[x])[0];
        out.push(g.value().data().to_vec());
        d = g.sum();
    }
    out
}

#[test]
fn the_derivatives_of_x_cubed_are_3x2_6x_6_and_0() {
    let xs = [-1.5, 0.0, 0.5, 2.0];
    // x^3 as powi(3) and as a product using x three times (two uses in one op): the second
    // goes through mul's rule and the summing of an input's several contributions.
    for (what, f) in [
        ("powi", (|x: Var<'_, f64>| x.powi(3)) as for<'t> fn(Var<'t, f64>) -> Var<'t, f64>),
        ("x * x * x", |x| x * x * x),
    ] {
        let d = derivatives(f, &xs, 4);
        let want: [Vec<f64>; 4] =
            [xs.map(|x| 3.0 * x * x).to_vec(), xs.map(|x| 6.0 * x).to_vec(), vec![6.0; 4], vec![0.0; 4]];
        // Each value is a sum of at most a few products of x and small integers: a few
        // roundings of numbers below 10, so 1e-14 absolute.
        for (k, (got, want)) in d.iter().zip(&want).enumerate() {
            assert_close(&format!("{what}: order {}", k + 1), got, want, 1e-14);
        }
    }
}

#[test]
fn the_derivatives_of_sin_cycle_through_cos_minus_sin_minus_cos_and_sin() {
    let xs = [-3.0, -0.7, 0.0, 1.2, 2.5];
    let d = derivatives(|x| x.sin(), &xs, 4);
    let want = [xs.map(f64::cos), xs.map(|x| -x.sin()), xs.map(|x| -x.cos()), xs.map(f64::sin)];
    // The recorded expressions are products of upstream gradients of 1 or -1 with sin or cos:
    // exact up to the sign, so one rounding at most.
    for (k, (got, want)) in d.iter().zip(&want).enumerate() {
        assert_close(&format!("sin: order {}", k + 1), got, want, 4.0 * f64::EPSILON);
    }
}

/// `diag(p) - p p^T` for the probabilities `p`, as a row-major `[c, c]` matrix.
fn softmax_jacobian(p: &[f64]) -> Vec<f64> {
    let c = p.len();
    (0..c * c).map(|k| (if k / c == k % c { p[k / c] } else { 0.0 }) - p[k / c] * p[k % c]).collect()
}

#[test]
fn the_hessian_of_cross_entropy_in_the_logits_is_diag_p_minus_p_p_transpose() {
    // loss = -log_softmax(x)_k = logsumexp(x) - x_k: its Hessian is that of logsumexp, the
    // Jacobian of softmax, whatever k.
    let x = Tensor::from_rows(&[[0.3, -1.2, 2.0, 0.5]]);
    let p = x.softmax();
    for k in 0..4 {
        let h = hessian(|_, x| softmax_cross_entropy(x, [k]), &x);
        assert_eq!(h.shape().dims(), &[4, 4]);
        // Entries are below 1 and each a few roundings from the closed form.
        assert_close(&format!("label {k}"), h.data(), &softmax_jacobian(p.data()), 1e-15);
    }
    // Via log_softmax itself (without nll): sum(w * log_softmax(x)) has Hessian
    // -(sum w) (diag(p) - p p^T).
    let w = Tensor::from_rows(&[[0.5, -1.0, 2.0, 0.25]]);
    let h = hessian(|t, x| (x.log_softmax() * t.constant(&w)).sum(), &x);
    let want: Vec<f64> = softmax_jacobian(p.data()).iter().map(|v| -1.75 * v).collect();
    assert_close("weighted log_softmax", h.data(), &want, 4e-15);
}

#[test]
fn the_jacobian_of_softmax_is_diag_p_minus_p_p_transpose() {
    let x = Tensor::from_vec([5], vec![1.0, -0.5, 0.0, 2.5, -2.0]);
    let j = jacobian(|_, x| x.softmax(), &x);
    assert_close("softmax", j.data(), &softmax_jacobian(x.softmax().data()), 1e-15);
}

/// The loss of a small tanh MLP on a fixed batch of two rows, as a function of the batch.
fn mlp() -> Mlp<f64> {
    Mlp::new(&[3, 5, 4], Activation::Tanh, Init::GlorotUniform, &mut StdRng::seed_from_u64(7))
}

#[test]
fn an_mlps_hessian_in_its_input_matches_finite_differences_of_its_gradient() {
    let model = mlp();
    let x = uniform([2, 3], -1.0, 1.0, &mut rng(11));
    let h = hessian(|_, x| loss(&model, x), &x);
    let n = x.numel();
    assert_eq!(h.shape().dims(), &[n, n]);
    // Row i of the Hessian is the gradient of dL/dx_i: the five-point stencil's finite
    // differences of the plain backward's gradient entry, in f64 (error about 1e-12 for this
    // smooth function, whose entries are O(0.1)), so 1e-9 absolute.
    let opts = GradcheckOptions::default();
    for i in 0..n {
        let numeric = numeric_gradient(
            |v| {
                let tape = v[0].tape();
                let grads = tape.grad(loss(&model, v[0]), &[v[0]]);
                (grads[0] * tape.constant(basis(n, i, x.shape().dims()))).sum()
            },
            std::slice::from_ref(&x),
            &opts,
        );
        assert_close(&format!("row {i}"), &h.data()[i * n..(i + 1) * n], numeric[0].data(), 1e-9);
    }
    // The Hessian is symmetric: H[i, j] and H[j, i] come from different backward passes, so
    // they agree to rounding only.
    for i in 0..n {
        for j in 0..i {
            let (a, b) = (h.data()[i * n + j], h.data()[j * n + i]);
            assert!((a - b).abs() <= 1e-15, "H[{i}, {j}] = {a:e}, H[{j}, {i}] = {b:e}");
        }
    }
    // The Hessian-vector product is the Hessian times the vector, without forming it: the
    // same sums in another order.
    let v = uniform([2, 3], -1.0, 1.0, &mut rng(12));
    let hv = hvp(|_, x| loss(&model, x), &x, &v);
    let want: Vec<f64> = (0..n).map(|i| (0..n).map(|j| h.data()[i * n + j] * v.data()[j]).sum()).collect();
    assert_close("hvp", hv.data(), &want, 1e-15);
    // The model's parameters were leaves on those tapes, but only the input was asked for.
    assert_eq!(model.parameters().len(), 4);
}

#[test]
fn an_hvp_over_every_parameter_agrees_with_finite_differences_of_the_gradient_along_v() {
    // H v for the parameters of the MLP (the Newton-CG case): d/dt grad(theta + t v) at t = 0,
    // by the five-point stencil in t.
    let model = mlp();
    let x = Tensor::from_rows(&[[0.5, -1.0, 0.25], [1.5, 0.0, -0.5]]);
    let params: Vec<Tensor<f64>> = model.parameters().iter().map(|p| p.param.value().clone()).collect();
    let direction: Vec<Tensor<f64>> =
        params.iter().enumerate().map(|(k, p)| uniform(p.shape(), -1.0, 1.0, &mut rng(20 + k as u64))).collect();
    // The recorded gradient, then the plain backward of <grad, v>.
    let tape = Tape::new();
    let (loss, vars) = written_out(&tape, &x, &params);
    let grads = tape.grad(loss, &vars);
    let dot = grads.iter().zip(&direction).map(|(&g, v)| (g * tape.constant(v)).sum()).reduce(|a, b| a + b).unwrap();
    let second = dot.backward();
    let gradient_at = |t: f64| -> Vec<Tensor<f64>> {
        let theta: Vec<_> = params.iter().zip(&direction).map(|(p, v)| p.add(&v.map(|v| v * t))).collect();
        let tape = Tape::new();
        let (loss, vars) = written_out(&tape, &x, &theta);
        let grads = loss.backward();
        vars.iter().map(|&v| grads[v].clone()).collect()
    };
    let h = 1e-3;
    let (p2, p1, m1, m2) = (gradient_at(2.0 * h), gradient_at(h), gradient_at(-h), gradient_at(-2.0 * h));
    for (k, &v) in vars.iter().enumerate() {
        let numeric: Vec<f64> = (0..p1[k].numel())
            .map(|j| (-p2[k].data()[j] + 8.0 * p1[k].data()[j] - 8.0 * m1[k].data()[j] + m2[k].data()[j]) / (12.0 * h))
            .collect();
        // As above: the stencil's error is about 1e-12 here.
        assert_close(&format!("parameter {k}"), second[v].data(), &numeric, 1e-9);
    }
}

/// The MLP's loss on the batch of two rows `x`, labels 2 and 0.
fn loss<'t>(model: &Mlp<f64>, x: Var<'t, f64>) -> Var<'t, f64> {
    softmax_cross_entropy(model.forward(x), [2, 0])
}

/// The MLP's loss on `x` written out with its parameters `theta` (W1, b1, W2, b2) as leaves,
/// and those leaves.
fn written_out<'t>(tape: &'t Tape<f64>, x: &Tensor<f64>, theta: &[Tensor<f64>]) -> (Var<'t, f64>, Vec<Var<'t, f64>>) {
    let vars: Vec<_> = theta.iter().map(|t| tape.leaf(t)).collect();
    let h = tape.constant(x).matmul(vars[0]).add(vars[1]).tanh();
    (softmax_cross_entropy(h.matmul(vars[2]).add(vars[3]), [2, 0]), vars)
}

/// The one-hot `[dims]` tensor with a 1 at flat index `i` of `n`.
fn basis(n: usize, i: usize, dims: &[usize]) -> Tensor<f64> {
    let mut data = vec![0.0; n];
    data[i] = 1.0;
    Tensor::from_vec(dims, data)
}
