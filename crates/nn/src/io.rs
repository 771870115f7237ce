//! Saving and loading an [`Mlp`] as `.safetensors`, in the layout PyTorch uses.
//!
//! A saved file is the `state_dict()` of the equivalent
//! `torch.nn.Sequential(Linear, Act, Linear, ..., Act, Linear)`, so in Python
//!
//! ```python
//! model.load_state_dict(safetensors.torch.load_file("model.safetensors"))
//! ```
//!
//! works directly, and a file saved from such a model loads here with
//! [`load_with_activation`].
//!
//! | here                                   | in the file / in PyTorch                        |
//! |----------------------------------------|-------------------------------------------------|
//! | layer `l` (0-based) of [`Mlp::layers`] | `Sequential` module `2 l` (activations are odd) |
//! | `Linear::weight`, `[in, out]`          | `"{2l}.weight"`, `[out, in]` (the transpose)    |
//! | `Linear::bias`, `[out]`                | `"{2l}.bias"`, `[out]`                          |
//! | `Mlp<f32>` / `Mlp<f64>`                | dtype `F32` / `F64`, little-endian, row-major   |
//! | [`Mlp::activation`]                    | `__metadata__["activation"]` (`"relu"`, ...)    |
//!
//! The header's `__metadata__` also holds `"format": "pt"` (what `safetensors.torch` expects)
//! and `"producer": "tapegrad"`.
//!
//! Loading reads the architecture from the tensors: layers `0, 2, 4, ...`, each a weight and
//! a bias, with each layer's inputs equal to the previous layer's outputs. Both `F32` and `F64`
//! files load into either precision: `F32` into `Mlp<f64>` widens exactly, `F64` into
//! `Mlp<f32>` rounds to nearest (as `x as f32` does). Any other dtype is an error.
//!
//! Loading never panics on a file's contents and allocates in proportion to the file's size,
//! never to a size claimed by its header: every problem is an [`IoError`] that names the
//! path and what is wrong.
//!
//! ```
//! use nn::{Activation, Init, Mlp, io};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! let dir = std::env::temp_dir().join(format!("tapegrad-io-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("model.safetensors");
//!
//! let mlp = Mlp::<f32>::new(&[4, 8, 3], Activation::Tanh, Init::GlorotUniform, &mut StdRng::seed_from_u64(0));
//! io::save(&mlp, &path)?;
//! assert_eq!(io::load::<f32>(&path)?, mlp);
//!
//! // The same file in double precision: f32 widens to f64 exactly.
//! let wide = io::load::<f64>(&path)?;
//! assert_eq!(wide.layers()[0].weight, mlp.layers()[0].weight.cast::<f64>());
//!
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::{Activation, Linear, Mlp};
use autograd::{Float, Tensor};
use safetensors::tensor::{Metadata, TensorView};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The `__metadata__` key holding the activation's name.
pub const ACTIVATION_KEY: &str = "activation";

/// What went wrong saving or loading a model, and in which file.
#[derive(Debug)]
#[non_exhaustive]
pub enum IoError {
    /// The operating system refused to read or write the file (or, when saving, its temporary
    /// sibling).
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Not a safetensors file, or a corrupt or truncated one: the header length, the JSON
    /// header or the data offsets do not add up.
    Format {
        /// The file.
        path: PathBuf,
        /// What the safetensors reader (or the check before it) found wrong.
        reason: String,
    },
    /// A tensor the model needs is not in the file.
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name (`"2.bias"`).
        name: String,
    },
    /// The file holds a tensor that is no parameter of the model.
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor's shape is not the one the model needs.
    WrongShape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape needed, in the file's (PyTorch's) layout.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A weight is not a matrix `[out, in]` with both sizes positive.
    NotAMatrix {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is neither `F32` nor `F64`.
    WrongDtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The dtype in the file, as safetensors writes it (`"I64"`, `"F16"`).
        found: String,
    },
    /// The file holds no tensors at all.
    NoLayers {
        /// The file.
        path: PathBuf,
    },
    /// A layer's inputs differ from the previous layer's outputs.
    LayersDontChain {
        /// The file.
        path: PathBuf,
        /// Our index of the layer whose inputs are wrong (its tensors are `"{2 layer}.*"`).
        layer: usize,
        /// The previous layer's outputs.
        previous_outputs: usize,
        /// This layer's inputs.
        inputs: usize,
    },
    /// The file does not say which activation the model uses.
    MissingActivation {
        /// The file.
        path: PathBuf,
    },
    /// The file names an activation this crate does not have.
    UnknownActivation {
        /// The file.
        path: PathBuf,
        /// The name in the file.
        name: String,
    },
    /// [`load_into`]: the file's activation differs from the model's.
    ActivationMismatch {
        /// The file.
        path: PathBuf,
        /// The model's activation.
        expected: Activation,
        /// The file's activation.
        found: Activation,
    },
}

