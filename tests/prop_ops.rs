//! Every built-in op against finite differences, over generated shapes and values: one property
//! per row of the op table (`common/op_table.rs`, whose docs say how shapes and values are
//! drawn), [`CASES`] cases each on every run (`gradcheck_ops.rs` checks seeded ones). Where the
//! op has a tape-free `Tensor` method, the property also checks the tape's value against it.

mod common;

use common::op_table;

/// Cases per op per run.
const CASES: u32 = 200;

macro_rules! property_tests {
    ($($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                op_table::$name().check_property(CASES);
            }
        )*
    };
}

op_table::for_each_op!(property_tests);
