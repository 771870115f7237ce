//! Every built-in op's differentiable backward rule (`Op::backward_graph`), on the op table's
//! seeded fixed cases (`common/op_table.rs`, as `gradcheck_ops.rs`): the recording backward
//! (`Tape::grad`) gives the plain backward's first-order gradients, its second-order gradients
//! pass `gradgradcheck` in f64, and a second (and a third) recording backward agrees with a
//! plain backward through the gradient recorded one order below (see
//! `common::check_second_order` for the tolerances).

mod common;

use common::op_table;

macro_rules! gradgrad_tests {
    ($($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                op_table::$name().gradgradcheck_fixed_cases();
            }
        )*
    };
}

op_table::for_each_op!(gradgrad_tests);
