//! The input scaler saved with a model: predictions from raw features survive a save and a
//! load bit for bit, files without a scaler load as before, and a bad scaler is an error.

use rand::{SeedableRng, rngs::StdRng};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, serialize};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use tapegrad_autograd::{Float, Tensor};
use tapegrad_nn::data::StandardScaler;
use tapegrad_nn::io::{self, IoErrorKind, SCALER_KEY};
use tapegrad_nn::{Activation, Init, Layer, Mlp, Sequential};
use testkit::TempDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn bits<T: Float>(t: &Tensor<T>) -> Vec<u64> {
    t.data().iter().map(|x| x.to_f64().to_bits()).collect()
}

/// Raw features far from standard (mean 100, sd 30, and a column in the thousandths), so that
/// a model fed unscaled inputs, or a scaler rounded on the way, would predict otherwise.
fn raw_features<T: Float>(rows: usize, rng: &mut StdRng) -> Tensor<T> {
    let a = Tensor::<T>::rand_normal([rows, 2], 100.0, 30.0, rng);
    let b = Tensor::<T>::rand_normal([rows, 1], 0.0, 0.001, rng);
    Tensor::concat(&[&a, &b], 1)
}

fn round_trip<T: Float>() {
    let dir = TempDir::new("scaler-round-trip");
    let path = dir.file("m.safetensors");
    let mut rng = StdRng::seed_from_u64(3);
    let scaler = StandardScaler::fit(&raw_features::<T>(50, &mut rng)).unwrap();
    let mlp = Mlp::<T>::new(&[3, 6, 2], Activation::Gelu, Init::GlorotUniform, &mut rng);
    io::save_with_scaler(&mlp, &scaler, &path).unwrap();

    // What a new process has: the file and raw features it has never seen.
    let fresh = raw_features::<T>(20, &mut rng);
    let (model, saved) = io::load_with_scaler::<T>(&path).unwrap();
    let saved = saved.expect("the file holds a scaler");
    let (m, s) =
        (bits(&Tensor::from_vec([3], saved.mean().to_vec())), bits(&Tensor::from_vec([3], saved.scale().to_vec())));
    assert_eq!(m, bits(&Tensor::from_vec([3], scaler.mean().to_vec())), "{}: mean", T::NAME);
    assert_eq!(s, bits(&Tensor::from_vec([3], scaler.scale().to_vec())), "{}: scale", T::NAME);
    let expected = mlp.logits(&scaler.transform(&fresh));
    assert_eq!(bits(&model.logits(&saved.transform(&fresh))), bits(&expected), "{}", T::NAME);
    // load_scaler gives the same scaler; load and load_sequential ignore it.
    assert_eq!(io::load_scaler::<T>(&path).unwrap(), Some(saved));
    assert_eq!(io::load::<T>(&path).unwrap(), mlp);
    assert_eq!(io::load_sequential::<T>(&path).unwrap(), mlp.to_sequential());
}

#[test]
fn predictions_from_raw_features_round_trip_bit_for_bit_in_f32_and_f64() {
    round_trip::<f32>();
    round_trip::<f64>();
}

#[test]
fn an_f32_scaler_loads_into_f64_exactly() {
    // Every f32 is an f64, and the file stores the f64 of each value.
    let dir = TempDir::new("scaler-widen");
    let path = dir.file("m.safetensors");
    let mut rng = StdRng::seed_from_u64(4);
    let scaler = StandardScaler::fit(&raw_features::<f32>(30, &mut rng)).unwrap();
    let mlp = Mlp::<f32>::new(&[3, 2], Activation::Relu, Init::HeUniform, &mut rng);
    io::save_with_scaler(&mlp, &scaler, &path).unwrap();
    let wide = io::load_scaler::<f64>(&path).unwrap().unwrap();
    let widened: Vec<f64> = scaler.mean().iter().map(|&x| f64::from(x)).collect();
    assert_eq!(wide.mean(), widened.as_slice());
}

