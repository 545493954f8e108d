//! Measures attach + detach per container with the real plugins, inside a
//! private network namespace (nothing on the host is touched):
//!
//! ```sh
//! cargo run --release -p berth-network --example attach_bench -- 20
//! ```
//!
//! Prints, per scenario, the mean and median of create_netns + attach and of
//! detach + remove_netns, and the plugin processes started per container.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_network::{AttachRequest, Attachment, NetConfig, NetworkManager, PortMapping, Protocol};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(20);
    // still single-threaded here: the whole process moves to a new namespace
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
    std::process::Command::new("ip").args(["link", "set", "lo", "up"]).status()?;
    let root = tempfile::Builder::new().prefix("berth-net-bench-").tempdir_in("/dev/shm")?;
    let mut cfg = NetConfig::new(root.path().join("state"), root.path().join("run"));
    cfg.cni_bin_dirs = vec![PathBuf::from("/usr/lib/cni")];
    let run_dir = cfg.run_dir.clone();
    let result = bench(cfg, n);
    let _ = nix::mount::umount2(&run_dir, nix::mount::MntFlags::MNT_DETACH);
    result
}

fn bench(cfg: NetConfig, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let net = NetworkManager::open(cfg)?;
    println!("open (state, predefined networks, iptables chains): {:.1} ms", ms(t.elapsed()));
    // warm the page cache for the plugin binaries
    run(&net, "warm", &[], false)?;
    for (label, ports, fast) in [
        ("no ports, detach", vec![], false),
        ("no ports, teardown", vec![], true),
        ("-p 8080:80, detach", vec![PortMapping::new(8080, 80, Protocol::Tcp)], false),
        ("-p 8080:80, teardown", vec![PortMapping::new(8080, 80, Protocol::Tcp)], true),
    ] {
        let mut up = Vec::new();
        let mut down = Vec::new();
        let execs0 = net.plugin_execs();
        for i in 0..n {
            let (u, d) = run(&net, &format!("bench{i}"), &ports, fast)?;
            up.push(u);
            down.push(d);
        }
        let execs = (net.plugin_execs() - execs0) as f64 / n as f64;
        println!(
            "{label:>22}: attach {:.1} ms (median {:.1}), stop {:.1} ms (median {:.1}), {execs:.0} plugin execs per container (ADD+DEL), n={n}",
            mean(&up),
            median(&mut up),
            mean(&down),
            median(&mut down)
        );
    }
    Ok(())
}

fn run(net: &NetworkManager, id: &str, ports: &[PortMapping], fast: bool) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let ns = net.create_netns(id)?;
    net.attach(&AttachRequest { container_id: id, container_name: id, netns: &ns, networks: &[Attachment::new("bridge")], ports })?;
    let up = ms(t.elapsed());
    let t = Instant::now();
    if fast {
        net.teardown(id)?;
    } else {
        net.detach(id)?;
        net.remove_netns(id)?;
    }
    Ok((up, ms(t.elapsed())))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
