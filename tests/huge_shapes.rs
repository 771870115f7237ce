//! Shapes at and past the largest element count a tensor can have: each one either counts its
//! elements exactly or is refused with the shape's own message, and never wraps (a wrapped count
//! once let a `[128, 2^58 + 1]` tensor hold 128 values and matmul read past them).
//!
//! Axes are drawn from 0, 1, 2^k and 2^k + 1 for k up to 62, so products land on both sides of
//! `Shape::MAX_NUMEL` and past `usize::MAX`, and a zero may follow axes whose product overflows.

use proptest::collection::vec;
use proptest::prelude::*;
use tapegrad::autograd::{Shape, Tensor};
use testkit::proptest_config;

/// An axis length: often 0 or 1, otherwise a power of two or one past it, up to 2^62 + 1.
fn axis() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        2 => Just(1usize),
        6 => (0u32..=62, any::<bool>()).prop_map(|(k, plus_one)| (1usize << k) + usize::from(plus_one)),
    ]
}

/// The message of a panic caught from `f`.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("expected a panic");
    err.downcast_ref::<String>().cloned().or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
}

proptest! {
    #![proptest_config(proptest_config(2000))]

    #[test]
    fn a_shape_counts_its_elements_exactly_or_is_refused(dims in vec(axis(), 0..=5)) {
        // u128 holds the product of five axes of at most 2^62 + 1 only if it stops early; the
        // checked fold stops at the first overflow, which is past the limit anyway.
        let exact = dims.iter().try_fold(1u128, |n, &d| n.checked_mul(d as u128));
        let fits = dims.contains(&0) || exact.is_some_and(|n| n <= Shape::MAX_NUMEL as u128);
        let built = std::panic::catch_unwind(|| (Shape::new(&dims).numel(), Shape::from(dims.clone()).numel()));
        match built {
            Ok((a, b)) => {
                prop_assert!(fits, "{dims:?} accepted with {a} elements");
                let want = if dims.contains(&0) { 0 } else { exact.unwrap() };
                prop_assert_eq!((a as u128, b as u128), (want, want), "{:?}", dims);
            }
            Err(err) => {
                let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
                prop_assert!(!fits, "{dims:?} refused: {msg}");
                prop_assert!(
                    msg.starts_with(&format!("shape {dims:?}: about 2^")) && msg.contains("more than any tensor can hold"),
                    "{dims:?}: {msg}"
                );
            }
        }
    }

    /// Ops on a tensor with no elements but huge other axes give an empty result or refuse the
    /// output's shape by name; none overflows computing a stride or a row count on the way.
    #[test]
    fn ops_on_an_empty_tensor_with_huge_axes_never_overflow(mut dims in vec(axis(), 1..=4), zero in any::<prop::sample::Index>()) {
        let at = zero.index(dims.len());
        dims[at] = 0;
        let x = Tensor::<f32>::zeros(dims.clone());
        prop_assert_eq!(x.add(&x).shape().dims().to_vec(), dims.clone());
        prop_assert_eq!(x.mul(&Tensor::ones(vec![1; dims.len()])).shape().dims().to_vec(), dims.clone());
        for axis in 0..dims.len() {
            let mut out = dims.clone();
            out.remove(axis);
            let exact = out.iter().try_fold(1u128, |n, &d| n.checked_mul(d as u128));
            if out.contains(&0) || exact.is_some_and(|n| n <= Shape::MAX_NUMEL as u128 && n <= 1 << 16) {
                let y = x.sum_axis(axis);
                prop_assert_eq!(y.shape().dims().to_vec(), out.clone());
                prop_assert!(y.data().iter().all(|&v| v == 0.0), "sum over an empty axis is 0");
            } else if exact.is_none_or(|n| n > Shape::MAX_NUMEL as u128) {
                let msg = panic_message(|| drop(x.sum_axis(axis)));
                prop_assert!(msg.starts_with(&format!("shape {out:?}: about 2^")), "sum_axis({axis}) of {dims:?}: {msg}");
            }
            // Otherwise the output is describable but too large to allocate in a test.
        }
    }
}

#[test]
fn an_empty_tensor_with_huge_axes_broadcasts_and_sums_to_empty() {
    // In debug builds each of these used to stop with "attempt to multiply with overflow": the
    // stride of the first axis of [0, 2^40, 2^40] is 2^80, and sum_axis multiplied the axes
    // around the summed one before noticing there was nothing to sum.
    let h = 1usize << 40;
    let x = Tensor::<f32>::zeros([0, h, h]);
    assert_eq!(x.add(&Tensor::ones([1, 1])).shape().dims(), &[0, h, h]);
    assert_eq!(Tensor::<f64>::zeros([h, h, 0, 5]).sum_axis(3).shape().dims(), &[h, h, 0]);
    // An output that cannot exist is refused by the output's shape, not by an overflow.
    let msg = panic_message(|| drop(Tensor::<f32>::zeros([h, h, 0]).sum_axis(2)));
    assert!(msg.starts_with("shape [1099511627776, 1099511627776]: about 2^80 elements"), "{msg}");
    let msg = panic_message(move || drop(x.sum_axis(0)));
    assert!(msg.starts_with("shape [1099511627776, 1099511627776]: about 2^80 elements"), "{msg}");
}
