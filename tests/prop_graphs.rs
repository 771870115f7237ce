//! Generated compositions: random expression graphs of 2 to 12 ops over 1 to 4 leaves,
//! gradchecked and gradgradchecked (with the recording backward's first-order gradients equal to
//! the plain backward's), and the store's rules (backward twice, constants, a reused tape) on
//! the same graphs.
//!
//! **The graphs.** A graph has two sizes `m, n` (1 to [`MAX_DIM`]) and leaves of shape `[m, n]`,
//! `[n]` (broadcast over rows), `[m, 1]` (over columns), `[n, n]` (a right operand for matmul)
//! or `[]`. Each step applies an op to earlier values, leaves or results, so leaves get reused
//! and diamonds form. The result is the sum of a readout of every value no step consumed: its
//! `sum`, its `mean` or `sum(v * c)` for fixed distinct weights `c` (`common::weighted_sum`).
//!
//! The ops are the rows of the op table (`common/op_table.rs`) that have a graph rule: it says
//! how a graph applies each op, what it does to the bounds below and how it prints.
//!
//! **Shrinking.** Steps name their operands by a [`Choice`], resolved against the values that fit
//! the op (by shape and by the bounds below) when the graph is built, so proptest can delete any
//! step, turn an op into a simpler one or point an operand at an earlier value and still get a
//! valid graph. A step with no fitting operand is dropped. The `Debug` of a [`Graph`] is the
//! graph as it was built, one expression per value:
//!
//! ```text
//! v0: [2, 3]; v1: [3]; v2 = tanh(v0); v3 = v2 * v1; out = sum(v3 * c)
//!   v0 = [0.5, -0.25, ...]
//! ```
//!
//! **Conditioning.** A failure should mean a wrong gradient, not a bad finite difference. The
//! five-point stencil's truncation error is about `eps^4 / 30 |f^(5)| = 3e-14 |f^(5)|`, and its
//! rounding error about `1e-16 |f| / eps`, against a tolerance of `1e-9 + 1e-7 |f'|`. So:
//! - no kinks or ties (relu, abs, clamp, maximum, max_axis, std_axis at zero spread, ...): an
//!   intermediate value can land within `2 eps` of one, where no difference quotient is right;
//!   log, sqrt, rsqrt and recip only of `x^2 + 1`, division only as `a / (b^2 + 1)` and pow only
//!   as `(a^2 + 1)^b`, all smooth everywhere, the first five with derivatives bounded by 1;
//! - leaves in `[-1, 1]`, and every value carries a bound `B` on its magnitude and `D` on its
//!   derivative with respect to any one leaf entry, worked out op by op (`|exp x| <= e^B`,
//!   `|d(a b)| <= B_a D_b + B_b D_a`, ...). An op may only be applied where the result keeps
//!   `B <= 8` and `D <= 16`: that stops `exp(exp(exp(x)))` and `x^(2^12)`, whose high
//!   derivatives would swamp the stencil, while bounded activations (tanh, sigmoid, softmax)
//!   reset `B` and let graphs grow deep. (With the bounds lifted, ten seeds found
//!   `v2 = exp(v1); v3 = exp(v2); v6 = v3^2; v7 = exp(v6)`, values near 3e8, whose difference
//!   quotient is off by 2.4e-7 relative: the stencil failing, not the tape.)
//! - at most 4 readouts of at most `MAX_DIM^2 = 25` values of size 8, with weights under 1.5:
//!   `|out| <= 1200`, so the rounding error, `1.5 * 2.2e-16 * 1200 / eps = 4e-10`, stays below
//!   `atol = 1e-9`.

mod common;

use common::op_table::{self, Info, OpRow, Shapes};
use common::{FIRST_ORDER_TOL, gradcheck_case, gradgradcheck_case, proptest_config, weighted_sum};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use std::fmt::{self, Write as _};
use std::sync::LazyLock;
use tapegrad::autograd::{Tape, Tensor, Var};

/// Largest graph size `m`, `n`: the op table's bound on every axis of a graph's values.
const MAX_DIM: usize = op_table::GRAPH_MAX_DIM;
/// Largest magnitude bound of a value (see the module docs).
const MAX_BOUND: f64 = 8.0;
/// Largest derivative bound of a value.
const MAX_SLOPE: f64 = 16.0;

