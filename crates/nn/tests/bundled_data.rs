//! The bundled diabetes and wine files load through `CsvOptions` with the shapes and classes
//! `examples/data/README.md` states, and `examples/data/splits.json` (the splits the
//! scikit-learn baselines were measured on) is what the split helpers give for seeds 0 to 4.
//!
//! `TAPEGRAD_WRITE_SPLITS=1 cargo test -p tapegrad-nn --test bundled_data` rewrites the file.

use tapegrad_nn::data::{CsvOptions, Header, Splits, split_indices, stratified_split_indices};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data");
/// The fractions of every recorded split: 60% train, 20% validation, 20% test.
const VALIDATION: f64 = 0.2;
const TEST: f64 = 0.2;
const SEEDS: std::ops::Range<u64> = 0..5;

#[test]
fn diabetes_has_442_rows_of_10_raw_measurements_and_a_float_target() {
    let data = CsvOptions::new().header(Header::Present).target("target").regression();
    let data = data.read::<f64>(format!("{DATA}/diabetes.csv")).unwrap();
    assert_eq!((data.len(), data.num_features(), data.num_targets()), (442, 10, 1));
    // Raw, not scikit-learn's scaled columns: age in years, sex coded 1 or 2, and the disease
    // progression a year on between 25 and 346 (scikit-learn's documented range).
    let column = |j: usize| data.features().rows().map(move |r| r[j]);
    assert!(column(0).all(|age| (19.0..=79.0).contains(&age)));
    assert!(column(1).all(|sex| sex == 1.0 || sex == 2.0));
    let (lo, hi) = data.targets().data().iter().fold((f64::MAX, f64::MIN), |(l, h), &y| (l.min(y), h.max(y)));
    assert_eq!((lo, hi), (25.0, 346.0));
    // Header detection agrees, and the default target is the last column.
    let auto = CsvOptions::new().regression().read::<f64>(format!("{DATA}/diabetes.csv")).unwrap();
    assert_eq!(auto, data);
}

#[test]
fn wine_has_178_rows_of_13_measurements_in_3_classes() {
    let data = CsvOptions::new().target("class").read::<f32>(format!("{DATA}/wine.csv")).unwrap();
    assert_eq!((data.len(), data.num_features(), data.num_classes()), (178, 13, 3));
    // 59, 71 and 48 wines of the three cultivars (the UCI description).
    assert_eq!(data.class_counts(), [59, 71, 48]);
    assert_eq!(data.class_names().unwrap(), ["0", "1", "2"]);
}

/// The JSON of one data set's splits, one part per line.
fn splits_json(name: &str, stratified: bool, parts: &[(u64, Splits<Vec<usize>>)]) -> String {
    let list = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
    let seeds: Vec<String> = parts
        .iter()
        .map(|(seed, p)| {
            format!(
                "      \"{seed}\": {{\n        \"train\": [{}],\n        \"validation\": [{}],\n        \"test\": [{}]\n      }}",
                list(&p.train),
                list(&p.validation),
                list(&p.test)
            )
        })
        .collect();
    format!(
        "  \"{name}\": {{\n    \"validation\": {VALIDATION},\n    \"test\": {TEST},\n    \"stratified\": {stratified},\n    \"seeds\": {{\n{}\n    }}\n  }}",
        seeds.join(",\n")
    )
}

#[test]
fn the_recorded_splits_are_the_split_helpers_for_seeds_0_to_4() {
    let wine = CsvOptions::new().read::<f64>(format!("{DATA}/wine.csv")).unwrap();
    let diabetes: Vec<_> = SEEDS.map(|s| (s, split_indices(442, VALIDATION, TEST, s))).collect();
    let wine: Vec<_> =
        SEEDS.map(|s| (s, stratified_split_indices(wine.labels(), wine.num_classes(), VALIDATION, TEST, s))).collect();
    let json = format!(
        "{{\n  \"procedure\": \"tapegrad_nn::data::split_indices(442, 0.2, 0.2, seed) for diabetes, \
         stratified_split_indices(labels, 3, 0.2, 0.2, seed) for wine; row indices from 0, data rows only\",\n{},\n{}\n}}\n",
        splits_json("diabetes", false, &diabetes),
        splits_json("wine", true, &wine)
    );
    let path = format!("{DATA}/splits.json");
    if std::env::var_os("TAPEGRAD_WRITE_SPLITS").is_some() {
        std::fs::write(&path, &json).unwrap();
    }
    let recorded = std::fs::read_to_string(&path).unwrap();
    assert!(
        recorded == json,
        "{path} is not what the split helpers give; the baselines were measured on the recorded splits"
    );
    // 266 / 88 / 88 and 106 / 36 / 36 rows.
    assert_eq!(diabetes[0].1.test.len(), 88);
    assert_eq!((wine[0].1.train.len(), wine[0].1.test.len()), (106, 36));
}
