//! Running one CNI plugin binary: the spec's environment (`CNI_COMMAND`,
//! `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`, `CNI_PATH`), the
//! network configuration on stdin, the result or the CNI error JSON on stdout,
//! a deadline after which the plugin is killed.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{Error, Result};

/// A CNI verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Add,
    Del,
    Check,
}

impl Verb {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Add => "ADD",
            Verb::Del => "DEL",
            Verb::Check => "CHECK",
        }
    }
}

/// The per-invocation environment of one attachment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub verb: Verb,
    pub container_id: &'a str,
    /// `None` for a DEL whose namespace is gone (the spec lets DEL go without).
    pub netns: Option<&'a Path>,
    pub ifname: &'a str,
    /// the network (conflist) name, for error messages
    pub network: &'a str,
}

/// Finds and runs plugin binaries; counts executions for the benchmarks.
#[derive(Debug)]
pub(crate) struct Invoker {
    dirs: Vec<PathBuf>,
    cni_path: OsString,
    path_env: OsString,
    timeout: Duration,
    found: Mutex<HashMap<String, PathBuf>>,
    execs: AtomicU64,
}

impl Invoker {
    pub(crate) fn new(dirs: Vec<PathBuf>, timeout: Duration) -> Invoker {
        let cni_path = std::env::join_paths(&dirs).unwrap_or_default();
        // Plugins run iptables, ip and friends from PATH; keep the caller's
        // PATH but make sure the sbin directories are on it.
        let mut path = std::env::var_os("PATH").unwrap_or_default();
        for d in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            if !std::env::split_paths(&path).any(|p| p == Path::new(d)) {
                if !path.is_empty() {
                    path.push(":");
                }
                path.push(d);
            }
        }
        Invoker { dirs, cni_path, path_env: path, timeout, found: Mutex::new(HashMap::new()), execs: AtomicU64::new(0) }
    }

    /// How many plugin processes this invoker started.
    pub(crate) fn exec_count(&self) -> u64 {
        self.execs.load(Ordering::Relaxed)
    }

    /// The path of plugin `name` in the first directory that has it.
    pub(crate) fn find(&self, name: &str) -> Result<PathBuf> {
        if let Some(p) = self.found.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Ok(p.clone());
        }
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(Error::PluginNotFound { plugin: name.to_string(), dirs: self.dirs_text() });
        }
        for d in &self.dirs {
            let p = d.join(name);
            if is_executable(&p) {
                self.found.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), p.clone());
                return Ok(p);
            }
        }
        Err(Error::PluginNotFound { plugin: name.to_string(), dirs: self.dirs_text() })
    }

    fn dirs_text(&self) -> String {
        self.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":")
    }

    /// Runs `plugin` with `config` on stdin. Returns the parsed stdout (ADD's
    /// result; `None` when the plugin printed nothing, as DEL and CHECK do).
    pub(crate) fn exec(&self, plugin: &str, call: &Call<'_>, config: &Value) -> Result<Option<Value>> {
        let path = self.find(plugin)?;
        let stdin_data = serde_json::to_vec(config).map_err(|e| self.result_err(plugin, call, e.to_string()))?;
        let exec_err = |source: std::io::Error| Error::PluginExec {
            call: crate::error::PluginCall::boxed(plugin.to_string(), call.verb.as_str(), call.container_id.to_string(), call.network.to_string()),
            path: path.clone(),
            source,
        };
        let mut cmd = Process::new(&path);
        cmd.env_clear()
            .env("CNI_COMMAND", call.verb.as_str())
            .env("CNI_CONTAINERID", call.container_id)
            .env("CNI_NETNS", call.netns.map(|p| p.as_os_str()).unwrap_or_default())
            .env("CNI_IFNAME", call.ifname)
            .env("CNI_PATH", &self.cni_path)
            .env("PATH", &self.path_env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(exec_err)?;
        self.execs.fetch_add(1, Ordering::Relaxed);
        if let Some(mut stdin) = child.stdin.take() {
            // A plugin that exits without reading its stdin is judged by its
            // exit status and output, not by our broken pipe.
            if let Err(e) = stdin.write_all(&stdin_data)
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                let _ = child.kill();
                let _ = child.wait();
                return Err(exec_err(e));
            }
        }
        let (stdout, stderr) = match (child.stdout.take(), child.stderr.take()) {
            (Some(o), Some(e)) => (o, e),
            _ => return Err(exec_err(std::io::Error::other("stdio pipes missing"))),
        };
        let outcome = read_until(stdout, stderr, started + self.timeout);
        let (out, err) = match outcome {
            Ok(v) => v,
            Err(ReadError::TimedOut) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::PluginTimeout {
                    call: crate::error::PluginCall::boxed(plugin.to_string(), call.verb.as_str(), call.container_id.to_string(), call.network.to_string()),
                    secs: self.timeout.as_secs(),
                });
            }
            Err(ReadError::Io(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(exec_err(e));
            }
        };
        let status = child.wait().map_err(exec_err)?;
        tracing::debug!(
            plugin,
            verb = call.verb.as_str(),
            container = call.container_id,
            network = call.network,
            ms = started.elapsed().as_millis() as u64,
            "cni plugin finished"
        );
        if !status.success() {
            return Err(plugin_failure(plugin, call, status, &out, &err));
        }
        let trimmed = String::from_utf8_lossy(&out);
        if trimmed.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&out).map(Some).map_err(|e| self.result_err(plugin, call, e.to_string()))
    }

    fn result_err(&self, plugin: &str, call: &Call<'_>, reason: String) -> Error {
        Error::PluginResult {
            call: crate::error::PluginCall::boxed(plugin.to_string(), call.verb.as_str(), call.container_id.to_string(), call.network.to_string()),
            reason,
        }
    }
}

