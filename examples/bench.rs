//! Performance benchmark: tape-based training against hand-written backprop, in one process.
//!
//! ```sh
//! cargo run --release --example bench
//! ```
//!
//! Prints one table: for each configuration, milliseconds per epoch of (a) training through the
//! tape and (b) the hand-derived backprop of `nn::manual` with preallocated buffers, measured
//! alternately (A B A B ...) so drift on a noisy machine cancels, as medians; the median and
//! quartiles of the ratio A/B over the rounds (each round's pair taken together); and the
//! difference per step (what the tape itself costs);
//! then the cost of a Hessian-vector product relative to one gradient, the tiny op, GEMM
//! GFLOP/s, heap allocations per training step, and resident memory after 1k and 100k training
//! steps.
//!
//! Arguments: `[ROUNDS] [CONFIG]`, CONFIG one of `seed`, `mlp64`, `wide` (that training
//! configuration only), `tiny` (the tiny op only) or `hvp` (the HVP table only).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use tapegrad::autograd::{Tape, Tensor, Var, gather_labels};
use tapegrad::nn::manual::ManualBackprop;
use tapegrad::nn::{Activation, Init, Mlp, Module, Optimizer, Sgd, softmax_cross_entropy};

/// Counts heap allocations, so the table can show allocations per training step.
struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator unchanged; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Config {
    name: &'static str,
    sizes: &'static [usize],
    activation: Activation,
    batch: usize,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
}

const CONFIGS: [Config; 4] = [
    Config {
        name: "seed",
        sizes: &[64, 10, 10],
        activation: Activation::Sigmoid,
        batch: 1,
        lr: 0.1,
        momentum: 0.0,
        weight_decay: 0.0,
    },
    Config {
        name: "mlp64",
        sizes: &[64, 64, 10],
        activation: Activation::Relu,
        batch: 32,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 1e-4,
    },
    Config {
        name: "wide",
        sizes: &[64, 256, 256, 10],
        activation: Activation::Relu,
        batch: 128,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 1e-4,
    },
    // MNIST's shape on generated rows (see `generated_mnist`).
    Config {
        name: "large",
        sizes: &[784, 512, 512, 10],
        activation: Activation::Relu,
        batch: 256,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 1e-4,
    },
];

struct Data {
    x: Tensor<f32>,
    y: Vec<usize>,
}

impl Data {
    fn rows(&self) -> usize {
        self.y.len()
    }
}

/// 8192 rows of 784 features and 10 classes, MNIST's shape, from a fixed seed: each class a
/// random template, each row its class's template plus noise, so training has something to fit.
fn generated_mnist() -> Data {
    let (rows, cols, classes) = (8192, 784, 10);
    let mut rng = StdRng::seed_from_u64(784);
    let templates: Vec<f32> = (0..classes * cols).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y: Vec<usize> = (0..rows).map(|_| rng.random_range(0..classes)).collect();
    let x = y
        .iter()
        .flat_map(|&c| templates[c * cols..(c + 1) * cols].to_vec())
        .map(|t| t + rng.random_range(-1.0f32..1.0))
        .collect();
    Data { x: Tensor::from_vec([rows, cols], x), y }
}

fn load_digits() -> Data {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/digits.csv")).expect("read digits");
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Vec<f32> = line.split(',').map(|s| s.trim().parse().expect("number")).collect();
        x.extend_from_slice(&v[..64]);
        y.push(v[64] as usize);
    }
    // Standardise columns (the benchmark times training, not preprocessing).
    let n = y.len();
    for j in 0..64 {
        let mean = (0..n).map(|i| x[i * 64 + j]).sum::<f32>() / n as f32;
        let var = (0..n).map(|i| (x[i * 64 + j] - mean).powi(2)).sum::<f32>() / n as f32;
        let std = if var > 0.0 { var.sqrt() } else { 1.0 };
        (0..n).for_each(|i| x[i * 64 + j] = (x[i * 64 + j] - mean) / std);
    }
    // The 1527 training rows of the 85/15 split.
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(0));
    order.truncate(1527);
    let xs = order.iter().flat_map(|&i| x[i * 64..(i + 1) * 64].iter().copied()).collect();
    Data { x: Tensor::from_vec([1527, 64], xs), y: order.iter().map(|&i| y[i]).collect() }
}

