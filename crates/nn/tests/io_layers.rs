//! The layer list in a file's metadata: per-layer activations of an `Mlp`, a `Sequential` with
//! dropout and layer norm saved and rebuilt by `load_sequential` alone, the refusal of custom
//! activations, and the errors of a layer list that is wrong.

use rand::{SeedableRng, rngs::StdRng};
use safetensors::SafeTensors;
use std::fs;
use std::path::Path;
use tapegrad_autograd::Tensor;
use tapegrad_nn::io::{self, IoErrorKind, LAYERS_KEY};
use tapegrad_nn::{Activation, Dropout, Init, Layer, LayerNorm, Mlp, Mode, Module, Sequential};
use testkit::TempDir;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A file's metadata, and its tensors' names and shapes.
type Contents = (std::collections::HashMap<String, String>, Vec<(String, Vec<usize>)>);

/// The file's metadata and its tensors' names and shapes, as the safetensors crate reads them.
fn contents(path: &Path) -> Contents {
    let bytes = fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = meta.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>)> =
        st.tensors().into_iter().map(|(name, view)| (name, view.shape().to_vec())).collect();
    tensors.sort();
    (metadata, tensors)
}

fn every_kind(rng: &mut StdRng) -> Sequential<f64> {
    let mut model = Sequential::new(vec![
        Layer::linear(4, 6, Init::HeNormal, rng),
        LayerNorm::new(6).into(),
        Activation::Gelu.into(),
        Dropout::new(0.2, 5).into(),
        Layer::linear(6, 5, Init::HeNormal, rng),
        Activation::LeakyRelu(0.125).into(),
        Layer::linear(5, 3, Init::GlorotUniform, rng),
    ]);
    // A gain and shift other than ones and zeros, so loading them is tested.
    if let Layer::LayerNorm(n) = &mut model.layers_mut()[1] {
        *n.weight.value_mut() = Tensor::rand_uniform([6], 0.5, 1.5, rng);
        *n.bias.value_mut() = Tensor::rand_uniform([6], -0.5, 0.5, rng);
    }
    model
}

#[test]
fn per_layer_activations_of_an_mlp_round_trip_and_are_listed_with_pytorch_names() {
    let dir = TempDir::new("acts");
    let mut rng = StdRng::seed_from_u64(1);
    // Each named activation after the first hidden layer, beside another after the second.
    for (i, act) in Activation::ALL.iter().enumerate() {
        let other = Activation::ALL[(i + 3) % Activation::ALL.len()].clone();
        let mlp =
            Mlp::<f32>::with_activations(&[3, 5, 4, 2], vec![act.clone(), other.clone()], Init::HeNormal, &mut rng);
        let path = dir.file(&format!("{i}.safetensors"));
        io::save(&mlp, &path).unwrap();
        let back = io::load::<f32>(&path).unwrap();
        assert_eq!(back, mlp);
        let x = Tensor::rand_normal([4, 3], 0.0, 1.0, &mut rng);
        assert_eq!(back.logits(&x), mlp.logits(&x));

        let (meta, _) = contents(&path);
        let want = format!(
            r#"[{{"type":"Linear","in_features":3,"out_features":5}},{},{{"type":"Linear","in_features":5,"out_features":4}},{},{{"type":"Linear","in_features":4,"out_features":2}}]"#,
            act.torch_module().unwrap(),
            other.torch_module().unwrap()
        );
        assert_eq!(meta[LAYERS_KEY], want);
        // The one-activation key of earlier versions, only when the hidden layers share one.
        assert_eq!(meta.contains_key("activation"), *act == other, "{act} {other}");
    }
    let shared = Mlp::<f32>::new(&[3, 5, 4, 2], Activation::Elu, Init::HeNormal, &mut rng);
    io::save(&shared, dir.file("shared.safetensors")).unwrap();
    assert_eq!(contents(&dir.file("shared.safetensors")).0["activation"], "elu");
}

