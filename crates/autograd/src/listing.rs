//! What a tape recorded, as text: one line per node, or a Graphviz graph.

use crate::tape::{Kind, Node};
use crate::{Float, Tape};
use std::fmt::{self, Write as _};

/// A node's label: its kind, or its op's name.
fn label<T: Float>(node: &Node<T>) -> String {
    match node.kind {
        Kind::Leaf => "leaf".to_string(),
        Kind::Constant => "constant".to_string(),
        Kind::Computed => node.op.as_ref().map_or_else(String::new, |op| op.name()),
    }
}

impl<T: Float> Tape<T> {
    /// The graph in Graphviz DOT form: leaves as boxes, constants as grey boxes, ops as ellipses
    /// labelled with their name and output shape. Render with `dot -Tsvg`.
    pub fn to_dot(&self) -> String {
        let nodes = self.nodes.borrow();
        let mut s = String::from("digraph tape {\n  rankdir=LR;\n");
        for (i, n) in nodes[..self.len()].iter().enumerate() {
            let style = match n.kind {
                Kind::Leaf => "shape=box",
                Kind::Constant => "shape=box, style=filled, fillcolor=lightgrey",
                Kind::Computed => "shape=ellipse",
            };
            let label = label(n).replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(s, "  n{i} [label=\"#{i} {label}\\n{}\", {style}];", n.value.shape());
            for &j in &n.inputs {
                let _ = writeln!(s, "  n{j} -> n{i};");
            }
        }
        s.push_str("}\n");
        s
    }
}

/// One line per node: index, kind or op name, input nodes, output shape.
///
/// ```
/// use tapegrad_autograd::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let x = tape.leaf(Tensor::zeros([2, 3]));
/// let _y = x.relu().sum();
/// assert_eq!(tape.to_string(), "#0 leaf              [2, 3]\n#1 relu     #0       [2, 3]\n#2 sum      #1       []\n");
/// ```
impl<T: Float> fmt::Display for Tape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.nodes.borrow()[..self.len()].iter().enumerate() {
            let inputs: Vec<String> = n.inputs.iter().map(|j| format!("#{j}")).collect();
            writeln!(f, "#{i} {:<8} {:<8} {}", label(n), inputs.join(" "), n.value.shape())?;
        }
        Ok(())
    }
}

impl<T: Float> fmt::Debug for Tape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tape<{}> ({} nodes)\n{self}", T::NAME, self.len())
    }
}