/// Cases of the gradcheck property per run.
const GRADCHECK_CASES: u32 = 400;
/// Cases of each of the other properties per run.
const CASES: u32 = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeafShape {
    /// `[m, n]`.
    Matrix,
    /// `[n]`.
    Row,
    /// `[m, 1]`.
    Column,
    /// `[n, n]`.
    Square,
    /// `[]`.
    Scalar,
}

impl LeafShape {
    fn dims(self, m: usize, n: usize) -> Vec<usize> {
        match self {
            LeafShape::Matrix => vec![m, n],
            LeafShape::Row => vec![n],
            LeafShape::Column => vec![m, 1],
            LeafShape::Square => vec![n, n],
            LeafShape::Scalar => vec![],
        }
    }
}

/// The ops a step can apply: the op table's rows with a graph rule, simplest first (proptest
/// shrinks a step's op, an index into this list, towards the start).
static OPS: LazyLock<Vec<OpRow>> = LazyLock::new(op_table::graph_ops);

/// The index in [`OPS`] of the op named `name`.
fn op(name: &str) -> usize {
    OPS.iter().position(|row| row.name == name).unwrap_or_else(|| panic!("no graph op {name}"))
}

/// The output's shape and bounds when op `op` applies to these operands, or `None` if it does
/// not apply to them or would leave the bounds.
fn result(op: usize, a: &Info, b: &Info) -> Option<Info> {
    let rule = OPS[op].graph.as_ref().expect("graph ops have a rule");
    (rule.result)(a, b).filter(|out| out.bound <= MAX_BOUND && out.slope <= MAX_SLOPE)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Readout {
    Sum,
    Mean,
    WeightedSum,
}

/// An operand choice: a fraction of the way through the values that fit, `x / 2^64`, like
/// proptest's `Index`. It shrinks towards 0, the first (earliest) value that fits.
#[derive(Clone, Copy, Debug)]
struct Choice(u64);

impl Choice {
    fn get(self, fitting: &[usize]) -> usize {
        fitting[((fitting.len() as u128 * u128::from(self.0)) >> 64) as usize]
    }
}

/// One step as generated: an op and two operand choices (the second unused by unary ops).
#[derive(Clone, Debug)]
struct Step {
    /// An index into [`OPS`].
    op: usize,
    a: Choice,
    b: Choice,
}

/// A graph as generated, before resolution.
#[derive(Clone, Debug)]
struct Spec {
    m: usize,
    n: usize,
    /// Each leaf's shape, and a pool of values of which it takes the first it needs.
    leaves: Vec<(LeafShape, Vec<f64>)>,
    steps: Vec<Step>,
    readouts: Vec<Readout>,
}

/// A resolved graph: values `0..leaves.len()` are the leaves, then one per node.
#[derive(Clone)]
struct Graph {
    leaves: Vec<Tensor<f64>>,
    /// `(op, a, b)`: `b` is `a` for unary ops.
    nodes: Vec<(usize, usize, usize)>,
    /// Every value no node consumes, with its readout.
    outputs: Vec<(usize, Readout)>,
}

impl Spec {
    fn resolve(&self) -> Graph {
        let mut infos: Vec<Info> = Vec::new();
        let mut leaves = Vec::new();
        for (shape, pool) in &self.leaves {
            let dims = shape.dims(self.m, self.n);
            let numel = dims.iter().product();
            leaves.push(Tensor::from_vec(&dims[..], pool[..numel].to_vec()));
            infos.push(Info { shape: dims, bound: 1.0, slope: 1.0 });
        }
        let mut nodes = Vec::new();
        for step in &self.steps {
            let fits = |a: usize, b: usize| result(step.op, &infos[a], &infos[b]);
            let firsts: Vec<usize> = (0..infos.len())
                .filter(|&a| {
                    if OPS[step.op].is_binary() {
                        (0..infos.len()).any(|b| fits(a, b).is_some())
                    } else {
                        fits(a, a).is_some()
                    }
                })
                .collect();
            if firsts.is_empty() {
                continue;
            }
            let a = step.a.get(&firsts);
            let b = if OPS[step.op].is_binary() {
                let seconds: Vec<usize> = (0..infos.len()).filter(|&b| fits(a, b).is_some()).collect();
                step.b.get(&seconds)
            } else {
                a
            };
            let info = fits(a, b).expect("chosen among the operands that fit");
            infos.push(info);
            nodes.push((step.op, a, b));
        }
        let consumed = |v: usize| nodes.iter().any(|&(_, a, b)| a == v || b == v);
        let unconsumed: Vec<usize> = (leaves.len()..infos.len()).filter(|&v| !consumed(v)).collect();
        let sinks = if unconsumed.is_empty() { vec![0] } else { unconsumed };
        let outputs = sinks.into_iter().enumerate().map(|(k, v)| (v, self.readouts[k % self.readouts.len()])).collect();
        Graph { leaves, nodes, outputs }
    }
}

impl Graph {
    /// The graph on a tape, given one var per leaf.
    fn build<'t>(&self, leaves: &[Var<'t, f64>]) -> Var<'t, f64> {
        let mut values = leaves.to_vec();
        for &(op, a, b) in &self.nodes {
            values.push(OPS[op].apply_in_graph(values[a], values[b]));
        }
        let terms = self.outputs.iter().map(|&(v, readout)| match readout {
            Readout::Sum => values[v].sum(),
            Readout::Mean => values[v].mean(),
            Readout::WeightedSum => weighted_sum(values[v]),
        });
        terms.reduce(|acc, t| acc + t).expect("a graph has at least one output")
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for (i, leaf) in self.leaves.iter().enumerate() {
            write!(s, "v{i}: {}; ", leaf.shape())?;
        }
        for (k, &(op, a, b)) in self.nodes.iter().enumerate() {
            write!(s, "v{} = ", self.leaves.len() + k)?;
            let show = &OPS[op].graph.as_ref().expect("graph ops have a rule").show;
            s.push_str(&show.replace("$a", &format!("v{a}")).replace("$b", &format!("v{b}")));
            s.push_str("; ");
        }
        s.push_str("out = ");
        for (k, &(v, readout)) in self.outputs.iter().enumerate() {
            let plus = if k > 0 { " + " } else { "" };
            match readout {
                Readout::Sum => write!(s, "{plus}sum(v{v})")?,
                Readout::Mean => write!(s, "{plus}mean(v{v})")?,
                Readout::WeightedSum => write!(s, "{plus}sum(v{v} * c)")?,
            }
        }
        for (i, leaf) in self.leaves.iter().enumerate() {
            write!(s, "\n  v{i} = {:?}", leaf.data())?;
        }
        f.write_str(&s)
    }
}

