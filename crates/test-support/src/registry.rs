//! A real OCI registry (Debian's `docker-registry`) for tests, on 127.0.0.1
//! at a free port, with its storage in a temp dir; killed and removed on drop.
//! Plain http, htpasswd basic auth (bcrypt, from apache2-utils' `htpasswd`),
//! or TLS with a throw-away CA made with the `openssl` CLI.
//!
//! Also builds OCI image layouts from directories (deterministic tars made
//! with GNU tar, gzip -n, sha256sum) — a busybox image from Debian's
//! busybox-static — and pushes them with the real `skopeo`, so tests never
//! need the internet.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start the registry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `(user, password)` for htpasswd basic auth.
    pub basic_auth: Option<(String, String)>,
    /// Serve https with a certificate signed by a test CA.
    pub tls: bool,
}

/// A running `docker-registry serve`. Killed (and its storage removed) on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
    ca: Option<PathBuf>,
    auth: Option<(String, String)>,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl Registry {
    /// Plain http registry.
    pub fn start() -> Self {
        Self::with(Options::default())
    }

    pub fn with(opts: Options) -> Self {
        let dir = crate::temp_dir("registry-");
        let d = dir.path();
        std::fs::create_dir_all(d.join("data")).expect("mkdir data");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n",
            d.join("data").display()
        );
        let port = free_port();
        cfg.push_str(&format!("http:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n"));
        let mut ca = None;
        if opts.tls {
            make_certs(d);
            cfg.push_str(&format!("  tls:\n    certificate: {}\n    key: {}\n", d.join("server.crt").display(), d.join("server.key").display()));
            ca = Some(d.join("ca.crt"));
        }
        if let Some((u, p)) = &opts.basic_auth {
            run(Command::new("htpasswd").args(["-Bbc"]).arg(d.join("htpasswd")).args([u, p]));
            cfg.push_str(&format!("auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n", d.join("htpasswd").display()));
        }
        std::fs::write(d.join("config.yml"), cfg).expect("write registry config");
        let log = std::fs::File::create(d.join("registry.log")).expect("registry log");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start /usr/bin/docker-registry (apt-get install docker-registry)");
        let reg = Registry { child, addr: format!("127.0.0.1:{port}"), dir, ca, auth: opts.basic_auth };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&reg.addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not listen on {}: {}", reg.addr, reg.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        reg
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The test CA certificate (PEM) when serving TLS.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// Where the registry keeps its blobs (to tamper with them in tests).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The registry's own log, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `skopeo` flags to reach this registry (tls off or the CA, credentials).
    fn skopeo_flags(&self, dir_flag: &str) -> Vec<String> {
        let mut v = Vec::new();
        match &self.ca {
            Some(ca) => {
                let certs = self.dir.path().join("skopeo-certs");
                std::fs::create_dir_all(&certs).expect("mkdir certs");
                let _ = std::fs::copy(ca, certs.join("ca.crt"));
                v.push(format!("--{dir_flag}-cert-dir={}", certs.display()));
            }
            None => v.push(format!("--{dir_flag}-tls-verify=false")),
        }
        if let Some((u, p)) = &self.auth {
            v.push(format!("--{dir_flag}-creds={u}:{p}"));
        }
        v
    }

    /// Pushes an OCI layout image to `name` (`repo:tag`) with skopeo.
    pub fn push_layout(&self, layout: &Path, name: &str) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "copy", "--quiet"]).args(self.skopeo_flags("dest"));
        cmd.arg(format!("oci:{}:latest", layout.display())).arg(format!("docker://{}/{name}", self.addr));
        run(&mut cmd);
    }

    /// The manifest bytes the registry serves for `name`, read by skopeo.
    pub fn raw_manifest(&self, name: &str) -> Vec<u8> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "inspect", "--raw"]).args(self.skopeo_flags("src").iter().map(|f| f.replace("--src-", "--")));
        cmd.arg(format!("docker://{}/{name}", self.addr));
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// Copies `name` from the registry into an OCI layout at `dest` with skopeo.
    pub fn pull_with_skopeo(&self, name: &str, dest: &Path) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "copy", "--quiet"]).args(self.skopeo_flags("src"));
        cmd.arg(format!("docker://{}/{name}", self.addr)).arg(format!("oci:{}:latest", dest.display()));
        run(&mut cmd);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn make_certs(d: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .arg("-keyout")
        .arg(d.join("ca.key"))
        .arg("-out")
        .arg(d.join("ca.crt"))
        .args(["-days", "2", "-subj", "/CN=berth test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .arg("-keyout")
        .arg(d.join("server.key"))
        .arg("-out")
        .arg(d.join("server.csr"))
        .args(["-subj", "/CN=127.0.0.1"]));
    std::fs::write(
        d.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-set_serial", "2"])
        .arg("-in")
        .arg(d.join("server.csr"))
        .arg("-CA")
        .arg(d.join("ca.crt"))
        .arg("-CAkey")
        .arg(d.join("ca.key"))
        .arg("-out")
        .arg(d.join("server.crt"))
        .arg("-extfile")
        .arg(d.join("ext.cnf")));
}

fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().expect("sha256sum");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("sha256sum output").to_owned()
}