/// Copies the rows of `idx` into `xb`/`yb`, reusing their buffers (a row-wise memcpy, as
/// `Tape::gather_rows` does on the tape side).
fn fill_batch(data: &Data, idx: &[usize], xb: &mut Tensor<f32>, yb: &mut Vec<usize>) {
    let mut buffer = std::mem::take(xb).into_vec();
    buffer.clear();
    for &i in idx {
        buffer.extend_from_slice(data.x.row(i));
    }
    *xb = Tensor::from_vec([idx.len(), data.x.shape().dims()[1]], buffer);
    yb.clear();
    yb.extend(idx.iter().map(|&i| data.y[i]));
}

struct Run {
    mlp: Mlp<f32>,
    opt: Sgd<f32>,
    order: Vec<usize>,
    rng: StdRng,
    xb: Tensor<f32>,
    yb: Vec<usize>,
}

impl Run {
    fn new(c: &Config, data: &Data) -> Self {
        let mut rng = StdRng::seed_from_u64(1);
        let mlp = Mlp::new(c.sizes, c.activation.clone(), Init::HeUniform, &mut rng);
        let mut opt = Sgd::new(c.lr).weight_decay(c.weight_decay);
        if c.momentum > 0.0 {
            opt = opt.momentum(c.momentum);
        }
        Run { mlp, opt, order: (0..data.rows()).collect(), rng, xb: Tensor::default(), yb: Vec::new() }
    }
}

fn tape_epoch(run: &mut Run, tape: &mut Tape<f32>, data: &Data, batch: usize) -> f32 {
    run.order.shuffle(&mut run.rng);
    let mut total = 0.0;
    for idx in run.order.chunks(batch) {
        tape.reset();
        // The batch's rows are gathered straight onto the tape (the hand-written side gathers
        // them into its own buffer): one copy each.
        let logits = run.mlp.forward(tape.gather_rows(&data.x, idx));
        let loss = softmax_cross_entropy(logits, gather_labels(&data.y, idx));
        total += loss.item();
        let grads = loss.backward();
        run.opt.step(&mut run.mlp, &grads);
    }
    total
}

fn manual_epoch(run: &mut Run, bp: &mut ManualBackprop<f32>, data: &Data, batch: usize) -> f32 {
    run.order.shuffle(&mut run.rng);
    let mut total = 0.0;
    for idx in run.order.chunks(batch) {
        fill_batch(data, idx, &mut run.xb, &mut run.yb);
        total += bp.run(&run.mlp, &run.xb, &run.yb, 0.0);
        run.opt.update(&mut run.mlp.parameters_mut(), &bp.gradients());
    }
    total
}

/// A `kB` field of /proc/self/status (Linux), or "?".
fn proc_status_kb(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_else(|| "?".into())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<R>(f: impl FnOnce() -> R) -> (f64, R) {
    let t = Instant::now();
    let r = f();
    (t.elapsed().as_secs_f64(), r)
}

const HELP: &str = "\
usage: bench [ROUNDS] [CONFIG] [--threads N]

  ROUNDS       rounds of A B per measurement (default 15)
  CONFIG       seed, mlp64, wide, large, tiny, hvp or gemm: that measurement only (default: all)
  --threads N  the thread count compared with one thread (default: TAPEGRAD_NUM_THREADS, else
               every core)";

struct Options {
    rounds: usize,
    only: Option<String>,
    threads: usize,
}

fn options() -> Options {
    let mut o = Options { rounds: 15, only: None, threads: tapegrad::autograd::num_threads() };
    let mut args = std::env::args().skip(1);
    let mut positional = 0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            "--threads" => {
                o.threads = args.next().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or_else(|| {
                    eprintln!("--threads takes a positive integer\n\n{HELP}");
                    std::process::exit(2)
                })
            }
            _ if positional == 0 && arg.parse::<usize>().is_ok() => {
                o.rounds = arg.parse().expect("checked");
                positional += 1;
            }
            _ => {
                o.only = Some(arg);
                positional = 2;
            }
        }
    }
    o
}