impl IoError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            IoError::Io { path, .. }
            | IoError::Format { path, .. }
            | IoError::MissingTensor { path, .. }
            | IoError::UnexpectedTensor { path, .. }
            | IoError::WrongShape { path, .. }
            | IoError::NotAMatrix { path, .. }
            | IoError::WrongDtype { path, .. }
            | IoError::NoLayers { path }
            | IoError::LayersDontChain { path, .. }
            | IoError::MissingActivation { path }
            | IoError::UnknownActivation { path, .. }
            | IoError::ActivationMismatch { path, .. } => path,
        }
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path().display())?;
        match self {
            IoError::Io { source, .. } => write!(f, "{source}"),
            IoError::Format { reason, .. } => {
                write!(f, "not a valid safetensors file (corrupt or truncated?): {reason}")
            }
            IoError::MissingTensor { name, .. } => write!(f, "tensor '{name}' is missing"),
            IoError::UnexpectedTensor { name, .. } => write!(
                f,
                "unexpected tensor '{name}' (an MLP has only tensors named 0.weight, 0.bias, 2.weight, 2.bias, ...)"
            ),
            IoError::WrongShape { name, expected, found, .. } => {
                write!(f, "tensor '{name}' has shape {found:?}, expected {expected:?}")
            }
            IoError::NotAMatrix { name, found, .. } => {
                write!(f, "tensor '{name}' has shape {found:?}, expected a matrix [out, in] with out, in > 0")
            }
            IoError::WrongDtype { name, found, .. } => {
                write!(f, "tensor '{name}' has dtype {found}, expected F32 or F64")
            }
            IoError::NoLayers { .. } => write!(f, "no layers: the file holds no tensors"),
            IoError::LayersDontChain { layer, previous_outputs, inputs, .. } => write!(
                f,
                "layers don't chain: '{}.weight' has {previous_outputs} outputs but '{}.weight' has {inputs} inputs",
                2 * layer.saturating_sub(1),
                2 * layer
            ),
            IoError::MissingActivation { .. } => write!(
                f,
                "no '{ACTIVATION_KEY}' in the metadata (a file not written by tapegrad?); \
                 use load_with_activation to name it"
            ),
            IoError::UnknownActivation { name, .. } => {
                write!(f, "unknown activation '{name}' in the metadata (expected relu, sigmoid or tanh)")
            }
            IoError::ActivationMismatch { expected, found, .. } => {
                write!(f, "the file's activation is {found} but the model's is {expected}")
            }
        }
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IoError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Saves `mlp` to `path` as safetensors, in PyTorch's layout (see the [module docs](self)).
///
/// The save is atomic: the bytes go to a new temporary file beside `path`, which is flushed to
/// disk and then renamed over `path`. If anything fails (an error, or a panic), the temporary
/// file is removed and whatever was at `path` before is untouched. (A symlink at `path` is
/// replaced, not followed.)
///
/// # Errors
/// [`IoError::Io`] if the file cannot be written, e.g. its directory does not exist.
pub fn save<T: Float>(mlp: &Mlp<T>, path: impl AsRef<Path>) -> Result<(), IoError> {
    save_with(mlp, path.as_ref(), |file, bytes| file.write_all(bytes))
}