/// An OCI image layout written by [`build_layout`].
#[derive(Debug)]
pub struct Layout {
    pub dir: tempfile::TempDir,
    /// `sha256:...` of the manifest, config, and each (gzip) layer blob.
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    /// `sha256:...` of each uncompressed layer tar.
    pub diff_ids: Vec<String>,
}

impl Layout {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Builds a single-platform OCI layout (tag `latest`) whose layers are the
/// given directories (deterministic tars, gzip), with `cmd` as its Cmd.
pub fn build_layout(layers: &[&Path], cmd: &[&str]) -> Layout {
    let dir = crate::temp_dir("layout-");
    let d = dir.path();
    let blobs = d.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir blobs");
    let mut layer_digests = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_descs = Vec::new();
    for (i, src) in layers.iter().enumerate() {
        let tar = d.join(format!("layer{i}.tar"));
        run(Command::new("tar")
            .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "--format=gnu", "-C"])
            .arg(src)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        diff_ids.push(format!("sha256:{}", sha256_file(&tar)));
        run(Command::new("gzip").args(["-n", "-1", "-f"]).arg(&tar));
        let gz = d.join(format!("layer{i}.tar.gz"));
        let hex = sha256_file(&gz);
        let size = std::fs::metadata(&gz).expect("stat layer").len();
        std::fs::rename(&gz, blobs.join(&hex)).expect("move layer");
        layer_digests.push(format!("sha256:{hex}"));
        layer_descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{hex}"), "size": size}));
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "berth test-support build_layout"}],
    });
    let write_blob = |bytes: &[u8]| -> (String, u64) {
        let tmp = d.join("tmp-blob");
        std::fs::write(&tmp, bytes).expect("write blob");
        let hex = sha256_file(&tmp);
        std::fs::rename(&tmp, blobs.join(&hex)).expect("move blob");
        (format!("sha256:{hex}"), bytes.len() as u64)
    };
    let (config_digest, config_size) = write_blob(&serde_json::to_vec(&config).expect("config json"));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layer_descs,
    });
    let (manifest_digest, manifest_size) = write_blob(&serde_json::to_vec(&manifest).expect("manifest json"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}],
    });
    std::fs::write(d.join("index.json"), serde_json::to_vec(&index).expect("index json")).expect("write index");
    std::fs::write(d.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("write oci-layout");
    Layout { dir, manifest_digest, config_digest, layer_digests, diff_ids }
}

/// A busybox rootfs directory: Debian's static `/bin/busybox` plus one
/// symlink per applet, and `/etc/passwd`.
pub fn busybox_rootfs() -> tempfile::TempDir {
    let dir = crate::temp_dir("busybox-rootfs-");
    let d = dir.path();
    for sub in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", d.join("bin/busybox")).expect("copy /bin/busybox (apt-get install busybox-static)");
    let out = Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() && !applet.contains('/') {
            let _ = std::os::unix::fs::symlink("busybox", d.join("bin").join(applet));
        }
    }
    std::fs::write(d.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    dir
}

/// A busybox OCI layout: one layer, `Cmd ["sh"]`.
pub fn busybox_layout() -> Layout {
    let rootfs = busybox_rootfs();
    build_layout(&[rootfs.path()], &["sh"])
}