/// The median and quartiles of `v`.
fn quartiles(v: &mut [f64]) -> (f64, f64, f64) {
    let m = median(v);
    (m, v[v.len() / 4], v[(3 * v.len()) / 4])
}

/// The loss of the mlp64 network on a 32-row batch, recorded on a reset tape, with its
/// parameters' vars.
fn hvp_loss<'t>(
    mlp: &Mlp<f32>,
    tape: &'t mut Tape<f32>,
    x: &Tensor<f32>,
    y: &[usize],
) -> (Var<'t, f32>, Vec<Var<'t, f32>>) {
    tape.reset();
    let tape = &*tape;
    let loss = softmax_cross_entropy(mlp.forward(tape.constant(x)), y);
    (loss, mlp.parameters().iter().map(|p| tape.param(p.param)).collect())
}

/// (a) The loss and its gradient by the plain backward.
#[inline(never)]
fn hvp_bench_gradient(mlp: &Mlp<f32>, tape: &mut Tape<f32>, x: &Tensor<f32>, y: &[usize]) -> f32 {
    let (loss, vars) = hvp_loss(mlp, tape, x, y);
    loss.backward()[vars[0]].data()[0]
}

/// (b) The same gradient by the recording backward (`Tape::grad`).
#[inline(never)]
fn hvp_bench_recorded(mlp: &Mlp<f32>, tape: &mut Tape<f32>, x: &Tensor<f32>, y: &[usize]) -> f32 {
    let (loss, vars) = hvp_loss(mlp, tape, x, y);
    loss.tape().grad(loss, &vars)[0].with_value(|g| g.data()[0])
}

/// (c) A Hessian-vector product over every parameter: the recorded gradient's dot product
/// with the direction `v`, differentiated by the plain backward.
#[inline(never)]
fn hvp_bench_hvp(mlp: &Mlp<f32>, tape: &mut Tape<f32>, x: &Tensor<f32>, y: &[usize], v: &[Tensor<f32>]) -> f32 {
    let (loss, vars) = hvp_loss(mlp, tape, x, y);
    let tape = loss.tape();
    let grads = tape.grad(loss, &vars);
    let dot = grads.iter().zip(v).map(|(&g, v)| (g * tape.constant(v)).sum()).reduce(|a, b| a + b);
    dot.expect("the network has parameters").backward()[vars[0]].data()[0]
}

/// Step `kind` of [`hvp_bench`]: 0, 1 or 2 for (a), (b) or (c).
fn hvp_step(mlp: &Mlp<f32>, tape: &mut Tape<f32>, x: &Tensor<f32>, y: &[usize], v: &[Tensor<f32>], kind: u8) -> f32 {
    match kind {
        0 => hvp_bench_gradient(mlp, tape, x, y),
        1 => hvp_bench_recorded(mlp, tape, x, y),
        _ => hvp_bench_hvp(mlp, tape, x, y, v),
    }
}

