//! The Engine API over its socket with a hand-written HTTP client: version
//! negotiation, docker's headers and error bodies, hostile input (broken
//! JSON, wrong types, huge bodies, bad query values) and clients that hang
//! up mid-stream. berthd must answer clearly and keep serving.

#[path = "../../daemon/tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Daemon, eventually, isolated};

/// A parsed response.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_owned()
    }
}

fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).expect("connect to berthd");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn send(s: &mut UnixStream, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("connection")) {
        req.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // a server may answer (e.g. 413) before reading all of a large body
    let _ = s.write_all(body);
}

/// Reads the status line and headers; returns them and what was read past them.
fn read_head(s: &mut UnixStream) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk).expect("read response head");
        assert!(n > 0, "connection closed before a response: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let rest = buf[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).expect("status line");
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    (status, headers, rest)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = raw.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..i]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[i + 2..i + 2 + size]);
        raw = &raw[i + 2 + size + 2..];
    }
}

fn request(sock: &Path, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = connect(sock);
    send(&mut s, method, path, headers, body);
    let (status, headers, mut rest) = read_head(&mut s);
    if method != "HEAD" {
        let _ = s.read_to_end(&mut rest);
    }
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(&rest) } else { rest };
    Resp { status, headers, body }
}

fn get(sock: &Path, path: &str) -> Resp {
    request(sock, "GET", path, &[], b"")
}

fn post_json(sock: &Path, path: &str, body: &str) -> Resp {
    request(sock, "POST", path, &[("Content-Type", "application/json")], body.as_bytes())
}

#[test]
fn version_negotiation_and_headers() {
    if !isolated("version_negotiation_and_headers") {
        return;
    }
    let d = Daemon::new();
    let r = request(&d.sock, "HEAD", "/_ping", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("api-version"), Some("1.50"));
    assert_eq!(r.header("docker-experimental"), Some("false"));
    assert_eq!(r.header("ostype"), Some("linux"));
    assert_eq!(r.header("content-length"), Some("0"));
    let r = get(&d.sock, "/_ping");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"OK"[..]));
    assert_eq!(r.header("cache-control"), Some("no-cache, no-store, must-revalidate"));
    let r = get(&d.sock, "/v1.50/_ping");
    assert_eq!(r.status, 200);
    let r = get(&d.sock, "/v1.24/version");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ApiVersion"], "1.50");
    assert_eq!(r.json()["MinAPIVersion"], "1.24");
    let r = get(&d.sock, "/v1.51/info");
    assert_eq!((r.status, r.message()), (400, "client version 1.51 is too new. Maximum supported API version is 1.50".to_owned()));
    assert_eq!(r.header("api-version"), Some("1.50"), "negotiation needs the header on errors too");
    let r = get(&d.sock, "/v1.23/info");
    assert_eq!(r.status, 400);
    assert!(r.message().starts_with("client version 1.23 is too old. Minimum supported API version is 1.24"), "{}", r.message());
    let r = get(&d.sock, "/nope");
    assert_eq!((r.status, r.message()), (404, "page not found".to_owned()));
    let r = request(&d.sock, "DELETE", "/_ping", &[], b"");
    assert_eq!(r.status, 405);
    // unversioned and versioned paths reach the same endpoints
    assert_eq!(get(&d.sock, "/containers/json").status, 200);
    assert_eq!(get(&d.sock, "/v1.41/containers/json?all=1").json(), serde_json::json!([]));
}

