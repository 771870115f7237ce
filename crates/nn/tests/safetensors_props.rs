//! The safetensors loader against hostile files, about 18,400 per run: every truncation of
//! four valid files (3,408), random byte flips in the length prefix, the header and the data
//! (10,000), and generated files whose headers lie about dtypes, shapes, names and offsets
//! (5,000, most of them a valid MLP file with one to three things changed, so that every check
//! of the loader is reached, not only the first). Each load must give a typed
//! error or a valid model (flips confined to the data must load, with exactly the flipped
//! values), never panic, and never allocate more than the file's size justifies.
//!
//! That last check is why this is a test binary of its own: a counting global allocator
//! records the largest single allocation the loading thread makes inside `io::load`, which must
//! stay below [`ALLOCATION_FACTOR`] times the file's size plus [`ALLOCATION_SLACK`]. A loader
//! that trusted a header's sizes (`vec![0; n]` for a claimed `n`) would fail it long before it
//! ran out of memory.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use rand::{SeedableRng, rngs::StdRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use tapegrad_autograd::{Float, Precision, Tensor};
use tapegrad_nn::io::{self, IoErrorKind};
use tapegrad_nn::{Activation, Init, Mlp};
use testkit::{TempDir, proptest_config};

/// Byte-flipped files per run.
const FLIP_CASES: u32 = 10_000;
/// Generated headers per run.
const HEADER_CASES: u32 = 5_000;

/// A load may allocate, in one piece, at most this many times the file's size...
///
/// Reading the file takes its size once; decoding an F32 tensor into `Mlp<f64>` takes twice
/// its bytes (8-byte values from 4-byte ones), and the header's JSON is parsed into maps no
/// larger than a small multiple of its text.
const ALLOCATION_FACTOR: usize = 4;
/// ... plus this much, for the fixed-size buffers any load makes (the path, a message, a small
/// map). Measured over all the cases below, these stay under 400 bytes above the factor's share.
const ALLOCATION_SLACK: usize = 1024;

/// The system allocator, recording the largest single allocation made by an armed thread.
struct Counting;

thread_local! {
    /// Whether this thread's allocations are being recorded.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// The largest allocation recorded on this thread since it was armed.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed by this thread since it was armed (negative when it
    /// frees what it allocated before).
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// The largest `LIVE` since the thread was armed.
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

/// Records an allocation of `size` bytes that changes the live total by `grown`.
fn record(size: usize, grown: i64) {
    // `try_with`: no panic if an allocation happens while the thread is being torn down. The
    // keys are const-initialised without a destructor, so reading them never allocates.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        let _ = LIVE.try_with(|live| {
            live.set(live.get() + grown);
            let _ = PEAK.try_with(|p| p.set(p.get().max(live.get())));
        });
    }
}

fn record_free(size: usize) {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = LIVE.try_with(|live| live.set(live.get() - size as i64));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so it upholds
// the `GlobalAlloc` contract exactly as `System` does; `record` only reads and writes two
// thread-local `Cell`s and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), layout.size() as i64);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), layout.size() as i64);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size, new_size as i64 - layout.size() as i64);
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record_free(layout.size());
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result and the largest single allocation it made on this thread.
fn largest_allocation_in<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let (result, largest, _) = allocations_in(f);
    (result, largest)
}

/// Runs `f`, returning its result, the largest single allocation it made on this thread, and
/// the most memory this thread had allocated at once (and not yet freed) while it ran.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    LARGEST.with(|l| l.set(0));
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    ARMED.with(|a| a.set(true));
    let result = f();
    ARMED.with(|a| a.set(false));
    (result, LARGEST.with(Cell::get), PEAK.with(Cell::get) as usize)
}

/// What loading a file gave.
enum Outcome<T: Float> {
    Loaded(Mlp<T>),
    Rejected,
}

