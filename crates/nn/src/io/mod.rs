//! Saving and loading an [`Mlp`] or a [`Sequential`] as `.safetensors`, in the layout PyTorch
//! uses.
//!
//! A saved file is the `state_dict()` of the equivalent `torch.nn.Sequential`, with the
//! Sequential's layer list in the metadata, so that [`load`] / [`load_sequential`] alone rebuild
//! the model, here or in Python.
//!
//! | here                                          | in the file / in PyTorch                        |
//! |-----------------------------------------------|-------------------------------------------------|
//! | layer `i` of a [`Sequential`]                 | `Sequential` module `i`                         |
//! | layer `l` of [`Mlp::layers`]                  | module `2 l` (its activations are the odd ones) |
//! | `Linear::weight`, `[in, out]`                 | `"{i}.weight"`, `[out, in]` (the transpose)     |
//! | `Linear::bias`, `[out]`                       | `"{i}.bias"`, `[out]`                           |
//! | `LayerNorm::weight`, `LayerNorm::bias`, `[d]` | `"{i}.weight"`, `"{i}.bias"`, `[d]`             |
//! | `f32` / `f64` models                          | dtype `F32` / `F64`, little-endian, row-major   |
//! | the layers                                    | `__metadata__["layers"]`, see below             |
//!
//! The header's `__metadata__` also holds `"format": "pt"` (what `safetensors.torch` expects),
//! `"producer": "tapegrad"` and, for an MLP whose hidden layers share one activation,
//! `"activation"` with its [name](Activation::name) (what earlier versions wrote instead of
//! the layer list, and still read).
//!
//! # The layer list
//!
//! `__metadata__["layers"]` is a JSON array with one object per module of the
//! `torch.nn.Sequential`: `"type"` is the class in `torch.nn`, the other keys are keyword
//! arguments of its constructor, so that `getattr(torch.nn, type)(**kwargs)` builds it.
//!
//! | layer | object |
//! |---|---|
//! | [`Linear`](crate::Linear) | `{"type":"Linear","in_features":4,"out_features":8}` |
//! | [`LayerNorm`](crate::LayerNorm) | `{"type":"LayerNorm","normalized_shape":[8],"eps":1e-5}` |
//! | [`Dropout`](crate::Dropout) | `{"type":"Dropout","p":0.5}` |
//! | [`Activation`] | [`Activation::torch_module`]: `{"type":"ReLU"}`, `{"type":"LeakyReLU","negative_slope":0.2}`, `{"type":"GELU"}`, ... |
//!
//! A custom activation ([`Activation::custom`], [`Activation::rule`]) has no PyTorch class, so
//! the file could not say what it is and no one could rebuild the model from it: [`save`]
//! refuses it with [`IoErrorKind::UnnamedActivation`], naming the layer and the activation.
//!
//! In Python (`pip install torch safetensors`), the file alone gives the model back:
//!
//! ```python
//! import json, torch
//! from safetensors import safe_open
//! from safetensors.torch import load_file
//!
//! with safe_open("model.safetensors", "pt") as f:
//!     layers = json.loads(f.metadata()["layers"])
//! model = torch.nn.Sequential(*[getattr(torch.nn, d.pop("type"))(**d) for d in layers])
//! model.load_state_dict(load_file("model.safetensors"))  # .double() first for an f64 file
//! model.eval()
//! ```
//!
//! # The input scaler
//!
//! [`save_with_scaler`] also stores the [`StandardScaler`] the
//! model's inputs go through, so that [`load_with_scaler`] (or [`load_scaler`]) alone turns raw
//! features into the same predictions in another process. It is `__metadata__["scaler"]`, a
//! JSON object `{"mean":[...],"scale":[...]}` with one number per input column (each the
//! shortest decimal that reads back as the same `f64`, so both precisions round-trip bit for
//! bit); the model sees `(x - mean) / scale`. The tensors are the model's alone, so PyTorch's
//! `load_state_dict` is unchanged; in Python the scaler is two more lines after the snippet
//! above:
//!
//! ```python
//! with safe_open("model.safetensors", "pt") as f:  # saved with save_with_scaler
//!     s = json.loads(f.metadata()["scaler"]); mean, scale = torch.tensor(s["mean"]), torch.tensor(s["scale"])
//! prediction = model((x - mean) / scale)  # x: raw features, [n, inputs]
//! ```
//!
//! A file without the key (saved by [`save`], by earlier versions or by PyTorch) loads as
//! before, its scaler `None`; [`load`] and [`load_sequential`] ignore the key.
//!
//! `crates/nn/tests/fixtures/make_sequential_fixture.py`, which writes the Sequential fixture
//! of the tests (with numpy and safetensors), runs that snippet on it when torch is installed
//! and compares torch's logits with numpy's. A file saved from such a PyTorch model has no layer list; an MLP loads from it
//! with [`load_with_activation`].
//!
//! Loading an [`Mlp`] reads the architecture from the tensors: layers `0, 2, 4, ...`, each a
//! weight and a bias, with each layer's inputs equal to the previous layer's outputs, and checks
//! the layer list, if any, against them. Both `F32` and `F64` files load into either precision:
//! `F32` into `f64` widens exactly, `F64` into `f32` rounds to nearest (as `x as f32` does). Any
//! other dtype is an error.
//!
//! Loading never panics on a file's contents and allocates in proportion to the file's size,
//! never to a size claimed by its header (whose tensors it counts as it parses, refusing more
//! than a model of [`MAX_LAYERS`] layers has): every problem is an [`IoError`] that names the
//! path and what is wrong. Only regular files are read (a symbolic link to one is followed).
//!
//! Saving is atomic and refuses, writing nothing, what it could only replace by destroying it
//! or what no one should load: a target that is not a regular file (a directory, a device, a
//! FIFO, a symbolic link), a read-only or hard-linked file, and parameters holding NaN or
//! infinity (unless [`save_allowing_non_finite`] is asked for). It writes through one locked
//! temporary file per target, `.NAME.tapegrad-save.tmp`, so that concurrent saves to one file
//! fail cleanly instead of interleaving, and the replaced file's permission bits are kept.
//! [`check_save_target`] runs the checks alone, to fail before a long training run. See
//! [`save`] for the details.
//!
//! ```
//! use tapegrad_nn::{Activation, Init, Mlp, io};
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
//! assert_eq!(*wide.layers()[0].weight, mlp.layers()[0].weight.cast::<f64>());
//!
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod atomic;
mod layers;
mod names;
mod safetensors;

