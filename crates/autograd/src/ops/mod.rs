//! The built-in ops, one file per family. Each op's forward, backward and its `Var` method live
//! together; the math of each backward rule is one line in the op's doc comment.

pub mod activation;
pub mod broadcast;
pub mod compare;
pub mod elementwise;
pub mod matmul;
pub mod pick;
pub mod reduce;
pub mod reduce_axis;
pub mod shape;
pub mod softmax;