/// Writes `bytes` to a new file and loads it as `Mlp<T>`. Fails the case if the load
/// allocated more than the bound at once, or if an error is not a typed one about the contents
/// that names the file.
fn load<T: Float>(bytes: &[u8]) -> Result<Outcome<T>, TestCaseError> {
    thread_local! {
        static DIR: TempDir = TempDir::new("safetensors");
    }
    static CASE: AtomicU64 = AtomicU64::new(0);
    // A new file each case: rewriting one in place makes ext4 flush it on every close.
    let path = DIR.with(|d| d.file(&format!("case-{}.safetensors", CASE.fetch_add(1, Ordering::Relaxed))));
    fs::write(&path, bytes).unwrap();
    let (result, largest) = largest_allocation_in(|| io::load::<T>(&path));
    fs::remove_file(&path).unwrap();
    let limit = ALLOCATION_FACTOR * bytes.len() + ALLOCATION_SLACK;
    prop_assert!(
        largest <= limit,
        "allocated {} bytes at once for a {}-byte file (limit {})",
        largest,
        bytes.len(),
        limit
    );
    match result {
        Ok(mlp) => Ok(Outcome::Loaded(mlp)),
        Err(e) => {
            prop_assert_eq!(e.path(), path.as_path());
            prop_assert!(e.to_string().starts_with(&format!("{}: ", path.display())), "{}", e);
            prop_assert!(!matches!(e.kind(), IoErrorKind::Io { .. }), "an I/O error reading a file that exists: {}", e);
            Ok(Outcome::Rejected)
        }
    }
}

/// A valid file and what a reader needs to check loads of altered copies of it.
struct Base {
    bytes: Vec<u8>,
    /// Where the data section starts: 8 + the header's length.
    data_start: usize,
    /// Per layer: the file offsets of the weight `[out, in]` and bias `[out]` data, and the
    /// sizes `(in, out)`.
    layers: Vec<(usize, usize, (usize, usize))>,
    /// Bytes per value: 4 (F32) or 8 (F64).
    width: usize,
}

fn base<T: Float>(sizes: &[usize], activation: Activation, seed: u64) -> Base {
    let dir = TempDir::new("base");
    let path = dir.file("base.safetensors");
    let mlp = Mlp::<T>::new(sizes, activation, Init::GlorotNormal, &mut StdRng::seed_from_u64(seed));
    io::save(&mlp, &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data_start = 8 + header_len;
    let start = |name: String| data_start + header[&name]["data_offsets"][0].as_u64().unwrap() as usize;
    let layers = mlp
        .layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            (start(format!("{}.weight", 2 * l)), start(format!("{}.bias", 2 * l)), (layer.inputs(), layer.outputs()))
        })
        .collect();
    Base { bytes, data_start, layers, width: if T::PRECISION == Precision::F32 { 4 } else { 8 } }
}

/// The value at `offset` of `bytes` read as a `width`-byte float, rounded to `T` as loading does.
fn value_at<T: Float>(bytes: &[u8], offset: usize, width: usize) -> T {
    let b = &bytes[offset..offset + width];
    T::from_f64(if width == 4 {
        f64::from(f32::from_le_bytes(b.try_into().unwrap()))
    } else {
        f64::from_le_bytes(b.try_into().unwrap())
    })
}

/// Checks that `mlp` holds exactly the values of `bytes` laid out as `base` says, in PyTorch's
/// `[out, in]` order in the file and ours `[in, out]` (bit for bit, NaN payloads included).
fn holds_the_files_values<T: Float>(mlp: &Mlp<T>, base: &Base, bytes: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(mlp.layers().len(), base.layers.len());
    for (layer, &(w_at, b_at, (inputs, outputs))) in mlp.layers().iter().zip(&base.layers) {
        let bits = |t: &Tensor<T>| t.data().iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>();
        let want_w: Vec<T> = (0..inputs)
            .flat_map(|i| {
                (0..outputs).map(move |o| value_at::<T>(bytes, w_at + (o * inputs + i) * base.width, base.width))
            })
            .collect();
        let want_b: Vec<T> = (0..outputs).map(|o| value_at::<T>(bytes, b_at + o * base.width, base.width)).collect();
        prop_assert_eq!(bits(&layer.weight), bits(&Tensor::from_vec([inputs, outputs], want_w)));
        prop_assert_eq!(bits(&layer.bias), bits(&Tensor::from_vec([outputs], want_b)));
    }
    Ok(())
}

