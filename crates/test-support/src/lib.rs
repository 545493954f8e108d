//! Helpers shared by the integration tests of every berth crate.
//!
//! What it owns: building throw-away OCI bundles from Debian's busybox-static
//! ([`Bundle`]), naming the runtimes under test and running their command line
//! with a private state directory ([`Runtime`]), a guard that never lets a
//! container outlive its test ([`Container`]), a checker for anything a runtime
//! left behind ([`leaks`]), and a console-socket receiver for `--console-socket`
//! ([`ConsoleSocket`]).
//!
//! What it must not do: mock anything. Every helper drives the real kernel and
//! the real runtime binaries.
//!
//! ```no_run
//! use berth_test_support::{Bundle, Container, Runtime};
//! for rt in Runtime::selected(std::path::Path::new("/path/to/berth-runtime")) {
//!     let mut bundle = Bundle::busybox();
//!     bundle.set_args(&["sh", "-c", "echo hello"]);
//!     let mut c = Container::new(&rt, &bundle);
//!     let out = c.run(&[]);
//!     assert_eq!(out.code(), Some(0));
//!     assert_eq!(out.stdout(), "hello\n");
//!     c.assert_no_leaks();
//! }
//! ```

pub mod bundle;
pub mod console;
pub mod container;
pub mod leaks;
pub mod process;
pub mod registry;
pub mod runtime;

pub use bundle::Bundle;
pub use console::{ConsoleSocket, Pty};
pub use container::Container;
pub use process::Output;
pub use runtime::{Kind, Runtime};

use std::path::PathBuf;

/// Directory under which every helper puts its temporary files: a tmpfs
/// (`/dev/shm/berth-tests`) when there is one, so that the many bundles a suite
/// makes cost no disk I/O; otherwise the system temp dir.
///
/// The directory is world-searchable (0755) so that a container whose root is
/// mapped to an unprivileged host uid can still reach a bundle below it.
pub fn temp_base() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let base = if leaks::filesystem_type(&shm).as_deref() == Some("tmpfs") {
        shm.join("berth-tests")
    } else {
        std::env::temp_dir().join("berth-tests")
    };
    if std::fs::create_dir_all(&base).is_ok() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755));
    }
    base
}

/// A fresh temporary directory under [`temp_base`], mode 0755, removed on drop.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(temp_base())
        .unwrap_or_else(|e| panic!("cannot create a temp dir under {}: {e}", temp_base().display()));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.path().display()));
    dir
}
