//! The container's log: what the shim reads from the container's stdout and
//! stderr, cut into messages ([`split`]), encoded ([`format`]) and appended
//! to a rotating file ([`file`]).

pub mod file;
pub mod format;
pub mod split;

use crate::Stream;
use berth_time::Timestamp;
use file::LogFile;
use format::LogFormat;
use split::{SplitMode, Splitter};
use std::path::Path;

/// `--log-driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// docker's json-file.
    JsonFile,
    /// The CRI format.
    Cri,
    /// No log file.
    None,
}

impl Driver {
    /// Parses a `--log-driver` value.
    pub fn from_name(s: &str) -> Option<Driver> {
        match s {
            "json-file" => Some(Driver::JsonFile),
            "cri" => Some(Driver::Cri),
            "none" => Some(Driver::None),
            _ => None,
        }
    }
}

/// The container's log writer.
#[derive(Debug)]
pub struct Logger {
    format: Box<dyn LogFormat>,
    file: LogFile,
    split: [Splitter; 2],
}

impl Logger {
    /// Opens the log file for `driver` (not [`Driver::None`]).
    pub fn open(driver: Driver, path: &Path, max_size: u64, max_files: u32) -> Result<Logger, file::OpenError> {
        let (format, mode): (Box<dyn LogFormat>, SplitMode) = match driver {
            Driver::Cri => (Box::new(format::Cri), SplitMode::Cri),
            Driver::JsonFile | Driver::None => (Box::new(format::JsonFile), SplitMode::Docker),
        };
        Ok(Logger {
            format,
            file: LogFile::open(path, max_size, max_files)?,
            split: [Splitter::new(mode), Splitter::new(mode)],
        })
    }

    /// Logs what was read from `stream`.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let Logger { format, file, split } = self;
        split[stream.index()].feed(data, &mut Timestamp::now, &mut |msg| {
            file.append_with(|out| format.encode(stream, &msg, out));
        });
        file.flush();
    }

    /// `stream` reached its end: its unfinished line is logged as partial.
    pub fn finish(&mut self, stream: Stream) {
        let Logger { format, file, split } = self;
        split[stream.index()].finish(&mut Timestamp::now, &mut |msg| {
            file.append_with(|out| format.encode(stream, &msg, out));
        });
        file.flush();
    }

    /// Reopens the file at its path (CRI `ReopenContainerLog`).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        self.file.reopen()
    }

    /// Entries dropped because the disk refused them.
    pub fn dropped(&self) -> u64 {
        self.file.dropped()
    }

    /// The last write error, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.file.last_error()
    }
}
