//! Saving and loading an `Mlp` as safetensors: round trips, the PyTorch layout (against a
//! fixture numpy wrote), and one crafted file per way a file can be wrong.

use rand::{SeedableRng, rngs::StdRng};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tapegrad_autograd::{Float, Tensor};
use tapegrad_nn::io::{self, IoError, IoErrorKind};
use tapegrad_nn::{Activation, Init, Mlp, Module};
use testkit::TempDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn bits<T: Float>(mlp: &Mlp<T>) -> Vec<(String, Vec<u64>)> {
    mlp.parameters()
        .into_iter()
        .map(|p| (p.name, p.param.data().iter().map(|x| x.to_f64().to_bits()).collect()))
        .collect()
}

/// One tensor of a crafted file: name, dtype, shape, and its values (written in `dtype`).
struct Raw {
    name: &'static str,
    dtype: Dtype,
    shape: Vec<usize>,
}

fn raw(name: &'static str, shape: &[usize]) -> Raw {
    Raw { name, dtype: Dtype::F32, shape: shape.to_vec() }
}

fn raw_dtype(name: &'static str, dtype: Dtype, shape: &[usize]) -> Raw {
    Raw { name, dtype, shape: shape.to_vec() }
}

/// Serializes tensors filled with `0.5, 1.5, ...` (as whatever bytes `dtype` needs), with
/// the given metadata.
fn craft(tensors: &[Raw], metadata: &[(&str, &str)]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| {
            let n: usize = t.shape.iter().product();
            let bytes_per = t.dtype.bitsize() / 8;
            (0..n)
                .flat_map(|i| {
                    let v = i as f64 + 0.5;
                    match t.dtype {
                        Dtype::F32 => (v as f32).to_le_bytes().to_vec(),
                        Dtype::F64 => v.to_le_bytes().to_vec(),
                        _ => vec![1; bytes_per],
                    }
                })
                .collect()
        })
        .collect();
    let views = tensors.iter().zip(&data).map(|(t, d)| (t.name, TensorView::new(t.dtype, t.shape.clone(), d).unwrap()));
    let metadata: HashMap<String, String> = metadata.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect();
    safetensors::serialize(views, (!metadata.is_empty()).then_some(metadata)).unwrap()
}

const TANH: &[(&str, &str)] = &[("format", "pt"), ("activation", "tanh")];

/// A valid [3, 4, 2] model in the file's layout.
fn valid_tensors() -> Vec<Raw> {
    vec![raw("0.weight", &[4, 3]), raw("0.bias", &[4]), raw("2.weight", &[2, 4]), raw("2.bias", &[2])]
}

/// Writes `bytes` to a file in `dir` and loads it as `Mlp<f32>`.
///
/// Each call writes a new file and removes it after: rewriting one file in place makes ext4
/// flush it to disk on every close, which made the byte-flip test below ten times slower.
fn load_bytes(dir: &TempDir, bytes: &[u8]) -> (PathBuf, Result<Mlp<f32>, IoError>) {
    static N: AtomicU64 = AtomicU64::new(0);
    let path = dir.file(&format!("crafted-{}.safetensors", N.fetch_add(1, Ordering::Relaxed)));
    fs::write(&path, bytes).unwrap();
    let result = io::load::<f32>(&path);
    fs::remove_file(&path).unwrap();
    (path, result)
}

/// The error loading `bytes`, checked to name the path and to say `words`.
fn load_error(bytes: &[u8], words: &[&str]) -> IoError {
    let dir = TempDir::new("err");
    let (path, result) = load_bytes(&dir, bytes);
    let err = result.expect_err("the file should not load");
    let message = err.to_string();
    assert_eq!(err.path(), path);
    assert!(message.starts_with(&format!("{}: ", path.display())), "{message}");
    for w in words {
        assert!(message.contains(w), "{message:?} should say {w:?}");
    }
    err
}

#[test]
fn round_trip_f32_is_bit_identical() {
    let dir = TempDir::new("rt32");
    let mut rng = StdRng::seed_from_u64(0);
    for act in Activation::ALL {
        let mlp = Mlp::<f32>::new(&[6, 9, 5, 3], act.clone(), Init::HeNormal, &mut rng);
        let path = dir.file(&format!("{act}.safetensors"));
        io::save(&mlp, &path).unwrap();
        let back = io::load::<f32>(&path).unwrap();
        assert_eq!(bits(&back), bits(&mlp));
        assert_eq!(back.activation(), act);
        let x = Tensor::rand_normal([7, 6], 0.0, 1.0, &mut rng);
        assert_eq!(back.logits(&x), mlp.logits(&x));
        assert_eq!(back.predict(&x), mlp.predict(&x));
    }
}