/// The indices in [`OPS`] of the ops of two operands.
static BINARY: LazyLock<Vec<usize>> = LazyLock::new(|| (0..OPS.len()).filter(|&op| OPS[op].is_binary()).collect());

/// A step's op is drawn from all of [`OPS`] half the time and from the binary ops alone the other
/// half, so that broadcasts and reuse stay common however many unary ops the table has.
fn step() -> impl Strategy<Value = Step> {
    let op = prop_oneof![0..OPS.len(), proptest::sample::select(BINARY.clone())];
    (op, any::<u64>(), any::<u64>()).prop_map(|(op, a, b)| Step { op, a: Choice(a), b: Choice(b) })
}

/// Graphs of 1 to 4 leaves and 2 to 12 steps (fewer ops if a step finds no operand that fits).
fn graph() -> impl Strategy<Value = Graph> {
    let leaf_shape = prop_oneof![
        Just(LeafShape::Matrix),
        Just(LeafShape::Row),
        Just(LeafShape::Column),
        Just(LeafShape::Square),
        Just(LeafShape::Scalar),
    ];
    let leaf = (leaf_shape, vec(-1.0..1.0f64, MAX_DIM * MAX_DIM));
    let readout = prop_oneof![Just(Readout::Sum), Just(Readout::Mean), Just(Readout::WeightedSum)];
    (1..=MAX_DIM, 1..=MAX_DIM, vec(leaf, 1..=4), vec(step(), 2..=12), vec(readout, 1..=4))
        .prop_map(|(m, n, leaves, steps, readouts)| Spec { m, n, leaves, steps, readouts }.resolve())
}

