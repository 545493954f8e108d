//! The OCI runtimes under test: berth-runtime and the references runc and crun.
//!
//! `BERTH_TEST_RUNTIMES` (comma list of `berth`, `runc`, `crun`; default all
//! three) selects which ones a suite runs on, so the suite is useful on the
//! references before berth-runtime works.
//!
//! Each [`Runtime`] value has its own private `--root` state directory, removed
//! on drop, so tests never see each other's containers.
//!
//! crun 1.8 refuses hybrid cgroups ("cgroups in hybrid mode not supported"):
//! when `/sys/fs/cgroup/unified` is a cgroup2 mount it is run as
//! `unshare -m --propagation unchanged sh -c 'mount --make-rprivate
//! /sys/fs/cgroup && umount /sys/fs/cgroup/unified; exec crun ...'`, i.e. in
//! a mount namespace where the host looks like pure cgroup v1. Propagation is
//! left unchanged elsewhere (unshare's default would make every mount
//! private, hiding how crun handles shared host mounts); only
//! /sys/fs/cgroup is made private first, so the umount cannot propagate back
//! to the host.

use crate::process::{self, Output};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Which runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// berth-runtime, the runtime this project builds.
    Berth,
    /// runc, the reference implementation.
    Runc,
    /// crun, the C reference.
    Crun,
}

impl Kind {
    /// All kinds, in the default order.
    pub const ALL: [Kind; 3] = [Kind::Berth, Kind::Runc, Kind::Crun];

    /// Short name as used in `BERTH_TEST_RUNTIMES` and test names.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Berth => "berth",
            Kind::Runc => "runc",
            Kind::Crun => "crun",
        }
    }

    /// Parses a short name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name.trim())
    }

    /// Whether `BERTH_TEST_RUNTIMES` selects this kind.
    pub fn selected(self) -> bool {
        match std::env::var("BERTH_TEST_RUNTIMES") {
            Ok(list) if !list.trim().is_empty() => list.split(',').any(|n| Kind::from_name(n) == Some(self)),
            _ => true,
        }
    }
}

/// A runtime binary plus a private state directory.
#[derive(Debug)]
pub struct Runtime {
    kind: Kind,
    binary: PathBuf,
    root: tempfile::TempDir,
    hybrid_wrapper: bool,
    timeout: Duration,
}

impl Runtime {
    /// A runtime of `kind`; `berth_bin` is the berth-runtime binary (tests in
    /// crates/runtime pass `env!("CARGO_BIN_EXE_berth-runtime")`).
    #[track_caller]
    pub fn new(kind: Kind, berth_bin: &Path) -> Runtime {
        let binary = match kind {
            Kind::Berth => berth_bin.to_path_buf(),
            Kind::Runc => find_in_path("runc"),
            Kind::Crun => find_in_path("crun"),
        };
        Runtime::with_binary(kind, binary)
    }

    /// A runtime of `kind` whose binary is `binary` (e.g. a copy of the real
    /// one, for tests that a broken defence could damage).
    #[track_caller]
    pub fn with_binary(kind: Kind, binary: PathBuf) -> Runtime {
        let root = crate::temp_dir(&format!("root-{}-", kind.name()));
        let hybrid_wrapper = kind == Kind::Crun && unified_is_cgroup2();
        Runtime { kind, binary, root, hybrid_wrapper, timeout: process::DEFAULT_TIMEOUT }
    }

    /// Like [`Runtime::new`] with the state root created inside `parent`
    /// (for tests where a runtime bug could damage the root's siblings).
    #[track_caller]
    pub fn new_in(kind: Kind, berth_bin: &Path, parent: &Path) -> Runtime {
        let mut rt = Runtime::new(kind, berth_bin);
        rt.root = tempfile::Builder::new()
            .prefix(&format!("root-{}-", kind.name()))
            .tempdir_in(parent)
            .unwrap_or_else(|e| panic!("temp root in {}: {e}", parent.display()));
        rt
    }

    /// The selected runtimes (see the module doc).
    pub fn selected(berth_bin: &Path) -> Vec<Runtime> {
        Kind::ALL.into_iter().filter(|k| k.selected()).map(|k| Runtime::new(k, berth_bin)).collect()
    }

    /// `Some(runtime)` when `kind` is selected, else `None`.
    pub fn if_selected(kind: Kind, berth_bin: &Path) -> Option<Runtime> {
        kind.selected().then(|| Runtime::new(kind, berth_bin))
    }

    /// Which runtime this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Short name.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The private state directory passed as `--root`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Where the runtime keeps the state of container `id`: `<root>/<id>`
    /// (runc, crun and berth all use this layout).
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.path().join(id)
    }

    /// Whether crun is run through the hybrid-cgroup wrapper.
    pub fn hybrid_wrapper(&self) -> bool {
        self.hybrid_wrapper
    }

    /// Sets the deadline for each command (default 30 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// `<binary> --root <root>` (through the wrapper for crun on hybrid
    /// hosts), stdin from /dev/null. Add the verb and its flags.
    pub fn cmd(&self) -> Command {
        let mut cmd = if self.hybrid_wrapper {
            let mut c = Command::new("unshare");
            c.args([
                "-m",
                "--propagation",
                "unchanged",
                "sh",
                "-c",
                "mount --make-rprivate /sys/fs/cgroup && umount /sys/fs/cgroup/unified; exec \"$0\" \"$@\"",
            ])
                .arg(&self.binary);
            c
        } else {
            Command::new(&self.binary)
        };
        cmd.arg("--root").arg(self.root.path()).stdin(Stdio::null());
        cmd
    }

    /// Runs `<runtime> --root <root> args...` to completion (see
    /// [`process::run`]).
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.cmd();
        cmd.args(args);
        process::run(cmd, self.timeout)
    }

    /// Runs a prepared command (from [`Runtime::cmd`]) with this runtime's
    /// deadline.
    #[track_caller]
    pub fn run_cmd(&self, cmd: Command) -> Output {
        process::run(cmd, self.timeout)
    }
}

#[track_caller]
fn find_in_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found in PATH (scripts/setup installs it)"))
}

/// Whether `/sys/fs/cgroup/unified` is a cgroup2 mount (hybrid layout).
pub fn unified_is_cgroup2() -> bool {
    crate::leaks::mountinfo()
        .iter()
        .any(|m| m.mount_point == "/sys/fs/cgroup/unified" && m.fs_type == "cgroup2")
}
