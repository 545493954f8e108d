//! docker's connection hijacking for attach and exec: the client asks for
//! `Upgrade: tcp`, gets `101 UPGRADED`, and the connection becomes a raw
//! two-way stream — the container's output (stdcopy frames unless tty) one
//! way, its stdin the other. Without the upgrade headers the output is
//! streamed as a plain 200 body (stdin then needs the upgrade).

use axum::body::Body;
use axum::response::Response;
use berth_engine::AttachIo;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::detach::{Scan, Scanner};
use crate::response::{MULTIPLEXED_STREAM, RAW_STREAM};

/// True when the client asked to hijack the connection (`Upgrade: tcp`).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
    };
    has(header::UPGRADE, "tcp") && has(header::CONNECTION, "upgrade")
}

/// The media type of an attach stream: multiplexed (stdcopy) unless tty,
/// as API 1.42+ announces it.
pub fn content_type(tty: bool, version: berth_docker_types::ApiVersion) -> &'static str {
    if !tty && version.at_least(1, 42) { MULTIPLEXED_STREAM } else { RAW_STREAM }
}

/// How the hijacked connection's input is handled.
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    /// Forward the client's bytes to the process's stdin.
    pub stdin: bool,
    /// Watch for this detach sequence (tty attaches only, as dockerd does).
    pub detach_keys: Option<Vec<u8>>,
}

