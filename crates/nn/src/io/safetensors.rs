//! The safetensors format: encoding an [`Mlp`] and parsing, checking and decoding a file.
//!
//! The header is parsed once, by a streaming reader that stops at the first entry past
//! [`MAX_TENSORS`](super::names::MAX_TENSORS) and keeps nothing of the metadata but the
//! activation, so what it builds stays within a small multiple of the file's size whatever
//! the header holds.

use super::layers::{self, Spec};
use super::names::{self, MAX_TENSORS};
use super::{ACTIVATION_KEY, IoError, IoErrorKind, LAYERS_KEY, SCALER_KEY};
use crate::data::StandardScaler;
use crate::{Activation, Dropout, Layer, LayerNorm, Linear, Mlp, Sequential};
use ::safetensors::Dtype;
use ::safetensors::tensor::TensorView;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use tapegrad_autograd::{Float, Precision, Tensor};

/// The most dimensions a tensor's shape may have in a model file (an MLP needs two); a longer
/// shape is refused while parsing, so that `[1,1,1,...]` cannot grow a vector of 8 bytes per
/// 2 bytes of header.
const MAX_DIMS: usize = 8;

/// The dtype a `Mlp<T>` is saved in.
fn dtype_of<T: Float>() -> Dtype {
    match T::PRECISION {
        Precision::F32 => Dtype::F32,
        Precision::F64 => Dtype::F64,
    }
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

/// The whole safetensors file for the model of `layers` (with the input scaler in the metadata,
/// if given), or the index and name of the first activation PyTorch has no name for.
pub(super) fn to_bytes<T: Float>(
    model: &[Layer<T>],
    scaler: Option<&StandardScaler<T>>,
) -> Result<Vec<u8>, (usize, String)> {
    let dtype = dtype_of::<T>();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, layer) in model.iter().enumerate() {
        match layer {
            Layer::Linear(layer) => {
                let (inputs, outputs) = (layer.inputs(), layer.outputs());
                let w = layer.weight.data();
                // Ours is [in, out]; PyTorch's is [out, in]: element (o, i) of the file is w[i][o].
                let transposed = (0..outputs).flat_map(|o| (0..inputs).map(move |i| w[i * outputs + o]));
                tensors.push((format!("{i}.weight"), vec![outputs, inputs], encode(transposed, dtype)));
                tensors.push((format!("{i}.bias"), vec![outputs], encode(layer.bias.data().iter().copied(), dtype)));
            }
            Layer::LayerNorm(n) => {
                let d = n.features();
                tensors.push((format!("{i}.weight"), vec![d], encode(n.weight.data().iter().copied(), dtype)));
                tensors.push((format!("{i}.bias"), vec![d], encode(n.bias.data().iter().copied(), dtype)));
            }
            Layer::Activation(_) | Layer::Dropout(_) => {}
        }
    }
    let mut metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (LAYERS_KEY.to_string(), layers::to_json(model)?),
        ("producer".to_string(), "tapegrad".to_string()),
    ]);
    // The one activation of an MLP's hidden layers, also under the key older versions read.
    if let Some(act) = shared_mlp_activation(model) {
        metadata.insert(ACTIVATION_KEY.to_string(), act.name());
    }
    if let Some(scaler) = scaler {
        metadata.insert(SCALER_KEY.to_string(), scaler_json(scaler));
    }
    let views = tensors.iter().map(|(name, shape, data)| {
        let view = TensorView::new(dtype, shape.clone(), data).expect("bytes match shape and dtype by construction");
        (name.as_str(), view)
    });
    Ok(::safetensors::serialize(views, Some(metadata)).expect("a few small tensors always serialize"))
}

/// `{"mean":[...],"scale":[...]}`: each value as the shortest decimal that reads back as the
/// same `f64`, so an `f32` or `f64` scaler round-trips bit for bit.
fn scaler_json<T: Float>(scaler: &StandardScaler<T>) -> String {
    let list = |xs: &[T]| xs.iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
    serde_json::json!({ "mean": list(scaler.mean()), "scale": list(scaler.scale()) }).to_string()
}

