//! docker's progress display for pull, push, load and import: one line per
//! layer, updated in place on a terminal (`abc123: Downloading [==>  ]
//! 1.2MB/3.4MB`), plain status lines otherwise; an `error` message ends the
//! stream with that error.

use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write};

use berth_docker_types::progress::{JsonMessage, JsonProgress};

use crate::format::units::human_size;

/// Why a progress stream ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// The daemon's error message (printed as is by the caller).
    #[error("{0}")]
    Daemon(String),
    #[error("error reading the daemon's progress stream: {0}")]
    Decode(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// docker's `JSONProgress.String()` for a terminal of `width` columns.
pub fn render_progress(p: &JsonProgress, width: u16) -> String {
    if p.current <= 0 && p.total <= 0 {
        return String::new();
    }
    if p.total <= 0 {
        return match p.units.as_str() {
            "" => format!("{:>8}", human_size(p.current)),
            u => format!("{} {u}", p.current),
        };
    }
    let mut percentage = ((p.current as f64 / p.total as f64) * 100.0) as i64 / 2;
    percentage = percentage.clamp(0, 50);
    let mut bar = String::new();
    if width > 110 {
        bar = format!(
            "[{}>{}] ",
            "=".repeat(percentage as usize),
            " ".repeat((50 - percentage) as usize)
        );
    }
    let numbers = match p.units.as_str() {
        "" => {
            if p.hide_counts {
                String::new()
            } else {
                format!("{:>8}/{}", human_size(p.current), human_size(p.total))
            }
        }
        u => format!("{}/{} {u}", p.current, p.total),
    };
    let numbers = if p.current > p.total {
        String::new()
    } else {
        numbers
    };
    format!("{bar}{numbers}")
}

/// Renders a stream of messages to `out`.
#[derive(Debug)]
pub struct Display<W: Write> {
    out: W,
    terminal: bool,
    width: u16,
    /// Line of each layer id, counted from the first.
    ids: HashMap<String, usize>,
    /// `aux` payloads (push digests, load/import results).
    pub aux: Vec<serde_json::Value>,
}

impl<W: Write> Display<W> {
    pub fn new(out: W, terminal: bool, width: u16) -> Self {
        Display {
            out,
            terminal,
            width,
            ids: HashMap::new(),
            aux: Vec::new(),
        }
    }

    /// Reads messages until the stream ends or carries an error.
    pub fn run(&mut self, body: impl Read) -> Result<(), ProgressError> {
        let reader = BufReader::with_capacity(16 * 1024, body);
        let stream = serde_json::Deserializer::from_reader(reader).into_iter::<JsonMessage>();
        for msg in stream {
            let msg = msg.map_err(|e| ProgressError::Decode(e.to_string()))?;
            self.show(&msg)?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// One message (docker's `DisplayJSONMessagesStream` step): a message
    /// with a layer id and progress gets a line of its own, kept above the
    /// cursor and rewritten in place; anything else starts afresh.
    pub fn show(&mut self, m: &JsonMessage) -> Result<(), ProgressError> {
        if let Some(aux) = &m.aux {
            self.aux.push(aux.clone());
            return Ok(());
        }
        let mut diff = 0;
        if !m.id.is_empty() && (m.progress_detail.is_some() || !m.progress.is_empty()) {
            let line = match self.ids.get(&m.id) {
                Some(&l) => l,
                None => {
                    let l = self.ids.len();
                    self.ids.insert(m.id.clone(), l);
                    if self.terminal {
                        writeln!(self.out)?;
                    }
                    l
                }
            };
            diff = self.ids.len() - line;
            if self.terminal && diff > 0 {
                write!(self.out, "\x1b[{diff}A")?;
            }
        } else {
            self.ids.clear();
        }
        let shown = self.display(m);
        if !m.id.is_empty() && self.terminal && diff > 0 {
            write!(self.out, "\x1b[{diff}B")?;
        }
        self.out.flush()?;
        shown
    }

    fn display(&mut self, m: &JsonMessage) -> Result<(), ProgressError> {
        if let Some(e) = &m.error_detail
            && !e.message.is_empty()
        {
            return Err(ProgressError::Daemon(e.message.clone()));
        }
        if !m.error.is_empty() {
            return Err(ProgressError::Daemon(m.error.clone()));
        }
        let progress = m
            .progress_detail
            .as_ref()
            .map(|p| render_progress(p, self.width));
        let mut endl = "";
        if self.terminal && m.stream.is_empty() && progress.is_some() {
            write!(self.out, "\x1b[2K\r")?;
            endl = "\r";
        } else if progress.as_deref().is_some_and(|p| !p.is_empty()) {
            // no bars when not on a terminal
            return Ok(());
        }
        if !m.id.is_empty() {
            write!(self.out, "{}: ", m.id)?;
        }
        if !m.from.is_empty() {
            write!(self.out, "(from {}) ", m.from)?;
        }
        match progress {
            Some(p) if self.terminal => write!(self.out, "{} {p}{endl}", m.status)?,
            _ if !m.progress.is_empty() => write!(self.out, "{} {}{endl}", m.status, m.progress)?,
            _ if !m.stream.is_empty() => write!(self.out, "{}{endl}", m.stream)?,
            _ => writeln!(self.out, "{}{endl}", m.status)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(terminal: bool, input: &str) -> (String, Result<(), ProgressError>) {
        let mut out = Vec::new();
        let res = Display::new(&mut out, terminal, 120).run(input.as_bytes());
        (String::from_utf8(out).unwrap(), res)
    }

    const PULL: &str = r#"{"status":"Pulling from library/busybox","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":500,"total":1000},"id":"aaa"}
{"status":"Download complete","progressDetail":{},"id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"bbb"}
{"status":"Digest: sha256:abc"}
{"status":"Status: Downloaded newer image for busybox:latest"}
"#;

    #[test]
    fn plain_output_skips_bars() {
        let (out, res) = run(false, PULL);
        res.unwrap();
        assert_eq!(
            out,
            "latest: Pulling from library/busybox\naaa: Pulling fs layer\nbbb: Pulling fs layer\naaa: Download complete\nbbb: Pull complete\nDigest: sha256:abc\nStatus: Downloaded newer image for busybox:latest\n"
        );
    }

    #[test]
    fn terminal_output_updates_lines_in_place() {
        let (out, res) = run(true, PULL);
        res.unwrap();
        // aaa's line is two above the cursor: up, rewrite, back down
        assert!(out.contains("\x1b[2A\x1b[2K\raaa: Downloading [=========================>                         ]     500B/1kB\r\x1b[2B"), "{out:?}");
        assert!(
            out.contains("\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer \r\x1b[1B"),
            "{out:?}"
        );
        assert!(
            out.ends_with("Status: Downloaded newer image for busybox:latest\n"),
            "{out:?}"
        );
    }

    #[test]
    fn error_ends_the_stream() {
        let (out, res) = run(
            false,
            "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"a\"}\n{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\n{\"status\":\"never\"}",
        );
        assert_eq!(res.unwrap_err().to_string(), "manifest unknown");
        assert_eq!(out, "a: Pulling fs layer\n");
    }

    #[test]
    fn aux_is_collected() {
        let mut d = Display::new(Vec::new(), false, 80);
        d.run(r#"{"status":"x"}{"aux":{"Tag":"latest","Digest":"sha256:1","Size":5}}"#.as_bytes())
            .unwrap();
        assert_eq!(d.aux.len(), 1);
    }

    #[test]
    fn bars() {
        let p = JsonProgress {
            current: 1_000_000,
            total: 2_000_000,
            ..Default::default()
        };
        assert_eq!(
            render_progress(&p, 120),
            format!("[{}>{}]      1MB/2MB", "=".repeat(25), " ".repeat(25))
        );
        assert_eq!(render_progress(&p, 80), "     1MB/2MB");
        assert_eq!(render_progress(&JsonProgress::default(), 80), "");
    }
}
