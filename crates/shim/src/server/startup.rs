//! Start-up: the bundle check, the container's stdio, `create` and `start`
//! (synchronous: nothing else can happen yet), then the [`Server`].

use super::*;

impl Server {
    /// Start-up: runs `create` (and `start` unless `--no-start`). On failure
    /// nothing is left: no runtime container (after a failed start it is
    /// deleted), no state files.
    pub fn start(cfg: Config, mut dir: StateDir) -> Result<Server, (StartFailure, StateDir)> {
        let pid = std::process::id() as i32;
        if let Err(e) = dir.write_shim_pid(pid) {
            return Err((StartFailure::shim(format!("write {}: {e}", dir.file(state_dir::SHIM_PID).display())), dir));
        }
        let rt = OciRuntime::new(cfg.runtime.clone(), cfg.runtime_root.clone(), cfg.runtime_args.clone());
        match Server::setup(cfg, &mut dir, rt) {
            Ok(parts) => Ok(parts.into_server(dir)),
            Err(f) => Err((f, dir)),
        }
    }

    fn setup(cfg: Config, dir: &mut StateDir, rt: OciRuntime) -> Result<Parts, StartFailure> {
        let fail = StartFailure::shim;
        sys::set_child_subreaper().map_err(|e| fail(format!("become child subreaper: {e}")))?;
        let mask = handled_signals();
        mask.thread_block().map_err(|e| fail(format!("block signals: {e}")))?;
        let sig = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| fail(format!("create signalfd: {e}")))?;

        let facts = read_bundle(&cfg.bundle).map_err(fail)?;
        if facts.terminal != cfg.terminal {
            return Err(fail(format!(
                "bundle {} has process.terminal {} but --terminal was {}",
                cfg.bundle.display(),
                facts.terminal,
                if cfg.terminal { "given" } else { "not given" }
            )));
        }
        let logger = match &cfg.log_path {
            Some(p) => Some(
                Logger::open(cfg.log_driver, p, cfg.log_max_size, cfg.log_max_files)
                    .map_err(|e| fail(crate::error_chain(&e)))?,
            ),
            None => None,
        };
        let listener = bind_control_socket(dir)
            .map_err(|e| fail(format!("bind control socket {}: {e}", dir.file(state_dir::SHIM_SOCK).display())))?;

        // The container's stdio.
        let io_err = |what: &str, e: std::io::Error| fail(format!("{what}: {e}"));
        let null = || sys::dev_null().map_err(|e| io_err("open /dev/null", e));
        let mut seq = 0u64;
        let log = dir.file("runtime-create.log");
        let mut cmd = rt.command(&log, "create");
        cmd.arg("--bundle").arg(&cfg.bundle).arg("--pid-file").arg(dir.file(state_dir::INIT_PID));
        let mut capture = None;
        let mut console = None;
        let (mut out, mut err_r, mut stdin_w) = (None, None, None);
        if cfg.terminal {
            let c = ConsoleSocket::bind(dir.path(), seq).map_err(|e| io_err("bind console socket", e))?;
            seq += 1;
            cmd.arg("--console-socket").arg(c.path());
            let cap = capture_file().map_err(|e| io_err("create stderr capture", e))?;
            cmd.stdin(Stdio::from(null()?))
                .stdout(Stdio::from(null()?))
                .stderr(Stdio::from(cap.try_clone().map_err(|e| io_err("dup capture", e))?));
            capture = Some(cap);
            console = Some(c);
        } else {
            let (o_r, o_w) = pipe().map_err(|e| io_err("create stdout pipe", e))?;
            let (e_r, e_w) = pipe().map_err(|e| io_err("create stderr pipe", e))?;
            let stdin = if cfg.stdin {
                let (i_r, i_w) = pipe().map_err(|e| io_err("create stdin pipe", e))?;
                stdin_w = Some(i_w);
                i_r
            } else {
                null()?
            };
            cmd.stdin(Stdio::from(stdin)).stdout(Stdio::from(o_w)).stderr(Stdio::from(e_w));
            out = Some(o_r);
            err_r = Some(e_r);
        }
        cmd.arg(&cfg.id);
        let status = cmd.status();
        // The container's ends of the pipes now live in the container only.
        drop(cmd);
        let status = status.map_err(|e| fail(format!("run {} create: {e}", rt.binary().display())))?;
        if !status.success() {
            let mut stderr = read_capture(capture.as_mut());
            if let Some(e) = &err_r {
                // Without a terminal the runtime's stderr is the container's.
                let _ = sys::set_nonblocking(e.as_fd(), true);
                let mut buf = vec![0u8; 8192];
                if let Ok(n) = nix::unistd::read(e, &mut buf) {
                    stderr.extend_from_slice(&buf[..n]);
                }
            }
            let f = runtime::failure("create", &log, &stderr, exit_code_of(status));
            dir.remove("runtime-create.log");
            return Err(StartFailure::runtime("create", f));
        }
        dir.remove("runtime-create.log");

