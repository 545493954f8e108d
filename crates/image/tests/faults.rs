//! A deliberately hostile registry: a tiny HTTP server written here that
//! serves a real image but lies, truncates, drops connections and fails.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use berth_image::{Auth, Error, ErrorKind, Progress};
use berth_test_support::registry::{self, Layout};
use common::*;

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

enum Reply {
    /// status, content type, body
    Full(u16, &'static str, Vec<u8>),
    /// announce `len` bytes, send `body`, then close the connection
    Cut { len: usize, body: Vec<u8> },
    /// 206 with the bytes from offset
    Partial { total: usize, from: usize, body: Vec<u8> },
    /// 401 with this WWW-Authenticate challenge
    Auth(String),
}

type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

struct Hostile {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    log: Arc<Mutex<Vec<Req>>>,
}

impl Hostile {
    fn start(handler: Handler) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let (h, log3) = (handler.clone(), log2.clone());
                        std::thread::spawn(move || serve(c, h, log3));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Hostile { addr, stop, thread: Some(thread), log }
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(c: TcpStream, h: Handler, log: Arc<Mutex<Vec<Req>>>) {
    c.set_nonblocking(false).ok();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap_or(0) == 0 {
                return;
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let req = Req { method, path, headers };
        log.lock().unwrap().push(req.clone());
        let head = req.method == "HEAD";
        match h(&req) {
            Reply::Full(status, ct, body) => {
                let _ = write!(w, "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n", body.len());
                if !head {
                    let _ = w.write_all(&body);
                }
            }
            Reply::Partial { total, from, body } => {
                let _ = write!(
                    w,
                    "HTTP/1.1 206 Partial\r\nContent-Range: bytes {from}-{}/{total}\r\nContent-Length: {}\r\n\r\n",
                    total - 1,
                    body.len()
                );
                let _ = w.write_all(&body);
            }
            Reply::Auth(challenge) => {
                let _ = write!(w, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\n\r\n");
            }
            Reply::Cut { len, body } => {
                let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                let _ = w.write_all(&body);
                let _ = w.flush();
                let _ = w.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }
}

/// Serves `layout` as repository `img`, letting `tweak` override replies.
fn serve_layout(layout: &Layout, tweak: impl Fn(&Req, &str, &[u8]) -> Option<Reply> + Send + Sync + 'static) -> Hostile {
    let blobs_dir = layout.path().join("blobs/sha256");
    let mut blobs = HashMap::new();
    for e in std::fs::read_dir(&blobs_dir).unwrap().flatten() {
        blobs.insert(format!("sha256:{}", e.file_name().to_string_lossy()), std::fs::read(e.path()).unwrap());
    }
    let manifest = layout.manifest_digest.clone();
    Hostile::start(Arc::new(move |req: &Req| {
        if req.path == "/v2/" {
            return Reply::Full(200, "application/json", b"{}".to_vec());
        }
        let what = if req.path.starts_with("/v2/img/manifests/") {
            manifest.clone()
        } else if let Some(d) = req.path.strip_prefix("/v2/img/blobs/") {
            d.to_owned()
        } else {
            return Reply::Full(404, "text/plain", b"nope".to_vec());
        };
        let Some(body) = blobs.get(&what) else { return Reply::Full(404, "application/json", br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"x"}]}"#.to_vec()) };
        if let Some(r) = tweak(req, &what, body) {
            return r;
        }
        if req.path.contains("/manifests/") {
            return Reply::Full(200, "application/vnd.oci.image.manifest.v1+json", body.clone());
        }
        if let Some(from) = req.headers.get("range").and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.trim_end_matches('-').parse::<usize>().ok()) {
            return Reply::Partial { total: body.len(), from, body: body[from..].to_vec() };
        }
        Reply::Full(200, "application/octet-stream", body.clone())
    }))
}

struct Fixture {
    layout: Layout,
    root: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    Fixture { layout: registry::busybox_layout(), root: berth_test_support::temp_dir("image-faults-"), rt: rt() }
}

impl Fixture {
    #[allow(clippy::result_large_err)]
    fn pull(&self, h: &Hostile) -> Result<berth_image::Image, Error> {
        let store = open(self.root.path(), fast_config());
        self.rt.block_on(store.pull(&format!("{}/img:latest", h.addr), None, &Auth::Anonymous, &Progress::none()))
    }
    fn layer(&self) -> String {
        self.layout.layer_digests[0].clone()
    }
    /// Nothing half-written is visible: no committed snapshot, no blob of
    /// the layer, no image.
    fn assert_nothing_visible(&self) {
        let store = open(self.root.path(), fast_config());
        assert!(store.list().unwrap().is_empty());
        let d = berth_image::Digest::parse(&self.layer()).unwrap();
        assert!(!store.content().exists(&d).unwrap(), "bad layer blob became visible");
        let snaps = store.snapshots().list().unwrap();
        assert!(snaps.is_empty(), "snapshots left: {snaps:?}");
    }
}

#[test]
fn blob_with_wrong_digest_is_refused_and_nothing_is_committed() {
    let f = fixture();
    let layer = f.layer();
    let h = serve_layout(&f.layout, move |req, what, body| {
        (req.method == "GET" && what == layer).then(|| {
            let mut evil = body.to_vec();
            let n = evil.len();
            evil[n - 20] ^= 0xff; // inside the gzip trailer region: still decompresses mostly
            Reply::Full(200, "application/octet-stream", evil)
        })
    });
    let e = f.pull(&h).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&f.layer()) && msg.contains(&format!("{}/img:latest", h.addr)), "{msg}");
    assert!(matches!(e, Error::DigestMismatch { .. } | Error::Decompress { .. }), "{e:?}");
    f.assert_nothing_visible();
}

#[test]
fn truncated_blob_is_refused() {
    let f = fixture();
    let layer = f.layer();
    let h = serve_layout(&f.layout, move |_req, what, body| {
        (what == layer).then(|| Reply::Full(200, "application/octet-stream", body[..body.len() / 2].to_vec()))
    });
    let e = f.pull(&h).unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains(&f.layer()), "{e}");
    f.assert_nothing_visible();
}