/// The scaler in the metadata of `bytes`, if there is one, checked: as many means as scales,
/// the means finite, the scales finite and positive (in `T`).
pub(super) fn read_scaler<T: Float>(bytes: &[u8], path: &Path) -> Result<Option<StandardScaler<T>>, IoError> {
    let (header, _) = header_and_data(bytes, path)?;
    let Some(json) = header.scaler else { return Ok(None) };
    let bad = |reason: String| IoError::new(path, IoErrorKind::BadScaler { reason });
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Parts {
        mean: Vec<f64>,
        scale: Vec<f64>,
    }
    let parts: Parts = serde_json::from_str(&json)
        .map_err(|e| bad(format!("not an object {{\"mean\": [...], \"scale\": [...]}} of numbers: {e}")))?;
    if parts.mean.len() != parts.scale.len() {
        return Err(bad(format!("{} means but {} scales", parts.mean.len(), parts.scale.len())));
    }
    let mean: Vec<T> = parts.mean.iter().map(|&m| T::from_f64(m)).collect();
    let scale: Vec<T> = parts.scale.iter().map(|&s| T::from_f64(s)).collect();
    if let Some(j) = mean.iter().position(|m| !m.is_finite()) {
        return Err(bad(format!("mean {j} is {}, not finite in {}", parts.mean[j], T::NAME)));
    }
    if let Some(j) = scale.iter().position(|s| !(s.is_finite() && *s > T::ZERO)) {
        return Err(bad(format!("scale {j} is {}, not finite and positive in {}", parts.scale[j], T::NAME)));
    }
    Ok(Some(StandardScaler::from_parts(mean, scale)))
}

/// The activation every hidden layer shares, when `model` is `Linear, act, ..., Linear` with at
/// least one hidden layer.
fn shared_mlp_activation<T: Float>(model: &[Layer<T>]) -> Option<&Activation> {
    let mut shared: Option<&Activation> = None;
    for (i, layer) in model.iter().enumerate() {
        match (i % 2, layer) {
            (0, Layer::Linear(_)) => {}
            (1, Layer::Activation(a)) if shared.is_none_or(|s| s == a) => shared = Some(a),
            _ => return None,
        }
    }
    shared.filter(|_| model.len() % 2 == 1)
}

/// One layer as stored: weight `[out, in]` row-major, bias `[out]`.
pub(super) struct RawLayer<T> {
    pub(super) outputs: usize,
    pub(super) inputs: usize,
    weight: Vec<T>,
    bias: Vec<T>,
}

impl<T: Float> RawLayer<T> {
    pub(super) fn shape(&self) -> Vec<usize> {
        vec![self.outputs, self.inputs]
    }

    pub(super) fn into_linear(self) -> Linear<T> {
        let (inputs, outputs, w) = (self.inputs, self.outputs, &self.weight);
        let weight: Vec<T> = (0..inputs).flat_map(|i| (0..outputs).map(move |o| w[o * inputs + i])).collect();
        Linear::from_tensors(Tensor::from_vec([inputs, outputs], weight), Tensor::from_vec([outputs], self.bias))
    }
}

/// A file's layers (each well-formed on its own, not yet checked to chain) and its metadata.
pub(super) struct ModelFile<T> {
    path: PathBuf,
    pub(super) layers: Vec<RawLayer<T>>,
    activation: Option<String>,
    /// The layer list, parsed.
    specs: Option<Vec<Spec>>,
}

impl<T: Float> ModelFile<T> {
    /// The hidden activations the metadata gives, if it gives them: from the layer list, or
    /// else the one activation of older files, repeated for every hidden layer.
    pub(super) fn activations(&self) -> Result<Option<Vec<Activation>>, IoError> {
        if let Some(specs) = &self.specs {
            return mlp_activations(specs, &self.layers).map(Some).map_err(|reason| self.bad_layers(reason));
        }
        let hidden = self.layers.len().saturating_sub(1);
        Ok(self.activation()?.map(|a| vec![a; hidden]))
    }

    fn bad_layers(&self, reason: String) -> IoError {
        IoError::new(&self.path, IoErrorKind::BadLayers { reason })
    }