/// The gradient of every leaf, from a fresh tape.
fn gradients(graph: &Graph) -> Vec<Tensor<f64>> {
    let tape = Tape::new();
    let leaves: Vec<_> = graph.leaves.iter().map(|t| tape.leaf(t.clone())).collect();
    let grads = graph.build(&leaves).backward();
    leaves.iter().map(|&v| grads[v].clone()).collect()
}

proptest! {
    #![proptest_config(proptest_config(GRADCHECK_CASES))]

    #[test]
    fn random_graphs_pass_gradcheck(graph in graph()) {
        gradcheck_case(|v| graph.build(v), &graph.leaves)?;
    }
}

proptest! {
    #![proptest_config(proptest_config(CASES))]

    #[test]
    fn random_graphs_pass_gradgradcheck_and_record_the_plain_backwards_gradients(graph in graph()) {
        // Second derivatives: finite differences of the recorded gradient's weighted readout.
        gradgradcheck_case(|v| graph.build(v), &graph.leaves)?;
        // First order: the recording backward gives the plain one's gradients, to rounding
        // (`common::FIRST_ORDER_TOL`).
        let tape = Tape::new();
        let leaves: Vec<_> = graph.leaves.iter().map(|t| tape.leaf(t.clone())).collect();
        let loss = graph.build(&leaves);
        let recorded = tape.grad(loss, &leaves);
        let plain = loss.backward();
        for (k, (g, &v)) in recorded.iter().zip(&leaves).enumerate() {
            let (got, want) = (g.value(), &plain[v]);
            for (&a, &b) in got.data().iter().zip(want.data()) {
                prop_assert!((a - b).abs() <= FIRST_ORDER_TOL * 1f64.max(a.abs()).max(b.abs()), "leaf v{}: {} vs {}", k, a, b);
            }
        }
    }

    #[test]
    fn backward_twice_gives_identical_gradients(graph in graph()) {
        let tape = Tape::new();
        let leaves: Vec<_> = graph.leaves.iter().map(|t| tape.leaf(t.clone())).collect();
        let loss = graph.build(&leaves);
        let (first, second) = (loss.backward(), loss.backward());
        for (k, &v) in leaves.iter().enumerate() {
            // Bit for bit: a second pass that accumulated into the first would double it.
            prop_assert_eq!(&first[v], &second[v], "leaf v{}", k);
        }
    }

    #[test]
    fn a_constant_gets_no_gradient_and_leaves_the_others_unchanged(graph in graph(), which in any::<Index>()) {
        let constant = which.index(graph.leaves.len());
        let tape = Tape::new();
        let vars: Vec<_> = graph
            .leaves
            .iter()
            .enumerate()
            .map(|(k, t)| if k == constant { tape.constant(t.clone()) } else { tape.leaf(t.clone()) })
            .collect();
        let grads = graph.build(&vars).backward();
        prop_assert!(grads.get(vars[constant]).is_none(), "constant v{} got a gradient", constant);
        // The other leaves get exactly what they get when every input is a leaf: skipping the
        // constant's gradient changes no arithmetic on theirs.
        let all_leaves = gradients(&graph);
        for (k, &v) in vars.iter().enumerate().filter(|&(k, _)| k != constant) {
            prop_assert_eq!(&grads[v], &all_leaves[k], "leaf v{}", k);
        }
    }

    #[test]
    fn a_reset_tape_gives_the_same_gradients_as_a_fresh_one(first in graph(), second in graph()) {
        // Recording on a reset tape reuses the first graph's buffers, with other sizes: a forward
        // or backward that relied on a zeroed or right-sized buffer goes wrong here only.
        let mut tape = Tape::new();
        {
            let leaves: Vec<_> = first.leaves.iter().map(|t| tape.leaf(t)).collect();
            let grads = first.build(&leaves).backward();
            drop(grads);
        }
        tape.reset();
        let leaves: Vec<_> = second.leaves.iter().map(|t| tape.leaf(t)).collect();
        let grads = second.build(&leaves).backward();
        for (k, (&v, fresh)) in leaves.iter().zip(gradients(&second)).enumerate() {
            prop_assert_eq!(&grads[v], &fresh, "leaf v{}", k);
        }
    }
}