#[test]
fn files_without_a_scaler_still_load() {
    let dir = TempDir::new("no-scaler");
    let path = dir.file("m.safetensors");
    let mlp = Mlp::<f32>::new(&[3, 4, 2], Activation::Tanh, Init::GlorotUniform, &mut StdRng::seed_from_u64(5));
    io::save(&mlp, &path).unwrap();
    let (model, scaler) = io::load_with_scaler::<f32>(&path).unwrap();
    assert_eq!((model, scaler), (mlp, None));
    // Files numpy wrote in PyTorch's layout before scalers were saved: no scaler, same model.
    let old = fixture("tiny_mlp_tanh.safetensors");
    let (model, scaler) = io::load_with_scaler::<f64>(&old).unwrap();
    assert_eq!((model, scaler), (io::load::<f64>(&old).unwrap(), None));
    assert_eq!(io::load_scaler::<f32>(fixture("tiny_sequential.safetensors")).unwrap(), None);
}

#[test]
fn a_scaler_of_the_wrong_width_is_refused_on_save_and_writes_nothing() {
    let dir = TempDir::new("scaler-width");
    let path = dir.file("m.safetensors");
    let mut rng = StdRng::seed_from_u64(6);
    let scaler = StandardScaler::fit(&raw_features::<f32>(10, &mut rng)).unwrap(); // 3 columns
    let model = Sequential::<f32>::new(vec![Layer::linear(4, 2, Init::HeUniform, &mut rng)]);
    let err = io::save_with_scaler(&model, &scaler, &path).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::BadScaler { .. }), "{err:?}");
    assert!(err.to_string().contains("the scaler has 3 columns but the model takes 4 inputs"), "{err}");
    assert!(dir.entries().is_empty());
}

/// A one-layer `[2 -> 1]` f32 model file with the given scaler metadata, crafted by hand.
fn crafted(dir: &TempDir, scaler: &str) -> PathBuf {
    let (w, b) = ([0u8; 8], [0u8; 4]);
    let tensors = [
        ("0.weight", TensorView::new(Dtype::F32, vec![1, 2], &w).unwrap()),
        ("0.bias", TensorView::new(Dtype::F32, vec![1], &b).unwrap()),
    ];
    let metadata = HashMap::from([
        ("layers".to_string(), r#"[{"type":"Linear","in_features":2,"out_features":1}]"#.to_string()),
        (SCALER_KEY.to_string(), scaler.to_string()),
    ]);
    let path = dir.file("crafted.safetensors");
    fs::write(&path, serialize(tensors, Some(metadata)).unwrap()).unwrap();
    path
}

#[test]
fn a_malformed_scaler_is_an_error_naming_what_is_wrong() {
    let dir = TempDir::new("bad-scaler");
    let cases = [
        (r#"{"mean":[0,1],"scale":[1]}"#, "2 means but 1 scales"),
        (r#"{"mean":[0,1],"scale":[1,0]}"#, "scale 1 is 0, not finite and positive in f32"),
        (r#"{"mean":[0,1],"scale":[1,-2]}"#, "scale 1 is -2, not finite and positive"),
        // 1e39 is finite in f64 but infinite in f32.
        (r#"{"mean":[1e39,1],"scale":[1,1]}"#, "mean 0 is 1000000000000000000000000000000000000000, not finite in f32"),
        (r#"{"mean":[0,1]}"#, "missing field `scale`"),
        (r#"[1, 2]"#, "not an object"),
        (r#"{"mean":[0,1],"scale":[1,1],"extra":1}"#, "unknown field `extra`"),
    ];
    for (json, expected) in cases {
        let path = crafted(&dir, json);
        let err = io::load_with_scaler::<f32>(&path).unwrap_err();
        assert!(matches!(err.kind(), IoErrorKind::BadScaler { .. }), "{json}: {err:?}");
        assert!(err.to_string().contains(expected), "{json}: {err}");
        // The model alone still loads.
        assert_eq!(io::load::<f32>(&path).unwrap().sizes(), [2, 1]);
    }
    // Well-formed, but for 3 columns of a 2-input model.
    let path = crafted(&dir, r#"{"mean":[0,1,2],"scale":[1,1,1]}"#);
    let err = io::load_with_scaler::<f32>(&path).unwrap_err();
    assert!(err.to_string().contains("the scaler has 3 columns but the model takes 2 inputs"), "{err}");
}
