//! PyTorch's names for an MLP's parameters: layer `l` is `Sequential` module `2 l` (the
//! activations between the layers are the odd modules), so its tensors are `"{2l}.weight"` and
//! `"{2l}.bias"`.

use super::{IoError, IoErrorKind};
use std::collections::BTreeSet;
use std::path::Path;

/// The most layers a model file may have. A header listing more than twice this many tensors
/// is rejected before anything is built from it, so that a hostile header of millions of tiny
/// entries costs no more than reading its first few thousand.
pub const MAX_LAYERS: usize = 1024;

/// The most tensors a model file's header may list: a weight and a bias per layer.
pub(super) const MAX_TENSORS: usize = 2 * MAX_LAYERS;

/// `"{2l}.weight"`, the name of layer `l`'s weight: the name [`Mlp`](crate::Mlp)'s
/// parameter list gives it.
pub(super) fn weight_name(layer: usize) -> String {
    crate::mlp::parameter_name(layer, "weight")
}

/// `"{2l}.bias"`, the name of layer `l`'s bias.
pub(super) fn bias_name(layer: usize) -> String {
    crate::mlp::parameter_name(layer, "bias")
}

/// `"4.weight"` -> `(4, true)`, `"4.bias"` -> `(4, false)`; `None` for any other name, including
/// odd modules (activations have no parameters) and non-canonical numbers (`"04.bias"`).
pub(super) fn parse_param_name(name: &str) -> Option<(usize, bool)> {
    let (index, suffix) = name.split_once('.')?;
    let is_weight = match suffix {
        "weight" => true,
        "bias" => false,
        _ => return None,
    };
    let module: usize = index.parse().ok()?;
    (module.is_multiple_of(2) && module.to_string() == index).then_some((module, is_weight))
}

/// The number of layers, after checking that `names` are exactly `0.weight`, `0.bias`, ...,
/// `{2(n-1)}.weight`, `{2(n-1)}.bias`.
pub(super) fn count_layers<'a>(names: impl IntoIterator<Item = &'a str>, path: &Path) -> Result<usize, IoError> {
    // (module index, is weight) of every tensor named like a Sequential parameter.
    let mut params = BTreeSet::new();
    let mut unexpected = BTreeSet::new();
    for name in names {
        match parse_param_name(name) {
            Some(param) => params.insert(param),
            None => unexpected.insert(name),
        };
    }
    if let Some(name) = unexpected.first() {
        return Err(IoError::new(path, IoErrorKind::UnexpectedTensor { name: name.to_string() }));
    }
    let Some(&(last, _)) = params.last() else {
        return Err(IoError::new(path, IoErrorKind::NoLayers));
    };
    // Every even module up to the last named one needs both tensors. The loop stops at the
    // first gap, so a huge index in a name costs no more than the number of names.
    for module in (0..=last).step_by(2) {
        for (is_weight, suffix) in [(true, "weight"), (false, "bias")] {
            if !params.contains(&(module, is_weight)) {
                let name = format!("{module}.{suffix}");
                return Err(IoError::new(path, IoErrorKind::MissingTensor { name }));
            }
        }
    }
    Ok(last / 2 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names() {
        assert_eq!(parse_param_name("0.weight"), Some((0, true)));
        assert_eq!(parse_param_name("12.bias"), Some((12, false)));
        assert_eq!((weight_name(3), bias_name(3)), ("6.weight".to_string(), "6.bias".to_string()));
        for name in ["1.weight", "04.bias", "+4.bias", "4.Weight", "4", "4.weight.x", "a.bias", ".bias", "-2.bias"] {
            assert_eq!(parse_param_name(name), None, "{name}");
        }
    }
}
