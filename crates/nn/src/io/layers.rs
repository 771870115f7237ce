//! The layer list in the metadata (`__metadata__["layers"]`): a JSON array with one object per
//! `torch.nn.Sequential` module, `"type"` its class in `torch.nn` and the other keys its
//! constructor's keyword arguments.

use crate::{Activation, Layer};
use serde_json::{Map, Value};
use tapegrad_autograd::Float;

/// One entry of the layer list, as read.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Spec {
    Linear { inputs: usize, outputs: usize },
    Activation(Activation),
    Dropout(f64),
    LayerNorm { features: usize, eps: f64 },
}

impl Spec {
    /// PyTorch's class name, for messages.
    pub(super) fn class(&self) -> String {
        match self {
            Spec::Linear { .. } => "Linear".into(),
            Spec::Activation(a) => a.name(),
            Spec::Dropout(_) => "Dropout".into(),
            Spec::LayerNorm { .. } => "LayerNorm".into(),
        }
    }
}

/// The layer list of `layers`, or the index and name of the first activation PyTorch does not
/// know (a custom one).
pub(super) fn to_json<T: Float>(layers: &[Layer<T>]) -> Result<String, (usize, String)> {
    let mut items = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        items.push(match layer {
            Layer::Linear(l) => {
                format!(r#"{{"type":"Linear","in_features":{},"out_features":{}}}"#, l.inputs(), l.outputs())
            }
            Layer::Activation(a) => a.torch_module().ok_or_else(|| (i, a.name()))?,
            Layer::Dropout(d) => format!(r#"{{"type":"Dropout","p":{:?}}}"#, d.p()),
            Layer::LayerNorm(n) => {
                format!(r#"{{"type":"LayerNorm","normalized_shape":[{}],"eps":{:?}}}"#, n.features(), n.eps())
            }
        });
    }
    Ok(format!("[{}]", items.join(",")))
}

/// Parses a layer list, refusing anything [`to_json`] would not write (but for the order of
/// keys): an unknown class, a missing, extra or ill-typed argument.
pub(super) fn parse(json: &str, max_layers: usize) -> Result<Vec<Spec>, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("the layer list is not JSON: {e}"))?;
    let Value::Array(items) = value else {
        return Err("the layer list is not a JSON array".into());
    };
    if items.is_empty() {
        return Err("the layer list is empty".into());
    }
    if items.len() > max_layers {
        return Err(format!("the layer list has {} layers, more than the {max_layers} allowed", items.len()));
    }
    items.iter().enumerate().map(|(i, item)| parse_one(item).map_err(|e| format!("layer {i}: {e}"))).collect()
}

fn parse_one(item: &Value) -> Result<Spec, String> {
    let Value::Object(map) = item else {
        return Err(format!("{item} is not an object"));
    };
    let class = match map.get("type") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(format!("{item} has no string \"type\"")),
    };
    let args = |allowed: &[&str]| -> Result<(), String> {
        match map.keys().find(|k| *k != "type" && !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("{class} has an argument '{k}' this crate does not support")),
            None => Ok(()),
        }
    };
    let spec = match class {
        "Linear" => {
            args(&["in_features", "out_features", "bias"])?;
            if map.get("bias").is_some_and(|b| b != &Value::Bool(true)) {
                return Err("Linear without a bias is not supported".into());
            }
            Spec::Linear { inputs: size(map, class, "in_features")?, outputs: size(map, class, "out_features")? }
        }
        "Dropout" => {
            args(&["p"])?;
            let p = number(map, class, "p")?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("Dropout p = {p} is not in [0, 1]"));
            }
            Spec::Dropout(p)
        }
        "LayerNorm" => {
            args(&["normalized_shape", "eps"])?;
            let features = match map.get("normalized_shape") {
                Some(Value::Array(dims)) if dims.len() == 1 => {
                    dims[0].as_u64().filter(|&d| d > 0).and_then(|d| usize::try_from(d).ok())
                }
                Some(v) => v.as_u64().filter(|&d| d > 0).and_then(|d| usize::try_from(d).ok()),
                None => None,
            }
            .ok_or_else(|| "LayerNorm needs a \"normalized_shape\" of one positive size".to_string())?;
            let eps = match map.get("eps") {
                None => 1e-5,
                Some(_) => number(map, class, "eps")?,
            };
            if !(eps >= 0.0 && eps.is_finite()) {
                return Err(format!("LayerNorm eps = {eps} is not finite and >= 0"));
            }
            Spec::LayerNorm { features, eps }
        }
        _ => {
            let slope = if class == "LeakyReLU" {
                args(&["negative_slope"])?;
                map.get("negative_slope").map(|_| number(map, class, "negative_slope")).transpose()?
            } else {
                args(&[])?;
                None
            };
            let act = Activation::from_torch(class, slope)
                .ok_or_else(|| format!("unknown module type '{class}' (this crate has Linear, Dropout, LayerNorm and the activations of Activation::ALL)"))?;
            Spec::Activation(act)
        }
    };
    Ok(spec)
}

