//! A container that cannot outlive its test.
//!
//! [`Container`] names a container (`berth-t-<pid>-<n>`, unique within the
//! machine), drives the runtime's verbs on it and, on drop, runs
//! `delete --force` and then [`crate::leaks::scrub`]: kills processes still
//! rooted in the bundle, detaches mounts, removes cgroups and the state dir.
//! Tests assert cleanliness themselves with [`Container::assert_no_leaks`]
//! (drop only cleans; it does not judge).

use crate::bundle::Bundle;
use crate::process::Output;
use crate::runtime::Runtime;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh container id: `berth-t-<pid>-<n>`.
pub fn unique_id() -> String {
    format!("berth-t-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A container of one runtime, by id, on one bundle.
#[derive(Debug)]
pub struct Container<'r> {
    rt: &'r Runtime,
    id: String,
    bundle: PathBuf,
    stdio: Option<Output>,
}

impl<'r> Container<'r> {
    /// Writes the bundle's `config.json` and picks a unique id. Runs nothing.
    #[track_caller]
    pub fn new(rt: &'r Runtime, bundle: &Bundle) -> Container<'r> {
        Container::with_id(rt, bundle, &unique_id())
    }

    /// Like [`Container::new`] with a chosen id (for tests of bad ids).
    #[track_caller]
    pub fn with_id(rt: &'r Runtime, bundle: &Bundle, id: &str) -> Container<'r> {
        bundle.save();
        Container { rt, id: id.to_string(), bundle: bundle.path().to_path_buf(), stdio: None }
    }

    /// Like [`Container::with_id`] without writing `config.json` (for tests of
    /// a missing or malformed one).
    pub fn on_path(rt: &'r Runtime, bundle: &Path, id: &str) -> Container<'r> {
        Container { rt, id: id.to_string(), bundle: bundle.to_path_buf(), stdio: None }
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The runtime.
    pub fn runtime(&self) -> &'r Runtime {
        self.rt
    }

    /// The bundle directory.
    pub fn bundle(&self) -> &Path {
        &self.bundle
    }

    /// `create --bundle <bundle> [extra...] <id>`. The container's stdout and
    /// stderr are the files of the returned output (read them again later
    /// with [`Container::stdout`]).
    #[track_caller]
    pub fn create(&mut self, extra: &[&str]) -> &Output {
        self.launch("create", extra)
    }

    /// `run --bundle <bundle> [extra...] <id>` (foreground unless `extra` has
    /// `--detach`); returns when the runtime exits.
    #[track_caller]
    pub fn run(&mut self, extra: &[&str]) -> &Output {
        self.launch("run", extra)
    }

    #[track_caller]
    fn launch(&mut self, verb: &str, extra: &[&str]) -> &Output {
        let bundle = self.bundle.to_string_lossy().into_owned();
        let mut args = vec![verb, "--bundle", bundle.as_str()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let out = self.rt.run(&args);
        self.stdio.insert(out)
    }

    /// What the container wrote to stdout so far (the `create`/`run` output
    /// file; the runtime's own messages go to stderr).
    pub fn stdout(&self) -> String {
        self.stdio.as_ref().map(Output::stdout).unwrap_or_default()
    }

    /// What was written to stderr so far (runtime messages and the
    /// container's stderr).
    pub fn stderr(&self) -> String {
        self.stdio.as_ref().map(Output::stderr).unwrap_or_default()
    }

    /// Runs `<verb> [args...] <id>`.
    #[track_caller]
    pub fn verb(&self, verb: &str, args: &[&str]) -> Output {
        let mut v = vec![verb];
        v.extend_from_slice(args);
        v.push(&self.id);
        self.rt.run(&v)
    }

    /// `start <id>`.
    #[track_caller]
    pub fn start(&self) -> Output {
        self.verb("start", &[])
    }

    /// `state <id>`.
    #[track_caller]
    pub fn state(&self) -> Output {
        self.verb("state", &[])
    }

    /// `state <id>` parsed; panics if the command fails.
    #[track_caller]
    pub fn state_json(&self) -> serde_json::Value {
        self.state().assert_ok().json()
    }

    /// `status` from `state`, or `None` if `state` fails.
    pub fn status(&self) -> Option<String> {
        let out = self.state();
        if !out.success() {
            return None;
        }
        serde_json::from_str::<serde_json::Value>(&out.stdout())
            .ok()
            .and_then(|v| v["status"].as_str().map(str::to_owned))
    }

    /// Polls `state` until the status is `want`; returns the last status seen.
    pub fn wait_status(&self, want: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status();
            if s.as_deref() == Some(want) || Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `kill <id> <signal>`.
    #[track_caller]
    pub fn kill(&self, signal: &str) -> Output {
        self.rt.run(&["kill", &self.id, signal])
    }

    /// `delete <id>`.
    #[track_caller]
    pub fn delete(&self) -> Output {
        self.verb("delete", &[])
    }

    /// `delete --force <id>`.
    #[track_caller]
    pub fn delete_force(&self) -> Output {
        self.verb("delete", &["--force"])
    }

    /// `exec [flags...] <id> [args...]`; `flags` are exec's options, `args`
    /// the command.
    #[track_caller]
    pub fn exec(&self, flags: &[&str], args: &[&str]) -> Output {
        let mut v = vec!["exec"];
        v.extend_from_slice(flags);
        v.push(&self.id);
        v.extend_from_slice(args);
        self.rt.run(&v)
    }

    /// What this container left behind (see [`crate::leaks::leftovers`]).
    pub fn leaks(&self) -> Vec<String> {
        crate::leaks::leftovers(&self.id, &self.bundle, &self.rt.state_dir(&self.id))
    }

    /// Panics listing what this container left behind, if anything. Waits up
    /// to 2 s for processes that are already dying.
    #[track_caller]
    pub fn assert_no_leaks(&self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut left = self.leaks();
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            left = self.leaks();
        }
        assert!(left.is_empty(), "{} left behind for {}: {left:#?}", self.rt.name(), self.id);
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let state_dir = self.rt.state_dir(&self.id);
        // Only plain ids: `crun delete --force ..` (1.8.1) removes the parent
        // of its state root recursively, so odd ids are never passed to a
        // runtime from here.
        if crate::leaks::is_plain_id(&self.id) && state_dir.exists() {
            let mut cmd = self.rt.cmd();
            cmd.args(["delete", "--force", &self.id]);
            // Never panic in drop (a panic while unwinding aborts).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::process::run(cmd, Duration::from_secs(20))
            }));
        }
        crate::leaks::scrub(&self.id, &self.bundle, &state_dir);
    }
}