#[test]
fn dropped_connection_mid_layer_resumes_with_range() {
    let f = fixture();
    let layer = f.layer();
    let cut = Arc::new(AtomicUsize::new(0));
    let cut2 = cut.clone();
    let h = serve_layout(&f.layout, move |req, what, body| {
        if what == layer && !req.headers.contains_key("range") && cut2.fetch_add(1, Ordering::SeqCst) == 0 {
            return Some(Reply::Cut { len: body.len(), body: body[..body.len() / 2].to_vec() });
        }
        None
    });
    let img = f.pull(&h).expect("pull resumes");
    assert_eq!(img.record.manifest_digest.to_string(), f.layout.manifest_digest);
    let ranges: Vec<_> = h.requests().into_iter().filter_map(|r| r.headers.get("range").cloned()).collect();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    assert_ne!(ranges[0], "bytes=0-");
}

#[test]
fn server_errors_then_success() {
    let f = fixture();
    let fails = Arc::new(AtomicUsize::new(0));
    let f2 = fails.clone();
    let h = serve_layout(&f.layout, move |req, _what, _body| {
        (req.method == "GET" && f2.fetch_add(1, Ordering::SeqCst) < 2).then(|| Reply::Full(503, "text/plain", b"busy".to_vec()))
    });
    let img = f.pull(&h).expect("retries past 503");
    assert_eq!(img.id.to_string(), f.layout.config_digest);
    assert!(fails.load(Ordering::SeqCst) >= 3);
}

#[test]
fn persistent_server_errors_name_the_reference() {
    let f = fixture();
    let h = serve_layout(&f.layout, |_req, _what, _body| Some(Reply::Full(500, "text/plain", b"broken".to_vec())));
    let e = f.pull(&h).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("/img:latest") && e.to_string().contains("500"), "{e}");
}

