//! Layer unpack benchmark: an image of 20,000 small files in 2 gzipped
//! layers, unpacked by GNU `tar xzf` and by berth-snapshots (gunzip on a
//! second thread, apply, commit with syncfs), on tmpfs and on ext4 (a fresh
//! loop-mounted file system on /dev/shm, so the machine's root disk and its
//! history do not colour the figures).
//!
//! Run as root: `cargo bench -p berth-snapshots --bench apply`
//! (`BENCH_ROUNDS=n` to change the number of rounds, default 5).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_snapshots::Snapshotter;
use rustix::mount::{MountFlags, UnmountFlags};

const FILES_PER_LAYER: usize = 10_000;
const FILES_PER_DIR: usize = 100;

/// A small deterministic generator, so every run unpacks the same image.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn make_layer(seed: u64) -> (Vec<u8>, u64) {
    let mut rng = Lcg(seed);
    let mut b = tar::Builder::new(Vec::new());
    let mut bytes = 0;
    let mut entries = 0;
    for d in 0..FILES_PER_LAYER / FILES_PER_DIR {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        b.append_data(&mut h, format!("usr/share/l{seed}/d{d}/"), std::io::empty())
            .unwrap();
        entries += 1;
        for f in 0..FILES_PER_DIR {
            // 64 B .. 4 KiB, mostly text-like (compressible, as real files are)
            let len = 64 + (rng.next() % 4032) as usize;
            let data: Vec<u8> = (0..len)
                .map(|i| b"abcdefghij klmnop\n"[(i + rng.next() as usize % 3) % 18])
                .collect();
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(if f % 10 == 0 { 0o755 } else { 0o644 });
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            h.set_size(len as u64);
            b.append_data(
                &mut h,
                format!("usr/share/l{seed}/d{d}/file{f}.txt"),
                &data[..],
            )
            .unwrap();
            bytes += len as u64;
            entries += 1;
        }
    }
    let _ = entries;
    (b.into_inner().unwrap(), bytes)
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(tar).unwrap();
    gz.finish().unwrap()
}

/// `BENCH_APPLY_ONLY=n`: n applies of one uncompressed layer on a tmpfs,
/// nothing else (for profiling the unpacker alone).
fn apply_only(rounds: usize) {
    let (raw, _) = make_layer(1);
    let dir = PathBuf::from(format!("/dev/shm/berth-apply-only-{}", std::process::id()));
    let _m = mount_tmpfs(&dir);
    let s = Snapshotter::open(&dir.join("store")).unwrap();
    let mut cpu = Vec::new();
    for _ in 0..rounds {
        let w = s.prepare_layer(None).unwrap();
        let c0 = cpu_now();
        Snapshotter::apply_tar(&w, &raw[..]).unwrap();
        cpu.push(cpu_now() - c0);
    }
    let c = median(cpu);
    let n = (FILES_PER_LAYER + FILES_PER_LAYER / FILES_PER_DIR) as f64;
    println!(
        "apply only, tmpfs: {:.3} s CPU per layer = {:.1} us/entry",
        c.as_secs_f64(),
        c.as_secs_f64() * 1e6 / n
    );
}

/// A reader over chunks sent by the gunzip thread.
struct ChanReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// gunzip on its own thread, feeding the caller's reader.
fn gunzip_threaded(gz: PathBuf) -> (ChanReader, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(16);
    let h = std::thread::spawn(move || {
        let mut d = flate2::read::GzDecoder::new(std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(gz).unwrap(),
        ));
        loop {
            let mut chunk = vec![0u8; 256 * 1024];
            let mut filled = 0;
            while filled < chunk.len() {
                let n = d.read(&mut chunk[filled..]).unwrap();
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                return;
            }
            chunk.truncate(filled);
            if tx.send(chunk).is_err() {
                return;
            }
        }
    });
    (
        ChanReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        },
        h,
    )
}

struct Mnt(PathBuf, Option<String>);
impl Drop for Mnt {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, UnmountFlags::DETACH);
        let _ = std::fs::remove_dir(&self.0);
        if let Some(loopdev) = &self.1 {
            let _ = Command::new("losetup").args(["-d", loopdev]).status();
        }
    }
}