/// The cost of a Hessian-vector product relative to one gradient (see [`hvp_step`]), measured
/// alternately and reported as medians with the quartiles of the per-round ratio.
fn hvp_bench(data: &Data, rounds: usize) {
    println!();
    println!(
        "| HVP, 64-64-10, batch 32 | gradient us | recorded gradient us (ratio) | HVP us | HVP / gradient (quartiles) |"
    );
    println!("|---|---|---|---|---|");
    let rows: Vec<usize> = (0..32).collect();
    let x = data.x.select_rows(&rows);
    let y: Vec<usize> = rows.iter().map(|&i| data.y[i]).collect();
    for activation in [Activation::Tanh, Activation::Relu] {
        let mut rng = StdRng::seed_from_u64(3);
        let mlp = Mlp::new(&[64, 64, 10], activation.clone(), Init::HeUniform, &mut rng);
        let v: Vec<Tensor<f32>> =
            mlp.parameters().iter().map(|p| Tensor::rand_uniform(p.param.shape(), -1.0, 1.0, &mut rng)).collect();
        let mut tape = Tape::new();
        let iters = 500;
        let mut sink = 0.0;
        let mut samples = [Vec::new(), Vec::new(), Vec::new()];
        for kind in 0..3u8 {
            sink += hvp_step(&mlp, &mut tape, &x, &y, &v, kind); // warm-up
        }
        for _ in 0..rounds {
            for kind in 0..3u8 {
                let (t, s) = time(|| (0..iters).map(|_| hvp_step(&mlp, &mut tape, &x, &y, &v, kind)).sum::<f32>());
                sink += s;
                samples[usize::from(kind)].push(t / iters as f64 * 1e6);
            }
        }
        let mut ratios: Vec<f64> = samples[2].iter().zip(&samples[0]).map(|(h, g)| h / g).collect();
        let ratio = median(&mut ratios);
        let (q1, q3) = (ratios[ratios.len() / 4], ratios[(3 * ratios.len()) / 4]);
        let [g, r, h] = samples.map(|mut s| median(&mut s));
        println!("| {activation} | {g:.1} | {r:.1} ({:.2}) | {h:.1} | {ratio:.2} ({q1:.2}-{q3:.2}) |", r / g);
        std::hint::black_box(sink);
    }
}