#[test]
fn the_debug_form_reads_as_expressions() {
    let spec = Spec {
        m: 2,
        n: 3,
        leaves: vec![(LeafShape::Matrix, vec![0.5; 25]), (LeafShape::Row, vec![-0.25; 25])],
        steps: vec![
            Step { op: op("tanh"), a: Choice(0), b: Choice(0) },
            Step { op: op("mul"), a: Choice(u64::MAX), b: Choice(0) },
        ],
        readouts: vec![Readout::WeightedSum],
    };
    let graph = spec.resolve();
    // Mul's first operand: the last value that fits (v2); its second: the first that fits (v0).
    assert_eq!(
        format!("{graph:?}"),
        "v0: [2, 3]; v1: [3]; v2 = tanh(v0); v3 = v2 * v0; out = sum(v3 * c)\n  \
         v0 = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]\n  v1 = [-0.25, -0.25, -0.25]"
    );
}

#[test]
fn the_generator_reaches_every_op_deep_graphs_reuse_and_broadcasts() {
    // A generator that quietly dropped most steps (no operand fitting the bounds) would make
    // the properties above vacuous: count what 400 graphs really contain.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::new(proptest_config(GRADCHECK_CASES));
    let (mut ops_seen, mut deep, mut reused, mut total_ops) = (Vec::new(), 0, 0, 0);
    // Steps of the broadcasting ops, and those of them whose operands' shapes differ.
    let (mut broadcast_steps, mut broadcasts) = (0, 0);
    for _ in 0..GRADCHECK_CASES {
        let graph = graph().new_tree(&mut runner).unwrap().current();
        total_ops += graph.nodes.len();
        deep += usize::from(graph.nodes.len() >= 8);
        let leaf_uses = |leaf: usize| {
            graph
                .nodes
                .iter()
                .map(|&(_, a, b)| usize::from(a == leaf) + usize::from(b == leaf && b != a))
                .sum::<usize>()
        };
        reused += usize::from((0..graph.leaves.len()).any(|l| leaf_uses(l) >= 2));
        let mut shapes: Vec<Vec<usize>> = graph.leaves.iter().map(|t| t.shape().dims().to_vec()).collect();
        for &(op, a, b) in &graph.nodes {
            if !ops_seen.contains(&op) {
                ops_seen.push(op);
            }
            let info = |v: usize| Info { shape: shapes[v].clone(), bound: 0.0, slope: 0.0 };
            let out = result(op, &info(a), &info(b)).unwrap().shape;
            if OPS[op].shapes == Shapes::Broadcast {
                broadcast_steps += 1;
                broadcasts += usize::from(shapes[a] != out || shapes[b] != out);
            }
            shapes.push(out);
        }
    }
    println!(
        "{total_ops} ops in all; {deep} graphs of 8 ops or more; {reused} reuse a leaf; \
         {broadcasts} broadcasts in {broadcast_steps} steps of the broadcasting ops"
    );
    assert_eq!(
        ops_seen.len(),
        OPS.len(),
        "ops never generated: {:?}",
        (0..OPS.len()).filter(|op| !ops_seen.contains(op)).map(|op| OPS[op].name).collect::<Vec<_>>()
    );
    let n = GRADCHECK_CASES as usize;
    assert!(total_ops >= 5 * n, "{total_ops} ops in {n} graphs: too many steps dropped");
    assert!(deep >= n / 5 && reused >= n / 2);
    // Counted against the broadcasting ops' steps rather than the graphs: each op drawn is one
    // of the table's graph ops, so every row given a graph rule makes each op's steps fewer.
    // Over a third of them broadcast (with 24 graph ops); a quarter leaves room for a seed change.
    assert!(4 * broadcasts >= broadcast_steps && broadcasts >= n / 4, "{broadcasts} of {broadcast_steps}");
}