use crate::data::StandardScaler;
use crate::{Activation, Layer, Mlp, Module, Sequential};
use std::borrow::Cow;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use tapegrad_autograd::Float;

pub use names::MAX_LAYERS;

/// The `__metadata__` key holding the hidden layers' activation, when an MLP's hidden layers
/// share one (what files of earlier versions hold instead of a layer list).
pub const ACTIVATION_KEY: &str = "activation";

/// The `__metadata__` key holding the layer list (see the [module docs](self#the-layer-list)).
pub const LAYERS_KEY: &str = "layers";

/// The `__metadata__` key holding the input scaler, when the model was saved with one (see the
/// [module docs](self#the-input-scaler)).
pub const SCALER_KEY: &str = "scaler";

/// What went wrong saving or loading a model, and in which file: [`path`](IoError::path) and
/// [`kind`](IoError::kind).
///
/// It displays as the path, a colon, and the problem. For [`IoErrorKind::Io`],
/// [`source`](std::error::Error::source) is the operating system's error.
#[derive(Debug)]
pub struct IoError {
    path: PathBuf,
    kind: IoErrorKind,
}

/// What went wrong saving or loading a model (the file is in the [`IoError`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum IoErrorKind {
    /// The operating system refused to read or write the file (or, when saving, its temporary
    /// sibling), or the path has no file name or a parent that is not a directory.
    Io {
        /// The underlying error.
        source: io::Error,
    },
    /// There is something other than a regular file at the path (when saving, a symbolic link
    /// included: it is refused, not followed; when loading, a link to a regular file is fine).
    NotARegularFile {
        /// What is there: `"a directory"`, `"a symbolic link"`, `"a character device"`,
        /// `"a FIFO"`, ...
        found: &'static str,
    },
    /// [`save`]: the file at the path is read-only (it has no write permission bit).
    ReadOnly,
    /// [`save`]: the file at the path has other hard links, which an atomic replace would
    /// leave holding the old contents.
    HardLinked {
        /// The number of links to the file, this one included.
        links: u64,
    },
    /// [`save`]: the temporary file beside the path is locked by another save to the same
    /// file, still in progress.
    SaveInProgress {
        /// The temporary file.
        temp: PathBuf,
    },
    /// [`save`]: the temporary file's name is taken by something other than a regular file.
    BadTempFile {
        /// The temporary file.
        temp: PathBuf,
        /// What is there, as in [`NotARegularFile`](IoErrorKind::NotARegularFile).
        found: &'static str,
    },
    /// [`save`]: a parameter holds a NaN or an infinity ([`save_allowing_non_finite`] writes
    /// them).
    NonFinite {
        /// The parameter's name in the file (`"0.weight"`).
        name: String,
        /// The index of the first such value in the parameter's
        /// [`data`](tapegrad_autograd::Tensor::data) (for a weight, row-major `[in, out]`, as
        /// [`Linear::weight`](crate::Linear::weight) holds it).
        index: usize,
        /// The value.
        value: f64,
    },
    /// Not a safetensors file, or a corrupt or truncated one: the header length, the JSON
    /// header or the data offsets do not add up, or the header lists more tensors than a model
    /// of [`MAX_LAYERS`] layers has.
    Format {
        /// What is wrong.
        reason: String,
    },
    /// A tensor the model needs is not in the file.
    MissingTensor {
        /// The tensor's name (`"2.bias"`).
        name: String,
    },
    /// The file holds a tensor that is no parameter of the model.
    UnexpectedTensor {
        /// The tensor's name.
        name: String,
    },
    /// A tensor's shape is not the one the model needs.
    WrongShape {
        /// The tensor's name.
        name: String,
        /// The shape needed, in the file's (PyTorch's) layout.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A weight is not a matrix `[out, in]` with both sizes positive.
    NotAMatrix {
        /// The tensor's name.
        name: String,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is neither `F32` nor `F64`.
    WrongDtype {
        /// The tensor's name.
        name: String,
        /// The dtype in the file, as safetensors writes it (`"I64"`, `"F16"`).
        found: String,
    },
    /// The file holds no tensors at all.
    NoLayers,
    /// A layer's inputs differ from the previous layer's outputs.
    LayersDontChain {
        /// Our index of the layer whose inputs are wrong (its tensors are `"{2 layer}.*"`).
        layer: usize,
        /// The previous layer's outputs.
        previous_outputs: usize,
        /// This layer's inputs.
        inputs: usize,
    },
    /// The file does not say which activation the model uses.
    MissingActivation,
    /// [`save`]: an activation has no PyTorch name (a custom one, [`Activation::custom`] or
    /// [`Activation::rule`]): the file could not say what it is, so [`load`] could not rebuild
    /// the model.
    UnnamedActivation {
        /// The layer's index in the `Sequential` (for an [`Mlp`], `2 l + 1` after its layer `l`).
        layer: usize,
        /// The activation's name.
        activation: String,
    },
    /// The layer list in the metadata is malformed, or disagrees with the tensors, or
    /// ([`load`]) describes a model that is no MLP.
    BadLayers {
        /// What is wrong.
        reason: String,
    },
    /// [`load_sequential`]: the metadata has no layer list (a file not written by tapegrad?).
    MissingLayers,
    /// The file names an activation this crate does not have.
    UnknownActivation {
        /// The name in the file.
        name: String,
    },
    /// The input scaler in the metadata is malformed, or its column count is not the model's
    /// input count ([`save_with_scaler`], [`load_with_scaler`]).
    BadScaler {
        /// What is wrong.
        reason: String,
    },
    /// [`load_into`]: the file's activation differs from the model's.
    ActivationMismatch {
        /// The model's activation.
        expected: Activation,
        /// The file's activation.
        found: Activation,
    },
}

impl IoError {
    fn new(path: &Path, kind: IoErrorKind) -> Self {
        IoError { path: path.to_path_buf(), kind }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What went wrong.
    pub fn kind(&self) -> &IoErrorKind {
        &self.kind
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        match &self.kind {
            IoErrorKind::Io { source } => write!(f, "{source}"),
            IoErrorKind::NotARegularFile { found } => write!(f, "not a regular file but {found}"),
            IoErrorKind::ReadOnly => write!(f, "the file is read-only; refusing to replace it"),
            IoErrorKind::HardLinked { links } => write!(
                f,
                "the file has {links} hard links; replacing it atomically would leave the other links \
                 holding the old contents, so it is refused"
            ),
            IoErrorKind::SaveInProgress { temp } => {
                write!(f, "another save to this file is in progress (it holds the lock on {})", temp.display())
            }
            IoErrorKind::BadTempFile { temp, found } => {
                write!(f, "the temporary file {} is not a regular file but {found}", temp.display())
            }
            IoErrorKind::NonFinite { name, index, value } => write!(
                f,
                "parameter '{name}' holds {value} at index {index}; refusing to save non-finite weights \
                 (save_allowing_non_finite writes them)"
            ),
            IoErrorKind::Format { reason } => {
                write!(f, "not a valid safetensors file (corrupt or truncated?): {reason}")
            }
            IoErrorKind::MissingTensor { name } => write!(f, "tensor '{name}' is missing"),
            IoErrorKind::UnexpectedTensor { name } => write!(
                f,
                "unexpected tensor '{name}' (an MLP has only tensors named 0.weight, 0.bias, 2.weight, 2.bias, ...)"
            ),
            IoErrorKind::WrongShape { name, expected, found } => {
                write!(f, "tensor '{name}' has shape {found:?}, expected {expected:?}")
            }
            IoErrorKind::NotAMatrix { name, found } => {
                write!(f, "tensor '{name}' has shape {found:?}, expected a matrix [out, in] with out, in > 0")
            }
            IoErrorKind::WrongDtype { name, found } => {
                write!(f, "tensor '{name}' has dtype {found}, expected F32 or F64")
            }
            IoErrorKind::NoLayers => write!(f, "no layers: the file holds no tensors"),
            IoErrorKind::LayersDontChain { layer, previous_outputs, inputs } => write!(
                f,
                "layers don't chain: '{}.weight' has {previous_outputs} outputs but '{}.weight' has {inputs} inputs",
                2 * layer.saturating_sub(1),
                2 * layer
            ),
            IoErrorKind::MissingActivation => write!(
                f,
                "no '{ACTIVATION_KEY}' in the metadata (a file not written by tapegrad?); \
                 use load_with_activation to name it"
            ),
            IoErrorKind::UnknownActivation { name } => {
                write!(f, "unknown activation '{name}' in the metadata (expected one of Activation::ALL's names)")
            }
            IoErrorKind::UnnamedActivation { layer, activation } => write!(
                f,
                "layer {layer}'s activation '{activation}' is a custom one, which PyTorch has no name for: \
                 the file could not record it, so the model is not saved"
            ),
            IoErrorKind::BadLayers { reason } => write!(f, "bad layer list in the metadata: {reason}"),
            IoErrorKind::BadScaler { reason } => write!(f, "bad input scaler in the metadata: {reason}"),
            IoErrorKind::MissingLayers => write!(
                f,
                "no '{LAYERS_KEY}' in the metadata (a file not written by tapegrad?): a Sequential cannot be rebuilt without it"
            ),
            IoErrorKind::ActivationMismatch { expected, found } => {
                write!(f, "the file's activation is {found} but the model's is {expected}")
            }
        }
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            IoErrorKind::Io { source } => Some(source),
            _ => None,
        }
    }
}

/// Saves a model (an [`Mlp`] or a [`Sequential`]) to `path` as safetensors, in PyTorch's
/// layout, with its layer list (see the [module docs](self)).
///
/// What is refused, each with an [`IoError`] and nothing written:
/// - a custom activation ([`IoErrorKind::UnnamedActivation`], naming its layer and name);
/// - anything [`check_save_target`] refuses: a path whose directory is missing, or with
///   something other than a regular file at it (a directory, a device such as `/dev/null`, a
///   FIFO, a socket, or a symbolic link, which is refused rather than followed), or a regular
///   file that is read-only or has other hard links;
/// - a NaN or an infinity in any parameter ([`IoErrorKind::NonFinite`], naming the parameter,
///   the index and the value); [`save_allowing_non_finite`] writes them;
/// - a save to the same file already in progress, in this process or another
///   ([`IoErrorKind::SaveInProgress`]).
///
/// The save is atomic: the bytes go to the temporary file `.NAME.tapegrad-save.tmp` beside
/// `path` (for `path` = `dir/NAME`), locked for the duration of the save, which is flushed to
/// disk and then renamed over `path`. The new file keeps the permission bits of the file it
/// replaces. If anything fails (an error, or a panic), the temporary file is removed and
/// whatever was at `path` before is untouched; if the process is killed, the temporary file
/// stays behind, and the next save to `path` empties and reuses it.
///
/// The checks run before the write, so a file put at `path` between them and the rename (by
/// another program) is replaced.
///
/// # Errors
/// As above; [`IoErrorKind::Io`] if the file cannot be written.
pub fn save<T: Float>(model: &impl SaveModel<T>, path: impl AsRef<Path>) -> Result<(), IoError> {
    let path = path.as_ref();
    let permissions = atomic::check_target(path)?;
    check_finite(model, path)?;
    save_with(model, None, path, permissions, |file, bytes| file.write_all(bytes))
}

/// [`save`], with the [`StandardScaler`] the model's inputs go through stored beside it (see
/// [the input scaler](self#the-input-scaler)), so that [`load_with_scaler`] gives back
/// everything needed to predict from raw features.
///
/// # Errors
/// As [`save`], and [`IoErrorKind::BadScaler`] if the scaler's column count is not the model's
/// input count.
pub fn save_with_scaler<T: Float>(
    model: &impl SaveModel<T>,
    scaler: &StandardScaler<T>,
    path: impl AsRef<Path>,
) -> Result<(), IoError> {
    let path = path.as_ref();
    let inputs = model.sequential_layers().iter().find_map(|layer| match layer {
        Layer::Linear(l) => Some(l.inputs()),
        Layer::LayerNorm(n) => Some(n.features()),
        _ => None,
    });
    if let Some(inputs) = inputs
        && inputs != scaler.mean().len()
    {
        let reason = format!("the scaler has {} columns but the model takes {inputs} inputs", scaler.mean().len());
        return Err(IoError::new(path, IoErrorKind::BadScaler { reason }));
    }
    let permissions = atomic::check_target(path)?;
    check_finite(model, path)?;
    save_with(model, Some(scaler), path, permissions, |file, bytes| file.write_all(bytes))
}

/// A model [`save`] writes: an [`Mlp`] or a [`Sequential`]. Sealed: the file format is this
/// crate's.
pub trait SaveModel<T: Float>: Module<T> + sealed::Sealed {
    /// The model as the layers of a `torch.nn.Sequential`.
    #[doc(hidden)]
    fn sequential_layers(&self) -> Cow<'_, [Layer<T>]>;
}

mod sealed {
    pub trait Sealed {}
    impl<T: tapegrad_autograd::Float> Sealed for crate::Mlp<T> {}
    impl<T: tapegrad_autograd::Float> Sealed for crate::Sequential<T> {}
}

impl<T: Float> SaveModel<T> for Mlp<T> {
    fn sequential_layers(&self) -> Cow<'_, [Layer<T>]> {
        Cow::Owned(self.to_sequential().layers().to_vec())
    }
}