/// Answers `101 UPGRADED` and, once hyper hands over the connection, pumps
/// bytes between it and `attach` on a task.
pub fn upgrade(on_upgrade: hyper::upgrade::OnUpgrade, attach: AttachIo, content_type: &'static str, input: InputOptions) -> Response {
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => pump(TokioIo::new(upgraded), attach, input).await,
            Err(e) => tracing::debug!(error = %e, "hijack: the client went away before the upgrade"),
        }
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// The non-upgrade form: the output as a streamed 200 body.
pub fn output_only(attach: AttachIo, content_type: &'static str) -> Response {
    let (tx, mut resp) = crate::response::stream(content_type);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    tokio::spawn(async move {
        let (mut r, _w) = tokio::io::split(attach.io);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send(bytes::Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    resp
}

/// A stream that carries one error message and ends: what dockerd writes
/// on a hijacked connection when the process cannot be started (a stdout
/// frame unless tty, followed by `\r\n`).
pub async fn error_stream(message: &str, tty: bool) -> AttachIo {
    let text = format!("{message}\r\n");
    let bytes = if tty { text.into_bytes() } else { berth_docker_types::stdcopy::encode(berth_docker_types::stdcopy::StreamType::Stdout, text.as_bytes()) };
    let (a, mut b) = tokio::io::duplex(bytes.len() + 16);
    // fits in the pipe's buffer: completes at once
    let _ = b.write_all(&bytes).await;
    drop(b);
    AttachIo { io: Box::new(a), tty }
}

enum InputEnd {
    /// The client closed its sending side (stdin EOF).
    Eof,
    /// The detach sequence was typed.
    Detached,
    /// The connection failed.
    Failed,
}

/// Copies output to the client and the client's input to the process until
/// the output ends (the process exited), the detach keys are typed, or the
/// client goes away.
pub async fn pump<C: AsyncRead + AsyncWrite + Send + Unpin>(client: C, attach: AttachIo, opts: InputOptions) {
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut attach_r, mut attach_w) = tokio::io::split(attach.io);
    let output = async {
        let r = tokio::io::copy(&mut attach_r, &mut client_w).await;
        let _ = client_w.shutdown().await;
        r
    };
    let input = async {
        let mut scanner = Scanner::new(opts.detach_keys.clone().unwrap_or_default());
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match client_r.read(&mut buf).await {
                Ok(n) => n,
                Err(_) => return InputEnd::Failed,
            };
            if n == 0 {
                if opts.stdin {
                    let held = scanner.flush();
                    if !held.is_empty() {
                        let _ = attach_w.write_all(&held).await;
                    }
                    // closes the process's stdin
                    let _ = attach_w.shutdown().await;
                }
                return InputEnd::Eof;
            }
            if !opts.stdin {
                continue;
            }
            let (data, detach) = match scanner.feed(&buf[..n]) {
                Scan::Forward(d) => (d, false),
                Scan::Detach(d) => (d, true),
            };
            if !data.is_empty() && attach_w.write_all(&data).await.is_err() {
                // stdin is closed (the process exited): keep draining output
                return InputEnd::Eof;
            }
            if detach {
                return InputEnd::Detached;
            }
        }
    };
    tokio::pin!(output, input);
    let mut input_done = false;
    loop {
        tokio::select! {
            r = &mut output => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "hijack: output copy ended");
                }
                return;
            }
            end = &mut input, if !input_done => match end {
                InputEnd::Eof => input_done = true,
                InputEnd::Detached => {
                    tracing::debug!("hijack: detach keys typed");
                    return;
                }
                InputEnd::Failed => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attach_pair(tty: bool) -> (AttachIo, tokio::io::DuplexStream) {
        let (a, b) = tokio::io::duplex(1 << 16);
        (AttachIo { io: Box::new(a), tty }, b)
    }

    #[test]
    fn upgrade_headers() {
        let mut h = HeaderMap::new();
        assert!(!wants_upgrade(&h));
        h.insert(header::UPGRADE, "tcp".parse().unwrap());
        h.insert(header::CONNECTION, "Upgrade".parse().unwrap());
        assert!(wants_upgrade(&h));
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        assert!(!wants_upgrade(&h));
        let v = berth_docker_types::ApiVersion::new;
        assert_eq!(content_type(false, v(1, 50)), MULTIPLEXED_STREAM);
        assert_eq!(content_type(false, v(1, 41)), RAW_STREAM);
        assert_eq!(content_type(true, v(1, 50)), RAW_STREAM);
    }

    #[tokio::test]
    async fn stdin_forwarded_and_closed_output_drained() {
        let (attach, mut process) = attach_pair(false);
        let (client, mut client_far) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(pump(client, attach, InputOptions { stdin: true, detach_keys: None }));
        client_far.write_all(b"hello").await.unwrap();
        client_far.shutdown().await.unwrap();
        let mut got = Vec::new();
        process.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello", "stdin reaches the process, then EOF");
        process.write_all(b"bye").await.unwrap();
        drop(process);
        let mut out = Vec::new();
        client_far.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"bye");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn detach_keys_end_the_attach() {
        let (attach, mut process) = attach_pair(true);
        let (client, mut client_far) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(pump(client, attach, InputOptions { stdin: true, detach_keys: Some(vec![16, 17]) }));
        client_far.write_all(b"ls\x10\x11").await.unwrap();
        task.await.unwrap();
        let mut got = Vec::new();
        process.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ls", "the keys themselves are not forwarded");
        let mut out = Vec::new();
        client_far.read_to_end(&mut out).await.unwrap();
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn error_stream_is_one_frame() {
        let mut io = error_stream("boom", false).await;
        let mut v = Vec::new();
        io.io.read_to_end(&mut v).await.unwrap();
        assert_eq!(v, berth_docker_types::stdcopy::encode(berth_docker_types::stdcopy::StreamType::Stdout, b"boom\r\n"));
        let mut io = error_stream("boom", true).await;
        let mut v = Vec::new();
        io.io.read_to_end(&mut v).await.unwrap();
        assert_eq!(v, b"boom\r\n");
    }

    #[tokio::test]
    async fn client_hangup_ends_the_pump() {
        let (attach, process) = attach_pair(false);
        let (client, client_far) = tokio::io::duplex(64);
        let task = tokio::spawn(pump(client, attach, InputOptions::default()));
        drop(client_far);
        // output written after the hang-up fails, and the pump returns
        let (_r, mut w) = tokio::io::split(process);
        let _ = w.write_all(&[0u8; 1024]).await;
        tokio::time::timeout(std::time::Duration::from_secs(5), task).await.unwrap().unwrap();
    }
}
