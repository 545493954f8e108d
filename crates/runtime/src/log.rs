//! `--log` / `--log-format`: runc's log lines (logrus text or JSON objects
//! with `level`, `msg`, `time`), which containerd and podman read back to
//! report runtime errors. Errors also go to stderr.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Logger {
    file: Option<PathBuf>,
    json: bool,
    debug: bool,
}

impl Logger {
    pub fn new(file: Option<&Path>, format: &str, debug: bool) -> Logger {
        Logger { file: file.map(Path::to_path_buf), json: format == "json", debug }
    }

    fn write(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let time = String::from(berth_time::Timestamp::now().rfc3339_nano_fixed());
        let line = if self.json {
            serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
        } else {
            format!("time={time:?} level={level} msg={msg:?}")
        };
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }

    pub fn error(&self, msg: &str) {
        self.write("error", msg);
        eprintln!("berth-runtime: {msg}");
    }

    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
        eprintln!("berth-runtime: warning: {msg}");
    }

    #[allow(dead_code)]
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}