/// [`save`], with the write of the bytes into the temporary file left to `write`, so that tests
/// can make it fail half way.
fn save_with<T: Float>(
    mlp: &Mlp<T>,
    path: &Path,
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> Result<(), IoError> {
    let io_error = |source| IoError::Io { path: path.to_path_buf(), source };
    let bytes = to_bytes(mlp);
    let (tmp_path, file) = create_temp_beside(path).map_err(io_error)?;
    // Removes the temporary file however this function is left, a panic included, unless the
    // rename has made it the saved file.
    let mut temp = TempFile(Some(tmp_path));
    write_then_rename(file, &bytes, write, temp.path(), path).map_err(io_error)?;
    temp.0 = None;
    sync_parent(path);
    Ok(())
}

/// A temporary file that is deleted when this is dropped, unless its path was taken out.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("a temporary file still in place")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            // Best effort: the error worth reporting is the one that stopped the save.
            let _ = fs::remove_file(path);
        }
    }
}

/// Writes the temporary file, gets it onto the disk (so that a crash after the rename cannot
/// leave an empty or partial file at `path`), then renames it over `path`.
fn write_then_rename(
    mut file: File,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
    tmp_path: &Path,
    path: &Path,
) -> io::Result<()> {
    write(&mut file, bytes)?;
    file.flush()?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp_path, path)
}