#[test]
fn huge_and_malformed_manifests_are_refused() {
    let f = fixture();
    let h = serve_layout(&f.layout, |req, _what, _body| {
        req.path.contains("/manifests/").then(|| Reply::Full(200, "application/vnd.oci.image.manifest.v1+json", vec![b' '; 5 << 20]))
    });
    let e = f.pull(&h).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
    let h = serve_layout(&f.layout, |req, _what, _body| {
        req.path.contains("/manifests/").then(|| Reply::Full(200, "application/vnd.oci.image.manifest.v1+json", br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:../../etc/passwd","size":1},"layers":[]}"#.to_vec()))
    });
    let e = f.pull(&h).unwrap_err();
    assert!(e.to_string().contains("/img:latest"), "{e}");
    assert_eq!(e.kind(), ErrorKind::FailedPrecondition, "{e}");
    // a manifest that is not the one the tag's digest header announces
    let h = serve_layout(&f.layout, |req, _w, body| {
        req.path.contains("/manifests/").then(|| {
            let mut b = body.to_vec();
            b.extend_from_slice(b" ");
            Reply::Full(200, "application/vnd.oci.image.manifest.v1+json", b)
        })
    });
    // (no digest header: the bytes are accepted as the tag's manifest, and
    // the extra whitespace changes its digest but not its content)
    assert!(f.pull(&h).is_ok());
    f.rt.block_on(async {});
}

#[test]
fn refuses_schema1() {
    let f = fixture();
    let h = serve_layout(&f.layout, |req, _w, _b| {
        req.path.contains("/manifests/").then(|| {
            Reply::Full(200, "application/vnd.docker.distribution.manifest.v1+prettyjws", br#"{"schemaVersion":1,"fsLayers":[]}"#.to_vec())
        })
    });
    let e = f.pull(&h).unwrap_err();
    assert!(e.to_string().contains("schema 1") && e.to_string().contains("not supported yet"), "{e}");
}

#[test]
fn interrupted_pull_is_resumed_by_the_next_pull() {
    let f = fixture();
    let layer = f.layer();
    let cut = Arc::new(AtomicBool::new(true));
    let cut2 = cut.clone();
    let h = serve_layout(&f.layout, move |_req, what, body| {
        (what == layer && cut2.load(Ordering::SeqCst)).then(|| Reply::Cut { len: body.len(), body: body[..body.len() / 2].to_vec() })
    });
    let mut cfg = fast_config();
    cfg.retries = 0;
    let r = format!("{}/img:latest", h.addr);
    {
        let store = open(f.root.path(), cfg.clone());
        let e = f.rt.block_on(store.pull(&r, None, &Auth::Anonymous, &Progress::none())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert!(store.list().unwrap().is_empty());
    }
    cut.store(false, Ordering::SeqCst);
    let store = open(f.root.path(), cfg);
    let img = f.rt.block_on(store.pull(&r, None, &Auth::Anonymous, &Progress::none())).expect("second pull");
    assert_eq!(img.record.manifest_digest.to_string(), f.layout.manifest_digest);
    let ranges: Vec<String> = h.requests().into_iter().filter_map(|r| r.headers.get("range").cloned()).collect();
    assert_eq!(ranges.len(), 1, "the second pull continues where the first stopped: {ranges:?}");
    let from: u64 = ranges[0].trim_start_matches("bytes=").trim_end_matches('-').parse().unwrap();
    assert!(from > 0, "{ranges:?}");
}

#[test]
fn anonymous_bearer_token_flow() {
    let f = fixture();
    let token_hits = Arc::new(AtomicUsize::new(0));
    let hits = token_hits.clone();
    let addr_cell: Arc<Mutex<String>> = Arc::default();
    let addr2 = addr_cell.clone();
    let h = serve_layout(&f.layout, move |req, _what, _body| {
        if req.headers.get("authorization").map(String::as_str) == Some("Bearer t0k3n") {
            return None;
        }
        let me = addr2.lock().unwrap().clone();
        Some(Reply::Auth(format!(r#"Bearer realm="http://{me}/token",service="hostile",scope="repository:img:pull""#)))
    });
    *addr_cell.lock().unwrap() = h.addr.clone();
    // the token endpoint lives on the same hostile server
    let th = Hostile::start(Arc::new(move |req: &Req| {
        hits.fetch_add(1, Ordering::SeqCst);
        assert!(req.path.contains("service=hostile") && req.path.contains("scope=repository%3Aimg%3Apull"), "{}", req.path);
        Reply::Full(200, "application/json", br#"{"token":"t0k3n","expires_in":300}"#.to_vec())
    }));
    *addr_cell.lock().unwrap() = th.addr.clone();
    let img = f.pull(&h).expect("pull with a bearer token");
    assert_eq!(img.id.to_string(), f.layout.config_digest);
    assert_eq!(token_hits.load(Ordering::SeqCst), 1, "the token is fetched once and reused");
}

#[test]
fn zstd_layers_are_unpacked() {
    use std::io::Read;
    let f = fixture();
    let blobs = f.layout.path().join("blobs/sha256");
    let gz = std::fs::read(blobs.join(&f.layer()[7..])).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut tar).unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let zdigest = berth_image::Digest::of(&zst).to_string();
    let config = std::fs::read(blobs.join(&f.layout.config_digest[7..])).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f.layout.config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": zdigest, "size": zst.len()}],
    }))
    .unwrap();
    let mdigest = berth_image::Digest::of(&manifest).to_string();
    let cdigest = f.layout.config_digest.clone();
    let (zd2, md2) = (zdigest.clone(), mdigest.clone());
    let h = Hostile::start(Arc::new(move |req: &Req| {
        if req.path == "/v2/" {
            Reply::Full(200, "application/json", b"{}".to_vec())
        } else if req.path.starts_with("/v2/img/manifests/") {
            Reply::Full(200, "application/vnd.oci.image.manifest.v1+json", manifest.clone())
        } else if req.path == format!("/v2/img/blobs/{zd2}") {
            Reply::Full(200, "application/octet-stream", zst.clone())
        } else if req.path == format!("/v2/img/blobs/{cdigest}") {
            Reply::Full(200, "application/octet-stream", config.clone())
        } else {
            Reply::Full(404, "text/plain", b"no".to_vec())
        }
    }));
    let img = f.pull(&h).expect("pull zstd image");
    assert_eq!(img.record.manifest_digest.to_string(), md2);
    assert_eq!(img.record.diff_ids[0].to_string(), f.layout.diff_ids[0]);
    let store = open(f.root.path(), fast_config());
    let snap = store.snapshots().stat(img.record.top_chain().unwrap()).unwrap().unwrap();
    assert!(snap.path.join("bin/busybox").is_file());
}
