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