/// A new file beside `path`, with a name no other save (in this process or another) is using.
fn create_temp_beside(path: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut attempt = 0;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}-{n}-{nanos}.tmp", std::process::id()));
        let tmp_path = path.with_file_name(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp_path) {
            Ok(file) => return Ok((tmp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Makes the rename itself durable. Best effort: the file is already in place, so a failure
/// here is no reason to report the save as failed.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The dtype a `Mlp<T>` is saved in.
fn dtype_of<T: Float>() -> Dtype {
    // Float is implemented for f32 and f64; anything else is written losslessly through f64.
    if T::NAME == "f32" { Dtype::F32 } else { Dtype::F64 }
}

/// `values` as little-endian bytes of `dtype` (F32 or F64).
fn encode<T: Float>(values: impl Iterator<Item = T>, dtype: Dtype) -> Vec<u8> {
    let mut out = Vec::new();
    for x in values {
        if dtype == Dtype::F32 {
            // Exact for T = f32: f32 -> f64 -> f32 round-trips every value, NaN payloads aside.
            out.extend_from_slice(&(x.to_f64() as f32).to_le_bytes());
        } else {
            out.extend_from_slice(&x.to_f64().to_le_bytes());
        }
    }
    out
}

/// The whole safetensors file for `mlp`.
fn to_bytes<T: Float>(mlp: &Mlp<T>) -> Vec<u8> {
    let dtype = dtype_of::<T>();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (l, layer) in mlp.layers().iter().enumerate() {
        let (inputs, outputs) = (layer.inputs(), layer.outputs());
        let w = layer.weight.data();
        // Ours is [in, out]; PyTorch's is [out, in]: element (o, i) of the file is w[i][o].
        let transposed = (0..outputs).flat_map(|o| (0..inputs).map(move |i| w[i * outputs + o]));
        tensors.push((format!("{}.weight", 2 * l), vec![outputs, inputs], encode(transposed, dtype)));
        tensors.push((format!("{}.bias", 2 * l), vec![outputs], encode(layer.bias.data().iter().copied(), dtype)));
    }
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (ACTIVATION_KEY.to_string(), mlp.activation().name().to_string()),
        ("producer".to_string(), "tapegrad".to_string()),
    ]);
    let views = tensors.iter().map(|(name, shape, data)| {
        let view = TensorView::new(dtype, shape.clone(), data).expect("bytes match shape and dtype by construction");
        (name.as_str(), view)
    });
    safetensors::serialize(views, Some(metadata)).expect("a few small tensors always serialize")
}

/// Loads an MLP saved by [`save`]: the architecture from the tensors, the activation from the
/// metadata.
///
/// # Errors
/// [`IoError::MissingActivation`] if the file does not name its activation (files written by
/// PyTorch don't: use [`load_with_activation`]); otherwise any [`IoError`] that says why the file
/// is not an MLP.
pub fn load<T: Float>(path: impl AsRef<Path>) -> Result<Mlp<T>, IoError> {
    let path = path.as_ref();
    let file = read_model_file::<T>(path)?;
    let activation = file.activation()?.ok_or_else(|| IoError::MissingActivation { path: path.to_path_buf() })?;
    file.into_mlp(activation)
}

/// Loads an MLP with the given activation, whatever the file's metadata says (or doesn't):
/// for files written by PyTorch, which record no activation.
///
/// ```no_run
/// use nn::{Activation, io};
/// // model = torch.nn.Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
/// // safetensors.torch.save_file(model.state_dict(), "from_torch.safetensors")
/// let mlp = io::load_with_activation::<f32>("from_torch.safetensors", Activation::Relu)?;
/// assert_eq!(mlp.sizes(), [784, 128, 10]);
/// # Ok::<(), nn::io::IoError>(())
/// ```
///
/// # Errors
/// Any [`IoError`] that says why the file is not an MLP.
pub fn load_with_activation<T: Float>(path: impl AsRef<Path>, activation: Activation) -> Result<Mlp<T>, IoError> {
    read_model_file::<T>(path.as_ref())?.into_mlp(activation)
}

/// Loads a file's parameters into an existing `mlp`, checking that the file has exactly its
/// tensors with exactly its shapes and, if the file names an activation, that it is `mlp`'s.
/// On error `mlp` is unchanged.
///
/// # Errors
/// [`IoError::MissingTensor`], [`IoError::UnexpectedTensor`] or [`IoError::WrongShape`] (with
/// the shape `mlp` needs) if the file's architecture differs, [`IoError::ActivationMismatch`]
/// if its activation does, or any error of [`load`] other than a missing activation.
pub fn load_into<T: Float>(mlp: &mut Mlp<T>, path: impl AsRef<Path>) -> Result<(), IoError> {
    let path = path.as_ref();
    let file = read_model_file::<T>(path)?;
    if let Some(found) = file.activation()?
        && found != mlp.activation()
    {
        return Err(IoError::ActivationMismatch { path: path.to_path_buf(), expected: mlp.activation(), found });
    }
    let (ours, theirs) = (mlp.layers().len(), file.layers.len());
    if theirs < ours {
        return Err(file.error_missing(format!("{}.weight", 2 * theirs)));
    }
    if theirs > ours {
        return Err(IoError::UnexpectedTensor { path: path.to_path_buf(), name: format!("{}.weight", 2 * ours) });
    }
    for (l, (layer, raw)) in mlp.layers().iter().zip(&file.layers).enumerate() {
        let expected = vec![layer.outputs(), layer.inputs()];
        if raw.shape() != expected {
            // The bias shape follows the weight's, so the weight is the tensor to blame.
            let name = format!("{}.weight", 2 * l);
            return Err(IoError::WrongShape { path: path.to_path_buf(), name, expected, found: raw.shape() });
        }
    }
    for (layer, raw) in mlp.layers_mut().iter_mut().zip(file.layers) {
        *layer = raw.into_linear();
    }
    Ok(())
}

/// One layer as stored: weight `[out, in]` row-major, bias `[out]`.
struct RawLayer<T> {
    outputs: usize,
    inputs: usize,
    weight: Vec<T>,
    bias: Vec<T>,
}

impl<T: Float> RawLayer<T> {
    fn shape(&self) -> Vec<usize> {
        vec![self.outputs, self.inputs]
    }

    fn into_linear(self) -> Linear<T> {
        let (inputs, outputs, w) = (self.inputs, self.outputs, &self.weight);
        let weight: Vec<T> = (0..inputs).flat_map(|i| (0..outputs).map(move |o| w[o * inputs + i])).collect();
        Linear { weight: Tensor::from_vec([inputs, outputs], weight), bias: Tensor::from_vec([outputs], self.bias) }
    }
}

/// A file's layers (each well-formed on its own, not yet checked to chain) and its metadata.
struct ModelFile<T> {
    path: PathBuf,
    layers: Vec<RawLayer<T>>,
    activation: Option<String>,
}

impl<T: Float> ModelFile<T> {
    fn error_missing(&self, name: String) -> IoError {
        IoError::MissingTensor { path: self.path.clone(), name }
    }

    /// The activation the metadata names, if it names one.
    fn activation(&self) -> Result<Option<Activation>, IoError> {
        self.activation
            .as_deref()
            .map(|name| {
                name.parse().map_err(|_| IoError::UnknownActivation { path: self.path.clone(), name: name.to_string() })
            })
            .transpose()
    }

    fn into_mlp(self, activation: Activation) -> Result<Mlp<T>, IoError> {
        for (l, pair) in self.layers.windows(2).enumerate() {
            if pair[0].outputs != pair[1].inputs {
                return Err(IoError::LayersDontChain {
                    path: self.path,
                    layer: l + 1,
                    previous_outputs: pair[0].outputs,
                    inputs: pair[1].inputs,
                });
            }
        }
        Ok(Mlp::from_layers(self.layers.into_iter().map(RawLayer::into_linear).collect(), activation))
    }
}

/// Reads and checks everything in the file but the chaining of the layers and the activation.
fn read_model_file<T: Float>(path: &Path) -> Result<ModelFile<T>, IoError> {
    let bytes = read_file(path).map_err(|source| IoError::Io { path: path.to_path_buf(), source })?;
    parse::<T>(&bytes, path)
}

/// The file's bytes, reading no more than the size the file system reports.
fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut bytes = Vec::new();
    let capacity = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    bytes.try_reserve_exact(capacity).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    file.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn parse<T: Float>(bytes: &[u8], path: &Path) -> Result<ModelFile<T>, IoError> {
    let format_error = |reason: String| IoError::Format { path: path.to_path_buf(), reason };
    check_offsets_in_file(bytes).map_err(format_error)?;
    let (header_len, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| format_error(e.to_string()))?;
    let data = bytes.get(8 + header_len..).ok_or_else(|| format_error("no data section".into()))?;
    let layer_count = count_layers(&metadata, path)?;

    let tensor = |name: &str| -> Result<(Vec<usize>, Vec<T>), IoError> {
        let info =
            metadata.info(name).ok_or_else(|| IoError::MissingTensor { path: path.into(), name: name.into() })?;
        let (start, end) = info.data_offsets;
        let raw = data.get(start..end).ok_or_else(|| format_error(format!("tensor '{name}' lies outside the file")))?;
        let values = decode(raw, info.dtype).ok_or_else(|| IoError::WrongDtype {
            path: path.into(),
            name: name.into(),
            found: info.dtype.to_string(),
        })?;
        Ok((info.shape.clone(), values))
    };

    let mut layers = Vec::with_capacity(layer_count);
    for l in 0..layer_count {
        let (weight_name, bias_name) = (format!("{}.weight", 2 * l), format!("{}.bias", 2 * l));
        let (shape, weight) = tensor(&weight_name)?;
        let &[outputs, inputs] = shape.as_slice() else {
            return Err(IoError::NotAMatrix { path: path.into(), name: weight_name, found: shape });
        };
        if outputs == 0 || inputs == 0 {
            return Err(IoError::NotAMatrix { path: path.into(), name: weight_name, found: shape });
        }
        let (bias_shape, bias) = tensor(&bias_name)?;
        if bias_shape != [outputs] {
            return Err(IoError::WrongShape {
                path: path.into(),
                name: bias_name,
                expected: vec![outputs],
                found: bias_shape,
            });
        }
        layers.push(RawLayer { outputs, inputs, weight, bias });
    }
    let activation = metadata.metadata().as_ref().and_then(|m| m.get(ACTIVATION_KEY)).cloned();
    Ok(ModelFile { path: path.to_path_buf(), layers, activation })
}

/// The number of layers, after checking that the tensors are exactly `0.weight`, `0.bias`, ...,
/// `{2(n-1)}.weight`, `{2(n-1)}.bias`.
fn count_layers(metadata: &Metadata, path: &Path) -> Result<usize, IoError> {
    let names = metadata.offset_keys();
    // (module index, is weight) of every tensor named like a Sequential parameter.
    let mut params = BTreeSet::new();
    let mut unexpected = BTreeSet::new();
    for name in &names {
        match parse_param_name(name) {
            Some(param) => params.insert(param),
            None => unexpected.insert(name.as_str()),
        };
    }
    if let Some(name) = unexpected.first() {
        return Err(IoError::UnexpectedTensor { path: path.into(), name: name.to_string() });
    }
    let Some(&(last, _)) = params.last() else {
        return Err(IoError::NoLayers { path: path.into() });
    };
    // Every even module up to the last named one needs both tensors. The loop stops at the
    // first gap, so a huge index in a name costs no more than the number of names.
    for module in (0..=last).step_by(2) {
        for (is_weight, suffix) in [(true, "weight"), (false, "bias")] {
            if !params.contains(&(module, is_weight)) {
                return Err(IoError::MissingTensor { path: path.into(), name: format!("{module}.{suffix}") });
            }
        }
    }
    Ok(last / 2 + 1)
}

/// `"4.weight"` -> `(4, true)`, `"4.bias"` -> `(4, false)`; `None` for any other name, including
/// odd modules (activations have no parameters) and non-canonical numbers (`"04.bias"`).
fn parse_param_name(name: &str) -> Option<(usize, bool)> {
    let (index, suffix) = name.split_once('.')?;
    let is_weight = match suffix {
        "weight" => true,
        "bias" => false,
        _ => return None,
    };
    let module: usize = index.parse().ok()?;
    (module.is_multiple_of(2) && module.to_string() == index).then_some((module, is_weight))
}

/// Little-endian F32 or F64 bytes as `T`; `None` for any other dtype. The byte count is a
/// multiple of the element size: safetensors checked it against the shape.
fn decode<T: Float>(raw: &[u8], dtype: Dtype) -> Option<Vec<T>> {
    match dtype {
        Dtype::F32 => Some(
            raw.chunks_exact(4).map(|b| T::from_f64(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))).collect(),
        ),
        Dtype::F64 => Some(
            raw.chunks_exact(8)
                .map(|b| T::from_f64(f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])))
                .collect(),
        ),
        _ => None,
    }
}