#[test]
fn a_sequential_is_rebuilt_from_the_file_alone_in_pytorch_layout() {
    let dir = TempDir::new("seq");
    let mut rng = StdRng::seed_from_u64(2);
    let model = every_kind(&mut rng);
    let path = dir.file("m.safetensors");
    io::save(&model, &path).unwrap();

    let back = io::load_sequential::<f64>(&path).unwrap();
    assert_eq!(back, model);
    assert_eq!(back.mode(), Mode::Train);
    let x = Tensor::rand_normal([5, 4], 0.0, 1.0, &mut rng);
    assert_eq!(back.logits(&x), model.logits(&x));
    // Into f32: every parameter rounds to nearest, as `as f32` does.
    let narrow = io::load_sequential::<f32>(&path).unwrap();
    for (a, b) in narrow.parameters().iter().zip(model.parameters()) {
        assert_eq!(a.name, b.name);
        assert_eq!(**a.param, b.param.cast::<f32>());
    }

    let (meta, tensors) = contents(&path);
    let names: Vec<(&str, &[usize])> = tensors.iter().map(|(n, s)| (n.as_str(), s.as_slice())).collect();
    // torch.nn.Sequential's state_dict: Linear weights [out, in], LayerNorm's [d].
    assert_eq!(
        names,
        [
            ("0.bias", &[6][..]),
            ("0.weight", &[6, 4][..]),
            ("1.bias", &[6][..]),
            ("1.weight", &[6][..]),
            ("4.bias", &[5][..]),
            ("4.weight", &[5, 6][..]),
            ("6.bias", &[3][..]),
            ("6.weight", &[3, 5][..]),
        ]
    );
    assert_eq!(
        meta[LAYERS_KEY],
        concat!(
            r#"[{"type":"Linear","in_features":4,"out_features":6},"#,
            r#"{"type":"LayerNorm","normalized_shape":[6],"eps":1e-5},{"type":"GELU"},{"type":"Dropout","p":0.2},"#,
            r#"{"type":"Linear","in_features":6,"out_features":5},{"type":"LeakyReLU","negative_slope":0.125},"#,
            r#"{"type":"Linear","in_features":5,"out_features":3}]"#
        )
    );
    assert!(!meta.contains_key("activation"));

    // An Mlp's file is a Sequential's too.
    let mlp = Mlp::<f64>::new(&[4, 3, 2], Activation::Tanh, Init::GlorotUniform, &mut rng);
    io::save(&mlp, dir.file("mlp.safetensors")).unwrap();
    assert_eq!(io::load_sequential::<f64>(dir.file("mlp.safetensors")).unwrap(), mlp.to_sequential());
}

#[test]
fn a_custom_activation_is_refused_by_layer_and_name_and_nothing_is_written() {
    let dir = TempDir::new("custom");
    let mut rng = StdRng::seed_from_u64(3);
    let cube = Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x);
    let mlp =
        Mlp::<f32>::with_activations(&[3, 4, 4, 2], vec![Activation::Relu, cube.clone()], Init::HeNormal, &mut rng);
    let err = io::save(&mlp, dir.file("m.safetensors")).unwrap_err();
    // Hidden layer 1 of the Mlp is module 3 of its Sequential.
    assert!(
        matches!(err.kind(), IoErrorKind::UnnamedActivation { layer: 3, activation } if activation == "cube"),
        "{err:?}"
    );
    assert!(err.to_string().contains("layer 3's activation 'cube' is a custom one"), "{err}");
    let seq = Sequential::<f32>::new(vec![Layer::linear(3, 2, Init::HeNormal, &mut rng), cube.into()]);
    let err = io::save_allowing_non_finite(&seq, dir.file("s.safetensors")).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::UnnamedActivation { layer: 1, .. }), "{err:?}");
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

/// A valid Sequential file with its layer list replaced by `layers`.
fn with_layer_list(dir: &TempDir, layers: &str) -> std::path::PathBuf {
    let mut rng = StdRng::seed_from_u64(4);
    let model = every_kind(&mut rng);
    let good = dir.file("good.safetensors");
    io::save(&model, &good).unwrap();
    let bytes = fs::read(&good).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = meta.metadata().clone().unwrap();
    metadata.insert(LAYERS_KEY.into(), layers.into());
    let tensors = st.tensors();
    let out = safetensors::serialize(tensors.iter().map(|(n, v)| (n.as_str(), v.clone())), Some(metadata)).unwrap();
    let path = dir.file("edited.safetensors");
    fs::write(&path, out).unwrap();
    path
}

