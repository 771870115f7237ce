//! What `io::save` refuses to replace, and how it uses its temporary file: something other than
//! a regular file at the path, a read-only or hard-linked file, non-finite parameters, a save
//! already in progress; a stale temporary file is reused; permission bits are kept. And what
//! `io::load` refuses to read: anything but a regular file.
#![cfg(unix)]

use rand::{SeedableRng, rngs::StdRng};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tapegrad_nn::io::{self, IoError, IoErrorKind};
use tapegrad_nn::{Activation, Init, Mlp};
use testkit::TempDir;

fn model(seed: u64) -> Mlp<f32> {
    Mlp::new(&[3, 5, 2], Activation::Tanh, Init::GlorotNormal, &mut StdRng::seed_from_u64(seed))
}

/// The temporary file a save to `path` uses.
fn temp_of(path: &Path) -> PathBuf {
    path.with_file_name(format!(".{}.tapegrad-save.tmp", path.file_name().unwrap().to_str().unwrap()))
}

/// Asserts that both `check_save_target` and `save` refuse `path` with a `kind` that `is`
/// accepts, naming the path.
#[track_caller]
fn assert_refused(path: &Path, is: impl Fn(&IoErrorKind) -> bool) -> IoError {
    let checked = io::check_save_target(path).unwrap_err();
    assert!(is(checked.kind()), "check_save_target: {checked:?}");
    let err = io::save(&model(1), path).unwrap_err();
    assert!(is(err.kind()), "save: {err:?}");
    assert_eq!(err.path(), path);
    assert!(err.to_string().starts_with(&format!("{}: ", path.display())), "{err}");
    assert_eq!(err.to_string(), checked.to_string());
    err
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn a_character_device_is_refused_and_left_a_device() {
    let dev_null = Path::new("/dev/null");
    let before = fs::symlink_metadata(dev_null).unwrap();
    assert!(before.file_type().is_char_device());
    let err = assert_refused(dev_null, |k| matches!(k, IoErrorKind::NotARegularFile { found: "a character device" }));
    assert!(err.to_string().contains("not a regular file but a character device"), "{err}");
    let after = fs::symlink_metadata(dev_null).unwrap();
    assert!(after.file_type().is_char_device());
    assert_eq!((after.ino(), after.rdev()), (before.ino(), before.rdev()));
    // Nothing was left beside it either.
    assert!(!temp_of(dev_null).exists());
}

#[test]
fn a_fifo_a_directory_and_a_symlink_are_refused_and_kept() {
    let dir = TempDir::new("specials");
    let fifo = dir.file("fifo");
    mkfifo(&fifo);
    assert_refused(&fifo, |k| matches!(k, IoErrorKind::NotARegularFile { found: "a FIFO" }));
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());

    let sub = dir.file("sub");
    fs::create_dir(&sub).unwrap();
    assert_refused(&sub, |k| matches!(k, IoErrorKind::NotARegularFile { found: "a directory" }));

    // A symlink, even to a regular file, is refused: neither it nor its target changes.
    let real = dir.file("real.safetensors");
    io::save(&model(2), &real).unwrap();
    let real_bytes = fs::read(&real).unwrap();
    let link = dir.file("link.safetensors");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert_refused(&link, |k| matches!(k, IoErrorKind::NotARegularFile { found: "a symbolic link" }));
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(fs::read(&real).unwrap(), real_bytes);
    // A dangling symlink too.
    let dangling = dir.file("dangling.safetensors");
    std::os::unix::fs::symlink(dir.file("nowhere"), &dangling).unwrap();
    assert_refused(&dangling, |k| matches!(k, IoErrorKind::NotARegularFile { found: "a symbolic link" }));

    assert_eq!(dir.entries(), ["dangling.safetensors", "fifo", "link.safetensors", "real.safetensors", "sub"]);
}

