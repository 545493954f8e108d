//! The processes' stdio: reading their output (to the log and to
//! attachers) and writing their stdin.

use super::*;

impl Server {
    pub(super) fn on_output(&mut self, key: Key, ch: u8) {
        let Some(p) = self.procs.get(key) else { return };
        let Some(fd) = p.out[usize::from(ch)].as_ref() else { return };
        let stream = if ch == CH_ERR { Stream::Stderr } else { Stream::Stdout };
        let terminal = p.terminal;
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(CHUNK, 0);
        let res = nix::unistd::read(fd, &mut buf);
        match res {
            Ok(0) | Err(Errno::EIO) => {
                self.buf = buf;
                self.close_output(key, ch);
                self.maybe_finish(key);
            }
            Ok(n) => {
                let data = &buf[..n];
                if key == self.init
                    && let Some(l) = &mut self.logger
                {
                    l.write(stream, data);
                }
                let header = stdcopy_header(stream, n as u32);
                let attached = self.clients.iter().any(|(_, c)| matches!(c.phase, ClientPhase::Attached(a) if a.proc == key));
                let readers = if attached { self.clients.keys() } else { Vec::new() };
                for ck in readers {
                    let wants = match self.clients.get(ck).map(|c| c.phase) {
                        Some(ClientPhase::Attached(a)) if a.proc == key => match stream {
                            Stream::Stdout => a.stdout,
                            Stream::Stderr => a.stderr,
                        },
                        _ => false,
                    };
                    if wants {
                        if terminal {
                            self.send(ck, &[data]);
                        } else {
                            self.send(ck, &[&header, data]);
                        }
                    }
                }
                self.buf = buf;
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => self.buf = buf,
            Err(e) => {
                self.buf = buf;
                self.dir.note(&format!("read {}: {e}", stream.name()));
                self.close_output(key, ch);
                self.maybe_finish(key);
            }
        }
        if self.buf.capacity() > CHUNK {
            self.buf = Vec::new();
        }
    }

    pub(super) fn close_output(&mut self, key: Key, ch: u8) {
        let is_init = key == self.init;
        let Some(p) = self.procs.get_mut(key) else { return };
        let Some(fd) = p.out[usize::from(ch)].take() else { return };
        let _ = self.ep.delete(&fd);
        if ch == CH_OUT && p.terminal {
            // The pty master was also the input.
            p.stdin_buf = Vec::new();
            p.stdin_open = false;
        }
        drop(fd);
        self.resume_listener();
        if is_init && let Some(l) = &mut self.logger {
            l.finish(if ch == CH_ERR { Stream::Stderr } else { Stream::Stdout });
        }
    }

    /// Queues input for the process's stdin and writes what it can.
    pub(super) fn write_stdin(&mut self, key: Key, data: &[u8]) {
        let Some(p) = self.procs.get_mut(key) else { return };
        if !p.stdin_open || p.close_stdin_after_flush {
            return;
        }
        p.stdin_buf.extend_from_slice(data);
        self.flush_stdin(key);
    }

    pub(super) fn flush_stdin(&mut self, key: Key) {
        let Some(p) = self.procs.get_mut(key) else { return };
        let mut broken = false;
        let fd = p.input_fd().map(|f| f.as_raw_fd());
        if let Some(fd) = fd {
            // SAFETY: `fd` belongs to `p` (its stdin pipe or pty master),
            // which outlives this loop; nothing closes it meanwhile.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            while !p.stdin_buf.is_empty() {
                match nix::unistd::write(fd, &p.stdin_buf) {
                    Ok(n) => {
                        p.stdin_buf.drain(..n);
                    }
                    Err(Errno::EINTR) => continue,
                    Err(Errno::EAGAIN) => break,
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
        } else {
            p.stdin_buf.clear();
        }
        if broken {
            // The container closed its stdin: nothing will ever be read.
            p.stdin_buf = Vec::new();
            p.stdin_open = false;
            if !p.terminal
                && let Some(fd) = p.stdin.take()
            {
                let _ = self.ep.delete(&fd);
            }
        }
        let close_now = p.close_stdin_after_flush && p.stdin_buf.is_empty();
        if close_now {
            self.close_stdin_now(key);
        }
        self.update_stdin_watch(key);
        // Attachers paused by a full buffer may be read from again.
        for ck in self.clients.keys() {
            if matches!(self.clients.get(ck).map(|c| c.phase), Some(ClientPhase::Attached(a)) if a.proc == key && a.stdin) {
                self.update_client(ck);
            }
        }
    }

    pub(super) fn update_stdin_watch(&mut self, key: Key) {
        let tok = token(K_PROC, key, CH_IN);
        let Some(p) = self.procs.get_mut(key) else { return };
        let want = !p.stdin_buf.is_empty();
        if p.terminal {
            if want != p.stdin_watch
                && let Some(fd) = p.out[0].as_ref()
            {
                let mut flags = EpollFlags::EPOLLIN;
                if want {
                    flags |= EpollFlags::EPOLLOUT;
                }
                let mut ev = EpollEvent::new(flags, token(K_PROC, key, CH_OUT));
                let _ = self.ep.modify(fd, &mut ev);
                p.stdin_watch = want;
            }
        } else if want != p.stdin_watch {
            if let Some(fd) = p.stdin.as_ref() {
                if want {
                    let _ = self.ep.add(fd, EpollEvent::new(EpollFlags::EPOLLOUT, tok));
                } else {
                    let _ = self.ep.delete(fd);
                }
            }
            p.stdin_watch = want;
        }
    }

    /// Closes the process's stdin once what is buffered is written (with a
    /// terminal: stops forwarding input, as containerd's CloseIO does).
    pub(super) fn close_stdin(&mut self, key: Key) {
        let Some(p) = self.procs.get_mut(key) else { return };
        if p.stdin_buf.is_empty() {
            self.close_stdin_now(key);
        } else {
            p.close_stdin_after_flush = true;
        }
    }

    pub(super) fn close_stdin_now(&mut self, key: Key) {
        let Some(p) = self.procs.get_mut(key) else { return };
        p.stdin_open = false;
        p.close_stdin_after_flush = false;
        p.stdin_buf = Vec::new();
        if let Some(fd) = p.stdin.take() {
            if p.stdin_watch {
                let _ = self.ep.delete(&fd);
            }
            p.stdin_watch = false;
        }
    }
}
