//! The real digits file loads through the public API and splits as the example expects.

use rand::{SeedableRng, rngs::StdRng};
use tapegrad_nn::data::{StandardScaler, load_csv};

const DIGITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/digits.csv");

#[test]
fn digits_csv_has_1797_rows_of_64_pixels_in_10_classes() {
    let data = load_csv::<f32>(DIGITS, Some(10)).unwrap();
    assert_eq!((data.len(), data.num_features(), data.num_classes()), (1797, 64, 10));
    let counts = data.class_counts();
    assert_eq!(counts.iter().sum::<usize>(), 1797);
    // "About 180 samples per class" (examples/data/README.md).
    assert!(counts.iter().all(|&c| (170..=190).contains(&c)), "{counts:?}");
    assert!(data.features().data().iter().all(|&x| (0.0..=16.0).contains(&x) && x.fract() == 0.0));
    // Inferring the class count finds the same 10.
    assert_eq!(load_csv::<f64>(DIGITS, None).unwrap().num_classes(), 10);
}

#[test]
fn digits_split_85_15_and_standardise_to_finite_values() {
    let data = load_csv::<f32>(DIGITS, Some(10)).unwrap();
    let (train, test) = data.train_test_split(0.15, &mut StdRng::seed_from_u64(0));
    assert_eq!((train.len(), test.len()), (1527, 270));
    let scaler = StandardScaler::fit(train.features()).unwrap();
    // Some border pixels are 0 in every training image: they are left unscaled, not divided by 0.
    assert!(scaler.scale().contains(&1.0));
    assert!(scaler.transform(test.features()).all_finite());
}