#[test]
fn a_read_only_file_is_refused_and_unchanged() {
    let dir = TempDir::new("read-only-file");
    let path = dir.file("m.safetensors");
    io::save(&model(3), &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    // Refused by the permission bits themselves, so also for root, who could write it.
    let err = assert_refused(&path, |k| matches!(k, IoErrorKind::ReadOnly));
    assert!(err.to_string().contains("read-only"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o444);
    assert_eq!(dir.entries(), ["m.safetensors"]);
}

#[test]
fn a_hard_linked_file_is_refused_and_both_links_unchanged() {
    let dir = TempDir::new("hard-link");
    let path = dir.file("m.safetensors");
    io::save(&model(4), &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    let other = dir.file("other-name.safetensors");
    fs::hard_link(&path, &other).unwrap();
    let err = assert_refused(&path, |k| matches!(k, IoErrorKind::HardLinked { links: 2 }));
    assert!(err.to_string().contains("2 hard links"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(fs::metadata(&other).unwrap().ino(), fs::metadata(&path).unwrap().ino());
    assert_eq!(dir.entries(), ["m.safetensors", "other-name.safetensors"]);
}

#[test]
fn a_missing_parent_fails_the_check_and_writes_nothing() {
    let dir = TempDir::new("check-parent");
    let target = dir.file("missing").join("m.safetensors");
    let err = io::check_save_target(&target).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::Io { source } if source.kind() == std::io::ErrorKind::NotFound));
    assert!(std::error::Error::source(&err).is_some());
    // A new file in an existing directory passes, and the check creates nothing.
    io::check_save_target(dir.file("new.safetensors")).unwrap();
    assert!(dir.entries().is_empty());
}

#[test]
fn the_new_file_keeps_the_permission_bits_of_the_one_it_replaces() {
    let dir = TempDir::new("mode");
    let path = dir.file("m.safetensors");
    io::save(&model(5), &path).unwrap();
    for mode in [0o600, 0o640, 0o604] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let old_ino = fs::metadata(&path).unwrap().ino();
        io::save(&model(6), &path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        // A new inode (the temp file, renamed), with the old file's bits.
        assert_ne!(meta.ino(), old_ino);
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{mode:o}");
        assert_eq!(io::load::<f32>(&path).unwrap(), model(6));
    }
}

#[test]
fn a_stale_temp_file_is_emptied_reused_and_removed() {
    let dir = TempDir::new("stale");
    let path = dir.file("m.safetensors");
    io::save(&model(7), &path).unwrap();
    // What a save killed half way leaves: junk, longer than the model file, so that reusing it
    // without emptying it first would leave a tail.
    let temp = temp_of(&path);
    fs::write(&temp, vec![0xAB; 100_000]).unwrap();
    assert_eq!(dir.entries(), [".m.safetensors.tapegrad-save.tmp", "m.safetensors"]);
    io::save(&model(8), &path).unwrap();
    assert_eq!(io::load::<f32>(&path).unwrap(), model(8));
    assert!(fs::metadata(&path).unwrap().len() < 100_000);
    assert_eq!(dir.entries(), ["m.safetensors"]);
}

#[test]
fn a_save_in_progress_makes_a_second_one_fail_cleanly() {
    let dir = TempDir::new("locked");
    let path = dir.file("m.safetensors");
    let old = model(9);
    io::save(&old, &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    // Hold the lock as a save in progress does.
    let temp = temp_of(&path);
    let held = fs::OpenOptions::new().write(true).create(true).truncate(false).open(&temp).unwrap();
    held.lock().unwrap();
    fs::write(&temp, b"the other save's bytes").unwrap();

    let err = io::save(&model(10), &path).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::SaveInProgress { temp: t } if *t == temp), "{err:?}");
    assert!(err.to_string().contains("another save to this file is in progress"), "{err}");
    // The previous file is intact, and the other save's temp file is neither emptied nor removed.
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(fs::read(&temp).unwrap(), b"the other save's bytes");

    // Once the other save is gone, saving works again, and cleans up.
    drop(held);
    io::save(&model(10), &path).unwrap();
    assert_eq!(io::load::<f32>(&path).unwrap(), model(10));
    assert_eq!(dir.entries(), ["m.safetensors"]);
}

#[test]
fn a_temp_name_taken_by_something_else_is_refused() {
    let dir = TempDir::new("temp-taken");
    let path = dir.file("m.safetensors");
    let victim = dir.file("victim");
    fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, temp_of(&path)).unwrap();
    let err = assert_refused(&path, |k| matches!(k, IoErrorKind::BadTempFile { found: "a symbolic link", .. }));
    assert!(err.to_string().contains(".m.safetensors.tapegrad-save.tmp"), "{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(!path.exists());
}

#[test]
fn non_finite_parameters_are_refused_unless_asked_for() {
    let dir = TempDir::new("non-finite");
    let path = dir.file("m.safetensors");
    let old = model(11);
    io::save(&old, &path).unwrap();
    let bytes = fs::read(&path).unwrap();

    let mut nan = model(12);
    nan.layers_mut()[0].weight.data_mut()[7] = f32::NAN;
    let err = io::save(&nan, &path).unwrap_err();
    match err.kind() {
        IoErrorKind::NonFinite { name, index, value } => {
            assert_eq!((name.as_str(), *index), ("0.weight", 7));
            assert!(value.is_nan());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("'0.weight'") && err.to_string().contains("index 7"), "{err}");

    // The first bad entry is named: an infinity in layer 1's bias, after a finite weight.
    let mut inf = model(12);
    inf.layers_mut()[1].bias.data_mut()[1] = f32::NEG_INFINITY;
    inf.layers_mut()[1].bias.data_mut()[0] = f32::INFINITY;
    let err = io::save(&inf, &path).unwrap_err();
    assert!(
        matches!(err.kind(), IoErrorKind::NonFinite { name, index: 0, value } if name == "2.bias" && *value == f64::INFINITY),
        "{err:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(dir.entries(), ["m.safetensors"]);

    // Asked for explicitly, they are written, bit for bit.
    io::save_allowing_non_finite(&nan, &path).unwrap();
    let back = io::load::<f32>(&path).unwrap();
    assert!(back.layers()[0].weight.data()[7].is_nan());
    assert_eq!(back.layers()[1], nan.layers()[1]);
    // ... and save_allowing_non_finite refuses the same targets as save.
    let err = io::save_allowing_non_finite(&nan, "/dev/null").unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::NotARegularFile { .. }), "{err:?}");
}

#[test]
fn loading_anything_but_a_regular_file_fails_at_once() {
    let dir = TempDir::new("load-special");
    let fifo = dir.file("fifo");
    mkfifo(&fifo);
    let start = Instant::now();
    for (path, found) in
        [(Path::new("/dev/zero"), "a character device"), (&fifo, "a FIFO"), (dir.path(), "a directory")]
    {
        let err = io::load::<f32>(path).unwrap_err();
        assert!(matches!(err.kind(), IoErrorKind::NotARegularFile { found: f } if *f == found), "{err:?}");
        assert_eq!(err.path(), path);
    }
    // Reading /dev/zero or opening a FIFO without a writer would never return; a generous bound
    // that only a read of that kind can exceed.
    assert!(start.elapsed() < Duration::from_secs(5));

    // A symlink to a regular file loads.
    let real = dir.file("real.safetensors");
    io::save(&model(13), &real).unwrap();
    let link = dir.file("link.safetensors");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert_eq!(io::load::<f32>(&link).unwrap(), model(13));
}