impl<T: Float> SaveModel<T> for Sequential<T> {
    fn sequential_layers(&self) -> Cow<'_, [Layer<T>]> {
        Cow::Borrowed(self.layers())
    }
}

/// [`save`], without the check for NaNs and infinities: they are written as they are.
///
/// # Errors
/// As [`save`], but never [`IoErrorKind::NonFinite`].
pub fn save_allowing_non_finite<T: Float>(model: &impl SaveModel<T>, path: impl AsRef<Path>) -> Result<(), IoError> {
    let path = path.as_ref();
    let permissions = atomic::check_target(path)?;
    save_with(model, None, path, permissions, |file, bytes| file.write_all(bytes))
}

/// Runs the checks [`save`] makes of `path` before it writes anything, and writes nothing: that
/// `path` has a file name and a parent directory that exists, that whatever is at `path` is a
/// regular file (not a symbolic link) that is writable and has no other hard links, and that
/// the temporary file's name is free or taken by a regular file. Useful to fail before a long
/// computation whose result is to be saved.
///
/// ```
/// use tapegrad_nn::io::{self, IoErrorKind};
/// let err = io::check_save_target(std::env::temp_dir()).unwrap_err();
/// assert!(matches!(err.kind(), IoErrorKind::NotARegularFile { found: "a directory" }));
/// ```
///
/// # Errors
/// [`IoErrorKind::Io`] if the path has no file name or its parent is missing or no directory,
/// [`IoErrorKind::NotARegularFile`], [`IoErrorKind::ReadOnly`], [`IoErrorKind::HardLinked`] or
/// [`IoErrorKind::BadTempFile`].
pub fn check_save_target(path: impl AsRef<Path>) -> Result<(), IoError> {
    atomic::check_target(path.as_ref()).map(|_| ())
}

