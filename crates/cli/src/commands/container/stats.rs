//! `berth stats`: CPU, memory, network, block I/O and pids per container,
//! computed from the daemon's samples as docker's CLI computes them; a live
//! table (redrawn every half second) or one sample with `--no-stream`.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_docker_types::container::ContainerSummary;
use berth_docker_types::stats::StatsResponse;

use crate::app::Ctx;
use crate::client::{Body, Client, Host, Query};
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, v};
use crate::format::json::Json;
use crate::format::template::Missing;
use crate::format::units::{bytes_size, human_size_prec};
use crate::format::{ListFormat, short_id};

static FLAGS: &[Flag] = &[
    bs(
        'a',
        "all",
        "Show all containers (default shows just running)",
    ),
    v("format", "string", crate::commands::FORMAT_HELP),
    b(
        "no-stream",
        "Disable streaming stats and only pull the first result",
    ),
    b("no-trunc", "Do not truncate output"),
];

pub static SPEC: Spec = Spec::new(
    "stats",
    "[OPTIONS] [CONTAINER...]",
    "Display a live stream of container(s) resource usage statistics",
    FLAGS,
    Args::Any,
)
.aliases("berth container stats, berth stats");

const DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// The figures of one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub cpu: f64,
    pub mem: f64,
    pub limit: f64,
    pub mem_perc: f64,
    pub rx: f64,
    pub tx: f64,
    pub blk_read: f64,
    pub blk_write: f64,
    pub pids: u64,
}

/// docker's `calculateCPUPercentUnix`, memory without the inactive file
/// cache, network and block I/O sums.
pub fn figures(s: &StatsResponse) -> Figures {
    let cpu_delta =
        s.cpu_stats.cpu_usage.total_usage as f64 - s.precpu_stats.cpu_usage.total_usage as f64;
    let sys_delta = s.cpu_stats.system_cpu_usage as f64 - s.precpu_stats.system_cpu_usage as f64;
    let online = match s.cpu_stats.online_cpus {
        0 => s
            .cpu_stats
            .cpu_usage
            .percpu_usage
            .as_ref()
            .map_or(0, Vec::len) as f64,
        n => f64::from(n),
    };
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let stats = s.memory_stats.stats.clone().unwrap_or_default();
    let usage = s.memory_stats.usage as f64;
    let cache = if let Some(v) = stats
        .get("total_inactive_file")
        .filter(|v| (**v as f64) < usage)
    {
        *v as f64
    } else if let Some(v) = stats.get("inactive_file").filter(|v| (**v as f64) < usage) {
        *v as f64
    } else {
        0.0
    };
    let mem = usage - cache;
    let limit = s.memory_stats.limit as f64;
    let mem_perc = if limit != 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s
        .networks
        .as_ref()
        .map(|n| n.values().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        rx += n.rx_bytes as f64;
        tx += n.tx_bytes as f64;
    }
    let (mut br, mut bw) = (0.0, 0.0);
    for e in s
        .blkio_stats
        .io_service_bytes_recursive
        .as_deref()
        .unwrap_or(&[])
    {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => br += e.value as f64,
            "write" => bw += e.value as f64,
            _ => {}
        }
    }
    Figures {
        cpu,
        mem,
        limit,
        mem_perc,
        rx,
        tx,
        blk_read: br,
        blk_write: bw,
        pids: s.pids_stats.current,
    }
}

fn row(id: &str, name: &str, f: Option<&Figures>, trunc: bool) -> Json {
    let id = if trunc { short_id(id) } else { id.to_owned() };
    let name = name.trim_start_matches('/').to_owned();
    let (cpu, mem_usage, mem_perc, net, blk, pids) = match f {
        Some(f) => (
            format!("{:.2}%", f.cpu),
            format!("{} / {}", bytes_size(f.mem), bytes_size(f.limit)),
            format!("{:.2}%", f.mem_perc),
            format!(
                "{} / {}",
                human_size_prec(f.rx, 3),
                human_size_prec(f.tx, 3)
            ),
            format!(
                "{} / {}",
                human_size_prec(f.blk_read, 3),
                human_size_prec(f.blk_write, 3)
            ),
            f.pids.to_string(),
        ),
        None => (
            "--".into(),
            "-- / --".into(),
            "--".into(),
            "--".into(),
            "--".into(),
            "--".into(),
        ),
    };
    Json::obj([
        ("BlockIO", Json::str(blk)),
        ("CPUPerc", Json::str(cpu)),
        (
            "Container",
            Json::str(if name.is_empty() {
                id.clone()
            } else {
                name.clone()
            }),
        ),
        ("ID", Json::str(id)),
        ("MemPerc", Json::str(mem_perc)),
        ("MemUsage", Json::str(mem_usage)),
        ("Name", Json::str(name)),
        ("NetIO", Json::str(net)),
        ("PIDs", Json::str(pids)),
    ])
}