#[test]
fn hostile_requests_get_clear_errors() {
    if !isolated("hostile_requests_get_clear_errors") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    let r = post_json(&d.sock, "/containers/create", r#"{"Image":"#);
    assert_eq!(r.status, 400);
    assert!(r.message().starts_with("invalid JSON"), "{}", r.message());
    let r = post_json(&d.sock, "/containers/create", &format!(r#"{{"Image":"{}","HostConfig":{{"Memory":"lots"}}}}"#, d.image));
    assert_eq!(r.status, 400);
    assert!(r.message().contains("HostConfig.Memory: invalid type: string \"lots\""), "{}", r.message());
    let r = post_json(&d.sock, "/containers/create", &format!(r#"{{"Image":"{}","Env":"A=1"}}"#, d.image));
    assert!(r.message().contains("Env"), "{}", r.message());
    let r = request(&d.sock, "POST", "/containers/create", &[("Content-Type", "text/plain")], br#"{"Image":"x"}"#);
    assert_eq!((r.status, r.message()), (400, "unsupported Content-Type header (text/plain): must be 'application/json'".to_owned()));
    let r = post_json(&d.sock, "/containers/create", "");
    assert_eq!(r.status, 400);
    let huge = vec![b' '; 9 << 20];
    let r = request(&d.sock, "POST", "/containers/create", &[("Content-Type", "application/json")], &huge);
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    let r = post_json(&d.sock, "/containers/create?name=bad%20name", &format!(r#"{{"Image":"{}"}}"#, d.image));
    assert_eq!((r.status, r.message()), (400, "Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed".to_owned()));
    let r = post_json(&d.sock, "/containers/create", r#"{"Image":"127.0.0.1:1/none:latest"}"#);
    assert_eq!(r.status, 404, "{}", r.message());
    let r = post_json(&d.sock, "/containers/create", &format!(r#"{{"Image":"{}","HostConfig":{{"Links":["a:b"]}}}}"#, d.image));
    assert_eq!((r.status, r.message()), (400, "not supported yet: --link".to_owned()));
    // query values
    let r = get(&d.sock, "/containers/json?limit=abc");
    assert_eq!((r.status, r.message()), (400, "invalid value for \"limit\": \"abc\" is not an integer".to_owned()));
    let r = get(&d.sock, "/containers/json?filters=%7Bbroken");
    assert_eq!(r.status, 400);
    let r = get(&d.sock, "/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D");
    assert_eq!((r.status, r.message()), (400, "invalid filter 'bogus'".to_owned()));
    let r = post_json(&d.sock, "/containers/nope/stop?t=soon", "");
    assert_eq!((r.status, r.message()), (400, "invalid value for \"t\": \"soon\" is not an integer".to_owned()));
    let r = post_json(&d.sock, "/containers/nope/stop", "");
    assert_eq!((r.status, r.message()), (404, "No such container: nope".to_owned()));
    let r = get(&d.sock, "/containers/nope/logs");
    assert_eq!((r.status, r.message()), (400, "Bad parameters: you must choose at least one stream".to_owned()));
    let r = post_json(&d.sock, "/containers/nope/resize?h=x&w=10", "");
    assert_eq!(r.status, 400);
    let r = get(&d.sock, "/events?since=yesterday");
    assert_eq!(r.status, 400);
    let r = request(&d.sock, "POST", "/images/create?fromImage=x&tag=latest", &[("X-Registry-Auth", "%%%")], b"");
    assert!(r.message().starts_with("invalid X-Registry-Auth header"), "{}", r.message());
    // not implemented: said plainly
    let r = post_json(&d.sock, "/build", "");
    assert_eq!(r.status, 501);
    assert!(r.message().starts_with("not supported yet: build"), "{}", r.message());
    assert_eq!(get(&d.sock, "/images/search?term=x").status, 501);
    assert_eq!(post_json(&d.sock, "/containers/nope/update", "{}").status, 501);
    // still serving
    assert_eq!(get(&d.sock, "/_ping").status, 200);
}

#[test]
fn wait_answers_headers_first_and_logs_are_multiplexed() {
    if !isolated("wait_answers_headers_first_and_logs_are_multiplexed") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    let body = format!(r#"{{"Image":"{}","Cmd":["sh","-c","echo out; echo err >&2; read x; exit 7"],"OpenStdin":true}}"#, d.image);
    let r = post_json(&d.sock, "/containers/create?name=waiter", &body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["Id"].as_str().unwrap().to_owned();
    // wait: the status line comes before the container has even started
    let mut w = connect(&d.sock);
    send(&mut w, "POST", &format!("/containers/{id}/wait?condition=next-exit"), &[], b"");
    let t = Instant::now();
    let (status, _, _) = read_head(&mut w);
    assert_eq!(status, 200);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(post_json(&d.sock, &format!("/containers/{id}/start"), "").status, 204);
    assert_eq!(post_json(&d.sock, &format!("/containers/{id}/start"), "").status, 304, "starting a started container");
    // attach without upgrade: output only, as a streamed body
    assert!(eventually(Duration::from_secs(10), || d.ok(&["logs", "waiter"]).contains("out")));
    let logs = get(&d.sock, &format!("/containers/{id}/logs?stdout=1&stderr=1"));
    assert_eq!(logs.header("content-type"), Some("application/vnd.docker.multiplexed-stream"));
    let mut frames = Vec::new();
    let mut b = logs.body.as_slice();
    while b.len() >= 8 {
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        frames.push((b[0], String::from_utf8_lossy(&b[8..8 + len]).into_owned()));
        b = &b[8 + len..];
    }
    assert!(frames.contains(&(1, "out\n".into())) && frames.contains(&(2, "err\n".into())), "{frames:?}");
    // attach without the upgrade: the output as a plain streamed body
    let r = request(&d.sock, "POST", &format!("/containers/{id}/attach?logs=1&stdout=1&stderr=1"), &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/vnd.docker.multiplexed-stream"));
    assert_eq!(&r.body[..8], &[1, 0, 0, 0, 0, 0, 0, 4], "a stdout frame of 4 bytes first");
    let r = request(&d.sock, "POST", &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1"), &[], b"");
    assert_eq!(r.status, 400, "stdin needs the hijacked connection");
    // kill makes wait answer
    assert_eq!(post_json(&d.sock, &format!("/containers/{id}/kill"), "").status, 204);
    let mut rest = Vec::new();
    let _ = w.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains(r#""StatusCode":137"#), "{text}");
}

#[test]
fn clients_hanging_up_mid_stream() {
    if !isolated("clients_hanging_up_mid_stream") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    d.ok(&["run", "-d", "--name", "noisy", &d.image, "sh", "-c", "while true; do echo noise; done"]);
    let pid = std::fs::read_to_string(d.root.path().join("berthd.pid")).unwrap().trim().to_owned();
    let fds = || std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let before = fds();
    for _ in 0..5 {
        // logs -f: read a little, then vanish
        let mut s = connect(&d.sock);
        send(&mut s, "GET", "/containers/noisy/logs?follow=1&stdout=1", &[], b"");
        let (status, _, _) = read_head(&mut s);
        assert_eq!(status, 200);
        let mut buf = [0u8; 1024];
        assert!(s.read(&mut buf).unwrap() > 0);
        drop(s);
        // events: vanish at once
        let mut s = connect(&d.sock);
        send(&mut s, "GET", "/events", &[], b"");
        let _ = read_head(&mut s);
        drop(s);
        // a hijacked attach: vanish after the upgrade
        let mut s = connect(&d.sock);
        send(&mut s, "POST", "/containers/noisy/attach?stream=1&stdout=1", &[("Connection", "Upgrade"), ("Upgrade", "tcp")], b"");
        let (status, _, _) = read_head(&mut s);
        assert_eq!(status, 101);
        drop(s);
        // stats: vanish after the first sample
        let mut s = connect(&d.sock);
        send(&mut s, "GET", "/containers/noisy/stats", &[], b"");
        let _ = read_head(&mut s);
        drop(s);
        // a request cut off mid-body
        let mut s = connect(&d.sock);
        s.write_all(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Image\":").unwrap();
        drop(s);
    }
    assert_eq!(get(&d.sock, "/_ping").status, 200, "still serving");
    assert!(eventually(Duration::from_secs(10), || d.ok(&["info", "--format", "{{.NEventsListener}}"]).trim() == "0"));
    assert!(eventually(Duration::from_secs(10), || fds() <= before + 2), "berthd let go of the connections: {} fds, {before} before", fds());
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Running}}", "noisy"]).trim(), "true");
    d.ok(&["rm", "-f", "noisy"]);
}

#[test]
fn rm_after_failed_start_with_rm_flag() {
    if !isolated("rm_after_failed_start_with_rm_flag") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    let body = format!(r#"{{"Image":"{}","Cmd":["nosuchcmd"],"HostConfig":{{"AutoRemove":true}}}}"#, d.image);
    let r = post_json(&d.sock, "/containers/create", &body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["Id"].as_str().unwrap().to_owned();
    let r = post_json(&d.sock, &format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 400, "{}", r.message());
    assert!(r.message().contains("executable file not found"), "{}", r.message());
    // removed by the time start answered, as dockerd does
    let r = get(&d.sock, &format!("/containers/{id}/json"));
    assert_eq!((r.status, r.message()), (404, format!("No such container: {id}")));
    assert!(d.leftovers().is_empty(), "{:#?}", d.leftovers());
}

#[test]
fn console_size_is_set_before_the_process_starts() {
    if !isolated("console_size_is_set_before_the_process_starts") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    let body = format!(r#"{{"Image":"{}","Cmd":["stty","size"],"Tty":true,"HostConfig":{{"ConsoleSize":[33,101]}}}}"#, d.image);
    let r = post_json(&d.sock, "/containers/create?name=sized", &body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let i = get(&d.sock, "/containers/sized/json").json();
    assert_eq!(i["HostConfig"]["ConsoleSize"], serde_json::json!([33, 101]));
    assert_eq!(post_json(&d.sock, "/containers/sized/start", "").status, 204);
    assert_eq!(d.ok(&["wait", "sized"]).trim(), "0");
    assert_eq!(d.ok(&["logs", "sized"]).trim(), "33 101");
    let r = post_json(&d.sock, "/containers/create", &format!(r#"{{"Image":"{}","Tty":true,"HostConfig":{{"ConsoleSize":[70000,80]}}}}"#, d.image));
    assert_eq!((r.status, r.message()), (400, "invalid ConsoleSize height".to_owned()));
}

#[test]
fn inspect_hostname_is_the_one_in_use() {
    if !isolated("inspect_hostname_is_the_one_in_use") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    let id = d.ok(&["create", &d.image, "true"]).trim().to_owned();
    assert_eq!(get(&d.sock, &format!("/containers/{id}/json")).json()["Config"]["Hostname"], id[..12]);
    d.ok(&["create", "--name", "named", "--hostname", "box.local", &d.image, "true"]);
    assert_eq!(get(&d.sock, "/containers/named/json").json()["Config"]["Hostname"], "box.local");
    d.ok(&["create", "--name", "onhost", "--network", "host", &d.image, "true"]);
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(get(&d.sock, "/containers/onhost/json").json()["Config"]["Hostname"], host);
}

/// A tar holding one file, ending as GNU tar ends an archive: two zero
/// blocks, then zeros up to a 10 KiB record.
fn small_tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.resize(10240, 0);
    out
}

#[test]
fn archive_upload_is_read_to_its_end_before_the_answer() {
    if !isolated("archive_upload_is_read_to_its_end_before_the_answer") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    d.ok(&["run", "-d", "--name", "box", &d.image, "sleep", "300"]);
    let tar = small_tar("up.txt", b"uploaded\n");
    // the tar up to its first end-of-archive block (header, data, zero
    // block), then (later) the rest and the closing chunk, on a connection
    // kept alive, as docker cp sends
    let (head, tail) = tar.split_at(1536);
    let mut s = connect(&d.sock);
    s.write_all(b"PUT /v1.50/containers/box/archive?path=/tmp HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    s.write_all(format!("{:x}\r\n", head.len()).as_bytes()).unwrap();
    s.write_all(head).unwrap();
    s.write_all(b"\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // berthd must still be reading: these writes do not fail...
    s.write_all(format!("{:x}\r\n", tail.len()).as_bytes()).expect("the rest of the upload is read");
    s.write_all(tail).expect("the rest of the upload is read");
    s.write_all(b"\r\n0\r\n\r\n").expect("the closing chunk is read");
    // ...and then it answers
    let (status, _, _) = read_head(&mut s);
    assert_eq!(status, 200);
    // the connection is still good for another request
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n").expect("connection kept");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(String::from_utf8_lossy(&rest).contains("OK"), "{}", String::from_utf8_lossy(&rest));
    assert_eq!(d.ok(&["exec", "box", "cat", "/tmp/up.txt"]), "uploaded\n");
    // repeated through the docker CLI (the intermittent broken pipe)
    let src = d.root.path().join("cp-src.txt");
    std::fs::write(&src, "copied\n").unwrap();
    for i in 0..20 {
        let o = d.docker(&["cp", src.to_str().unwrap(), &format!("box:/tmp/cp-{i}.txt")]);
        assert!(o.status.success(), "docker cp #{i}: {}", String::from_utf8_lossy(&o.stderr));
    }
}