/// The valid files the properties start from: both dtypes, one to three layers.
fn bases() -> &'static [Base] {
    static BASES: std::sync::OnceLock<Vec<Base>> = std::sync::OnceLock::new();
    BASES.get_or_init(|| {
        vec![
            base::<f32>(&[3, 4, 2], Activation::Tanh, 1),
            base::<f64>(&[2, 5, 3, 1], Activation::Relu, 2),
            base::<f32>(&[1, 1], Activation::Sigmoid, 3),
            base::<f64>(&[4, 2], Activation::Tanh, 4),
        ]
    })
}

#[test]
fn every_truncation_of_a_valid_file_is_rejected() {
    let mut cases = 0;
    for base in bases() {
        for len in 0..base.bytes.len() {
            let prefix = &base.bytes[..len];
            for wide in [false, true] {
                let result = if wide {
                    load::<f64>(prefix).map(|o| matches!(o, Outcome::Rejected))
                } else {
                    load::<f32>(prefix).map(|o| matches!(o, Outcome::Rejected))
                };
                match result {
                    Ok(true) => {}
                    Ok(false) => panic!("a {len}-byte prefix of a {}-byte file loaded", base.bytes.len()),
                    Err(e) => panic!("a {len}-byte prefix: {e}"),
                }
                cases += 1;
            }
        }
        // The whole file loads, within the same allocation bound.
        assert!(matches!(load::<f32>(&base.bytes), Ok(Outcome::Loaded(_))));
        assert!(matches!(load::<f64>(&base.bytes), Ok(Outcome::Loaded(_))));
    }
    println!("{cases} truncated files rejected");
}

/// Where a flip lands.
#[derive(Clone, Copy, Debug)]
enum Region {
    /// The 8-byte header length.
    Prefix,
    /// The JSON header.
    Header,
    /// The tensor data.
    Data,
}

/// One to four flips: a region, a place in it, and a non-zero XOR mask.
fn flips() -> impl Strategy<Value = Vec<(Region, Index, u8)>> {
    let region = prop_oneof![1 => Just(Region::Prefix), 4 => Just(Region::Header), 3 => Just(Region::Data)];
    vec((region, any::<Index>(), 1..=255u8), 1..=4)
}

fn flipped_file_loads_or_is_rejected<T: Float>(
    base: &Base,
    flips: &[(Region, Index, u8)],
) -> Result<(), TestCaseError> {
    let mut bytes = base.bytes.clone();
    for &(region, at, mask) in flips {
        let range = match region {
            Region::Prefix => 0..8,
            Region::Header => 8..base.data_start,
            Region::Data => base.data_start..bytes.len(),
        };
        bytes[range.start + at.index(range.len())] ^= mask;
    }
    let outcome = load::<T>(&bytes)?;
    if flips.iter().all(|&(region, _, _)| matches!(region, Region::Data)) {
        // The header is intact, and F32 and F64 give meaning to any bits: the file loads, with
        // exactly its (now changed) values.
        let Outcome::Loaded(mlp) = outcome else {
            return Err(TestCaseError::fail("a file whose flips are all in the data was rejected"));
        };
        holds_the_files_values(&mlp, base, &bytes)?;
    }
    Ok(())
}

