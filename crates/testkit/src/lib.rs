//! Test helpers shared by the workspace's test suites (a dev-dependency only, never published):
//! the settings every property test runs with, and a temporary directory that cleans up after
//! itself.
#![warn(missing_docs)]

use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The seed of every property's cases when `PROPTEST_RNG_SEED` does not name another.
pub const PROPTEST_SEED: u64 = 0x7a9e_67ad;

/// The settings of every property in the workspace: exactly `cases` cases, drawn by ChaCha from
/// a fixed seed, and no failure files.
///
/// A fixed seed means every run (a developer's, CI's) checks the same cases, so a failure is
/// reproducible from the test name alone and CI cannot turn red by chance. To explore other
/// cases, set `PROPTEST_RNG_SEED=<u64>`: an explicitly set seed is kept. Failures are not
/// persisted (`failure_persistence: None`), so no run writes `proptest-regressions/` files;
/// a failure found this way becomes a named regression test instead.
///
/// ```
/// let config = testkit::proptest_config(64);
/// assert_eq!(config.cases, 64);
/// assert!(config.failure_persistence.is_none());
/// ```
pub fn proptest_config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let rng_seed = match default.rng_seed {
        RngSeed::Random => RngSeed::Fixed(PROPTEST_SEED),
        chosen => chosen,
    };
    ProptestConfig { cases, failure_persistence: None, rng_algorithm: RngAlgorithm::ChaCha, rng_seed, ..default }
}

/// A fresh, empty directory under the system temp dir, removed with its contents on drop.
///
/// Its name holds `tag`, the process id and a counter, so tests running in parallel (threads or
/// processes) never share one.
///
/// ```
/// let dir = testkit::TempDir::new("doc");
/// std::fs::write(dir.file("a.txt"), "x").unwrap();
/// assert_eq!(dir.entries(), ["a.txt"]);
/// let path = dir.path().to_path_buf();
/// drop(dir);
/// assert!(!path.exists());
/// ```
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates the directory (removing a stale one of the same name first).
    ///
    /// # Panics
    /// If the directory cannot be created.
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tapegrad-test-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("TempDir: cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` inside the directory (nothing is created).
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The names in the directory, sorted.
    ///
    /// # Panics
    /// If the directory cannot be read.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap_or_else(|e| panic!("TempDir: cannot read {}: {e}", self.0.display()))
            .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