    /// The activation the metadata names, if it names one.
    pub(super) fn activation(&self) -> Result<Option<Activation>, IoError> {
        self.activation
            .as_deref()
            .map(|name| {
                name.parse()
                    .map_err(|_| IoError::new(&self.path, IoErrorKind::UnknownActivation { name: name.to_string() }))
            })
            .transpose()
    }

    pub(super) fn into_mlp(self, activations: Vec<Activation>) -> Result<Mlp<T>, IoError> {
        for (l, pair) in self.layers.windows(2).enumerate() {
            if pair[0].outputs != pair[1].inputs {
                return Err(IoError::new(
                    &self.path,
                    IoErrorKind::LayersDontChain {
                        layer: l + 1,
                        previous_outputs: pair[0].outputs,
                        inputs: pair[1].inputs,
                    },
                ));
            }
        }
        let linears = self.layers.into_iter().map(RawLayer::into_linear).collect();
        Ok(Mlp::from_layers_with_activations(linears, activations))
    }
}

/// The hidden activations of an MLP's layer list, checked against the file's tensors.
fn mlp_activations<T>(specs: &[Spec], raw: &[RawLayer<T>]) -> Result<Vec<Activation>, String> {
    let not_mlp = |i: usize, spec: &Spec| {
        format!(
            "layer {i} is {}: the layer list is no MLP (Linear, activation, ..., Linear); use load_sequential",
            spec.class()
        )
    };
    let mut activations = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        match (i % 2, spec) {
            (0, Spec::Linear { inputs, outputs }) => {
                let Some(r) = raw.get(i / 2) else {
                    return Err(format!("layer {i} is a Linear, but the file has no tensor '{i}.weight'"));
                };
                if (r.inputs, r.outputs) != (*inputs, *outputs) {
                    return Err(format!(
                        "layer {i} is Linear({inputs} -> {outputs}), but '{i}.weight' has shape [{}, {}]",
                        r.outputs, r.inputs
                    ));
                }
            }
            (1, Spec::Activation(a)) => activations.push(a.clone()),
            _ => return Err(not_mlp(i, spec)),
        }
    }
    if specs.len().is_multiple_of(2) {
        return Err(format!(
            "the layer list ends in layer {} ({}), not a Linear: no MLP; use load_sequential",
            specs.len() - 1,
            specs[specs.len() - 1].class()
        ));
    }
    if raw.len() != specs.len().div_ceil(2) {
        return Err(format!(
            "the layer list has {} Linear layers but the file has {}",
            specs.len().div_ceil(2),
            raw.len()
        ));
    }
    Ok(activations)
}

/// One tensor entry of the header.
struct Entry {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    start: u64,
    end: u64,
}

/// What the header holds that loading needs.
struct Header {
    entries: Vec<Entry>,
    activation: Option<String>,
    layers: Option<String>,
    /// The input scaler's JSON, unparsed.
    scaler: Option<String>,
    /// `layers`, parsed.
    specs: Option<Vec<Spec>>,
}

/// The header, checked against the data that follows it, and the data.
fn header_and_data<'b>(bytes: &'b [u8], path: &Path) -> Result<(Header, &'b [u8]), IoError> {
    let format_error = |reason: String| IoError::new(path, IoErrorKind::Format { reason });
    let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(format_error(format!("{} bytes, too short for the 8-byte header length", bytes.len())));
    };
    let len = u64::from_le_bytes(*len);
    let Some(header) = usize::try_from(len).ok().and_then(|n| rest.get(..n)) else {
        return Err(format_error(format!("the header length {len} is more than the {} bytes after it", rest.len())));
    };
    let data = &rest[header.len()..];
    let mut header = read_header(header).map_err(format_error)?;
    check_layout(&header.entries, data.len() as u64).map_err(format_error)?;
    header.specs = header
        .layers
        .as_deref()
        .map(|json| layers::parse(json, 4 * names::MAX_LAYERS))
        .transpose()
        .map_err(|reason| IoError::new(path, IoErrorKind::BadLayers { reason }))?;
    Ok((header, data))
}

