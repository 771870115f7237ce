//! Every built-in op against central finite differences, in f64, on seeded random shapes and
//! values: one test per row of the op table (`common/op_table.rs`), which says the shapes (every
//! broadcast, `1 x n`, `n x 1`, rank 0...) and the input domains.
//!
//! Each op's output `y` is read out as `sum(y * c)` for a fixed random `c` (see
//! `common::weighted_sum`), so each output entry sends a different upstream gradient back.

mod common;

use common::{check, op_table, rng, uniform, weighted_sum};

macro_rules! gradcheck_tests {
    ($($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                op_table::$name().gradcheck_fixed_cases();
            }
        )*
    };
}

op_table::for_each_op!(gradcheck_tests);

#[test]
fn matmul_of_a_transposed_operand() {
    // A^T B: the transpose's backward feeds matmul's, so a stride mix-up in either shows here.
    let mut rng = rng(32);
    let a = uniform([4, 3], -1.0, 1.0, &mut rng);
    let b = uniform([4, 5], -1.0, 1.0, &mut rng);
    check("transpose then matmul", |v| weighted_sum(v[0].transpose().matmul(v[1])), &[a, b]);
}