fn main() {
    let Options { rounds, only, threads } = options();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let digits = load_digits();
    let mnist = if wanted("large") { Some(generated_mnist()) } else { None };
    let data_for = |c: &Config| if c.name == "large" { mnist.as_ref().expect("generated") } else { &digits };
    tapegrad::autograd::set_num_threads(1);
    println!(
        "tapegrad benchmark: f32, one thread, digits 1527 training rows (large: 8192 generated rows of 784), {rounds} rounds of A B"
    );
    println!();
    println!(
        "| config | network | batch | tape ms/epoch | hand-written ms/epoch | ratio (quartiles) | tape cost us/step | allocs/step (tape) | allocs/step (hand) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for c in CONFIGS.iter().filter(|c| wanted(c.name)) {
        let data = data_for(c);
        let (mut a, mut b) = (Run::new(c, data), Run::new(c, data));
        let (mut tape, mut bp) = (Tape::new(), ManualBackprop::new());
        // Warm up: buffers sized, caches filled.
        tape_epoch(&mut a, &mut tape, data, c.batch);
        manual_epoch(&mut b, &mut bp, data, c.batch);
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        let steps = data.rows().div_ceil(c.batch);
        let (mut alloc_a, mut alloc_b) = (usize::MAX, usize::MAX);
        for _ in 0..rounds {
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let (t, _) = time(|| tape_epoch(&mut a, &mut tape, data, c.batch));
            alloc_a = alloc_a.min(ALLOCATIONS.load(Ordering::Relaxed) - before);
            ta.push(t);
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let (t, _) = time(|| manual_epoch(&mut b, &mut bp, data, c.batch));
            alloc_b = alloc_b.min(ALLOCATIONS.load(Ordering::Relaxed) - before);
            tb.push(t);
        }
        // Each round's A over its B: drift between rounds cancels in the pair. The quartiles
        // say how far one run can be trusted.
        let mut ratios: Vec<f64> = ta.iter().zip(&tb).map(|(a, b)| a / b).collect();
        let (ratio, q1, q3) = quartiles(&mut ratios);
        let (ma, mb) = (median(&mut ta) * 1e3, median(&mut tb) * 1e3);
        let net = c.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-");
        // What the tape adds per training step, in absolute terms: the ratio alone hides it
        // when the arithmetic both sides share gets faster.
        let cost_us = (ma - mb) * 1e3 / steps as f64;
        println!(
            "| {} | {net} {} | {} | {ma:.2} | {mb:.2} | {ratio:.2} ({q1:.2}-{q3:.2}) | {cost_us:.2} | {:.1} | {:.1} |",
            c.name,
            c.activation,
            c.batch,
            alloc_a as f64 / steps as f64,
            alloc_b as f64 / steps as f64
        );
    }

    // The same tape training at one thread (A) and at `threads` (B), alternately; the
    // speed-up is each round's A over its B. Allocations per step are counted on every thread.
    println!();
    println!("tape training at 1 thread and at {threads} threads, {rounds} rounds of A B");
    println!();
    println!(
        "| config | 1 thread ms/epoch (quartiles) | {threads} threads ms/epoch (quartiles) | speed-up (quartiles) | allocs/step (1 / {threads}) |"
    );
    println!("|---|---|---|---|---|");
    for c in CONFIGS.iter().filter(|c| wanted(c.name)) {
        let data = data_for(c);
        let (mut a, mut b) = (Run::new(c, data), Run::new(c, data));
        let (mut tape_a, mut tape_b) = (Tape::new(), Tape::new());
        let steps = data.rows().div_ceil(c.batch);
        let epoch = |run: &mut Run, tape: &mut Tape<f32>, n: usize| {
            tapegrad::autograd::set_num_threads(n);
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let (t, _) = time(|| tape_epoch(run, tape, data, c.batch));
            (t, ALLOCATIONS.load(Ordering::Relaxed) - before)
        };
        epoch(&mut a, &mut tape_a, 1);
        epoch(&mut b, &mut tape_b, threads);
        let (mut ta, mut tb, mut alloc) = (Vec::new(), Vec::new(), (usize::MAX, usize::MAX));
        for _ in 0..rounds {
            let (t, n) = epoch(&mut a, &mut tape_a, 1);
            ta.push(t);
            alloc.0 = alloc.0.min(n);
            let (t, n) = epoch(&mut b, &mut tape_b, threads);
            tb.push(t);
            alloc.1 = alloc.1.min(n);
        }
        let mut speedups: Vec<f64> = ta.iter().zip(&tb).map(|(a, b)| a / b).collect();
        let (su, s1, s3) = quartiles(&mut speedups);
        let ((ma, a1, a3), (mb, b1, b3)) = (quartiles(&mut ta), quartiles(&mut tb));
        println!(
            "| {} | {:.2} ({:.2}-{:.2}) | {:.2} ({:.2}-{:.2}) | {su:.2} ({s1:.2}-{s3:.2}) | {:.1} / {:.1} |",
            c.name,
            ma * 1e3,
            a1 * 1e3,
            a3 * 1e3,
            mb * 1e3,
            b1 * 1e3,
            b3 * 1e3,
            alloc.0 as f64 / steps as f64,
            alloc.1 as f64 / steps as f64
        );
    }
    tapegrad::autograd::set_num_threads(1);

    let mut rng = StdRng::seed_from_u64(2);
    let mut sink = 0.0f32;
    if wanted("hvp") {
        hvp_bench(&digits, rounds);
    }
    if only.as_deref() == Some("gemm") {
        gemm_table(rounds, threads, &mut rng, &mut sink);
        std::hint::black_box(sink);
        return;
    }
    if !wanted("tiny") {
        return;
    }
    // The tiny op: forward + backward of sum(relu(x W + b)), x 1x64, W 64x64.
    let x = Tensor::<f32>::rand_uniform([1, 64], -1.0, 1.0, &mut rng);
    let w = Tensor::<f32>::rand_uniform([64, 64], -0.1, 0.1, &mut rng);
    let b = Tensor::<f32>::rand_uniform([64], -0.1, 0.1, &mut rng);
    let mut tape = Tape::new();
    let iters = 20000;
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let (t, _) = time(|| {
            for _ in 0..iters {
                tape.reset();
                let (xv, wv, bv) = (tape.constant(&x), tape.leaf(&w), tape.leaf(&b));
                let y = xv.matmul(wv).add(bv).relu().sum();
                let grads = y.backward();
                sink += grads[wv].data()[0];
            }
        });
        samples.push(t / iters as f64);
    }
    println!();
    println!(
        "tiny: forward+backward of sum(relu(x W + b)), x 1x64, W 64x64: {:.2} us/iter (median)",
        median(&mut samples) * 1e6
    );
    if only.is_some() {
        return;
    }

    gemm_table(rounds, threads, &mut rng, &mut sink);

    // Memory over a long run, at `threads` threads on a config whose products and elementwise
    // kernels are split: the tape lives for one step and keeps its buffers, and the pool's
    // jobs live on the stack, so resident memory after 100k steps should equal that after 1k.
    tapegrad::autograd::set_num_threads(threads);
    let c = &CONFIGS[2];
    let (mut run, mut tape) = (Run::new(c, &digits), Tape::new());
    let epochs_for = |steps: usize| steps.div_ceil(1527usize.div_ceil(c.batch));
    for _ in 0..epochs_for(1_000) {
        tape_epoch(&mut run, &mut tape, &digits, c.batch);
    }
    let rss_1k = proc_status_kb("VmRSS");
    for _ in 0..epochs_for(99_000) {
        tape_epoch(&mut run, &mut tape, &digits, c.batch);
    }
    let rss_100k = proc_status_kb("VmRSS");
    println!();
    println!(
        "memory ({} tape training at {threads} threads, one tape reused): RSS after 1k steps {rss_1k} kB, after 100k steps {rss_100k} kB",
        c.name
    );
    tapegrad::autograd::set_num_threads(1);
    println!("peak RSS of the whole benchmark: {} kB", proc_status_kb("VmHWM"));
    let _ = rng.random::<u8>();
    std::hint::black_box(sink);
}