/// Decodes the tensor `name` of `entries`: its shape and values.
fn tensor<T: Float>(
    entries: &HashMap<&str, &Entry>,
    data: &[u8],
    name: String,
    path: &Path,
) -> Result<(String, Vec<usize>, Vec<T>), IoError> {
    let Some(entry) = entries.get(name.as_str()) else {
        return Err(IoError::new(path, IoErrorKind::MissingTensor { name }));
    };
    // In range: check_layout checked every entry against the data's length.
    let raw = &data[entry.start as usize..entry.end as usize];
    let Some(values) = decode(raw, entry.dtype) else {
        return Err(IoError::new(path, IoErrorKind::WrongDtype { name, found: entry.dtype.to_string() }));
    };
    Ok((name, entry.shape.clone(), values))
}

/// Reads a [`Sequential`] from `bytes`: the layer list from the metadata, each layer's tensors
/// by name, every shape checked against the list and the list against itself.
pub(super) fn parse_sequential<T: Float>(bytes: &[u8], path: &Path) -> Result<Sequential<T>, IoError> {
    let (mut header, data) = header_and_data(bytes, path)?;
    let specs = header.specs.take();
    let bad = |reason: String| IoError::new(path, IoErrorKind::BadLayers { reason });
    let specs = specs.ok_or_else(|| IoError::new(path, IoErrorKind::MissingLayers))?;
    let by_name: HashMap<&str, &Entry> = header.entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut used = 0;
    let mut take = |name: String, expected: Vec<usize>| -> Result<Vec<T>, IoError> {
        let (name, shape, values) = tensor::<T>(&by_name, data, name, path)?;
        if shape != expected {
            return Err(IoError::new(path, IoErrorKind::WrongShape { name, expected, found: shape }));
        }
        used += 1;
        Ok(values)
    };
    let mut layers = Vec::with_capacity(specs.len());
    // The features the layers so far produce, and the layer that fixed them.
    let mut features: Option<(usize, usize)> = None;
    for (i, spec) in specs.iter().enumerate() {
        let (takes, gives) = match *spec {
            Spec::Linear { inputs, outputs } => (Some(inputs), Some(outputs)),
            Spec::LayerNorm { features, .. } => (Some(features), Some(features)),
            _ => (None, None),
        };
        if let (Some(takes), Some((j, f))) = (takes, features)
            && takes != f
        {
            return Err(bad(format!("layer {i} ({}) takes {takes} features but layer {j} gives {f}", spec.class())));
        }
        if let Some(g) = gives {
            features = Some((i, g));
        }
        layers.push(match spec {
            Spec::Linear { inputs, outputs } => {
                let (inputs, outputs) = (*inputs, *outputs);
                let w = take(format!("{i}.weight"), vec![outputs, inputs])?;
                let b = take(format!("{i}.bias"), vec![outputs])?;
                RawLayer { outputs, inputs, weight: w, bias: b }.into_linear().into()
            }
            Spec::LayerNorm { features, eps } => {
                let w = take(format!("{i}.weight"), vec![*features])?;
                let b = take(format!("{i}.bias"), vec![*features])?;
                LayerNorm::from_tensors(Tensor::from_vec([*features], w), Tensor::from_vec([*features], b), *eps).into()
            }
            Spec::Activation(a) => a.clone().into(),
            // Seeded by position: the file records no generator state (PyTorch's modules have none).
            Spec::Dropout(p) => Dropout::new(*p, i as u64).into(),
        });
    }
    if used != header.entries.len() {
        let mut expected = std::collections::HashSet::new();
        for (i, spec) in specs.iter().enumerate() {
            if matches!(spec, Spec::Linear { .. } | Spec::LayerNorm { .. }) {
                expected.insert(format!("{i}.weight"));
                expected.insert(format!("{i}.bias"));
            }
        }
        let mut extra: Vec<&str> =
            header.entries.iter().map(|e| e.name.as_str()).filter(|n| !expected.contains(*n)).collect();
        extra.sort_unstable();
        let name = extra.first().map_or_else(String::new, |n| n.to_string());
        return Err(IoError::new(path, IoErrorKind::UnexpectedTensor { name }));
    }
    Ok(Sequential::new(layers))
}

