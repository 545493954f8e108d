//! Children: the signalfd, reaping, and what an exit sets off (the durable
//! exit record, draining, ending attach streams, answering waiters).

use super::*;

impl Server {
    pub(super) fn on_signal(&mut self) {
        let mut chld = false;
        loop {
            match self.sig.read_signal() {
                Ok(Some(info)) => {
                    if info.ssi_signo == Signal::SIGCHLD as u32 {
                        chld = true;
                    } else {
                        self.dir.note(&format!("ignoring signal {} (the shim exits on delete or shutdown)", info.ssi_signo));
                    }
                }
                Ok(None) => break,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        if chld {
            self.reap();
        }
    }

    pub(super) fn reap(&mut self) {
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(status) => {
                    let Some(pid) = status.pid() else { continue };
                    if let Some(rec) = ExitRecord::from_wait(status, Timestamp::now()) {
                        self.on_reaped(pid.as_raw(), rec);
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    self.dir.note(&format!("waitpid failed: {e}"));
                    break;
                }
            }
        }
    }

    pub(super) fn on_reaped(&mut self, pid: i32, rec: ExitRecord) {
        if let Some(i) = self.cmds.iter().position(|c| c.pid == pid) {
            let cmd = self.cmds.swap_remove(i);
            self.complete(cmd, rec.exit_code);
            return;
        }
        let proc = self.procs.iter().find(|(_, p)| p.pid == Some(pid) && p.exit.is_none()).map(|(k, _)| k);
        match proc {
            Some(k) => self.proc_exited(k, rec),
            None => {
                // An exec whose pid is not known yet, or an orphan from a
                // container without its own pid namespace.
                self.orphans.push_back((pid, rec));
                if self.orphans.len() > MAX_ORPHANS {
                    self.orphans.pop_front();
                }
            }
        }
    }

    pub(super) fn proc_exited(&mut self, key: Key, rec: ExitRecord) {
        let is_init = key == self.init;
        if is_init {
            // Durable before anyone hears of it.
            if let Err(e) = self.dir.write_durable(state_dir::EXIT_JSON, rec.to_json().as_bytes()) {
                self.dir.note(&format!("write {}: {e}", self.dir.file(state_dir::EXIT_JSON).display()));
            }
            self.paused = false;
        }
        let Some(p) = self.procs.get_mut(key) else { return };
        p.exit = Some(rec);
        p.phase = Phase::Exited;
        p.drain_deadline = Some(Instant::now() + DRAIN_GRACE);
        if is_init && self.kill_all_on_exit {
            let _ = self.spawn_cmd("kill", &["--all", &self.cfg.id.clone(), "KILL"], Action::KillAllAfterExit, None);
        }
        self.maybe_finish(key);
    }

    /// Once a process has exited and its output is drained (or the grace
    /// period is over): close its stdio, end its attach streams, answer its
    /// waiters.
    pub(super) fn maybe_finish(&mut self, key: Key) {
        let Some(p) = self.procs.get(key) else { return };
        if p.phase != Phase::Exited {
            return;
        }
        let open = p.out.iter().any(Option::is_some);
        if open && p.drain_deadline.is_some_and(|d| d > Instant::now()) {
            return;
        }
        for ch in [CH_OUT, CH_ERR] {
            self.close_output(key, ch);
        }
        self.seq += 1;
        let seq = self.seq;
        let Some(p) = self.procs.get_mut(key) else { return };
        if let Some(fd) = p.stdin.take() {
            let _ = self.ep.delete(&fd);
        }
        p.stdin_buf = Vec::new();
        p.stdin_open = false;
        p.phase = Phase::Done;
        p.done_seq = seq;
        let rec = p.exit.clone();
        for ck in self.clients.keys() {
            match self.clients.get(ck).map(|c| c.phase) {
                Some(ClientPhase::Attached(a)) if a.proc == key => self.close_client_after_flush(ck),
                Some(ClientPhase::Wait(k)) if k == key => {
                    let v = match &rec {
                        Some(r) => exit_json(r),
                        None => json!({"ok": false, "error": "the process ended without an exit status"}),
                    };
                    self.reply(ck, v);
                }
                _ => {}
            }
        }
        self.trim_execs();
    }

    /// Removes an exec that never started: its waiters get `error`, its
    /// early attachers are closed.
    pub(super) fn forget_proc(&mut self, key: Key, error: &str) {
        for ck in self.clients.keys() {
            match self.clients.get(ck).map(|c| c.phase) {
                Some(ClientPhase::Attached(a)) if a.proc == key => self.close_client_after_flush(ck),
                Some(ClientPhase::Wait(k)) if k == key => self.reply_err(ck, error),
                _ => {}
            }
        }
        if let Some(p) = self.procs.remove(key) {
            for fd in p.out.iter().flatten().chain(p.stdin.iter()) {
                let _ = self.ep.delete(fd);
            }
        }
        self.resume_listener();
    }

    pub(super) fn trim_execs(&mut self) {
        let mut done: Vec<(u64, Key)> = self
            .procs
            .iter()
            .filter(|(k, p)| *k != self.init && p.phase == Phase::Done)
            .map(|(k, p)| (p.done_seq, k))
            .collect();
        if done.len() <= MAX_DONE_EXECS {
            return;
        }
        done.sort_by_key(|(seq, _)| *seq);
        for (_, k) in &done[..done.len() - MAX_DONE_EXECS] {
            self.procs.remove(*k);
        }
    }
}
