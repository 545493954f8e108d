//! Reading a container's json-file log (written by berth-shim in docker's
//! format: one `{"log":"…","stream":"stdout","time":"…"}` object per line,
//! rotated to `<file>.1`, `<file>.2`, … oldest last), with `--since`,
//! `--until`, `--tail` and `--follow` (polling; survives rotation).

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::model::{LogLine, LogOptions, StdStream};

#[derive(Deserialize)]
struct JsonLine {
    log: String,
    stream: String,
    time: String,
}

/// Parses one json-file line; `None` for a line that is not a record
/// (e.g. torn by a crash).
pub(crate) fn parse_line(line: &[u8]) -> Option<LogLine> {
    let j: JsonLine = serde_json::from_slice(line).ok()?;
    let stream = match j.stream.as_str() {
        "stdout" => StdStream::Stdout,
        "stderr" => StdStream::Stderr,
        _ => return None,
    };
    Some(LogLine { stream, time: crate::time::parse_rfc3339(&j.time)?, bytes: j.log.into_bytes() })
}

fn wanted(l: &LogLine, o: &LogOptions) -> bool {
    (match l.stream {
        StdStream::Stdout => o.stdout,
        StdStream::Stderr => o.stderr,
        StdStream::Stdin => false,
    }) && (o.since == 0 || l.time >= o.since)
        && (o.until == 0 || l.time <= o.until)
}

/// The rotated files, oldest first, then the current one.
fn files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut n = 1;
    loop {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if !p.exists() {
            break;
        }
        out.push(p);
        n += 1;
    }
    out.reverse();
    out.push(path.to_owned());
    out
}

fn read_all(path: &Path, opts: &LogOptions) -> Vec<LogLine> {
    let mut out = Vec::new();
    for f in files(path) {
        let Ok(file) = std::fs::File::open(&f) else { continue };
        for line in BufReader::new(file).split(b'\n').map_while(|l| l.ok()) {
            if let Some(l) = parse_line(&line)
                && wanted(&l, opts)
            {
                out.push(l);
            }
        }
    }
    out
}

/// Keeps the last `n` whole lines (a partial record belongs to the line
/// that its final chunk ends).
fn tail(lines: Vec<LogLine>, n: usize) -> Vec<LogLine> {
    let mut ends = 0;
    let mut start = lines.len();
    for (i, l) in lines.iter().enumerate().rev() {
        if l.bytes.ends_with(b"\n") || i == lines.len() - 1 {
            if ends == n {
                break;
            }
            ends += 1;
        }
        start = i;
    }
    if n == 0 {
        return Vec::new();
    }
    lines.into_iter().skip(start).collect()
}

pub(crate) async fn logs(inner: &Arc<Inner>, id: &str, opts: LogOptions) -> Result<mpsc::Receiver<Result<LogLine>>> {
    let c = inner.lookup(id)?;
    let rec = c.snapshot();
    let (path, _, _) = crate::container::log_settings(inner, &rec);
    let Some(path) = path else {
        return Err(Error::invalid("configured logging driver does not support reading"));
    };
    if !opts.stdout && !opts.stderr {
        return Err(Error::invalid("you must choose at least one stream"));
    }
    let (tx, rx) = mpsc::channel(256);
    let mut shutdown = inner.shutdown.subscribe();
    tokio::spawn(async move {
        let p = path.clone();
        let o = opts.clone();
        let past = tokio::task::spawn_blocking(move || read_all(&p, &o)).await.unwrap_or_default();
        let past = match opts.tail {
            Some(n) => tail(past, n),
            None => past,
        };
        for l in past {
            if tx.send(Ok(l)).await.is_err() {
                return;
            }
        }
        if !opts.follow || (opts.until != 0 && opts.until <= crate::time::now_nanos()) {
            return;
        }
        // follow: from the current end of the current file
        let mut pos = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut ino = std::fs::metadata(&path).map(|m| m.ino()).unwrap_or(0);
        let mut partial: Vec<u8> = Vec::new();
        let mut stopped_seen = false;
        loop {
            // new bytes?
            let meta = std::fs::metadata(&path).ok();
            if let Some(m) = &meta
                && m.ino() != ino
            {
                // rotated: finish the old file (now .1) then start the new one
                let old = PathBuf::from(format!("{}.1", path.display()));
                if let Ok(bytes) = read_from(&old, pos) {
                    partial.extend_from_slice(&bytes);
                }
                ino = m.ino();
                pos = 0;
            }
            if let Ok(bytes) = read_from(&path, pos) {
                pos += bytes.len() as u64;
                partial.extend_from_slice(&bytes);
            }
            while let Some(i) = partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = partial.drain(..=i).collect();
                if let Some(l) = parse_line(&line[..line.len() - 1]) {
                    if opts.until != 0 && l.time > opts.until {
                        return;
                    }
                    if wanted(&l, &opts) && tx.send(Ok(l)).await.is_err() {
                        return;
                    }
                }
            }
            let running = { c.rec().state.running || c.rec().state.restarting } && !c.removed.load(Ordering::SeqCst);
            if !running {
                if stopped_seen {
                    return;
                }
                // one more pass to drain what the shim wrote last
                stopped_seen = true;
                continue;
            }
            if opts.until != 0 && crate::time::now_nanos() > opts.until {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = tx.closed() => return,
                _ = shutdown.wait_for(|v| *v) => return,
            }
        }
    });
    Ok(rx)
}