fn header() -> Json {
    Json::obj(
        [
            ("Container", "CONTAINER"),
            ("ID", "CONTAINER ID"),
            ("Name", "NAME"),
            ("CPUPerc", "CPU %"),
            ("MemUsage", "MEM USAGE / LIMIT"),
            ("MemPerc", "MEM %"),
            ("NetIO", "NET I/O"),
            ("BlockIO", "BLOCK I/O"),
            ("PIDs", "PIDS"),
        ]
        .map(|(k, v)| (k, Json::str(v))),
    )
}

/// The latest sample of each container being watched.
#[derive(Debug, Default)]
struct Board {
    /// key: the name the user gave (or the ID), in display order
    entries: BTreeMap<usize, (String, String, Option<Figures>, Option<String>)>,
}

fn one_sample(host: &Host, key: &str) -> Result<(String, String, Figures), String> {
    let client = Client::new(host.clone())?;
    let s: StatsResponse = client
        .get(&format!("/containers/{}/stats?stream=0", seg(key)))
        .map_err(|e| e.to_string())?;
    let id = if s.id.is_empty() {
        key.to_owned()
    } else {
        s.id.clone()
    };
    Ok((id, s.name.clone(), figures(&s)))
}

/// Follows one container's stream, updating the board until it ends.
fn follow(host: Host, key: String, slot: usize, board: Arc<Mutex<Board>>) {
    let Ok(client) = Client::new(host) else {
        return;
    };
    let resp = match client.stream(
        "GET",
        &format!("/containers/{}/stats?stream=1", seg(&key)),
        &[],
        Body::Empty,
    ) {
        Ok(r) => r,
        Err(e) => {
            if let Ok(mut b) = board.lock()
                && let Some(en) = b.entries.get_mut(&slot)
            {
                en.3 = Some(e.to_string());
            }
            return;
        }
    };
    let samples =
        serde_json::Deserializer::from_reader(BufReader::new(resp)).into_iter::<StatsResponse>();
    for s in samples {
        let Ok(s) = s else { break };
        if let Ok(mut b) = board.lock()
            && let Some(en) = b.entries.get_mut(&slot)
        {
            if !s.id.is_empty() {
                en.0 = s.id.clone();
            }
            if !s.name.is_empty() {
                en.1 = s.name.clone();
            }
            en.2 = Some(figures(&s));
        }
    }
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let cfg = ctx.config();
    let format = m
        .value("format")
        .map(str::to_owned)
        .unwrap_or_else(|| cfg.stats_format().unwrap_or("").to_owned());
    let lf = ListFormat::new(&format, DEFAULT, false).map_err(|e| StatusError::new(1, e.0))?;
    let trunc = !m.bool("no-trunc");
    let client = ctx.client()?;
    let host = client.host().clone();
    let explicit = !m.args.is_empty();
    let list_keys = |client: &Client| -> anyhow::Result<Vec<(String, String)>> {
        let q = Query::new().add_if(m.bool("all"), "all", "1");
        let list: Vec<ContainerSummary> = client.get(&format!("/containers/json{}", q.as_str()))?;
        Ok(list
            .into_iter()
            .map(|c| (c.id.clone(), c.names.first().cloned().unwrap_or_default()))
            .collect())
    };
    let keys: Vec<(String, String)> = if explicit {
        m.args.iter().map(|a| (a.clone(), String::new())).collect()
    } else {
        list_keys(client)?
    };

    if m.bool("no-stream") {
        let results: Vec<Result<(String, String, Figures), String>> = std::thread::scope(|s| {
            let hs: Vec<_> = keys
                .iter()
                .map(|(k, _)| {
                    let host = host.clone();
                    s.spawn(move || one_sample(&host, k))
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("internal error".into())))
                .collect()
        });
        let mut rows = Vec::new();
        let mut errs = Vec::new();
        for ((k, name), r) in keys.iter().zip(results) {
            match r {
                Ok((id, n, f)) => rows.push(row(
                    &id,
                    if n.is_empty() { name } else { &n },
                    Some(&f),
                    trunc,
                )),
                Err(e) if explicit => errs.push(e),
                Err(_) => rows.push(row(k, name, None, trunc)),
            }
        }
        let out = lf
            .render(
                &rows,
                &header(),
                Missing::FieldError("*formatter.StatsEntry"),
                None,
            )
            .map_err(|e| StatusError::new(1, e.0))?;
        crate::commands::print(&out)?;
        return if errs.is_empty() {
            Ok(())
        } else {
            Err(StatusError::new(1, errs.join("\n")))
        };
    }

    let board = Arc::new(Mutex::new(Board::default()));
    let mut next_slot = 0usize;
    let mut watched: BTreeMap<String, usize> = BTreeMap::new();
    let mut add = |k: &str, name: &str, board: &Arc<Mutex<Board>>| {
        if watched.contains_key(k) {
            return;
        }
        let slot = next_slot;
        next_slot += 1;
        watched.insert(k.to_owned(), slot);
        if let Ok(mut b) = board.lock() {
            b.entries
                .insert(slot, (k.to_owned(), name.to_owned(), None, None));
        }
        let (host, key, board) = (host.clone(), k.to_owned(), Arc::clone(board));
        let _ = std::thread::Builder::new()
            .name("stats".into())
            .spawn(move || follow(host, key, slot, board));
    };
    for (k, n) in &keys {
        add(k, n, &board);
    }
    let tty = crate::term::is_tty(crate::term::STDOUT);
    let mut tick = 0u32;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        tick += 1;
        if !explicit && tick.is_multiple_of(4) {
            // pick up containers started meanwhile; forget removed ones
            if let Ok(now) = list_keys(client) {
                for (k, n) in &now {
                    add(k, n, &board);
                }
                if let Ok(mut b) = board.lock() {
                    let live: Vec<&String> = now.iter().map(|(k, _)| k).collect();
                    b.entries
                        .retain(|_, e| live.iter().any(|k| **k == e.0 || k.starts_with(&e.0)));
                }
            }
        }
        let (rows, errs): (Vec<Json>, Vec<String>) = {
            let Ok(b) = board.lock() else { break };
            let errs = b.entries.values().filter_map(|e| e.3.clone()).collect();
            (
                b.entries
                    .values()
                    .filter(|e| e.3.is_none())
                    .map(|e| row(&e.0, &e.1, e.2.as_ref(), trunc))
                    .collect(),
                errs,
            )
        };
        if explicit && rows.is_empty() && !errs.is_empty() {
            return Err(StatusError::new(1, errs.join("\n")));
        }
        let out = lf
            .render(
                &rows,
                &header(),
                Missing::FieldError("*formatter.StatsEntry"),
                None,
            )
            .map_err(|e| StatusError::new(1, e.0))?;
        let mut o = std::io::stdout().lock();
        if tty {
            // home, then clear what is below the table
            write!(o, "\x1b[H\x1b[2J{out}")?;
        } else {
            write!(o, "{out}")?;
        }
        o.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_docker_types::stats::{
        BlkioStatEntry, CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats,
    };

    #[test]
    fn docker_figures() {
        let mut s = StatsResponse {
            cpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: 2_000,
                    ..Default::default()
                },
                system_cpu_usage: 20_000,
                online_cpus: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        s.precpu_stats = CpuStats {
            cpu_usage: CpuUsage {
                total_usage: 1_000,
                ..Default::default()
            },
            system_cpu_usage: 10_000,
            online_cpus: 2,
            ..Default::default()
        };
        s.memory_stats = MemoryStats {
            usage: 10 << 20,
            limit: 100 << 20,
            stats: Some(
                [("inactive_file".to_owned(), 2 << 20)]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        };
        s.networks = Some(
            [(
                "eth0".to_owned(),
                NetworkStats {
                    rx_bytes: 1500,
                    tx_bytes: 500,
                    ..Default::default()
                },
            )]
            .into_iter()
            .collect(),
        );
        s.blkio_stats.io_service_bytes_recursive = Some(vec![
            BlkioStatEntry {
                op: "read".into(),
                value: 4096,
                ..Default::default()
            },
            BlkioStatEntry {
                op: "write".into(),
                value: 8192,
                ..Default::default()
            },
        ]);
        s.pids_stats = PidsStats {
            current: 3,
            limit: 0,
        };
        let f = figures(&s);
        assert!((f.cpu - 20.0).abs() < 1e-9);
        assert_eq!(f.mem, (8 << 20) as f64);
        assert!((f.mem_perc - 8.0).abs() < 1e-9);
        let r = row("0123456789abcdef", "/web", Some(&f), true);
        assert_eq!(r.get("CPUPerc").and_then(Json::as_str), Some("20.00%"));
        assert_eq!(
            r.get("MemUsage").and_then(Json::as_str),
            Some("8MiB / 100MiB")
        );
        assert_eq!(r.get("NetIO").and_then(Json::as_str), Some("1.5kB / 500B"));
        assert_eq!(
            r.get("BlockIO").and_then(Json::as_str),
            Some("4.1kB / 8.19kB")
        );
        assert_eq!(r.get("PIDs").and_then(Json::as_str), Some("3"));
        assert_eq!(r.get("Name").and_then(Json::as_str), Some("web"));
    }
}