fn size(map: &Map<String, Value>, class: &str, key: &str) -> Result<usize, String> {
    map.get(key)
        .and_then(Value::as_u64)
        .filter(|&n| n > 0)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("{class} needs a positive integer \"{key}\""))
}

fn number(map: &Map<String, Value>, class: &str, key: &str) -> Result<f64, String> {
    map.get(key)
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{class} needs a finite number \"{key}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dropout, Init, LayerNorm};
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn every_layer_kind_round_trips_and_bad_lists_are_refused_by_position() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut layers: Vec<Layer<f32>> = vec![Layer::linear(3, 4, Init::HeUniform, &mut rng)];
        layers.extend(Activation::ALL.iter().cloned().map(Layer::from));
        layers.extend([Dropout::new(0.25, 0).into(), LayerNorm::<f32>::new(4).into()]);
        let json = to_json(&layers).unwrap();
        let specs = parse(&json, 100).unwrap();
        assert_eq!(specs[0], Spec::Linear { inputs: 3, outputs: 4 });
        for (spec, act) in specs[1..].iter().zip(Activation::ALL.iter()) {
            assert_eq!(spec, &Spec::Activation(act.clone()));
        }
        assert_eq!(specs[11..], [Spec::Dropout(0.25), Spec::LayerNorm { features: 4, eps: 1e-5 }]);

        let custom = Layer::<f32>::Activation(Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x));
        assert_eq!(to_json(&[layers[0].clone(), custom]), Err((1, "cube".to_string())));

        for (json, words) in [
            ("{}", "not a JSON array"),
            ("[]", "empty"),
            (r#"[{"type":"Conv2d"}]"#, "layer 0: unknown module type 'Conv2d'"),
            (r#"[{"type":"ReLU","inplace":true}]"#, "layer 0: ReLU has an argument 'inplace'"),
            (
                r#"[{"type":"Tanh"},{"type":"Linear","in_features":0,"out_features":2}]"#,
                "layer 1: Linear needs a positive integer \"in_features\"",
            ),
            (r#"[{"type":"Dropout","p":2}]"#, "p = 2 is not in [0, 1]"),
            (r#"[{"type":"Linear","in_features":2,"out_features":2,"bias":false}]"#, "without a bias"),
            (r#"[{"type":"LayerNorm","normalized_shape":[2,3]}]"#, "one positive size"),
            (r#"[1]"#, "layer 0: 1 is not an object"),
        ] {
            let err = parse(json, 100).unwrap_err();
            assert!(err.contains(words), "{json}: {err}");
        }
        assert!(parse(r#"[{"type":"Tanh"},{"type":"Tanh"}]"#, 1).unwrap_err().contains("more than the 1 allowed"));
    }
}