/// Turns a failed run into an error carrying the plugin's CNI error (code,
/// msg, details) or, without one, its exit status and stderr.
fn plugin_failure(plugin: &str, call: &Call<'_>, status: std::process::ExitStatus, out: &[u8], err: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct CniError {
        code: Option<u64>,
        #[serde(default)]
        msg: String,
        #[serde(default)]
        details: String,
    }
    let (code, msg, details) = match serde_json::from_slice::<CniError>(out) {
        Ok(e) => (e.code, e.msg, e.details),
        Err(_) => {
            let stderr = String::from_utf8_lossy(err).trim().to_string();
            let stdout = String::from_utf8_lossy(out).trim().to_string();
            let detail = [stdout, stderr].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join("; ");
            (None, format!("plugin exited with {status}"), detail)
        }
    };
    Error::Plugin {
        call: crate::error::PluginCall::boxed(plugin.to_string(), call.verb.as_str(), call.container_id.to_string(), call.network.to_string()),
        code,
        msg,
        details,
    }
}

enum ReadError {
    TimedOut,
    Io(std::io::Error),
}

/// Reads stdout and stderr to EOF together (so neither pipe can fill and
/// stall the plugin), giving up at `deadline`.
fn read_until(
    mut stdout: std::process::ChildStdout,
    mut stderr: std::process::ChildStderr,
    deadline: Instant,
) -> std::result::Result<(Vec<u8>, Vec<u8>), ReadError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (true, true);
    let mut buf = [0u8; 8192];
    while out_open || err_open {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::TimedOut);
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let (ready_out, ready_err) = {
            let mut fds = Vec::with_capacity(2);
            if out_open {
                fds.push(PollFd::new(stdout.as_fd(), PollFlags::POLLIN));
            }
            if err_open {
                fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(ReadError::Io(e.into())),
            }
            let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
            let mut it = fds.iter();
            let ro = if out_open { it.next().is_some_and(ready) } else { false };
            let re = if err_open { it.next().is_some_and(ready) } else { false };
            (ro, re)
        };
        if ready_out {
            match stdout.read(&mut buf) {
                Ok(0) => out_open = false,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        if ready_err {
            match stderr.read(&mut buf) {
                Ok(0) => err_open = false,
                Ok(n) => {
                    // Plugins may be chatty on stderr; keep what explains a failure.
                    if err.len() < 64 * 1024 {
                        err.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }
    Ok((out, err))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn call(verb: Verb) -> Call<'static> {
        Call { verb, container_id: "c1", netns: None, ifname: "eth0", network: "net1" }
    }

    #[test]
    fn passes_the_spec_environment_and_stdin() {
        let d = tempfile::tempdir().expect("tempdir");
        script(
            d.path(),
            "echoenv",
            r#"read -r line; printf '{"cmd":"%s","id":"%s","ifname":"%s","netns":"%s","path":"%s","stdin":%s}' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_IFNAME" "$CNI_NETNS" "$CNI_PATH" "$line""#,
        );
        let inv = Invoker::new(vec![d.path().to_path_buf(), "/nonexistent".into()], Duration::from_secs(10));
        let out = inv
            .exec("echoenv", &call(Verb::Add), &serde_json::json!({"a": 1}))
            .expect("exec")
            .expect("output");
        assert_eq!(out["cmd"], "ADD");
        assert_eq!(out["id"], "c1");
        assert_eq!(out["ifname"], "eth0");
        assert_eq!(out["netns"], "");
        assert_eq!(out["path"], format!("{}:/nonexistent", d.path().display()));
        assert_eq!(out["stdin"]["a"], 1);
        assert_eq!(inv.exec_count(), 1);
    }

    #[test]
    fn decodes_cni_errors_and_falls_back_to_stderr() {
        let d = tempfile::tempdir().expect("tempdir");
        script(d.path(), "fails", r#"echo '{"cniVersion":"1.0.0","code":11,"msg":"try again","details":"busy"}'; exit 1"#);
        script(d.path(), "crashes", "echo boom >&2; exit 3");
        let inv = Invoker::new(vec![d.path().to_path_buf()], Duration::from_secs(10));
        let e = inv.exec("fails", &call(Verb::Del), &serde_json::json!({})).expect_err("must fail");
        assert!(matches!(&e, Error::Plugin { code: Some(11), msg, details, .. } if msg == "try again" && details == "busy"));
        let e = inv.exec("crashes", &call(Verb::Del), &serde_json::json!({})).expect_err("must fail");
        let text = e.to_string();
        assert!(text.contains("exit status: 3") && text.contains("boom"), "{text}");
        let e = inv.exec("missing", &call(Verb::Add), &serde_json::json!({})).expect_err("must fail");
        assert!(matches!(e, Error::PluginNotFound { .. }));
        let e = inv.exec("../fails", &call(Verb::Add), &serde_json::json!({})).expect_err("must fail");
        assert!(matches!(e, Error::PluginNotFound { .. }));
    }

    #[test]
    fn kills_a_plugin_that_hangs() {
        let d = tempfile::tempdir().expect("tempdir");
        script(d.path(), "hangs", "exec sleep 30");
        let inv = Invoker::new(vec![d.path().to_path_buf()], Duration::from_millis(300));
        let t = Instant::now();
        let e = inv.exec("hangs", &call(Verb::Add), &serde_json::json!({})).expect_err("must time out");
        assert!(matches!(e, Error::PluginTimeout { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn empty_output_is_no_result_and_garbage_is_an_error() {
        let d = tempfile::tempdir().expect("tempdir");
        script(d.path(), "quiet", "cat >/dev/null");
        script(d.path(), "garbage", "echo not-json");
        let inv = Invoker::new(vec![d.path().to_path_buf()], Duration::from_secs(10));
        assert!(inv.exec("quiet", &call(Verb::Del), &serde_json::json!({})).expect("exec").is_none());
        let e = inv.exec("garbage", &call(Verb::Add), &serde_json::json!({})).expect_err("must fail");
        assert!(matches!(e, Error::PluginResult { .. }));
    }
}
