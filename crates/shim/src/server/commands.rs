//! Runtime commands issued while the loop runs (`start`, `kill`, `exec`,
//! `pause`, `resume`, `delete`): child processes whose completion arrives
//! like every other exit.

use super::*;

impl Server {
    /// Runs `runtime <verb> <args>` for a client, which waits for the result.
    pub(super) fn run_for_client(&mut self, key: Key, verb: &'static str, args: &[&str], action: Action) {
        match self.spawn_cmd(verb, args, action, Some(key)) {
            Ok(()) => {
                if let Some(c) = self.clients.get_mut(key) {
                    c.phase = ClientPhase::Pending;
                }
                self.update_client(key);
            }
            Err(e) => {
                if verb == "start" {
                    self.start_pending = false;
                }
                self.reply_err(key, &e);
            }
        }
    }

    pub(super) fn spawn_cmd(&mut self, verb: &'static str, args: &[&str], action: Action, client: Option<Key>) -> Result<(), String> {
        self.seq += 1;
        let log = self.dir.file(&format!("runtime-{}.log", self.seq));
        let mut cmd = self.rt.command(&log, verb);
        cmd.args(args);
        let capture = capture_file().map_err(|e| format!("create stderr capture: {e}"))?;
        let cap2 = capture.try_clone().map_err(|e| format!("dup capture: {e}"))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(cap2));
        let child = cmd.spawn().map_err(|e| format!("run {} {verb}: {e}", self.rt.binary().display()))?;
        self.cmds.push(Cmd { pid: child.id() as i32, verb, log, stderr: Some(capture), action, client });
        Ok(())
    }

    pub(super) fn complete(&mut self, mut cmd: Cmd, exit_code: i32) {
        let failure = (exit_code != 0).then(|| runtime::failure(cmd.verb, &cmd.log, &read_capture(cmd.stderr.as_mut()), exit_code));
        let _ = std::fs::remove_file(&cmd.log);
        let client = cmd.client.filter(|k| self.clients.get(*k).is_some());
        let answer = |s: &mut Server, v: Value| {
            if let Some(k) = client {
                s.reply(k, v);
            }
        };
        match cmd.action {
            Action::Start => {
                self.start_pending = false;
                match failure {
                    None => {
                        let pid = self.init_pid();
                        if let Some(p) = self.procs.get_mut(self.init)
                            && p.phase == Phase::Created
                        {
                            p.phase = Phase::Running;
                        }
                        answer(self, json!({"ok": true, "pid": pid}));
                    }
                    Some(f) => answer(self, failure_json(&f)),
                }
            }
            Action::Kill => answer(self, failure.as_ref().map_or_else(|| json!({"ok": true}), failure_json)),
            Action::Pause | Action::Resume => {
                if failure.is_none() {
                    let exited = self.procs.get(self.init).is_none_or(|p| p.exit.is_some());
                    self.paused = matches!(cmd.action, Action::Pause) && !exited;
                }
                answer(self, failure.as_ref().map_or_else(|| json!({"ok": true}), failure_json));
            }
            Action::KillAllAfterExit => {
                if let Some(f) = failure {
                    self.dir.note(&format!("kill --all after init exited: {}", f.message));
                }
            }
            Action::Delete => match failure {
                Some(f) => answer(self, failure_json(&f)),
                None => {
                    self.settle_before_quit();
                    let mut v = json!({"ok": true});
                    if let Some(rec) = self.procs.get(self.init).and_then(|p| p.exit.clone()) {
                        v = exit_json(&rec);
                    }
                    match client {
                        Some(k) => self.reply_and_quit(k, v, Quit::Delete),
                        None => self.quit = Some(Quit::Delete),
                    }
                }
            },
            Action::Exec { proc, attach, pid_file, process_file, console } => {
                let _ = std::fs::remove_file(&process_file);
                let started = match failure {
                    Some(f) => Err(f),
                    None => {
                        let pid = read_pid_file(&pid_file);
                        let master = console.as_ref().map(ConsoleSocket::receive);
                        match (pid, master) {
                            (Ok(pid), None) => Ok((pid, None)),
                            (Ok(pid), Some(Ok(m))) => Ok((pid, Some(m))),
                            (Ok(pid), Some(Err(e))) => {
                                // SAFETY: kill(2); `pid` is our unreaped child (reparented to us).
                                unsafe { libc::kill(pid, libc::SIGKILL) };
                                Err(Failure { message: format!("receive the exec's console: {e}"), exit_code: 255 })
                            }
                            (Err(e), _) => Err(Failure { message: e, exit_code: 255 }),
                        }
                    }
                };
                let _ = std::fs::remove_file(&pid_file);
                drop(console);
                match started {
                    Err(f) => {
                        let what = self.describe(proc);
                        self.forget_proc(proc, &format!("{what} failed to start: {}", f.message));
                        answer(self, failure_json(&f));
                    }
                    Ok((pid, master)) => self.exec_started(proc, pid, master, attach, client),
                }
            }
        }
    }

    pub(super) fn exec_started(&mut self, key: Key, pid: i32, master: Option<OwnedFd>, attach: bool, client: Option<Key>) {
        let Some(p) = self.procs.get_mut(key) else { return };
        p.pid = Some(pid);
        p.phase = Phase::Running;
        if let Some(m) = master {
            p.out[0] = Some(m);
        }
        let stdin = p.stdin_open;
        for ch in [CH_OUT, CH_ERR] {
            if let Some(fd) = p.out[usize::from(ch)].as_ref() {
                let _ = sys::set_nonblocking(fd.as_fd(), true);
                let _ = self.ep.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token(K_PROC, key, ch)));
            }
        }
        if let Some(fd) = p.stdin.as_ref() {
            let _ = sys::set_nonblocking(fd.as_fd(), true);
        }
        let resp = json!({"ok": true, "pid": pid});
        match client {
            Some(ck) if attach => {
                let a = Attach { proc: key, stdin, stdout: true, stderr: true, close_stdin: true };
                self.start_attach(ck, a, resp);
            }
            Some(ck) => self.reply(ck, resp),
            None => {}
        }
        if let Some(i) = self.orphans.iter().position(|(p, _)| *p == pid)
            && let Some((_, rec)) = self.orphans.remove(i)
        {
            self.proc_exited(key, rec);
        }
    }

    /// Before the shim exits after `delete`: collect the exits the delete
    /// caused, so that waiters get them.
    pub(super) fn settle_before_quit(&mut self) {
        let init_running = self.procs.get(self.init).is_some_and(|p| p.exit.is_none() && p.pid.is_some());
        if init_running {
            let deadline = Instant::now() + Duration::from_secs(1);
            loop {
                self.reap();
                if self.procs.get(self.init).is_none_or(|p| p.exit.is_some()) || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            self.reap();
        }
        for (k, _) in self.procs.iter().map(|(k, p)| (k, p.phase)).collect::<Vec<_>>() {
            if let Some(p) = self.procs.get_mut(k)
                && p.phase == Phase::Exited
            {
                p.drain_deadline = Some(Instant::now());
            }
            self.maybe_finish(k);
        }
        for ck in self.clients.keys() {
            if matches!(self.clients.get(ck).map(|c| c.phase), Some(ClientPhase::Wait(_))) {
                self.reply_err(ck, &format!("container {} was deleted", self.cfg.id));
            }
        }
    }

    /// Writes the response synchronously (bounded by a timeout) and ends
    /// the loop.
    pub(super) fn reply_and_quit(&mut self, key: Key, v: Value, q: Quit) {
        if let Some(c) = self.clients.get_mut(key) {
            let mut line = v.to_string();
            line.push('\n');
            let _ = c.sock.set_nonblocking(false);
            let _ = c.sock.set_write_timeout(Some(Duration::from_secs(1)));
            let mut all = std::mem::take(&mut c.out);
            all.extend_from_slice(line.as_bytes());
            let _ = (&c.sock).write_all(&all);
        }
        self.drop_client(key);
        // Attach streams and waiters of other clients: flush what fits now.
        for ck in self.clients.keys() {
            self.flush_client(ck);
        }
        self.quit = Some(q);
    }
}