/// Checks that every tensor's `data_offsets` ends inside the file, before the safetensors reader
/// sees the header: that reader adds the last offset to the header length unchecked, which
/// overflows (a panic in debug builds) for offsets near `usize::MAX`. Anything else it checks
/// itself, so a header this check cannot read passes through to it.
fn check_offsets_in_file(bytes: &[u8]) -> Result<(), String> {
    let Some((len, rest)) = bytes.split_first_chunk::<8>() else { return Ok(()) };
    let Some(header) = usize::try_from(u64::from_le_bytes(*len)).ok().and_then(|n| rest.get(..n)) else {
        return Ok(());
    };
    let data_len = (rest.len() - header.len()) as u64;
    let Ok(serde_json::Value::Object(entries)) = serde_json::from_slice(header) else { return Ok(()) };
    for (name, info) in &entries {
        let end = info.get("data_offsets").and_then(|o| o.get(1)).and_then(serde_json::Value::as_u64);
        if let Some(end) = end.filter(|&end| end > data_len) {
            return Err(format!(
                "tensor '{name}' claims data up to byte {end}, but the file has {data_len} data bytes"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Init;
    use rand::{SeedableRng, rngs::StdRng};
    use testkit::TempDir;

    fn model(seed: u64) -> Mlp<f32> {
        Mlp::new(&[3, 5, 2], Activation::Sigmoid, Init::GlorotNormal, &mut StdRng::seed_from_u64(seed))
    }

    #[test]
    fn failed_write_keeps_the_previous_file_and_leaves_no_temp_file() {
        let dir = TempDir::new("half");
        let path = dir.file("m.safetensors");
        let old = model(1);
        save(&old, &path).unwrap();
        let old_bytes = fs::read(&path).unwrap();

        let err = save_with(&model(2), &path, |file, bytes| {
            file.write_all(&bytes[..bytes.len() / 2])?;
            Err(io::Error::other("disk full (injected)"))
        })
        .unwrap_err();

        assert!(matches!(&err, IoError::Io { path: p, .. } if p == &path), "{err:?}");
        assert!(err.to_string().contains("disk full (injected)") && err.to_string().contains("m.safetensors"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), old_bytes);
        assert_eq!(load::<f32>(&path).unwrap(), old);
        assert_eq!(dir.entries(), ["m.safetensors"]);
    }

    #[test]
    fn a_write_failing_at_any_point_keeps_the_previous_file() {
        let dir = TempDir::new("cuts");
        let path = dir.file("m.safetensors");
        let old = model(8);
        save(&old, &path).unwrap();
        let old_bytes = fs::read(&path).unwrap();
        let new = model(9);
        let len = to_bytes(&new).len();
        // Nothing written, part of the length prefix, part of the header, all but one byte, and
        // every byte written before the error.
        for cut in [0, 1, 8, len / 2, len - 1, len] {
            let err = save_with(&new, &path, |file, bytes| {
                file.write_all(&bytes[..cut])?;
                Err(io::Error::other("interrupted (injected)"))
            })
            .unwrap_err();
            assert!(matches!(err, IoError::Io { .. }), "cut {cut}: {err:?}");
            assert_eq!(fs::read(&path).unwrap(), old_bytes, "cut {cut}");
            assert_eq!(load::<f32>(&path).unwrap(), old, "cut {cut}");
            assert_eq!(dir.entries(), ["m.safetensors"], "cut {cut}");
        }
        // With nothing there before, a failed save leaves nothing.
        let fresh = dir.file("fresh.safetensors");
        save_with(&new, &fresh, |_, _| Err(io::Error::other("interrupted (injected)"))).unwrap_err();
        assert_eq!(dir.entries(), ["m.safetensors"]);
    }

    #[test]
    fn a_save_that_panics_half_way_leaves_no_temp_file_and_the_previous_file() {
        let dir = TempDir::new("panic");
        let path = dir.file("m.safetensors");
        let old = model(4);
        save(&old, &path).unwrap();
        let panicked = std::panic::catch_unwind(|| {
            let _ = save_with(&model(5), &path, |file, bytes| {
                file.write_all(&bytes[..bytes.len() / 2])?;
                panic!("a bug in the middle of a save (injected)");
            });
        });
        assert!(panicked.is_err());
        assert_eq!(load::<f32>(&path).unwrap(), old);
        assert_eq!(dir.entries(), ["m.safetensors"]);
    }

    #[test]
    fn save_into_a_missing_directory_fails_cleanly() {
        let dir = TempDir::new("nodir");
        let path = dir.file("m.safetensors");
        let old = model(3);
        save(&old, &path).unwrap();

        let target = dir.file("no-such-dir").join("m.safetensors");
        let err = save(&model(4), &target).unwrap_err();

        match &err {
            IoError::Io { path, source } => {
                assert_eq!(path, &target);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected Io, got {other:?}"),
        }
        assert!(err.to_string().contains("no-such-dir"), "{err}");
        assert_eq!(load::<f32>(&path).unwrap(), old);
        assert_eq!(dir.entries(), ["m.safetensors"]);
    }

    #[test]
    fn save_replaces_the_previous_file_and_leaves_no_temp_file() {
        let dir = TempDir::new("replace");
        let path = dir.file("m.safetensors");
        save(&model(5), &path).unwrap();
        let new = model(6);
        save(&new, &path).unwrap();
        assert_eq!(load::<f32>(&path).unwrap(), new);
        assert_eq!(dir.entries(), ["m.safetensors"]);
    }

    #[test]
    fn saving_over_a_directory_fails_and_cleans_up() {
        let dir = TempDir::new("overdir");
        fs::create_dir(dir.file("m.safetensors")).unwrap();
        let err = save(&model(7), dir.file("m.safetensors")).unwrap_err();
        assert!(matches!(err, IoError::Io { .. }), "{err:?}");
        assert_eq!(dir.entries(), ["m.safetensors"]);
    }

    #[test]
    fn parameter_names() {
        assert_eq!(parse_param_name("0.weight"), Some((0, true)));
        assert_eq!(parse_param_name("12.bias"), Some((12, false)));
        for name in ["1.weight", "04.bias", "+4.bias", "4.Weight", "4", "4.weight.x", "a.bias", ".bias", "-2.bias"] {
            assert_eq!(parse_param_name(name), None, "{name}");
        }
    }
}
