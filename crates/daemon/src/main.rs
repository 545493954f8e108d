//! berthd: reads its configuration, opens the engine (live restore of every
//! container), serves the Docker Engine API on its unix socket(s), and on
//! SIGTERM/SIGINT stops serving WITHOUT stopping containers.
//!
//! This binary is thin: configuration in `config.rs`, sockets in
//! `listen.rs`; everything else is berth-engine and berth-api-docker.

mod config;
mod listen;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

/// berthd [-H unix:///run/berth/berth.sock] [--config FILE] [--data-root DIR] [--exec-root DIR] [--log-level LEVEL]
#[derive(Debug, Parser)]
#[command(name = "berthd", version, about = "the berth container daemon (Docker Engine API)")]
struct Args {
    /// Socket(s) to serve, `unix:///path` (repeatable)
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// Configuration file
    #[arg(long = "config", alias = "config-file")]
    config: Option<PathBuf>,
    /// Root of persistent state
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Root of volatile state (sockets, runtime state)
    #[arg(long)]
    exec_root: Option<PathBuf>,
    /// error, warn, info, debug, trace
    #[arg(short = 'l', long)]
    log_level: Option<String>,
    /// Where to write berthd's pid
    #[arg(short = 'p', long)]
    pidfile: Option<PathBuf>,
    /// Group owning the sockets
    #[arg(short = 'G', long)]
    group: Option<String>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let file = config::load(args.config.as_deref())?;
    let mut engine_cfg = file.engine;
    if let Some(d) = args.data_root {
        engine_cfg.data_root = d;
    }
    if let Some(d) = args.exec_root {
        engine_cfg.exec_root = d;
    }
    for (what, p) in [("data root", &engine_cfg.data_root), ("exec root", &engine_cfg.exec_root)] {
        anyhow::ensure!(p.is_absolute(), "the {what} must be an absolute path: {}", p.display());
    }
    let level = args.log_level.or(file.daemon.log_level).unwrap_or_else(|| "warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&level).with_context(|| format!("invalid --log-level {level:?}"))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let hosts = if !args.hosts.is_empty() {
        args.hosts
    } else if !file.daemon.hosts.is_empty() {
        file.daemon.hosts
    } else {
        vec![config::DEFAULT_HOST.to_owned()]
    };
    let sockets = hosts.iter().map(|h| config::unix_socket(h)).collect::<anyhow::Result<Vec<_>>>()?;
    let pidfile = args.pidfile.or(file.daemon.pidfile).unwrap_or_else(|| engine_cfg.exec_root.join("berthd.pid"));
    let group = args.group.or(file.daemon.group);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        // the engine takes the data-root lock first: a second berthd stops here
        let engine = berth_engine::Engine::open(engine_cfg.clone()).await.context("opening the engine")?;
        let _pid = listen::PidFile::create(&pidfile)?;
        let mut listeners = Vec::new();
        for s in &sockets {
            listeners.push(listen::bind(s, group.as_deref())?);
        }
        tracing::info!(data_root = %engine_cfg.data_root.display(), sockets = ?sockets, "berthd ready");
        let engine = Arc::new(engine);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut servers = Vec::new();
        for (l, path) in listeners.into_iter().zip(sockets.iter().cloned()) {
            let app = berth_api_docker::router(engine.clone());
            let mut rx = stop_rx.clone();
            servers.push(tokio::spawn(async move {
                let r = axum::serve(l, app).with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|v| *v).await;
                });
                if let Err(e) = r.await {
                    tracing::error!(socket = %path.display(), error = %e, "serving");
                }
            }));
        }
        wait_for_stop().await;
        tracing::info!("stopping (containers keep running)");
        let _ = stop_tx.send(true);
        // open streams (attach, logs -f, events) would hold a graceful
        // shutdown forever: they get a moment, then go
        let _ = tokio::time::timeout(Duration::from_secs(2), futures_join(servers)).await;
        engine.shutdown().await;
        for s in &sockets {
            let _ = std::fs::remove_file(s);
        }
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// SIGTERM or SIGINT; SIGHUP is answered with a warning (no reload yet).
async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup())) else {
        tracing::error!("cannot install signal handlers; stopping");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => tracing::warn!("SIGHUP: reloading the configuration is not supported yet; restart berthd to apply changes (containers keep running)"),
        }
    }
}