struct RemoveOnDrop(PathBuf, bool);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn mount_tmpfs(p: &Path) -> Mnt {
    std::fs::create_dir_all(p).unwrap();
    rustix::mount::mount("tmpfs", p, "tmpfs", MountFlags::empty(), Some(c"size=4g")).unwrap();
    Mnt(p.to_path_buf(), None)
}

fn mount_ext4(p: &Path, image: &Path) -> Mnt {
    std::fs::create_dir_all(p).unwrap();
    let _ = std::fs::remove_file(image);
    std::fs::File::create(image)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    assert!(
        Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(image)
            .status()
            .unwrap()
            .success()
    );
    let out = Command::new("losetup")
        .args(["--find", "--show"])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "losetup failed");
    let dev = String::from_utf8(out.stdout).unwrap().trim().to_string();
    rustix::mount::mount(dev.as_str(), p, "ext4", MountFlags::empty(), None).unwrap();
    Mnt(p.to_path_buf(), Some(dev))
}

fn clear(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    rustix::fs::sync();
}

/// CPU time (user + system) of the calling thread: unlike wall time it
/// does not depend on what else the shared machine is running.
fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time of waited-for children (tar and its gzip), from /proc in
/// clock ticks (10 ms).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // fields after the command name, which is in parentheses
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 of the whole line
    let ticks: u64 = f[13].parse::<u64>().unwrap() + f[14].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("apply bench: needs root (mounts, ownership)");
        std::process::exit(1);
    }
    if let Some(n) = std::env::var("BENCH_APPLY_ONLY")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        apply_only(n);
        return;
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let work = PathBuf::from(format!("/dev/shm/berth-apply-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let (raw1, b1) = make_layer(1);
    let (raw2, b2) = make_layer(2);
    let (l1, l2) = (gzip(&raw1), gzip(&raw2));
    drop(raw2);
    let gz1 = work.join("l1.tar.gz");
    let gz2 = work.join("l2.tar.gz");
    std::fs::write(&gz1, &l1).unwrap();
    std::fs::write(&gz2, &l2).unwrap();
    let entries = (2 * (FILES_PER_LAYER + FILES_PER_LAYER / FILES_PER_DIR)) as f64;
    let mb = (b1 + b2) as f64 / 1e6;
    println!(
        "image: 2 layers, {} files, {:.1} MB of content, {:.1} MB gzipped",
        2 * FILES_PER_LAYER,
        mb,
        (l1.len() + l2.len()) as f64 / 1e6
    );

    let mut targets = vec!["tmpfs", "ext4"];
    if let Ok(dir) = std::env::var("BENCH_DISK_DIR") {
        // the machine's own disk, e.g. /var/lib/berth's file system
        targets.push(Box::leak(dir.into_boxed_str()));
    }
    for fs in targets {
        let target = work.join(format!("mnt-{fs}"));
        let _m = match fs {
            "tmpfs" => Some(mount_tmpfs(&target)),
            "ext4" => Some(mount_ext4(&target, &work.join("ext4.img"))),
            _ => None,
        };
        let target = if _m.is_some() {
            target
        } else {
            PathBuf::from(fs).join(format!("berth-apply-bench-{}", std::process::id()))
        };
        std::fs::create_dir_all(&target).unwrap();
        let _cleanup = RemoveOnDrop(target.clone(), _m.is_none());
        let mut tar_t = Vec::new();
        let mut tar_cpu = Vec::new();
        let mut seq_t = Vec::new();
        let mut seq_cpu = Vec::new();
        let mut par_t = Vec::new();
        let mut apply_only = Vec::new();
        let mut commit_only = Vec::new();
        let mut mem_only = Vec::new();
        let mut mem_cpu = Vec::new();
        for _ in 0..rounds {
            // GNU tar: both layers into one directory (as a flattened unpack would)
            let dst = target.join("tar");
            std::fs::create_dir_all(&dst).unwrap();
            let t0 = Instant::now();
            let c0 = children_cpu();
            for gz in [&gz1, &gz2] {
                let st = Command::new("tar")
                    .arg("-C")
                    .arg(&dst)
                    .arg("-xzf")
                    .arg(gz)
                    .status()
                    .unwrap();
                assert!(st.success());
            }
            tar_t.push(t0.elapsed());
            tar_cpu.push(children_cpu() - c0);
            clear(&target);

            // berth: layer after layer, gunzip on a second thread, commit (syncfs)
            let s = Snapshotter::open(&target.join("store")).unwrap();
            let t0 = Instant::now();
            let p0 = process_cpu();
            let mut parent: Option<&str> = None;
            for (gz, name) in [(&gz1, "sha256:l1"), (&gz2, "sha256:l2")] {
                let w = s.prepare_layer(parent).unwrap();
                let (r, h) = gunzip_threaded(gz.clone());
                let ta = Instant::now();
                Snapshotter::apply_tar(&w, r).unwrap();
                apply_only.push(ta.elapsed());
                h.join().unwrap();
                let tc = Instant::now();
                s.commit(w, name).unwrap();
                commit_only.push(tc.elapsed());
                parent = Some(name);
            }
            seq_t.push(t0.elapsed());
            seq_cpu.push(process_cpu() - p0);
            drop(s);
            clear(&target);

            // berth: apply alone, from an uncompressed tar in memory
            let s = Snapshotter::open(&target.join("store")).unwrap();
            let w = s.prepare_layer(None).unwrap();
            let ta = Instant::now();
            let c0 = cpu_now();
            Snapshotter::apply_tar(&w, &raw1[..]).unwrap();
            mem_only.push(ta.elapsed());
            mem_cpu.push(cpu_now() - c0);
            drop(w);
            drop(s);
            clear(&target);

            // berth: both layers at once (the image crate may unpack concurrently)
            let s = Snapshotter::open(&target.join("store")).unwrap();
            let t0 = Instant::now();
            std::thread::scope(|sc| {
                for (gz, name) in [(&gz1, "sha256:l1"), (&gz2, "sha256:l2")] {
                    let s = &s;
                    sc.spawn(move || {
                        let w = s.prepare_layer(None).unwrap();
                        let (r, h) = gunzip_threaded(gz.clone());
                        Snapshotter::apply_tar(&w, r).unwrap();
                        h.join().unwrap();
                        s.commit(w, name).unwrap();
                    });
                }
            });
            par_t.push(t0.elapsed());
            drop(s);
            clear(&target);
        }
        let (tt, st, pt) = (median(tar_t), median(seq_t), median(par_t));
        println!(
            "{fs}: tar xzf (2 layers)                         {:>7.3} s  (CPU of tar+gzip {:.3} s)",
            tt.as_secs_f64(),
            median(tar_cpu).as_secs_f64()
        );
        println!(
            "{fs}: berth gunzip+apply+commit, sequential      {:>7.3} s  {:>8.0} entries/s  {:>6.1} MB/s  ({:.2}x tar)",
            st.as_secs_f64(),
            entries / st.as_secs_f64(),
            mb / st.as_secs_f64(),
            tt.as_secs_f64() / st.as_secs_f64()
        );
        println!(
            "{fs}:   (CPU of berth, all threads {:.3} s)",
            median(seq_cpu).as_secs_f64()
        );
        println!(
            "{fs}: berth gunzip+apply+commit, 2 layers at once {:>7.3} s  {:>8.0} entries/s  {:>6.1} MB/s  ({:.2}x tar)",
            pt.as_secs_f64(),
            entries / pt.as_secs_f64(),
            mb / pt.as_secs_f64(),
            tt.as_secs_f64() / pt.as_secs_f64()
        );
        let a = median(apply_only);
        println!(
            "{fs}: berth apply of one layer (gunzip overlapped) {:>7.3} s  {:>8.0} entries/s",
            a.as_secs_f64(),
            entries / 2.0 / a.as_secs_f64()
        );
        let a = median(mem_only);
        println!(
            "{fs}: berth apply of one layer from memory      {:>7.3} s  {:>8.0} entries/s  {:>6.1} MB/s",
            a.as_secs_f64(),
            entries / 2.0 / a.as_secs_f64(),
            mb / 2.0 / a.as_secs_f64()
        );
        let c = median(mem_cpu);
        println!(
            "{fs}:   (CPU of the applying thread {:.3} s = {:.1} us/entry)",
            c.as_secs_f64(),
            c.as_secs_f64() * 1e6 / (entries / 2.0)
        );
        println!(
            "{fs}: berth commit of one layer (syncfs)          {:>7.3} s",
            median(commit_only).as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