/// A header entry: name, dtype, shape, and offsets (`None`: honest, where the data really is).
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    dtype: &'static str,
    shape: Vec<u64>,
    offsets: Option<(u64, u64)>,
    /// Instead of its own dtype and shape: `U8` bytes from where it starts up to
    /// `u64::MAX - d`, in chunks of at most 2^60 bytes (safetensors counts sizes in bits) named
    /// after it, every offset consistent, so that only the header length added to the end
    /// overflows (which safetensors 0.8 does unchecked).
    claim_rest: Option<u64>,
}

/// Bytes per element of a dtype name; 1 for names safetensors does not know.
fn dtype_size(dtype: &str) -> u64 {
    match dtype {
        "F64" | "I64" => 8,
        "F32" => 4,
        "F16" | "BF16" => 2,
        _ => 1,
    }
}

/// A file from generated parts: entries, optional metadata, a header length that may lie, and
/// the data the honest entries point at, plus some stray bytes.
#[derive(Clone, Debug)]
struct Crafted {
    entries: Vec<Entry>,
    activation: Option<&'static str>,
    length_lie: LengthLie,
    extra: Vec<u8>,
}

/// What the 8-byte header length says.
#[derive(Clone, Copy, Debug)]
enum LengthLie {
    Truth,
    /// The true length plus this (wrapping).
    Off(i64),
    /// This instead.
    Claim(u64),
}