        let mut parts = Parts {
            cfg,
            rt,
            sig,
            listener,
            logger,
            kill_all_on_exit: facts.kill_all_on_exit,
            seq,
            init_pid: 0,
            out,
            err: err_r,
            stdin: stdin_w,
            started: false,
        };
        let init_pid = read_pid_file(&dir.file(state_dir::INIT_PID));
        let master = console.as_ref().map(|c| c.receive());
        drop(console);
        let setup_rest = |parts: &mut Parts| -> Result<(), StartFailure> {
            parts.init_pid = init_pid.map_err(StartFailure::shim)?;
            if let Some(m) = master {
                parts.out = Some(m.map_err(|e| StartFailure::shim(format!("receive the console from the runtime: {e}")))?);
            }
            Ok(())
        };
        if let Err(f) = setup_rest(&mut parts) {
            parts.delete_container(dir);
            return Err(f);
        }
        if !parts.cfg.no_start {
            if let Err(f) = parts.run_start(dir) {
                parts.delete_container(dir);
                return Err(StartFailure::runtime("start", f));
            }
            parts.started = true;
        }
        Ok(parts)
    }
}

/// What start-up produced, before it becomes a [`Server`].
#[derive(Debug)]
struct Parts {
    cfg: Config,
    rt: OciRuntime,
    sig: SignalFd,
    listener: UnixListener,
    logger: Option<Logger>,
    kill_all_on_exit: bool,
    seq: u64,
    init_pid: i32,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    started: bool,
}

impl Parts {
    pub(super) fn run_start(&self, dir: &StateDir) -> Result<(), Failure> {
        let log = dir.file("runtime-start.log");
        let mut cmd = self.rt.command(&log, "start");
        cmd.arg(&self.cfg.id);
        let mut capture = capture_file().ok();
        let err = match capture.as_ref().and_then(|c| c.try_clone().ok()) {
            Some(c) => Stdio::from(c),
            None => Stdio::null(),
        };
        let status = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err).status();
        let result = match status {
            Err(e) => Err(Failure { message: format!("run {} start: {e}", self.rt.binary().display()), exit_code: 255 }),
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(runtime::failure("start", &log, &read_capture(capture.as_mut()), exit_code_of(s))),
        };
        let _ = std::fs::remove_file(&log);
        result
    }

    /// Removes the runtime's container after a failed start-up.
    pub(super) fn delete_container(&self, dir: &StateDir) {
        let log = dir.file("runtime-delete.log");
        let _ = self
            .rt
            .command(&log, "delete")
            .arg("--force")
            .arg(&self.cfg.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&log);
        // The init was our child (reparented): collect it.
        if self.init_pid > 0 {
            let _ = waitpid(Pid::from_raw(self.init_pid), Some(WaitPidFlag::WNOHANG));
        }
    }

    pub(super) fn into_server(self, dir: StateDir) -> Server {
        let ep = match Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC) {
            Ok(e) => e,
            Err(e) => {
                // Without epoll the shim cannot serve; the container keeps
                // running and the pid files say where it is.
                eprintln!("berth-shim: epoll_create: {e}");
                std::process::exit(1);
            }
        };
        let mut procs = Slab::default();
        let terminal = self.cfg.terminal;
        let stdin_open = self.cfg.stdin;
        let init = procs.insert(Proc {
            exec_id: None,
            pid: Some(self.init_pid),
            terminal,
            phase: if self.started { Phase::Running } else { Phase::Created },
            out: [self.out, self.err],
            stdin: self.stdin,
            stdin_open,
            stdin_buf: Vec::new(),
            stdin_watch: false,
            close_stdin_after_flush: false,
            exit: None,
            drain_deadline: None,
            done_seq: 0,
        });
        let _ = ep.add(&self.sig, EpollEvent::new(EpollFlags::EPOLLIN, K_SIGNAL << 60));
        let _ = ep.add(&self.listener, EpollEvent::new(EpollFlags::EPOLLIN, K_LISTENER << 60));
        if let Some(p) = procs.get(init) {
            for ch in [CH_OUT, CH_ERR] {
                if let Some(fd) = p.out[usize::from(ch)].as_ref() {
                    let _ = sys::set_nonblocking(fd.as_fd(), true);
                    let _ = ep.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token(K_PROC, init, ch)));
                }
            }
            if let Some(fd) = p.stdin.as_ref() {
                let _ = sys::set_nonblocking(fd.as_fd(), true);
            }
        }
        Server {
            cfg: self.cfg,
            dir,
            rt: self.rt,
            ep,
            sig: self.sig,
            listener: self.listener,
            logger: self.logger,
            procs,
            init,
            clients: Slab::default(),
            cmds: Vec::new(),
            orphans: VecDeque::new(),
            kill_all_on_exit: self.kill_all_on_exit,
            paused: false,
            start_pending: false,
            seq: self.seq,
            buf: Vec::new(),
            busy_since_trim: false,
            requests_since_trim: false,
            listener_paused: false,
            quit: None,
        }
    }
}