#[test]
fn a_wrong_layer_list_is_a_typed_error_naming_what_is_wrong() {
    let dir = TempDir::new("bad");
    let lin = |i: usize, o: usize| format!(r#"{{"type":"Linear","in_features":{i},"out_features":{o}}}"#);
    let norm = r#"{"type":"LayerNorm","normalized_shape":[6]}"#;
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "bad layer list in the metadata: the layer list is not JSON"),
        (r#"[{"type":"Conv2d"}]"#.into(), "layer 0: unknown module type 'Conv2d'"),
        // The list's layers do not chain.
        (
            format!("[{},{norm},{{\"type\":\"GELU\"}},{},{}]", lin(4, 6), lin(5, 5), lin(5, 3)),
            "layer 3 (Linear) takes 5 features but layer 1 gives 6",
        ),
    ];
    for (list, words) in cases {
        let err = io::load_sequential::<f64>(with_layer_list(&dir, &list)).unwrap_err();
        assert!(matches!(err.kind(), IoErrorKind::BadLayers { .. }), "{list}: {err:?}");
        assert!(err.to_string().contains(words), "{list}: {err}");
    }
    // A list whose sizes disagree with the tensors: the tensor is named with both shapes.
    let list = format!(
        "[{},{norm},{{\"type\":\"GELU\"}},{{\"type\":\"Dropout\",\"p\":0.2}},{},{{\"type\":\"ReLU\"}},{}]",
        lin(4, 6),
        lin(6, 4),
        lin(4, 3)
    );
    let err = io::load_sequential::<f64>(with_layer_list(&dir, &list)).unwrap_err();
    assert!(
        matches!(err.kind(), IoErrorKind::WrongShape { name, expected, found } if name == "4.weight" && expected == &[4, 6] && found == &[5, 6]),
        "{err:?}"
    );
    // A list with a layer fewer leaves a tensor unexplained.
    let list = format!("[{},{norm},{{\"type\":\"GELU\"}},{{\"type\":\"Dropout\",\"p\":0.2}},{}]", lin(4, 6), lin(6, 5));
    let err = io::load_sequential::<f64>(with_layer_list(&dir, &list)).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::UnexpectedTensor { name } if name == "6.bias"), "{err:?}");
    // A list that moves a layer asks for a tensor the file does not have.
    let list = format!(
        "[{},{{\"type\":\"GELU\"}},{norm},{{\"type\":\"Dropout\",\"p\":0.2}},{},{{\"type\":\"ReLU\"}},{}]",
        lin(4, 6),
        lin(6, 5),
        lin(5, 3)
    );
    let err = io::load_sequential::<f64>(with_layer_list(&dir, &list)).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::MissingTensor { name } if name == "2.weight"), "{err:?}");

    // `load` reads MLPs only, and says where to go for the rest.
    let mut rng = StdRng::seed_from_u64(5);
    io::save(&every_kind(&mut rng), dir.file("seq.safetensors")).unwrap();
    let err = io::load::<f64>(dir.file("seq.safetensors")).unwrap_err();
    assert!(
        err.to_string().contains("layer 1 is LayerNorm: the layer list is no MLP")
            && err.to_string().contains("load_sequential"),
        "{err}"
    );
    // A file with no layer list (from PyTorch, or an earlier version) cannot be a Sequential.
    let err = io::load_sequential::<f32>(fixture("tiny_mlp_tanh.safetensors")).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::MissingLayers), "{err:?}");
    // ... but it still loads as an Mlp, from its one-activation key.
    assert_eq!(io::load::<f32>(fixture("tiny_mlp_tanh.safetensors")).unwrap().activations(), &[Activation::Tanh]);
}

#[test]
fn a_sequential_fixture_written_by_numpy_loads_and_computes_numpys_logits() {
    // make_sequential_fixture.py: Linear, LayerNorm, GELU, Dropout, Linear, LeakyReLU(0.2),
    // Linear, its logits computed by numpy in f64 from the f32 parameters, dropout off.
    let model = io::load_sequential::<f64>(fixture("tiny_sequential.safetensors")).unwrap();
    let kinds: Vec<String> = model.layers().iter().map(Layer::describe).collect();
    assert_eq!(
        kinds,
        [
            "Linear(3 -> 5)",
            "LayerNorm(5)",
            "gelu",
            "Dropout(0.5)",
            "Linear(5 -> 4)",
            "leaky_relu(0.2)",
            "Linear(4 -> 2)"
        ]
    );
    let json: serde_json::Value = serde_json::from_slice(&fs::read(fixture("tiny_sequential.json")).unwrap()).unwrap();
    let rows = |key: &str| -> Vec<Vec<f64>> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
            .collect()
    };
    let (input, want) = (rows("input"), rows("logits"));
    let x = Tensor::from_vec([input.len(), 3], input.concat());
    let got = model.logits(&x);
    // The same f64 arithmetic in another order (numpy's matmul and sums), and math.erf against
    // this crate's erfc, each within a few ulps: 1e-13 relative to the largest logit.
    let want = want.concat();
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (k, (&g, &w)) in got.data().iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-13 * scale, "logit {k}: {g} vs numpy {w}");
    }
}
