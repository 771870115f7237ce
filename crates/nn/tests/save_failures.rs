//! Saves that cannot succeed fail with an I/O error naming the path, and leave whatever was there
//! before intact and loadable, with no temporary file behind. (A write failing half way, a
//! missing directory and a directory at the target path are unit tests in `io/mod.rs`, which can
//! inject the failure.)

use rand::{SeedableRng, rngs::StdRng};
use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use tapegrad_nn::io::{self, IoError, IoErrorKind};
use tapegrad_nn::{Activation, Init, Mlp};
use testkit::TempDir;

fn model(seed: u64) -> Mlp<f32> {
    Mlp::new(&[3, 5, 2], Activation::Tanh, Init::GlorotNormal, &mut StdRng::seed_from_u64(seed))
}

/// Asserts `err` is an I/O error about `path`.
#[track_caller]
fn assert_io_error(err: &IoError, path: &Path) -> ErrorKind {
    assert_eq!(err.path(), path);
    match err.kind() {
        IoErrorKind::Io { source } => {
            assert!(err.to_string().starts_with(&format!("{}: ", path.display())), "{err}");
            source.kind()
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn a_parent_that_is_a_file_fails_and_keeps_the_previous_file() {
    let dir = TempDir::new("parent-file");
    let path = dir.file("m.safetensors");
    let old = model(1);
    io::save(&old, &path).unwrap();
    // "m.safetensors/x.safetensors": the parent is the saved file, not a directory.
    let target = path.join("x.safetensors");
    let err = io::save(&model(2), &target).unwrap_err();
    assert_eq!(assert_io_error(&err, &target), ErrorKind::NotADirectory);
    assert_eq!(io::load::<f32>(&path).unwrap(), old);
    assert_eq!(dir.entries(), ["m.safetensors"]);
}

#[test]
fn a_path_without_a_file_name_is_refused() {
    let dir = TempDir::new("no-name");
    for target in [dir.file(".."), dir.file("sub").join("..")] {
        let err = io::save(&model(3), &target).unwrap_err();
        assert_eq!(assert_io_error(&err, &target), ErrorKind::InvalidInput, "{target:?}");
    }
    assert!(dir.entries().is_empty());
}

#[test]
fn a_directory_at_the_path_is_left_as_it_was() {
    let dir = TempDir::new("dir-at-path");
    let target = dir.file("m.safetensors");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("inside.txt"), "kept").unwrap();
    let err = io::save(&model(4), &target).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::NotARegularFile { found: "a directory" }), "{err:?}");
    assert_eq!(fs::read_to_string(target.join("inside.txt")).unwrap(), "kept");
    assert_eq!(dir.entries(), ["m.safetensors"]);
}

#[cfg(unix)]
#[test]
fn a_directory_without_write_permission_keeps_the_previous_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("read-only");
    let path = dir.file("m.safetensors");
    let old = model(5);
    io::save(&old, &path).unwrap();
    let old_bytes = fs::read(&path).unwrap();

    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o555)).unwrap();
    // Root (as in CI) ignores permission bits: find out whether they bind here.
    let probe = dir.file("probe");
    let bits_bind = fs::File::create(&probe).is_err();
    let _ = fs::remove_file(&probe);
    let result = io::save(&model(6), &path);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();

    if bits_bind {
        let err = result.unwrap_err();
        assert_eq!(assert_io_error(&err, &path), ErrorKind::PermissionDenied);
        assert_eq!(fs::read(&path).unwrap(), old_bytes);
        assert_eq!(io::load::<f32>(&path).unwrap(), old);
    } else {
        // Privileged: the save is allowed, and must then be complete. The failing case is
        // covered for root by the next test.
        result.unwrap();
        assert_eq!(io::load::<f32>(&path).unwrap(), model(6));
        println!("permission bits do not bind for this user; see the sysfs test");
    }
    assert_eq!(dir.entries(), ["m.safetensors"]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_directory_where_no_one_may_create_files_fails_cleanly() {
    // sysfs refuses new files to every user, root included: the non-writable directory that
    // can be tested whoever runs the tests.
    let sys = Path::new("/sys");
    if !sys.is_dir() {
        println!("no /sys here: skipped");
        return;
    }
    let target = sys.join(format!("tapegrad-save-test-{}.safetensors", std::process::id()));
    match io::save(&model(7), &target) {
        Err(err) => {
            assert_io_error(&err, &target);
            assert!(!target.exists());
            let leftovers: Vec<_> = fs::read_dir(sys)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains("tapegrad-save-test"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
        Ok(()) => {
            // Not sysfs after all: clean up and say so.
            let _ = fs::remove_file(&target);
            println!("/sys accepted a file: skipped");
        }
    }
}