/// Reads and checks everything in `bytes` but the chaining of the layers and the activation.
pub(super) fn parse<T: Float>(bytes: &[u8], path: &Path) -> Result<ModelFile<T>, IoError> {
    let (mut header, data) = header_and_data(bytes, path)?;
    let specs = header.specs.take();
    // A layer list that is no MLP says so, rather than as an unexpected tensor name.
    if let Some(specs) = &specs
        && let Some((i, spec)) = specs
            .iter()
            .enumerate()
            .find(|(i, s)| !matches!((i % 2, s), (0, Spec::Linear { .. }) | (1, Spec::Activation(_))))
    {
        let reason = format!(
            "layer {i} is {}: the layer list is no MLP (Linear, activation, ..., Linear); use load_sequential",
            spec.class()
        );
        return Err(IoError::new(path, IoErrorKind::BadLayers { reason }));
    }

    let layer_count = names::count_layers(header.entries.iter().map(|e| e.name.as_str()), path)?;
    let by_name: HashMap<&str, &Entry> = header.entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let tensor = |name: String| tensor::<T>(&by_name, data, name, path);

    let mut layers = Vec::with_capacity(layer_count);
    for l in 0..layer_count {
        let (weight_name, shape, weight) = tensor(names::weight_name(l))?;
        let &[outputs, inputs] = shape.as_slice() else {
            return Err(IoError::new(path, IoErrorKind::NotAMatrix { name: weight_name, found: shape }));
        };
        if outputs == 0 || inputs == 0 {
            return Err(IoError::new(path, IoErrorKind::NotAMatrix { name: weight_name, found: shape }));
        }
        let (bias_name, bias_shape, bias) = tensor(names::bias_name(l))?;
        if bias_shape != [outputs] {
            return Err(IoError::new(
                path,
                IoErrorKind::WrongShape { name: bias_name, expected: vec![outputs], found: bias_shape },
            ));
        }
        layers.push(RawLayer { outputs, inputs, weight, bias });
    }
    Ok(ModelFile { path: path.to_path_buf(), layers, activation: header.activation, specs })
}

/// Parses the JSON header, in one pass.
fn read_header(header: &[u8]) -> Result<Header, String> {
    let mut de = serde_json::Deserializer::from_slice(header);
    let parsed = de.deserialize_map(HeaderVisitor).and_then(|h| de.end().map(|()| h));
    parsed.map_err(|e| format!("the header is not the JSON safetensors expects: {e}"))
}

/// Checks what the safetensors format requires of the entries, in the order its own reader
/// does: every tensor ends inside the data, the tensors lie back to back from byte 0 in order
/// of their offsets, each holds exactly the bytes its dtype and shape need, and together they
/// cover the data exactly.
fn check_layout(entries: &[Entry], data_len: u64) -> Result<(), String> {
    if let Some(e) = entries.iter().find(|e| e.end > data_len) {
        return Err(format!(
            "tensor '{}' claims data up to byte {}, but the file has {data_len} data bytes",
            e.name, e.end
        ));
    }
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| (e.start, e.end));
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(format!("tensor '{}' is listed twice", pair[0]));
    }
    let mut next = 0u64;
    for e in sorted {
        if e.start != next || e.end < e.start {
            return Err(format!(
                "tensor '{}' has data_offsets [{}, {}], but its data should start at byte {next}",
                e.name, e.start, e.end
            ));
        }
        let size = e
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .and_then(|n| n.checked_mul(e.dtype.bitsize() as u64))
            .filter(|bits| bits % 8 == 0)
            .map(|bits| bits / 8);
        if size != Some(e.end - e.start) {
            return Err(format!(
                "tensor '{}' has {} bytes of data, which is not what dtype {} and shape {:?} need",
                e.name,
                e.end - e.start,
                e.dtype,
                e.shape
            ));
        }
        next = e.end;
    }
    if next != data_len {
        return Err(format!("the tensors cover {next} of the file's {data_len} data bytes"));
    }
    Ok(())
}

/// Little-endian F32 or F64 bytes as `T`; `None` for any other dtype. The byte count is a
/// multiple of the element size: [`check_layout`] checked it against the shape.
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

