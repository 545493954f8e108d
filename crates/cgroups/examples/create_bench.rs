//! Times what `berth-runtime create` asks of this crate for one container: detect the layout,
//! build the manager, create the cgroup in every hierarchy, apply a typical docker-like
//! `linux.resources` (memory, pids, cpu shares, runc's default device rules) and move a
//! process in; then, separately, kill and destroy. Needs root.
//!
//! `cargo run --release -p berth-cgroups --example create_bench -- [iterations]`
//!
//! Cgroups are created below the caller's own cgroup (`berth-bench-*`) and removed.

use std::time::{Duration, Instant};

use berth_cgroups::{CgroupSpec, DeviceRules, Hierarchies};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let resources: oci_spec::runtime::LinuxResources = serde_json::from_value(serde_json::json!({
        "memory": {"limit": 268435456},
        "pids": {"limit": 1024},
        "cpu": {"shares": 1024}
    }))
    .expect("resources");
    let deny_all = oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .expect("rule");
    let rules = DeviceRules::for_container(&[deny_all], &[]).expect("rules");
    let mut create = Vec::with_capacity(n);
    let mut steps: Vec<Vec<Duration>> = (0..5).map(|_| Vec::with_capacity(n)).collect();
    let mut destroy = Vec::with_capacity(n);
    let mut kill_only = Vec::with_capacity(n);
    let mut layout = None;
    for i in 0..n {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .expect("spawn sleep");
        let mut spec = CgroupSpec::new(format!("berth-bench-{}-{i}", std::process::id()));
        spec.cgroups_path = Some(spec.container_id.clone().into());
        let t = Instant::now();
        let h = Hierarchies::detect().expect("detect");
        let t1 = Instant::now();
        let m = berth_cgroups::manager_with(&h, &spec).expect("manager");
        let t2 = Instant::now();
        m.create().expect("create");
        let t3 = Instant::now();
        m.apply(&resources, &rules).expect("apply");
        let t4 = Instant::now();
        m.add_process(child.id() as i32).expect("add_process");
        let t5 = Instant::now();
        create.push(t.elapsed());
        for (k, (a, b)) in [(t, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)].into_iter().enumerate() {
            steps[k].push(b - a);
        }
        layout = Some(h.layout);
        let t = Instant::now();
        m.kill_all(libc::SIGKILL).expect("kill_all");
        kill_only.push(t.elapsed());
        m.destroy().expect("destroy");
        destroy.push(t.elapsed());
        let _ = child.wait();
    }
    let show = |name: &str, v: &mut Vec<Duration>| {
        v.sort();
        let mean = v.iter().sum::<Duration>() / v.len() as u32;
        println!(
            "{name:<34} mean {:>7.3} ms   p50 {:>7.3} ms   p90 {:>7.3} ms   ({} runs)",
            mean.as_secs_f64() * 1e3,
            v[v.len() / 2].as_secs_f64() * 1e3,
            v[v.len() * 9 / 10].as_secs_f64() * 1e3,
            v.len()
        );
    };
    println!("layout: {:?}", layout.expect("ran at least once"));
    show("detect+manager+create+apply+add", &mut create);
    for (name, v) in ["  detect (mountinfo)", "  manager (paths)", "  create (mkdir, statfs)", "  apply (resources, devices)", "  add_process"]
        .into_iter()
        .zip(steps.iter_mut())
    {
        show(name, v);
    }
    show("kill_all+destroy (1 process)", &mut destroy);
    show("  kill_all", &mut kill_only);
}
