//! What a tape shows of itself: the `Display` listing and the Graphviz `to_dot()` output.
//!
//! The listing's format is one line per node, `#{index} {name:<8} {inputs:<8} {shape}`: the
//! name and the space-separated input ids are each padded to 8 columns and followed by one
//! space. The expected strings below are built from that rule by hand.

use tapegrad::autograd::{InputGrad, Op, Output, Tape, Tensor};

/// The small graph both tests list: `sum(x * w)` with `x` a leaf and `w` a constant row.
fn record(tape: &Tape<f64>) {
    let x = tape.leaf(Tensor::zeros([2, 3]));
    let w = tape.constant(Tensor::ones([3]));
    let _ = (x * w).sum();
}

#[test]
fn listing_of_a_four_node_graph() {
    let tape = Tape::<f64>::new();
    record(&tape);
    let expected = concat!(
        // "leaf" + 4 spaces of padding + 1; no inputs: 8 spaces + 1.
        "#0 leaf              [2, 3]\n",
        // "constant" fills its 8 columns exactly.
        "#1 constant          [3]\n",
        // "mul" + 5 + 1; "#0 #1" + 3 + 1; the broadcast output shape.
        "#2 mul      #0 #1    [2, 3]\n",
        // "sum" + 5 + 1; "#2" + 6 + 1; a scalar's shape is [].
        "#3 sum      #2       []\n",
    );
    assert_eq!(tape.to_string(), expected);
    assert_eq!(tape.len(), 4);
    assert_eq!(format!("{tape:?}"), format!("Tape<f64> (4 nodes)\n{expected}"));
}

#[test]
fn dot_of_a_four_node_graph() {
    let tape = Tape::<f64>::new();
    record(&tape);
    // Leaves are boxes, constants grey boxes, ops ellipses; each label is "#index name" and the
    // shape on a second line (a literal \n, which Graphviz reads as a line break); each node's
    // incoming edges follow it.
    let expected = r##"digraph tape {
  rankdir=LR;
  n0 [label="#0 leaf\n[2, 3]", shape=box];
  n1 [label="#1 constant\n[3]", shape=box, style=filled, fillcolor=lightgrey];
  n2 [label="#2 mul\n[2, 3]", shape=ellipse];
  n0 -> n2;
  n1 -> n2;
  n3 [label="#3 sum\n[]", shape=ellipse];
  n2 -> n3;
}
"##;
    assert_eq!(tape.to_dot(), expected);
}

#[test]
fn an_empty_tape_lists_nothing() {
    let tape = Tape::<f32>::new();
    assert!(tape.is_empty());
    assert_eq!(tape.to_string(), "");
    assert_eq!(tape.to_dot(), "digraph tape {\n  rankdir=LR;\n}\n");
}

#[test]
fn parameters_in_names_long_names_and_a_var_used_twice() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::zeros([2, 3]));
    let _ = x.mean_axis(0).log_softmax();
    let _ = x * x;
    let expected = concat!(
        "#0 leaf              [2, 3]\n",
        // mean_axis is recorded as a sum along the axis and a scale by 1/2 (axis 0 has length 2).
        // Names longer than 8 columns push the rest of the line right instead of being cut.
        "#1 sum(axis=0) #0       [3]\n",
        "#2 scale(0.5) #1       [3]\n",
        "#3 log_softmax #2       [3]\n",
        // Both inputs of the product are #0.
        "#4 mul      #0 #0    [2, 3]\n",
    );
    assert_eq!(tape.to_string(), expected);
    // In the DOT graph the same input gives two edges.
    assert_eq!(tape.to_dot().matches("  n0 -> n4;\n").count(), 2);
}

/// An op whose name has double quotes, which would end a DOT label early.
struct Quoted;

impl Op<f64> for Quoted {
    fn name(&self) -> String {
        "say \"hi\"".into()
    }
    fn forward(&self, inputs: &[&Tensor<f64>], out: Output<'_, f64>) {
        out.assign(inputs[0].shape(), inputs[0].data().iter().copied());
    }
    fn backward(&self, _: &[&Tensor<f64>], _: &Tensor<f64>, g: &Tensor<f64>, grads: &mut [Option<InputGrad<'_, f64>>]) {
        if let Some(gx) = &mut grads[0] {
            gx.add(g.data().iter().copied());
        }
    }
}

#[test]
fn dot_labels_escape_quotes() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::zeros([1]));
    let _ = x.apply(Quoted, &[]);
    // DOT escapes a quote inside a quoted label as \".
    assert!(tape.to_dot().contains(r##"  n1 [label="#1 say \"hi\"\n[1]", shape=ellipse];"##), "{}", tape.to_dot());
    // The plain listing has no such constraint and keeps the name as it is.
    assert!(tape.to_string().contains("#1 say \"hi\" #0"), "{tape}");
}