impl Crafted {
    fn bytes(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let mut fields = Vec::new();
        // Where the next honest entry starts: the claimed sizes so far, which run past the
        // bytes written once a huge one is claimed.
        let mut cursor = 0u64;
        for e in &self.entries {
            if let Some(d) = e.claim_rest {
                let mut k = 0;
                while cursor < u64::MAX - d {
                    let chunk = (u64::MAX - d - cursor).min(1 << 60);
                    let name = if k == 0 { e.name.clone() } else { format!("{}~{k}", e.name) };
                    let (start, end) = (cursor, cursor + chunk);
                    fields
                        .push(format!(r#""{name}":{{"dtype":"U8","shape":[{chunk}],"data_offsets":[{start},{end}]}}"#));
                    cursor = end;
                    k += 1;
                }
                continue;
            }
            let (dtype, shape) = (e.dtype, e.shape.clone());
            // Honest offsets: as many bytes as the shape needs, written only for sizes a test
            // can afford, so a huge shape claims data the file lacks.
            let (start, end) = e.offsets.unwrap_or_else(|| {
                let n = shape.iter().try_fold(dtype_size(dtype), |acc, &d| acc.checked_mul(d)).unwrap_or(u64::MAX);
                if n <= 1 << 12 && cursor == data.len() as u64 {
                    data.extend((0..n).map(|k| (k as u8).wrapping_mul(37)));
                }
                let start = cursor;
                cursor = cursor.saturating_add(n);
                (start, cursor)
            });
            let shape: Vec<String> = shape.iter().map(u64::to_string).collect();
            fields.push(format!(
                r#""{}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{start},{end}]}}"#,
                e.name,
                shape.join(",")
            ));
        }
        if let Some(act) = self.activation {
            fields.push(format!(r#""__metadata__":{{"format":"pt","activation":"{act}"}}"#));
        }
        let header = format!("{{{}}}", fields.join(","));
        let len = header.len() as u64;
        let claimed = match self.length_lie {
            LengthLie::Truth => len,
            LengthLie::Off(d) => len.wrapping_add_signed(d),
            LengthLie::Claim(n) => n,
        };
        let mut bytes = claimed.to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        bytes.extend_from_slice(&self.extra);
        bytes
    }
}

/// Numbers where loaders go wrong: 0, small sizes, and huge ones that overflow products and
/// sums.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..8u64,
        1 => 8..200u64,
        1 => select(vec![1 << 31, 1 << 32, 1 << 61, 1 << 62, (1 << 63) - 1, u64::MAX - 3, u64::MAX]),
    ]
}

/// One change to an otherwise valid MLP file's entries.
#[derive(Clone, Debug)]
enum Change {
    Dtype(Index, &'static str),
    Dim(Index, Index, u64),
    AddAxis(Index, u64),
    Rename(Index, &'static str),
    Drop(Index),
    Offsets(Index, u64, u64),
    ClaimRest(Index, u64),
}

fn change() -> impl Strategy<Value = Change> {
    let dtypes = vec!["F32", "F64", "F16", "BF16", "I64", "U8", "BOOL", "F8_E4M3", "f32", ""];
    let names = vec!["0.weight", "0.bias", "2.weight", "2.bias", "1.weight", "4.bias", "02.bias", "x", "0.weight "];
    prop_oneof![
        (any::<Index>(), select(dtypes)).prop_map(|(e, d)| Change::Dtype(e, d)),
        (any::<Index>(), any::<Index>(), size()).prop_map(|(e, a, n)| Change::Dim(e, a, n)),
        (any::<Index>(), size()).prop_map(|(e, n)| Change::AddAxis(e, n)),
        (any::<Index>(), select(names)).prop_map(|(e, n)| Change::Rename(e, n)),
        any::<Index>().prop_map(Change::Drop),
        (any::<Index>(), size(), size()).prop_map(|(e, a, b)| Change::Offsets(e, a, b)),
        (any::<Index>(), 0..64u64).prop_map(|(e, d)| Change::ClaimRest(e, d)),
    ]
}

/// The entries of a valid MLP file of layer sizes `sizes`, in F32 or F64, with `changes`.
fn entries(sizes: &[u64], wide: bool, changes: &[Change]) -> Vec<Entry> {
    let dtype = if wide { "F64" } else { "F32" };
    let mut entries: Vec<Entry> = sizes
        .windows(2)
        .enumerate()
        .flat_map(|(l, io)| {
            let (inputs, outputs) = (io[0], io[1]);
            [
                Entry {
                    name: format!("{}.weight", 2 * l),
                    dtype,
                    shape: vec![outputs, inputs],
                    offsets: None,
                    claim_rest: None,
                },
                Entry { name: format!("{}.bias", 2 * l), dtype, shape: vec![outputs], offsets: None, claim_rest: None },
            ]
        })
        .collect();
    for change in changes {
        if entries.is_empty() {
            break;
        }
        match change {
            Change::Dtype(e, d) => e.get_mut(&mut entries).dtype = d,
            Change::Dim(e, axis, n) => {
                let shape = &mut e.get_mut(&mut entries).shape;
                if !shape.is_empty() {
                    *axis.get_mut(shape) = *n;
                }
            }
            Change::AddAxis(e, n) => e.get_mut(&mut entries).shape.push(*n),
            Change::Rename(e, name) => e.get_mut(&mut entries).name = name.to_string(),
            Change::Drop(e) => {
                entries.remove(e.index(entries.len()));
            }
            Change::Offsets(e, a, b) => e.get_mut(&mut entries).offsets = Some((*a, *b)),
            Change::ClaimRest(e, d) => e.get_mut(&mut entries).claim_rest = Some(*d),
        }
    }
    entries
}

fn crafted() -> impl Strategy<Value = Crafted> {
    let lie = prop_oneof![
        12 => Just(LengthLie::Truth),
        2 => (-16..16i64).prop_map(LengthLie::Off),
        1 => size().prop_map(LengthLie::Claim),
    ];
    let activation = prop_oneof![
        4 => Just(Some("tanh")),
        1 => Just(None),
        1 => select(vec!["relu", " Sigmoid", "swish", ""]).prop_map(Some),
    ];
    (
        vec(1..5u64, 2..=4),
        any::<bool>(),
        vec(change(), 0..=3),
        activation,
        lie,
        prop_oneof![4 => Just(vec![]), 1 => vec(any::<u8>(), 1..16)],
    )
        .prop_map(|(sizes, wide, changes, activation, length_lie, extra)| Crafted {
            entries: entries(&sizes, wide, &changes),
            activation,
            length_lie,
            extra,
        })
}

proptest! {
    #![proptest_config(proptest_config(FLIP_CASES))]

    #[test]
    fn flipped_bytes_load_or_are_rejected_never_panic(which in any::<Index>(), flips in flips(), wide in any::<bool>()) {
        let base = which.get(bases());
        if wide {
            flipped_file_loads_or_is_rejected::<f64>(base, &flips)?;
        } else {
            flipped_file_loads_or_is_rejected::<f32>(base, &flips)?;
        }
    }
}

proptest! {
    #![proptest_config(proptest_config(HEADER_CASES))]

    #[test]
    fn lying_headers_are_rejected_without_panic_or_big_allocations(file in crafted()) {
        let bytes = file.bytes();
        if let Outcome::Loaded(mlp) = load::<f32>(&bytes)? {
            // Something generated happened to be a valid MLP file: then it is consistent.
            prop_assert!(!mlp.layers().is_empty());
        }
    }
}

#[test]
fn the_allocation_check_catches_a_loader_that_trusts_sizes() {
    // The check itself, on a stand-in for such a loader: a claimed size of 1 GB in a 40-byte
    // file must be reported.
    let ((), largest) = largest_allocation_in(|| {
        let claimed = 1 << 30;
        let buffer: Vec<u8> = Vec::with_capacity(claimed);
        std::hint::black_box(&buffer);
    });
    assert!(largest >= 1 << 30, "{largest}");
    assert!(largest > ALLOCATION_FACTOR * 40 + ALLOCATION_SLACK);
    // And an unarmed thread records nothing.
    let before = LARGEST.with(Cell::get);
    drop(std::hint::black_box(vec![0u8; 1 << 20]));
    assert_eq!(LARGEST.with(Cell::get), before);
}

#[test]
fn crafted_files_without_changes_load() {
    // The header strategy is not only garbage: with no change, no lie and no stray bytes, it
    // writes a valid file of the sizes asked for.
    for (sizes, wide) in [(&[1u64, 1][..], false), (&[3, 4, 2][..], true), (&[2, 1, 3, 4][..], false)] {
        let file = Crafted {
            entries: entries(sizes, wide, &[]),
            activation: Some("tanh"),
            length_lie: LengthLie::Truth,
            extra: vec![],
        };
        let Ok(Outcome::Loaded(mlp)) = load::<f32>(&file.bytes()) else { panic!("{sizes:?} did not load") };
        assert_eq!(mlp.sizes(), sizes.iter().map(|&s| s as usize).collect::<Vec<_>>());
    }
}

/// A header of many tiny entries (a few MB of them) is rejected after the first few thousand,
/// with a typed error, holding at its peak no more than a small multiple of the file: a loader
/// that parsed it whole into maps (twice) held twenty times the file's size.
#[test]
fn a_header_of_many_tiny_entries_is_rejected_early_and_small() {
    let entries: Vec<String> =
        (0..100_000).map(|i| format!(r#""t{i}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#)).collect();
    let header = format!("{{{}}}", entries.join(","));
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    assert!(bytes.len() > 5_000_000, "{}", bytes.len());

    let dir = TempDir::new("many-entries");
    let path = dir.file("many.safetensors");
    fs::write(&path, &bytes).unwrap();
    let (result, largest, peak) = allocations_in(|| io::load::<f32>(&path));
    let err = result.unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("more than 2048 tensors"), "{err}");
    // The file's bytes are read once (1x); the entries kept are bounded by their count.
    let limit = ALLOCATION_FACTOR * bytes.len() + ALLOCATION_SLACK;
    assert!(largest <= limit, "largest allocation {largest} for a {}-byte file", bytes.len());
    assert!(peak <= limit, "peak {peak} for a {}-byte file", bytes.len());
}