/// The first NaN or infinity among the model's parameters, as an error (the parameters' names
/// are the file's).
fn check_finite<T: Float>(model: &impl Module<T>, path: &Path) -> Result<(), IoError> {
    for p in model.parameters() {
        if let Some((index, value)) = p.param.data().iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(IoError::new(path, IoErrorKind::NonFinite { name: p.name, index, value: value.to_f64() }));
        }
    }
    Ok(())
}

/// [`save`] after its checks, with the write of the bytes into the temporary file left to
/// `write`, so that tests can make it fail half way.
fn save_with<T: Float>(
    model: &impl SaveModel<T>,
    scaler: Option<&StandardScaler<T>>,
    path: &Path,
    permissions: Option<fs::Permissions>,
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> Result<(), IoError> {
    let bytes = safetensors::to_bytes(&model.sequential_layers(), scaler)
        .map_err(|(layer, activation)| IoError::new(path, IoErrorKind::UnnamedActivation { layer, activation }))?;
    atomic::write_atomically(path, permissions, |file| write(file, &bytes))
}

/// Loads an MLP saved by [`save`]: the architecture from the tensors, the activations from the
/// metadata's layer list (or, in files of earlier versions, its one `"activation"`).
///
/// # Errors
/// [`IoErrorKind::MissingActivation`] if the file does not name its activation (files written
/// by PyTorch don't: use [`load_with_activation`]); [`IoErrorKind::BadLayers`] if the layer
/// list is malformed, disagrees with the tensors or is no MLP (use [`load_sequential`]); [`IoErrorKind::NotARegularFile`] for a
/// directory, device or FIFO (a symbolic link to a regular file is followed); otherwise any
/// [`IoError`] that says why the file is not an MLP.
pub fn load<T: Float>(path: impl AsRef<Path>) -> Result<Mlp<T>, IoError> {
    let path = path.as_ref();
    let file = read_model_file::<T>(path)?;
    let activations = file.activations()?.ok_or_else(|| IoError::new(path, IoErrorKind::MissingActivation))?;
    file.into_mlp(activations)
}

/// Loads an MLP as [`load`] does, and the input scaler saved with it by [`save_with_scaler`]
/// (`None` for a file saved without one, by [`save`], an earlier version or PyTorch).
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::data::StandardScaler;
/// use tapegrad_nn::{Activation, Init, Mlp, io};
/// use rand::{SeedableRng, rngs::StdRng};
///
/// let dir = std::env::temp_dir().join(format!("tapegrad-io-scaler-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("model.safetensors");
/// let raw = Tensor::from_rows(&[[150.0f32, 0.2], [170.0, 0.4], [190.0, 0.9]]);
/// let scaler = StandardScaler::fit(&raw)?;
/// let mlp = Mlp::<f32>::new(&[2, 4, 1], Activation::Tanh, Init::GlorotUniform, &mut StdRng::seed_from_u64(0));
/// io::save_with_scaler(&mlp, &scaler, &path)?;
///
/// // Elsewhere, from the file alone: raw features in, the same predictions out.
/// let (model, saved) = io::load_with_scaler::<f32>(&path)?;
/// let saved = saved.expect("saved with a scaler");
/// assert_eq!(model.logits(&saved.transform(&raw)), mlp.logits(&scaler.transform(&raw)));
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Any error of [`load`]; [`IoErrorKind::BadScaler`] if the scaler is malformed (see
/// [the input scaler](self#the-input-scaler)) or its column count is not the model's input count.
pub fn load_with_scaler<T: Float>(path: impl AsRef<Path>) -> Result<(Mlp<T>, Option<StandardScaler<T>>), IoError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let file = safetensors::parse::<T>(&bytes, path)?;
    let activations = file.activations()?.ok_or_else(|| IoError::new(path, IoErrorKind::MissingActivation))?;
    let mlp = file.into_mlp(activations)?;
    let scaler = safetensors::read_scaler::<T>(&bytes, path)?;
    if let Some(scaler) = &scaler
        && scaler.mean().len() != mlp.sizes()[0]
    {
        let reason =
            format!("the scaler has {} columns but the model takes {} inputs", scaler.mean().len(), mlp.sizes()[0]);
        return Err(IoError::new(path, IoErrorKind::BadScaler { reason }));
    }
    Ok((mlp, scaler))
}

/// The input scaler saved in a model file by [`save_with_scaler`], if any, for a model of
/// either kind (load the model itself with [`load`] or [`load_sequential`]). The column count
/// is not checked against the model's inputs.
///
/// # Errors
/// [`IoErrorKind::BadScaler`] if the scaler is malformed; an [`IoError`] if the file is not a
/// readable safetensors file.
pub fn load_scaler<T: Float>(path: impl AsRef<Path>) -> Result<Option<StandardScaler<T>>, IoError> {
    let path = path.as_ref();
    safetensors::read_scaler(&read_file(path)?, path)
}

/// Loads a [`Sequential`] saved by [`save`] (or an [`Mlp`] saved by it, as the `Sequential` of
/// its layers): the layers from the metadata's layer list, their parameters from the tensors.
/// The model is in [`Mode::Train`](crate::Mode::Train), as a new one is; each dropout layer
/// is seeded with its index (the file records no generator state).
///
/// ```
/// use tapegrad_autograd::Tensor;
/// use tapegrad_nn::{Activation, Dropout, Init, Layer, LayerNorm, Sequential, io};
/// use rand::{SeedableRng, rngs::StdRng};
///
/// let dir = std::env::temp_dir().join(format!("tapegrad-io-seq-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("model.safetensors");
/// let mut rng = StdRng::seed_from_u64(0);
/// let model = Sequential::<f32>::new(vec![
///     Layer::linear(4, 8, Init::HeUniform, &mut rng),
///     LayerNorm::new(8).into(),
///     Activation::LeakyRelu(0.2).into(),
///     Dropout::new(0.5, 1).into(),
///     Layer::linear(8, 3, Init::GlorotUniform, &mut rng),
/// ]);
/// io::save(&model, &path)?;
/// let back = io::load_sequential::<f32>(&path)?;
/// assert_eq!(back, model);
/// let x = Tensor::rand_normal([2, 4], 0.0, 1.0, &mut rng);
/// assert_eq!(back.logits(&x), model.logits(&x));
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`IoErrorKind::MissingLayers`] if the metadata has no layer list (files written by PyTorch
/// or by earlier versions: [`load_with_activation`] reads an MLP from them);
/// [`IoErrorKind::BadLayers`] if it is malformed or its layers do not chain;
/// [`IoErrorKind::MissingTensor`], [`IoErrorKind::WrongShape`] or
/// [`IoErrorKind::UnexpectedTensor`] if the tensors are not exactly those of the layers; any
/// other [`IoError`] of [`load`].
pub fn load_sequential<T: Float>(path: impl AsRef<Path>) -> Result<Sequential<T>, IoError> {
    let path = path.as_ref();
    safetensors::parse_sequential(&read_file(path)?, path)
}

/// Loads an MLP with the given activation, whatever the file's metadata says (or doesn't):
/// for files written by PyTorch, which record no activation.
///
/// ```no_run
/// use tapegrad_nn::{Activation, io};
/// // model = torch.nn.Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
/// // safetensors.torch.save_file(model.state_dict(), "from_torch.safetensors")
/// let mlp = io::load_with_activation::<f32>("from_torch.safetensors", Activation::Relu)?;
/// assert_eq!(mlp.sizes(), [784, 128, 10]);
/// # Ok::<(), tapegrad_nn::io::IoError>(())
/// ```
///
/// # Errors
/// Any [`IoError`] that says why the file is not an MLP.
pub fn load_with_activation<T: Float>(path: impl AsRef<Path>, activation: Activation) -> Result<Mlp<T>, IoError> {
    let file = read_model_file::<T>(path.as_ref())?;
    let hidden = file.layers.len().saturating_sub(1);
    file.into_mlp(vec![activation; hidden])
}

/// Loads a file's parameters into an existing `mlp`, checking that the file has exactly its
/// tensors with exactly its shapes and, if the file names an activation, that it is `mlp`'s.
/// On error `mlp` is unchanged.
///
/// # Errors
/// [`IoErrorKind::MissingTensor`], [`IoErrorKind::UnexpectedTensor`] or
/// [`IoErrorKind::WrongShape`] (with the shape `mlp` needs) if the file's architecture differs,
/// [`IoErrorKind::ActivationMismatch`] if its activation does, or any error of [`load`] other
/// than a missing activation.
pub fn load_into<T: Float>(mlp: &mut Mlp<T>, path: impl AsRef<Path>) -> Result<(), IoError> {
    let path = path.as_ref();
    let file = read_model_file::<T>(path)?;
    let found = file.activations()?;
    let (ours, theirs) = (mlp.layers().len(), file.layers.len());
    if theirs < ours {
        return Err(IoError::new(path, IoErrorKind::MissingTensor { name: names::weight_name(theirs) }));
    }
    if theirs > ours {
        return Err(IoError::new(path, IoErrorKind::UnexpectedTensor { name: names::weight_name(ours) }));
    }
    for (l, (layer, raw)) in mlp.layers().iter().zip(&file.layers).enumerate() {
        let expected = vec![layer.outputs(), layer.inputs()];
        if raw.shape() != expected {
            // The bias shape follows the weight's, so the weight is the tensor to blame.
            let kind = IoErrorKind::WrongShape { name: names::weight_name(l), expected, found: raw.shape() };
            return Err(IoError::new(path, kind));
        }
    }
    if let Some(found) = found
        && let Some((expected, found)) = mlp.activations().iter().zip(found).find(|(a, b)| *a != b)
    {
        let expected = expected.clone();
        return Err(IoError::new(path, IoErrorKind::ActivationMismatch { expected, found }));
    }
    for (layer, raw) in mlp.layers_mut().iter_mut().zip(file.layers) {
        *layer = raw.into_linear();
    }
    Ok(())
}

/// Reads and checks everything in the file but the chaining of the layers and the activation.
fn read_model_file<T: Float>(path: &Path) -> Result<safetensors::ModelFile<T>, IoError> {
    let bytes = read_file(path)?;
    safetensors::parse::<T>(&bytes, path)
}

/// The file's bytes, reading no more than the size the file system reports, from a regular
/// file only: a FIFO or a device such as `/dev/zero` could be read forever.
fn read_file(path: &Path) -> Result<Vec<u8>, IoError> {
    let io_error = |source| IoError::new(path, IoErrorKind::Io { source });
    let not_regular = |metadata: &fs::Metadata| {
        atomic::non_regular(metadata).map(|found| IoError::new(path, IoErrorKind::NotARegularFile { found }))
    };
    // Checked before opening, since opening a FIFO blocks until something writes to it, and
    // again after, in case the path changed in between.
    if let Some(e) = not_regular(&fs::metadata(path).map_err(io_error)?) {
        return Err(e);
    }
    let file = File::open(path).map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    if let Some(e) = not_regular(&metadata) {
        return Err(e);
    }
    let len = metadata.len();
    let out_of_memory = || io_error(io::Error::from(io::ErrorKind::OutOfMemory));
    let capacity = usize::try_from(len).map_err(|_| out_of_memory())?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(capacity).map_err(|_| out_of_memory())?;
    file.take(len).read_to_end(&mut bytes).map_err(io_error)?;
    Ok(bytes)
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

        let err = save_with(&model(2), None, &path, None, |file, bytes| {
            file.write_all(&bytes[..bytes.len() / 2])?;
            Err(io::Error::other("disk full (injected)"))
        })
        .unwrap_err();

        assert!(matches!(err.kind(), IoErrorKind::Io { .. }) && err.path() == path, "{err:?}");
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
        let len = safetensors::to_bytes(&new.sequential_layers(), None).unwrap().len();
        // Nothing written, part of the length prefix, part of the header, all but one byte, and
        // every byte written before the error.
        for cut in [0, 1, 8, len / 2, len - 1, len] {
            let err = save_with(&new, None, &path, None, |file, bytes| {
                file.write_all(&bytes[..cut])?;
                Err(io::Error::other("interrupted (injected)"))
            })
            .unwrap_err();
            assert!(matches!(err.kind(), IoErrorKind::Io { .. }), "cut {cut}: {err:?}");
            assert_eq!(fs::read(&path).unwrap(), old_bytes, "cut {cut}");
            assert_eq!(load::<f32>(&path).unwrap(), old, "cut {cut}");
            assert_eq!(dir.entries(), ["m.safetensors"], "cut {cut}");
        }
        // With nothing there before, a failed save leaves nothing.
        let fresh = dir.file("fresh.safetensors");
        save_with(&new, None, &fresh, None, |_, _| Err(io::Error::other("interrupted (injected)"))).unwrap_err();
        assert_eq!(dir.entries(), ["m.safetensors"]);
    }

    #[test]
    fn a_save_that_panics_half_way_leaves_no_temp_file_and_the_previous_file() {
        let dir = TempDir::new("panic");
        let path = dir.file("m.safetensors");
        let old = model(4);
        save(&old, &path).unwrap();
        let panicked = std::panic::catch_unwind(|| {
            let _ = save_with(&model(5), None, &path, None, |file, bytes| {
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

        match err.kind() {
            IoErrorKind::Io { source } => assert_eq!(source.kind(), io::ErrorKind::NotFound),
            other => panic!("expected Io, got {other:?}"),
        }
        assert_eq!(err.path(), target);
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
        assert!(matches!(err.kind(), IoErrorKind::NotARegularFile { found: "a directory" }), "{err:?}");
        assert_eq!(dir.entries(), ["m.safetensors"]);
    }
}
