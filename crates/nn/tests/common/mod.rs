//! Helpers shared by the generated (proptest) tests of `nn`.
#![allow(dead_code)]

use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The seed of every property's cases when `PROPTEST_RNG_SEED` does not name another.
pub const PROPTEST_SEED: u64 = 0x7a9e_67ad;

/// The settings of every property: exactly `cases` cases, drawn by ChaCha from a fixed seed, and
/// no failure files. (The same as the root package's `tests/common`: see there for why.)
pub fn proptest_config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let rng_seed = match default.rng_seed {
        RngSeed::Random => RngSeed::Fixed(PROPTEST_SEED),
        chosen => chosen,
    };
    ProptestConfig { cases, failure_persistence: None, rng_algorithm: RngAlgorithm::ChaCha, rng_seed, ..default }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tapegrad-prop-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The names in the directory, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(&self.0).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