fn read_from(path: &Path, pos: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len <= pos {
        return Ok(Vec::new());
    }
    f.seek(SeekFrom::Start(pos))?;
    let mut buf = Vec::with_capacity((len - pos) as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut f, len - pos), &mut buf)?;
    // only whole lines count; the rest is read again next time
    Ok(buf)
}

/// A stream that first yields `prefix`, then reads from `inner`; writes go
/// to `inner` (discarded without one).
pub(crate) struct Prefixed {
    prefix: Vec<u8>,
    off: usize,
    inner: Option<tokio::net::UnixStream>,
}

impl Prefixed {
    pub(crate) fn new(prefix: Vec<u8>, inner: Option<tokio::net::UnixStream>) -> Prefixed {
        Prefixed { prefix, off: 0, inner }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.off < self.prefix.len() {
            let n = (self.prefix.len() - self.off).min(buf.remaining());
            let off = self.off;
            buf.put_slice(&self.prefix[off..off + n]);
            self.off += n;
            return Poll::Ready(Ok(()));
        }
        match self.inner.as_mut() {
            Some(s) => Pin::new(s).poll_read(cx, buf),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.inner.as_mut() {
            Some(s) => Pin::new(s).poll_write(cx, buf),
            None => Poll::Ready(Ok(buf.len())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.inner.as_mut() {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.inner.as_mut() {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str, t: i64) -> LogLine {
        LogLine { stream: StdStream::Stdout, time: t, bytes: s.as_bytes().to_vec() }
    }

    #[test]
    fn parses_docker_json_file_lines() {
        let l = parse_line(br#"{"log":"hi\n","stream":"stderr","time":"2023-11-14T22:13:20.5Z"}"#).unwrap();
        assert_eq!((l.stream, l.time, l.bytes.as_slice()), (StdStream::Stderr, 1_700_000_000_500_000_000, &b"hi\n"[..]));
        assert!(parse_line(b"{\"log\":\"torn").is_none());
    }

    #[test]
    fn tail_counts_whole_lines() {
        let v = vec![line("a\n", 1), line("b-part", 2), line("b-end\n", 3), line("c\n", 4)];
        let t = tail(v.clone(), 2);
        assert_eq!(t.iter().map(|l| String::from_utf8_lossy(&l.bytes).into_owned()).collect::<Vec<_>>(), vec!["b-part", "b-end\n", "c\n"]);
        assert_eq!(tail(v.clone(), 0).len(), 0);
        assert_eq!(tail(v, 10).len(), 4);
    }

    #[test]
    fn rotated_files_are_read_oldest_first() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x-json.log");
        let rec = |s: &str, t: &str| format!("{{\"log\":\"{s}\\n\",\"stream\":\"stdout\",\"time\":\"{t}\"}}\n");
        std::fs::write(format!("{}.2", p.display()), rec("one", "2023-11-14T22:13:20Z")).unwrap();
        std::fs::write(format!("{}.1", p.display()), rec("two", "2023-11-14T22:13:21Z")).unwrap();
        std::fs::write(&p, rec("three", "2023-11-14T22:13:22Z")).unwrap();
        let o = LogOptions { stdout: true, stderr: true, since: 1_700_000_001_000_000_000, ..Default::default() };
        let got: Vec<String> = read_all(&p, &o).into_iter().map(|l| String::from_utf8_lossy(&l.bytes).into_owned()).collect();
        assert_eq!(got, vec!["two\n", "three\n"]);
    }
}
