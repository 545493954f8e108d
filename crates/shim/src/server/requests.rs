//! The requests of the control protocol (see the crate doc).

use super::*;

impl Server {
    pub(super) fn find_proc(&self, exec_id: Option<&str>) -> Result<Key, String> {
        match exec_id {
            None => Ok(self.init),
            Some(id) => self
                .procs
                .iter()
                .find(|(_, p)| p.exec_id.as_deref() == Some(id))
                .map(|(k, _)| k)
                .ok_or_else(|| format!("no such exec: {id}")),
        }
    }

    pub(super) fn describe(&self, key: Key) -> String {
        match self.procs.get(key).and_then(|p| p.exec_id.as_deref()) {
            Some(id) => format!("exec {id}"),
            None => format!("container {}", self.cfg.id),
        }
    }

    pub(super) fn handle_request(&mut self, key: Key, line: &[u8]) {
        self.requests_since_trim = true;
        let req: Request = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => return self.reply_err(key, &format!("malformed request: {e}")),
        };
        match req {
            Request::State {} => {
                let v = self.state_json();
                self.reply(key, v);
            }
            Request::Start {} => self.req_start(key),
            Request::Kill { signal, all, exec_id } => {
                let Some(sig) = signal.number() else {
                    return self.reply_err(key, &format!("invalid signal {signal:?}"));
                };
                self.req_kill(key, sig, all, exec_id.as_deref());
            }
            Request::Wait { exec_id } => match self.find_proc(exec_id.as_deref()) {
                Err(e) => self.reply_err(key, &e),
                Ok(pk) => {
                    let done = self.procs.get(pk).filter(|p| p.phase == Phase::Done).and_then(|p| p.exit.clone());
                    match done {
                        Some(rec) => self.reply(key, exit_json(&rec)),
                        None => {
                            if let Some(c) = self.clients.get_mut(key) {
                                c.phase = ClientPhase::Wait(pk);
                            }
                            self.update_client(key);
                        }
                    }
                }
            },
            Request::Resize { width, height, exec_id } => {
                let res = self.find_proc(exec_id.as_deref()).and_then(|pk| {
                    let p = self.procs.get(pk).ok_or("gone")?;
                    if !p.terminal {
                        return Err(format!("{} has no terminal", self.describe(pk)));
                    }
                    let fd = p.out[0].as_ref().ok_or_else(|| format!("{} is not running", self.describe(pk)))?;
                    sys::set_window_size(fd, height, width).map_err(|e| format!("resize the terminal: {e}"))
                });
                match res {
                    Ok(()) => self.reply(key, json!({"ok": true})),
                    Err(e) => self.reply_err(key, &e),
                }
            }
            Request::Attach { stdin, stdout, stderr, exec_id, close_stdin } => {
                self.req_attach(key, exec_id.as_deref(), Attach { proc: self.init, stdin, stdout, stderr, close_stdin })
            }
            Request::Exec { exec_id, process, terminal, stdin, attach } => {
                self.req_exec(key, exec_id, process, terminal, stdin, attach)
            }
            Request::ExecState { exec_id } => match self.find_proc(Some(&exec_id)) {
                Err(e) => self.reply_err(key, &e),
                Ok(pk) => {
                    let v = self.procs.get(pk).map(|p| proc_json(p, false)).unwrap_or_default();
                    self.reply(key, ok(v));
                }
            },
            Request::CloseStdin { exec_id } => match self.find_proc(exec_id.as_deref()) {
                Err(e) => self.reply_err(key, &e),
                Ok(pk) => {
                    self.close_stdin(pk);
                    self.reply(key, json!({"ok": true}));
                }
            },
            Request::Pause {} | Request::Resume {} => {
                let pause = matches!(req, Request::Pause {});
                let running = self.procs.get(self.init).is_some_and(|p| p.phase == Phase::Running);
                if !running {
                    return self.reply_err(key, &format!("container {} is not running", self.cfg.id));
                }
                let (verb, action) = if pause { ("pause", Action::Pause) } else { ("resume", Action::Resume) };
                let id = self.cfg.id.clone();
                self.run_for_client(key, verb, &[&id], action);
            }
            Request::ReopenLog {} => {
                let res = match &mut self.logger {
                    None => Err("the container has no log file".to_string()),
                    Some(l) => l.reopen().map_err(|e| format!("reopen the log file: {e}")),
                };
                match res {
                    Ok(()) => self.reply(key, json!({"ok": true})),
                    Err(e) => self.reply_err(key, &e),
                }
            }
            Request::Delete { force } => {
                let running = self.procs.get(self.init).is_some_and(|p| p.phase == Phase::Running);
                if running && !force {
                    return self.reply_err(
                        key,
                        &format!("cannot delete container {}: it is running (stop it first or force the delete)", self.cfg.id),
                    );
                }
                let id = self.cfg.id.clone();
                let args: Vec<&str> = if force { vec!["--force", &id] } else { vec![&id] };
                self.run_for_client(key, "delete", &args, Action::Delete);
            }
            Request::Shutdown {} => {
                let phase = self.procs.get(self.init).map(|p| p.phase);
                match phase {
                    Some(Phase::Done) | None => self.reply_and_quit(key, json!({"ok": true}), Quit::Shutdown),
                    Some(Phase::Exited) => self.reply_err(key, "the container's output is still being drained: retry"),
                    Some(_) => self.reply_err(
                        key,
                        &format!("container {} has not stopped: delete it instead, or stop it first", self.cfg.id),
                    ),
                }
            }
        }
    }

    pub(super) fn state_json(&self) -> Value {
        let init = self.procs.get(self.init);
        let mut v = match init {
            Some(p) => proc_json(p, self.paused),
            None => json!({"status": "stopped"}),
        };
        v["ok"] = json!(true);
        v["id"] = json!(self.cfg.id);
        v["shim_pid"] = json!(std::process::id());
        v["bundle"] = json!(self.cfg.bundle.to_string_lossy());
        v["terminal"] = json!(self.cfg.terminal);
        v["stdin"] = json!(self.cfg.stdin);
        v["log_dropped"] = json!(self.logger.as_ref().map_or(0, Logger::dropped));
        if let Some(e) = self.logger.as_ref().and_then(Logger::last_error) {
            v["log_error"] = json!(e);
        }
        let execs: Vec<Value> = self
            .procs
            .iter()
            .filter(|(k, _)| *k != self.init)
            .map(|(_, p)| proc_json(p, false))
            .collect();
        v["execs"] = json!(execs);
        v
    }

    pub(super) fn req_start(&mut self, key: Key) {
        let phase = self.procs.get(self.init).map(|p| p.phase);
        if phase != Some(Phase::Created) {
            return self.reply_err(key, &format!("container {} is not in the created state", self.cfg.id));
        }
        if self.start_pending {
            return self.reply_err(key, &format!("container {} is already being started", self.cfg.id));
        }
        self.start_pending = true;
        let id = self.cfg.id.clone();
        self.run_for_client(key, "start", &[&id], Action::Start);
    }

    pub(super) fn req_kill(&mut self, key: Key, sig: i32, all: bool, exec_id: Option<&str>) {
        let pk = match self.find_proc(exec_id) {
            Ok(k) => k,
            Err(e) => return self.reply_err(key, &e),
        };
        let Some(p) = self.procs.get(pk) else { return };
        if !matches!(p.phase, Phase::Running | Phase::Created) {
            return self.reply_err(key, &format!("{} is not running", self.describe(pk)));
        }
        if pk != self.init {
            // The exec's process is our child and not yet reaped, so its
            // pid cannot have been reused.
            let res = match p.pid {
                Some(pid) => {
                    // SAFETY: kill(2) with a pid and a signal number; no memory involved.
                    let rc = unsafe { libc::kill(pid, sig) };
                    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
                }
                None => Err(std::io::Error::from_raw_os_error(libc::ESRCH)),
            };
            return match res {
                Ok(()) => self.reply(key, json!({"ok": true})),
                Err(e) => self.reply_err(key, &format!("signal {}: {e}", self.describe(pk))),
            };
        }
        let id = self.cfg.id.clone();
        let sig = sig.to_string();
        let args: Vec<&str> = if all { vec!["--all", &id, &sig] } else { vec![&id, &sig] };
        self.run_for_client(key, "kill", &args, Action::Kill);
    }

    pub(super) fn req_attach(&mut self, key: Key, exec_id: Option<&str>, mut a: Attach) {
        let pk = match self.find_proc(exec_id) {
            Ok(k) => k,
            Err(e) => return self.reply_err(key, &e),
        };
        a.proc = pk;
        let Some(p) = self.procs.get(pk) else { return };
        if p.phase == Phase::Done {
            return self.reply_err(key, &format!("{} is not running", self.describe(pk)));
        }
        if a.stdin && !(p.stdin_open || p.phase == Phase::Starting) {
            // Accepted without stdin rather than refused: docker attaches the
            // streams that exist.
            a.stdin = false;
        }
        let terminal = p.terminal;
        self.start_attach(key, a, json!({"ok": true, "terminal": terminal}));
    }

    /// Sends `response` and turns the connection into the stream `a`.
    pub(super) fn start_attach(&mut self, key: Key, a: Attach, response: Value) {
        let Some(c) = self.clients.get_mut(key) else { return };
        c.phase = ClientPhase::Attached(a);
        let pending = std::mem::take(&mut c.inbuf);
        let eof = c.read_eof;
        let mut line = response.to_string();
        line.push('\n');
        self.send(key, &[line.as_bytes()]);
        if a.stdin && !pending.is_empty() {
            self.write_stdin(a.proc, &pending);
        }
        if eof && a.stdin {
            self.attacher_input_ended(key, a);
        }
        self.update_client(key);
    }

    pub(super) fn req_exec(&mut self, key: Key, exec_id: String, mut process: Value, terminal: Option<bool>, stdin: bool, attach: bool) {
        if !protocol::valid_exec_id(&exec_id) {
            return self.reply_err(key, &format!("invalid exec id {exec_id:?}: use letters, digits, '_', '.', '-' (at most 128)"));
        }
        if self.find_proc(Some(&exec_id)).is_ok() {
            return self.reply_err(key, &format!("exec {exec_id} already exists"));
        }
        if self.procs.get(self.init).map(|p| p.phase) != Some(Phase::Running) {
            return self.reply_err(key, &format!("container {} is not running", self.cfg.id));
        }
        let Some(obj) = process.as_object_mut() else {
            return self.reply_err(key, "process must be a JSON object (an OCI runtime-spec process)");
        };
        if let Some(t) = terminal {
            obj.insert("terminal".into(), json!(t));
        }
        let terminal = obj.get("terminal").and_then(Value::as_bool).unwrap_or(false);
        match self.spawn_exec(&exec_id, &process, terminal, stdin, attach, key) {
            Ok(()) => {
                if let Some(c) = self.clients.get_mut(key) {
                    c.phase = ClientPhase::Pending;
                }
                self.update_client(key);
            }
            Err(e) => self.reply_err(key, &e),
        }
    }

    pub(super) fn spawn_exec(&mut self, exec_id: &str, process: &Value, terminal: bool, stdin: bool, attach: bool, client: Key) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        let process_file = self.dir.file(&format!("exec-{exec_id}.json"));
        let pid_file = self.dir.file(&format!("exec-{exec_id}.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(&process_file)?;
            serde_json::to_writer(&mut f, process).map_err(std::io::Error::other)?;
            f.flush()
        };
        write().map_err(|e| format!("write {}: {e}", process_file.display()))?;
        let cleanup = |e: String| {
            let _ = std::fs::remove_file(&process_file);
            e
        };
        self.seq += 1;
        let seq = self.seq;
        let log = self.dir.file(&format!("runtime-{seq}.log"));
        let mut cmd = self.rt.command(&log, "exec");
        cmd.arg("--process").arg(&process_file).arg("--detach").arg("--pid-file").arg(&pid_file);
        let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
        let null = || sys::dev_null().map_err(|e| io("open /dev/null", e));
        let mut console = None;
        let mut capture = None;
        let (mut out, mut err, mut stdin_w) = (None, None, None);
        if terminal {
            let c = ConsoleSocket::bind(self.dir.path(), seq).map_err(|e| cleanup(io("bind console socket", e)))?;
            cmd.arg("--console-socket").arg(c.path());
            let cap = capture_file().map_err(|e| cleanup(io("create stderr capture", e)))?;
            let cap2 = cap.try_clone().map_err(|e| cleanup(io("dup capture", e)))?;
            cmd.stdin(Stdio::from(null().map_err(cleanup)?)).stdout(Stdio::from(null().map_err(cleanup)?)).stderr(Stdio::from(cap2));
            capture = Some(cap);
            console = Some(c);
        } else {
            let (o_r, o_w) = pipe().map_err(|e| cleanup(io("create stdout pipe", e)))?;
            let (e_r, e_w) = pipe().map_err(|e| cleanup(io("create stderr pipe", e)))?;
            let child_in = if stdin {
                let (i_r, i_w) = pipe().map_err(|e| cleanup(io("create stdin pipe", e)))?;
                stdin_w = Some(i_w);
                i_r
            } else {
                null().map_err(cleanup)?
            };
            cmd.stdin(Stdio::from(child_in)).stdout(Stdio::from(o_w)).stderr(Stdio::from(e_w));
            out = Some(o_r);
            err = Some(e_r);
        }
        cmd.arg(&self.cfg.id);
        let spawned = cmd.spawn();
        drop(cmd);
        let child = spawned.map_err(|e| cleanup(format!("run {} exec: {e}", self.rt.binary().display())))?;
        let proc = self.procs.insert(Proc {
            exec_id: Some(exec_id.to_string()),
            pid: None,
            terminal,
            phase: Phase::Starting,
            out: [out, err],
            stdin: stdin_w,
            stdin_open: stdin,
            stdin_buf: Vec::new(),
            stdin_watch: false,
            close_stdin_after_flush: false,
            exit: None,
            drain_deadline: None,
            done_seq: 0,
        });
        self.cmds.push(Cmd {
            pid: child.id() as i32,
            verb: "exec",
            log,
            stderr: capture,
            action: Action::Exec { proc, attach, pid_file, process_file, console },
            client: Some(client),
        });
        Ok(())
    }
}