/// GEMM throughput through the public `matmul_into` (the kernel the ops use), at one thread and
/// at `threads`, alternately, each the median of `rounds` timings. The single-core peak is the
/// best one-thread figure of any timing of the large square products.
fn gemm_table(rounds: usize, threads: usize, rng: &mut StdRng, sink: &mut f32) {
    // Square products, then the layers of mlp64 and wide, then large's products: forward
    // `x W` of each layer and backward `dW = x^T g` and `dx = g W^T` of the first two.
    let shapes = [
        (64, 64, 64),
        (256, 256, 256),
        (1024, 1024, 1024),
        (32, 64, 64),
        (128, 64, 256),
        (128, 256, 256),
        (256, 784, 512),
        (256, 512, 512),
        (256, 512, 10),
        (784, 256, 512),
        (512, 256, 512),
        (256, 512, 784),
    ];
    let mut peak = 0.0f64;
    let mut rows = Vec::new();
    for &(m, k, n) in &shapes {
        let a = Tensor::<f32>::rand_uniform([m, k], -1.0, 1.0, rng);
        let bm = Tensor::<f32>::rand_uniform([k, n], -1.0, 1.0, rng);
        let mut c = Tensor::zeros([m, n]);
        // About 0.1 s of work per timing at 80 GFLOP/s.
        let reps = (8e9 / (2.0 * (m * k * n) as f64)).clamp(1.0, 10000.0) as usize;
        let mut gflops = |n_threads: usize| {
            tapegrad::autograd::set_num_threads(n_threads);
            let (t, _) = time(|| {
                for _ in 0..reps {
                    c.matmul_into(&a, false, &bm, false, false);
                }
            });
            2.0 * (m * k * n * reps) as f64 / t / 1e9
        };
        let (mut one, mut many) = (Vec::new(), Vec::new());
        for _ in 0..rounds.clamp(3, 7) {
            one.push(gflops(1));
            many.push(gflops(threads));
        }
        if m == k && k == n && m >= 256 {
            peak = one.iter().copied().fold(peak, f64::max);
        }
        rows.push(((m, k, n), median(&mut one), median(&mut many)));
        *sink += c.data()[0];
    }
    println!();
    println!(
        "| GEMM f32 (m x k x n) | GFLOP/s 1 thread | GFLOP/s {threads} threads | speed-up | {threads} threads / ({threads} x peak) |"
    );
    println!("|---|---|---|---|---|");
    for ((m, k, n), one, many) in rows {
        println!(
            "| {m} x {k} x {n} | {one:.1} | {many:.1} | {:.2} | {:.0}% |",
            many / one,
            100.0 * many / (threads as f64 * peak)
        );
    }
    println!("single-core peak (best 1-thread timing of the square products >= 256): {peak:.1} GFLOP/s");
}
