//! Control-socket connections: accepting, reading requests and stdin,
//! writing responses and streams, backpressure and disconnects.

use super::*;

impl Server {
    pub(super) fn on_accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    if self.clients.len() >= MAX_CLIENTS {
                        let _ = sock.set_nonblocking(true);
                        let _ = (&sock).write_all(b"{\"ok\":false,\"error\":\"too many connections to the shim\"}\n");
                        continue;
                    }
                    if sock.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let key = self.clients.insert(Client {
                        sock,
                        inbuf: Vec::new(),
                        out: Vec::new(),
                        phase: ClientPhase::Request,
                        read_eof: false,
                        interest: None,
                    });
                    self.update_client(key);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors (EMFILE, ENFILE) or memory: leave the
                    // connection queued and stop watching the socket (a
                    // level-triggered listener would spin) until a
                    // connection or a process's stdio is closed.
                    self.dir.note(&format!("accept on the control socket: {e}"));
                    self.pause_listener();
                    break;
                }
            }
        }
    }

    pub(super) fn pause_listener(&mut self) {
        if !self.listener_paused {
            self.listener_paused = true;
            let _ = self.ep.delete(&self.listener);
        }
    }

    /// Watches the control socket again after [`Server::pause_listener`].
    pub(super) fn resume_listener(&mut self) {
        if self.listener_paused {
            self.listener_paused = false;
            let _ = self.ep.add(&self.listener, EpollEvent::new(EpollFlags::EPOLLIN, K_LISTENER << 60));
        }
    }

    pub(super) fn drop_client(&mut self, key: Key) {
        self.resume_listener();
        if let Some(c) = self.clients.remove(key) {
            if c.interest.is_some() {
                let _ = self.ep.delete(&c.sock);
            }
            if let ClientPhase::Attached(a) = c.phase
                && a.stdin
                && !c.read_eof
            {
                // A stdin attacher vanished without finishing its input.
                self.attacher_input_ended(key, a);
            }
        }
    }

    /// Recomputes what the client waits for and tells epoll.
    pub(super) fn update_client(&mut self, key: Key) {
        let Some(c) = self.clients.get(key) else { return };
        let want_read = !c.read_eof
            && match c.phase {
                ClientPhase::Request | ClientPhase::Wait(_) => true,
                ClientPhase::Pending => c.inbuf.len() < PENDING_INPUT_MAX,
                ClientPhase::Attached(a) => {
                    !a.stdin || self.procs.get(a.proc).is_none_or(|p| p.stdin_buf.len() < STDIN_HIGH)
                }
                ClientPhase::Closing => false,
            };
        let mut flags = EpollFlags::empty();
        if want_read {
            flags |= EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        }
        if !c.out.is_empty() {
            flags |= EpollFlags::EPOLLOUT;
        }
        if c.interest == Some(flags) {
            return;
        }
        let tok = token(K_CLIENT, key, 0);
        let res = match c.interest {
            None => self.ep.add(&c.sock, EpollEvent::new(flags, tok)),
            Some(_) => self.ep.modify(&c.sock, &mut EpollEvent::new(flags, tok)),
        };
        match res {
            Ok(()) => {
                if let Some(c) = self.clients.get_mut(key) {
                    c.interest = Some(flags);
                }
            }
            Err(_) => self.drop_client(key),
        }
    }

    /// Sends bytes to a client, buffering what the socket does not take.
    pub(super) fn send(&mut self, key: Key, parts: &[&[u8]]) {
        let Some(c) = self.clients.get_mut(key) else { return };
        let mut skip = 0usize;
        if c.out.is_empty() {
            let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            match (&c.sock).write_vectored(&slices) {
                Ok(n) => skip = n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.drop_client(key);
                    return;
                }
            }
        }
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            c.out.extend_from_slice(&p[skip..]);
            skip = 0;
        }
        if c.out.len() > CLIENT_BACKLOG_MAX {
            self.dir.note("dropped an attach client that did not keep up with the output");
            self.drop_client(key);
            return;
        }
        let finished = c.out.is_empty() && matches!(c.phase, ClientPhase::Closing);
        if finished {
            self.drop_client(key);
        } else {
            self.update_client(key);
        }
    }

    pub(super) fn flush_client(&mut self, key: Key) {
        let Some(c) = self.clients.get_mut(key) else { return };
        while !c.out.is_empty() {
            match (&c.sock).write(&c.out) {
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.drop_client(key);
                    return;
                }
            }
        }
        if c.out.is_empty() && c.out.capacity() > CHUNK {
            c.out = Vec::new();
        }
        if c.out.is_empty() && matches!(c.phase, ClientPhase::Closing) {
            self.drop_client(key);
        } else {
            self.update_client(key);
        }
    }

    /// Sends one response line and closes the connection after it.
    pub(super) fn reply(&mut self, key: Key, v: Value) {
        let Some(c) = self.clients.get_mut(key) else { return };
        c.phase = ClientPhase::Closing;
        let mut line = v.to_string();
        line.push('\n');
        self.send(key, &[line.as_bytes()]);
    }

    pub(super) fn reply_err(&mut self, key: Key, msg: &str) {
        self.reply(key, json!({"ok": false, "error": msg}));
    }

    pub(super) fn close_client_after_flush(&mut self, key: Key) {
        let Some(c) = self.clients.get_mut(key) else { return };
        c.phase = ClientPhase::Closing;
        if c.out.is_empty() {
            self.drop_client(key);
        } else {
            self.update_client(key);
        }
    }

    pub(super) fn on_client_readable(&mut self, key: Key) {
        let Some(c) = self.clients.get(key) else { return };
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(CHUNK, 0);
        let res = (&c.sock).read(&mut buf);
        match res {
            Ok(0) => {
                self.buf = buf;
                self.client_eof(key);
            }
            Ok(n) => {
                self.client_data(key, &buf[..n]);
                self.buf = buf;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::Interrupted => {
                self.buf = buf;
            }
            Err(_) => {
                self.buf = buf;
                self.drop_client(key);
            }
        }
    }

    pub(super) fn client_data(&mut self, key: Key, data: &[u8]) {
        let Some(c) = self.clients.get_mut(key) else { return };
        match c.phase {
            ClientPhase::Request => {
                c.inbuf.extend_from_slice(data);
                if let Some(pos) = c.inbuf.iter().position(|&b| b == b'\n') {
                    let rest = c.inbuf.split_off(pos + 1);
                    let mut line = std::mem::replace(&mut c.inbuf, rest);
                    line.pop();
                    self.handle_request(key, &line);
                } else if c.inbuf.len() > protocol::MAX_REQUEST {
                    c.inbuf = Vec::new();
                    self.reply_err(key, &format!("request longer than {} bytes", protocol::MAX_REQUEST));
                }
            }
            ClientPhase::Pending => {
                c.inbuf.extend_from_slice(data);
                self.update_client(key);
            }
            ClientPhase::Attached(a) => {
                if a.stdin {
                    self.write_stdin(a.proc, data);
                }
            }
            ClientPhase::Wait(_) | ClientPhase::Closing => {}
        }
    }

    pub(super) fn client_eof(&mut self, key: Key) {
        let Some(c) = self.clients.get_mut(key) else { return };
        c.read_eof = true;
        match c.phase {
            ClientPhase::Request => {
                if c.inbuf.iter().all(u8::is_ascii_whitespace) {
                    self.drop_client(key);
                } else {
                    // A request without its newline: take it as the line.
                    let line = std::mem::take(&mut c.inbuf);
                    self.handle_request(key, &line);
                }
            }
            // Only the client's sending side may be shut (it still reads
            // the answer); a full close shows as EPOLLHUP and drops it.
            ClientPhase::Wait(_) => self.update_client(key),
            ClientPhase::Attached(a) => {
                if a.stdin {
                    self.attacher_input_ended(key, a);
                }
                self.update_client(key);
            }
            ClientPhase::Pending | ClientPhase::Closing => self.update_client(key),
        }
    }

    /// A stdin attacher stopped sending: docker's StdinOnce closes the
    /// process's stdin when it was the only one sending.
    pub(super) fn attacher_input_ended(&mut self, key: Key, a: Attach) {
        if !a.close_stdin {
            return;
        }
        let others = self.clients.iter().any(|(k, c)| {
            k != key && !c.read_eof && matches!(c.phase, ClientPhase::Attached(o) if o.proc == a.proc && o.stdin)
        });
        if !others {
            self.close_stdin(a.proc);
        }
    }
}