/// The top level of the header: `__metadata__` and the tensor entries.
struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of tensor entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut header = Header { entries: Vec::new(), activation: None, layers: None, scaler: None, specs: None };
        let mut seen_metadata = false;
        while let Some(name) = map.next_key::<String>()? {
            if name == "__metadata__" {
                if seen_metadata {
                    return Err(de::Error::custom("__metadata__ is listed twice"));
                }
                seen_metadata = true;
                let metadata = map.next_value::<MetadataSeed>()?;
                (header.activation, header.layers, header.scaler) =
                    (metadata.activation, metadata.layers, metadata.scaler);
                continue;
            }
            if header.entries.len() == MAX_TENSORS {
                return Err(de::Error::custom(format!(
                    "more than {MAX_TENSORS} tensors, more than a model of {} layers has",
                    names::MAX_LAYERS
                )));
            }
            let info = map.next_value::<InfoSeed>()?;
            let missing = |field: &str| de::Error::custom(format!("tensor '{name}' has no {field}"));
            let dtype = info.dtype.ok_or_else(|| missing("dtype"))?;
            let shape = info.shape.ok_or_else(|| missing("shape"))?.0;
            let (start, end) = info.data_offsets.ok_or_else(|| missing("data_offsets"))?;
            header.entries.push(Entry { name, dtype, shape, start, end });
        }
        Ok(header)
    }
}

/// `__metadata__`: a map from strings to strings, of which only the activation, the layer
/// list and the scaler are kept.
struct MetadataSeed {
    activation: Option<String>,
    layers: Option<String>,
    scaler: Option<String>,
}

impl<'de> de::Deserialize<'de> for MetadataSeed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MetadataSeed;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of strings to strings, or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<MetadataSeed, E> {
                Ok(MetadataSeed { activation: None, layers: None, scaler: None })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetadataSeed, A::Error> {
                let (mut activation, mut layers, mut scaler) = (None, None, None);
                // Borrowed where the JSON has no escapes; either way one value at a time.
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let value = map.next_value::<String>()?;
                    if key == ACTIVATION_KEY {
                        activation = Some(value);
                    } else if key == LAYERS_KEY {
                        layers = Some(value);
                    } else if key == SCALER_KEY {
                        scaler = Some(value);
                    }
                }
                Ok(MetadataSeed { activation, layers, scaler })
            }
        }
        d.deserialize_option(OptionOf(V))
    }
}

/// Lets `null` through to the inner visitor's `visit_unit`, anything else to the visitor.
struct OptionOf<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptionOf<V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_map(self.0)
    }
}

/// One tensor's entry, fields as found (unknown fields are skipped, as safetensors does).
struct InfoSeed {
    dtype: Option<Dtype>,
    shape: Option<Shape>,
    data_offsets: Option<(u64, u64)>,
}

impl<'de> de::Deserialize<'de> for InfoSeed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InfoSeed;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a tensor entry {dtype, shape, data_offsets}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InfoSeed, A::Error> {
                let mut info = InfoSeed { dtype: None, shape: None, data_offsets: None };
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let duplicate = || de::Error::custom(format!("field '{key}' is listed twice"));
                    match &*key {
                        "dtype" if info.dtype.is_none() => info.dtype = Some(map.next_value()?),
                        "shape" if info.shape.is_none() => info.shape = Some(map.next_value()?),
                        "data_offsets" if info.data_offsets.is_none() => info.data_offsets = Some(map.next_value()?),
                        "dtype" | "shape" | "data_offsets" => return Err(duplicate()),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(info)
            }
        }
        d.deserialize_map(V)
    }
}

/// A shape of at most [`MAX_DIMS`] dimensions.
struct Shape(Vec<usize>);

impl<'de> de::Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a shape of at most {MAX_DIMS} sizes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut dims = Vec::new();
                while let Some(d) = seq.next_element::<usize>()? {
                    if dims.len() == MAX_DIMS {
                        return Err(de::Error::custom(format!("a shape of more than {MAX_DIMS} dimensions")));
                    }
                    dims.push(d);
                }
                Ok(Shape(dims))
            }
        }
        d.deserialize_seq(V)
    }
}