#[test]
fn round_trip_f64_is_bit_identical() {
    let dir = TempDir::new("rt64");
    let mut rng = StdRng::seed_from_u64(1);
    let mlp = Mlp::<f64>::new(&[4, 1, 7, 2], Activation::Sigmoid, Init::GlorotNormal, &mut rng);
    let path = dir.file("m.safetensors");
    io::save(&mlp, &path).unwrap();
    let back = io::load::<f64>(&path).unwrap();
    assert_eq!(bits(&back), bits(&mlp));
    let x = Tensor::rand_normal([5, 4], 0.0, 1.0, &mut rng);
    assert_eq!(back.logits(&x), mlp.logits(&x));
}

#[test]
fn single_layer_round_trips() {
    let dir = TempDir::new("one");
    let mlp = Mlp::<f32>::new(&[3, 2], Activation::Relu, Init::Normal(1.0), &mut StdRng::seed_from_u64(2));
    let path = dir.file("m.safetensors");
    io::save(&mlp, &path).unwrap();
    assert_eq!(io::load::<f32>(&path).unwrap(), mlp);
}

#[test]
fn precisions_convert() {
    let dir = TempDir::new("conv");
    let mut rng = StdRng::seed_from_u64(3);
    let narrow = Mlp::<f32>::new(&[3, 4, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
    let wide = Mlp::<f64>::new(&[3, 4, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
    let (p32, p64) = (dir.file("narrow.safetensors"), dir.file("wide.safetensors"));
    io::save(&narrow, &p32).unwrap();
    io::save(&wide, &p64).unwrap();

    // f32 -> f64 widens exactly; f64 -> f32 rounds to nearest, as a cast does.
    let widened = io::load::<f64>(&p32).unwrap();
    let narrowed = io::load::<f32>(&p64).unwrap();
    for (a, b) in widened.layers().iter().zip(narrow.layers()) {
        assert_eq!(*a.weight, b.weight.cast::<f64>());
        assert_eq!(*a.bias, b.bias.cast::<f64>());
    }
    for (a, b) in narrowed.layers().iter().zip(wide.layers()) {
        assert_eq!(*a.weight, b.weight.cast::<f32>());
        assert_eq!(*a.bias, b.bias.cast::<f32>());
    }
}

#[test]
fn file_has_pytorch_names_layout_dtype_and_metadata() {
    let dir = TempDir::new("layout");
    let mlp = Mlp::<f32>::new(&[3, 4, 2], Activation::Relu, Init::Normal(1.0), &mut StdRng::seed_from_u64(4));
    let path = dir.file("m.safetensors");
    io::save(&mlp, &path).unwrap();

    let bytes = fs::read(&path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().as_ref().unwrap();
    assert_eq!(meta["format"], "pt");
    assert_eq!(meta["activation"], "relu");
    assert_eq!(meta["producer"], "tapegrad");

    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
    for (l, layer) in mlp.layers().iter().enumerate() {
        let w = st.tensor(&format!("{}.weight", 2 * l)).unwrap();
        assert_eq!(w.dtype(), Dtype::F32);
        assert_eq!(w.shape(), [layer.outputs(), layer.inputs()]);
        let values: Vec<f32> = w.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        for o in 0..layer.outputs() {
            for i in 0..layer.inputs() {
                assert_eq!(
                    values[o * layer.inputs() + i],
                    layer.weight.at(&[i, o]),
                    "torch W[{o}][{i}] = our W[{i}][{o}]"
                );
            }
        }
        let b = st.tensor(&format!("{}.bias", 2 * l)).unwrap();
        assert_eq!(b.shape(), [layer.outputs()]);
    }

    let wide = Mlp::<f64>::new(&[2, 2], Activation::Relu, Init::Normal(1.0), &mut StdRng::seed_from_u64(5));
    io::save(&wide, &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert_eq!(SafeTensors::deserialize(&bytes).unwrap().tensor("0.weight").unwrap().dtype(), Dtype::F64);
}

/// The fixture is a torch-layout state dict numpy wrote (make_fixture.py), with the logits numpy
/// computed: matching them proves the transpose and the naming.
#[test]
fn numpy_fixture_gives_numpy_logits() {
    let expected: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(fixture("tiny_mlp_tanh.json")).unwrap()).unwrap();
    let rows = |key: &str| -> Vec<Vec<f64>> {
        expected[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
            .collect()
    };
    let (input, logits) = (rows("input"), rows("logits"));
    let path = fixture("tiny_mlp_tanh.safetensors");

    let narrow = io::load::<f32>(&path).unwrap();
    assert_eq!(narrow.sizes(), [3, 4, 2]);
    assert_eq!(narrow.activation(), Activation::Tanh);
    let x = Tensor::<f64>::from_rows(&input);
    let got = narrow.logits(&x.cast::<f32>());
    for (r, row) in logits.iter().enumerate() {
        for (c, &want) in row.iter().enumerate() {
            let have = got.at(&[r, c]) as f64;
            assert!((have - want).abs() < 2e-6, "f32 logits[{r}][{c}] = {have}, numpy says {want}");
        }
    }

    // The f32 parameters widen exactly, so in f64 only the last bits of tanh can differ.
    let wide = io::load::<f64>(&path).unwrap();
    let got = wide.logits(&x);
    for (r, row) in logits.iter().enumerate() {
        for (c, &want) in row.iter().enumerate() {
            assert!((got.at(&[r, c]) - want).abs() < 1e-12, "f64 logits[{r}][{c}]");
        }
    }

    // A state dict saved from PyTorch names no activation; the caller does.
    let dir = TempDir::new("fixture");
    let mut tensors = HashMap::new();
    let bytes = fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (name, view) in st.tensors() {
        tensors.insert(name, view);
    }
    let bare = dir.file("bare.safetensors");
    fs::write(&bare, safetensors::serialize(tensors, None).unwrap()).unwrap();
    assert!(matches!(io::load::<f32>(&bare).unwrap_err().kind(), IoErrorKind::MissingActivation));
    assert_eq!(io::load_with_activation::<f32>(&bare, Activation::Tanh).unwrap(), narrow);
}

#[test]
fn load_with_activation_overrides_the_metadata() {
    let dir = TempDir::new("override");
    let mlp = Mlp::<f32>::new(&[2, 3, 2], Activation::Relu, Init::Normal(1.0), &mut StdRng::seed_from_u64(6));
    let path = dir.file("m.safetensors");
    io::save(&mlp, &path).unwrap();
    let as_tanh = io::load_with_activation::<f32>(&path, Activation::Tanh).unwrap();
    assert_eq!(as_tanh.activation(), Activation::Tanh);
    assert_eq!(bits(&as_tanh), bits(&mlp));
}

#[test]
fn load_into_checks_the_architecture() {
    let dir = TempDir::new("into");
    let mut rng = StdRng::seed_from_u64(7);
    let saved = Mlp::<f32>::new(&[3, 4, 2], Activation::Tanh, Init::Normal(1.0), &mut rng);
    let path = dir.file("m.safetensors");
    io::save(&saved, &path).unwrap();

    let mut target = Mlp::<f32>::new(&[3, 4, 2], Activation::Tanh, Init::Zeros, &mut rng);
    io::load_into(&mut target, &path).unwrap();
    assert_eq!(target, saved);

    let check_unchanged = |mut other: Mlp<f32>| -> IoError {
        let before = other.clone();
        let err = io::load_into(&mut other, &path).unwrap_err();
        assert_eq!(other, before, "a failed load_into must leave the model alone");
        assert_eq!(err.path(), path);
        err
    };
    let err = check_unchanged(Mlp::new(&[3, 5, 2], Activation::Tanh, Init::Zeros, &mut rng));
    match err.kind() {
        IoErrorKind::WrongShape { name, expected, found } => {
            assert_eq!((name.as_str(), expected.as_slice(), found.as_slice()), ("0.weight", &[5, 3][..], &[4, 3][..]));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("'0.weight' has shape [4, 3], expected [5, 3]"), "{err}");

    let err = check_unchanged(Mlp::new(&[3, 4, 4, 2], Activation::Tanh, Init::Zeros, &mut rng));
    assert!(matches!(err.kind(), IoErrorKind::MissingTensor { name, .. } if name == "4.weight"), "{err:?}");
    let err = check_unchanged(Mlp::new(&[3, 2], Activation::Tanh, Init::Zeros, &mut rng));
    assert!(matches!(err.kind(), IoErrorKind::UnexpectedTensor { name, .. } if name == "2.weight"), "{err:?}");
    let err = check_unchanged(Mlp::new(&[3, 4, 2], Activation::Relu, Init::Zeros, &mut rng));
    assert!(
        matches!(
            err.kind(),
            IoErrorKind::ActivationMismatch { expected: Activation::Relu, found: Activation::Tanh, .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("the file's activation is tanh but the model's is relu"), "{err}");
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = TempDir::new("missing");
    let path = dir.file("nope.safetensors");
    let err = io::load::<f32>(&path).unwrap_err();
    assert!(
        matches!(err.kind(), IoErrorKind::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert!(err.to_string().contains("nope.safetensors"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn truncated_files_are_format_errors() {
    let good = craft(&valid_tensors(), TANH);
    let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for len in [0, 1, 7, 8, 9, 20, header_end - 1, header_end, header_end + 1, good.len() - 1] {
        let err = load_error(&good[..len], &["not a valid safetensors file"]);
        assert!(matches!(err.kind(), IoErrorKind::Format { .. }), "length {len}: {err:?}");
    }
    // Also trailing junk: the tensors must cover the data exactly.
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(load_error(&long, &["not a valid safetensors file"]).kind(), IoErrorKind::Format { .. }));
}

#[test]
fn garbage_is_a_format_error() {
    let err = load_error(b"this is not a safetensors file, just some text", &["not a valid safetensors file"]);
    assert!(matches!(err.kind(), IoErrorKind::Format { .. }), "{err:?}");
    let mut bad_json = 10u64.to_le_bytes().to_vec();
    bad_json.extend_from_slice(b"{\"0.weight");
    assert!(matches!(load_error(&bad_json, &["JSON"]).kind(), IoErrorKind::Format { .. }));
}

#[test]
fn header_longer_than_the_file_is_a_format_error() {
    let mut bytes = craft(&valid_tensors(), TANH);
    let too_long = bytes.len() as u64;
    bytes[..8].copy_from_slice(&too_long.to_le_bytes());
    assert!(matches!(load_error(&bytes, &["header length"]).kind(), IoErrorKind::Format { .. }));
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(load_error(&bytes, &["not a valid safetensors file"]).kind(), IoErrorKind::Format { .. }));
}

/// Offsets near `usize::MAX` overflow the safetensors reader's own bounds check (a panic in debug
/// builds); loading catches them first.
#[test]
fn offsets_past_the_end_are_a_format_error_not_a_panic() {
    let size: u64 = 1 << 60; // 2^57 F64 values: as big as a tensor's byte count can get
    let mut entries = Vec::new();
    let mut start = 0u64;
    for i in 0..15 {
        let end = start + size;
        entries.push(format!(r#""t{i}":{{"dtype":"F64","shape":[{}],"data_offsets":[{start},{end}]}}"#, size / 8));
        start = end;
    }
    let end = u64::MAX - 3;
    entries.push(format!(r#""z":{{"dtype":"U8","shape":[{}],"data_offsets":[{start},{end}]}}"#, end - start));
    let header = format!("{{{}}}", entries.join(","));
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    let err = load_error(&bytes, &["claims data up to byte", "0 data bytes"]);
    assert!(matches!(err.kind(), IoErrorKind::Format { .. }), "{err:?}");

    // A plain lie about the size, too.
    let header = r#"{"0.weight":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 16]);
    assert!(matches!(load_error(&bytes, &["16 data bytes"]).kind(), IoErrorKind::Format { .. }));
}

#[test]
fn every_prefix_and_byte_flip_loads_or_errs_without_panicking() {
    let dir = TempDir::new("fuzz");
    let good = craft(&valid_tensors(), TANH);
    for len in 0..good.len() {
        assert!(load_bytes(&dir, &good[..len]).1.is_err(), "prefix of {len} bytes loaded");
    }
    for pos in 0..good.len() {
        for byte in [0x00, 0xff, b'9', b'"', b'{'] {
            let mut bytes = good.clone();
            bytes[pos] = byte;
            let _ = load_bytes(&dir, &bytes).1;
        }
    }
}

#[test]
fn missing_tensor_is_named() {
    let mut tensors = valid_tensors();
    tensors.retain(|t| t.name != "2.bias");
    let err = load_error(&craft(&tensors, TANH), &["tensor '2.bias' is missing"]);
    assert!(matches!(err.kind(), IoErrorKind::MissingTensor { name, .. } if name == "2.bias"), "{err:?}");

    let tensors = vec![raw("0.bias", &[4])];
    assert!(matches!(load_error(&craft(&tensors, TANH), &["'0.weight'"]).kind(), IoErrorKind::MissingTensor { .. }));

    // A gap: modules 0 and 4 without 2.
    let tensors = vec![raw("0.weight", &[4, 3]), raw("0.bias", &[4]), raw("4.weight", &[2, 4]), raw("4.bias", &[2])];
    let err = load_error(&craft(&tensors, TANH), &["'2.weight' is missing"]);
    assert!(matches!(err.kind(), IoErrorKind::MissingTensor { name, .. } if name == "2.weight"), "{err:?}");
}

#[test]
fn extra_tensor_is_named() {
    for extra in ["1.weight", "2.running_mean", "fc.weight", "02.bias"] {
        let mut tensors = valid_tensors();
        tensors.push(raw(extra, &[2]));
        let err = load_error(&craft(&tensors, TANH), &[&format!("unexpected tensor '{extra}'")]);
        assert!(matches!(err.kind(), IoErrorKind::UnexpectedTensor { name, .. } if name == extra), "{err:?}");
    }
}

#[test]
fn no_tensors_is_no_layers() {
    let err = load_error(&craft(&[], TANH), &["no layers"]);
    assert!(matches!(err.kind(), IoErrorKind::NoLayers), "{err:?}");
}

#[test]
fn wrong_shapes_are_named_with_expected_and_found() {
    let mut tensors = valid_tensors();
    tensors[3] = raw("2.bias", &[3]);
    let err = load_error(&craft(&tensors, TANH), &["'2.bias' has shape [3], expected [2]"]);
    match err.kind() {
        IoErrorKind::WrongShape { name, expected, found, .. } => {
            assert_eq!((name.as_str(), expected, found), ("2.bias", &vec![2], &vec![3]));
        }
        other => panic!("{other:?}"),
    }

    for shape in [&[12][..], &[2, 2, 3], &[0, 3], &[4, 0]] {
        let mut tensors = valid_tensors();
        tensors[0] = raw("0.weight", shape);
        let err = load_error(&craft(&tensors, TANH), &["'0.weight'", "expected a matrix [out, in]"]);
        assert!(matches!(err.kind(), IoErrorKind::NotAMatrix { found, .. } if found == shape), "{err:?}");
    }
}

#[test]
fn other_dtypes_are_rejected() {
    for dtype in [Dtype::I64, Dtype::F16, Dtype::BF16, Dtype::U8] {
        let mut tensors = valid_tensors();
        tensors[2] = raw_dtype("2.weight", dtype, &[2, 4]);
        let err = load_error(&craft(&tensors, TANH), &["'2.weight'", &format!("dtype {dtype}, expected F32 or F64")]);
        assert!(
            matches!(err.kind(), IoErrorKind::WrongDtype { name, found, .. } if name == "2.weight" && *found == dtype.to_string())
        );
    }
}

#[test]
fn f64_and_mixed_files_load() {
    let dir = TempDir::new("mixed");
    let tensors = vec![
        raw_dtype("0.weight", Dtype::F64, &[4, 3]),
        raw("0.bias", &[4]),
        raw("2.weight", &[2, 4]),
        raw_dtype("2.bias", Dtype::F64, &[2]),
    ];
    let (_, result) = load_bytes(&dir, &craft(&tensors, TANH));
    let mlp = result.unwrap();
    assert_eq!(mlp.sizes(), [3, 4, 2]);
    // File element (o, i) = 0.5 + 3 o + i lands at our (i, o).
    assert_eq!(mlp.layers()[0].weight.at(&[2, 1]), 5.5);
    assert_eq!(mlp.layers()[1].bias.data(), &[0.5, 1.5]);
}

#[test]
fn layers_that_dont_chain_are_an_error() {
    let tensors = vec![raw("0.weight", &[4, 3]), raw("0.bias", &[4]), raw("2.weight", &[2, 5]), raw("2.bias", &[2])];
    let err = load_error(&craft(&tensors, TANH), &["'0.weight' has 4 outputs but '2.weight' has 5 inputs"]);
    assert!(
        matches!(err.kind(), IoErrorKind::LayersDontChain { layer: 1, previous_outputs: 4, inputs: 5, .. }),
        "{err:?}"
    );
}

#[test]
fn activation_metadata_is_required_and_checked() {
    let err = load_error(&craft(&valid_tensors(), &[("format", "pt")]), &["load_with_activation"]);
    assert!(matches!(err.kind(), IoErrorKind::MissingActivation), "{err:?}");
    let err = load_error(&craft(&valid_tensors(), &[]), &["'activation'"]);
    assert!(matches!(err.kind(), IoErrorKind::MissingActivation), "{err:?}");

    let err = load_error(&craft(&valid_tensors(), &[("activation", "swish")]), &["unknown activation 'swish'"]);
    assert!(matches!(err.kind(), IoErrorKind::UnknownActivation { name, .. } if name == "swish"), "{err:?}");

    // Names parse as Activation's FromStr does: case and surrounding spaces don't matter.
    let dir = TempDir::new("act");
    let (_, result) = load_bytes(&dir, &craft(&valid_tensors(), &[("activation", " Sigmoid")]));
    assert_eq!(result.unwrap().activation(), Activation::Sigmoid);
}
