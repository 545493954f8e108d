//! The shim's command line (see the crate doc for the contract).

use crate::log::Driver;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Everything the shim was told on its command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--id`: the container id (the runtime's id).
    pub id: String,
    /// `--bundle`: the OCI bundle (absolute).
    pub bundle: PathBuf,
    /// `--state-dir`: the shim's state directory (absolute).
    pub state_dir: PathBuf,
    /// `--runtime`: the OCI runtime binary.
    pub runtime: PathBuf,
    /// `--runtime-root`: passed to the runtime as `--root`.
    pub runtime_root: Option<PathBuf>,
    /// `--runtime-arg`: extra global runtime arguments, before the verb.
    pub runtime_args: Vec<OsString>,
    /// `--log-path`: the container's log file.
    pub log_path: Option<PathBuf>,
    /// `--log-driver`.
    pub log_driver: Driver,
    /// `--log-max-size`: rotate at this many bytes; 0 = never.
    pub log_max_size: u64,
    /// `--log-max-files`: files kept, counting the current one (docker's max-file).
    pub log_max_files: u32,
    /// `--terminal`: the container has a pty.
    pub terminal: bool,
    /// `--stdin`: the container's stdin is kept open for attachers.
    pub stdin: bool,
    /// `--no-start`: run only `create`; the `start` request starts it.
    pub no_start: bool,
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Parsed {
    /// Run a shim.
    Run(Box<Config>),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
usage: berth-shim --id ID --bundle DIR --state-dir DIR --runtime PATH [options]

options:
  --runtime-root DIR     state root passed to the runtime as --root
  --runtime-arg ARG      extra global argument for the runtime (repeatable)
  --log-path FILE        the container's log file
  --log-driver DRIVER    json-file (default with --log-path), cri or none
  --log-max-size BYTES   rotate the log at this size (default: never)
  --log-max-files N      log files to keep, counting the current one (default 1)
  --terminal             the container has a terminal (process.terminal)
  --stdin                keep the container's stdin open for attachers
  --no-start             create only; the start request starts the container
";

/// A command line the shim cannot run with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// An option the shim does not know.
    #[error("unknown option {0}")]
    Unknown(String),
    /// An option without its value.
    #[error("option {0} needs a value")]
    MissingValue(&'static str),
    /// A required option is absent.
    #[error("missing required option {0}")]
    Missing(&'static str),
    /// A value that does not parse.
    #[error("invalid value {value:?} for {option}: {why}")]
    Invalid { option: &'static str, value: String, why: &'static str },
    /// The current directory is needed to make a path absolute and is gone.
    #[error("cannot resolve relative path {0}: no current directory")]
    NoCwd(String),
}

impl Config {
    /// Parses the arguments (without the program name).
    pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Parsed, ConfigError> {
        let mut id = None;
        let mut bundle = None;
        let mut state_dir = None;
        let mut runtime = None;
        let mut runtime_root = None;
        let mut runtime_args = Vec::new();
        let mut log_path = None;
        let mut log_driver = None;
        let mut log_max_size = 0u64;
        let mut log_max_files = 1u32;
        let (mut terminal, mut stdin, mut no_start) = (false, false, false);

        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let bytes = arg.as_bytes();
            let (name, inline): (&[u8], Option<OsString>) = match bytes.iter().position(|&b| b == b'=') {
                Some(i) if bytes.starts_with(b"--") => (&bytes[..i], Some(OsStr::from_bytes(&bytes[i + 1..]).to_owned())),
                _ => (bytes, None),
            };
            let name = String::from_utf8_lossy(name).into_owned();
            let mut value = |opt: &'static str| -> Result<OsString, ConfigError> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => it.next().ok_or(ConfigError::MissingValue(opt)),
                }
            };
            match name.as_str() {
                "--id" => id = Some(utf8("--id", value("--id")?)?),
                "--bundle" => bundle = Some(PathBuf::from(value("--bundle")?)),
                "--state-dir" => state_dir = Some(PathBuf::from(value("--state-dir")?)),
                "--runtime" => runtime = Some(PathBuf::from(value("--runtime")?)),
                "--runtime-root" => runtime_root = Some(PathBuf::from(value("--runtime-root")?)),
                "--runtime-arg" => runtime_args.push(value("--runtime-arg")?),
                "--log-path" => log_path = Some(PathBuf::from(value("--log-path")?)),
                "--log-driver" => {
                    let v = utf8("--log-driver", value("--log-driver")?)?;
                    log_driver = Some(Driver::from_name(&v).ok_or(ConfigError::Invalid {
                        option: "--log-driver",
                        value: v,
                        why: "expected json-file, cri or none",
                    })?);
                }
                "--log-max-size" => {
                    let v = utf8("--log-max-size", value("--log-max-size")?)?;
                    log_max_size = match v.parse::<u64>() {
                        Ok(n) if n > 0 => n,
                        _ => {
                            return Err(ConfigError::Invalid {
                                option: "--log-max-size",
                                value: v,
                                why: "expected a positive number of bytes",
                            });
                        }
                    };
                }
                "--log-max-files" => {
                    let v = utf8("--log-max-files", value("--log-max-files")?)?;
                    log_max_files = match v.parse::<u32>() {
                        Ok(n) if n >= 1 => n,
                        _ => {
                            return Err(ConfigError::Invalid {
                                option: "--log-max-files",
                                value: v,
                                why: "expected a number of files, at least 1",
                            });
                        }
                    };
                }
                "--terminal" | "--stdin" | "--no-start" | "--help" | "-h" | "--version" if inline.is_some() => {
                    return Err(ConfigError::Invalid { option: "flag", value: name, why: "takes no value" });
                }
                "--terminal" => terminal = true,
                "--stdin" => stdin = true,
                "--no-start" => no_start = true,
                "--help" | "-h" => return Ok(Parsed::Help),
                "--version" => return Ok(Parsed::Version),
                _ => return Err(ConfigError::Unknown(String::from_utf8_lossy(bytes).into_owned())),
            }
        }

        let id = id.ok_or(ConfigError::Missing("--id"))?;
        if id.is_empty() || id.contains('/') || id == "." || id == ".." || id.contains('\0') {
            return Err(ConfigError::Invalid { option: "--id", value: id, why: "not usable as a container id" });
        }
        let log_driver = match (log_driver, &log_path) {
            (Some(Driver::None), _) => Driver::None,
            (Some(d), Some(_)) => d,
            (Some(_), None) => return Err(ConfigError::Missing("--log-path")),
            (None, Some(_)) => Driver::JsonFile,
            (None, None) => Driver::None,
        };
        let runtime = runtime.ok_or(ConfigError::Missing("--runtime"))?;
        // A bare name is looked up in PATH by the shim; anything with a
        // slash must survive the shim's chdir to "/".
        let runtime = if runtime.as_os_str().as_bytes().contains(&b'/') { absolute(runtime)? } else { runtime };
        Ok(Parsed::Run(Box::new(Config {
            id,
            bundle: absolute(bundle.ok_or(ConfigError::Missing("--bundle"))?)?,
            state_dir: absolute(state_dir.ok_or(ConfigError::Missing("--state-dir"))?)?,
            runtime,
            runtime_root: runtime_root.map(absolute).transpose()?,
            runtime_args,
            log_path: if log_driver == Driver::None { None } else { log_path.map(absolute).transpose()? },
            log_driver,
            log_max_size,
            log_max_files,
            terminal,
            stdin,
            no_start,
        })))
    }
}

fn utf8(option: &'static str, v: OsString) -> Result<String, ConfigError> {
    v.into_string().map_err(|v| ConfigError::Invalid {
        option,
        value: v.to_string_lossy().into_owned(),
        why: "not UTF-8",
    })
}

fn absolute(p: PathBuf) -> Result<PathBuf, ConfigError> {
    if p.is_absolute() {
        return Ok(p);
    }
    let cwd = std::env::current_dir().map_err(|_| ConfigError::NoCwd(p.display().to_string()))?;
    Ok(cwd.join(p))
}

/// Whether `p` names the same location as `q` once both are absolute (for
/// tests and messages).
pub fn same_path(p: &Path, q: &Path) -> bool {
    p.components().eq(q.components())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, ConfigError> {
        Config::parse(args.iter().map(OsString::from))
    }

    fn cfg(args: &[&str]) -> Config {
        match parse(args).expect("parses") {
            Parsed::Run(c) => *c,
            other => panic!("expected a run config, got {other:?}"),
        }
    }

    const BASE: [&str; 8] = ["--id", "c1", "--bundle", "/b", "--state-dir", "/s", "--runtime", "runc"];

    #[test]
    fn minimal_command_line() {
        let c = cfg(&BASE);
        assert_eq!(c.id, "c1");
        assert_eq!(c.runtime, PathBuf::from("runc"));
        assert_eq!(c.log_driver, Driver::None);
        assert_eq!((c.log_max_size, c.log_max_files), (0, 1));
        assert!(!c.terminal && !c.stdin && !c.no_start);
    }

    #[test]
    fn all_options_and_equals_form() {
        let mut a = BASE.to_vec();
        a.extend([
            "--runtime-root=/r",
            "--runtime-arg",
            "--systemd-cgroup",
            "--runtime-arg=--debug",
            "--log-path",
            "/l/c-json.log",
            "--log-max-size=1000",
            "--log-max-files",
            "3",
            "--terminal",
            "--stdin",
            "--no-start",
        ]);
        let c = cfg(&a);
        assert_eq!(c.runtime_root, Some(PathBuf::from("/r")));
        assert_eq!(c.runtime_args, vec![OsString::from("--systemd-cgroup"), OsString::from("--debug")]);
        assert_eq!(c.log_driver, Driver::JsonFile, "json-file is the default driver with a log path");
        assert_eq!((c.log_max_size, c.log_max_files), (1000, 3));
        assert!(c.terminal && c.stdin && c.no_start);
    }

    #[test]
    fn errors_name_the_option() {
        assert_eq!(parse(&["--id"]).unwrap_err(), ConfigError::MissingValue("--id"));
        assert_eq!(parse(&["--bogus"]).unwrap_err(), ConfigError::Unknown("--bogus".into()));
        assert_eq!(parse(&BASE[2..]).unwrap_err(), ConfigError::Missing("--id"));
        let mut a = BASE.to_vec();
        a.extend(["--log-driver", "cri"]);
        assert_eq!(parse(&a).unwrap_err(), ConfigError::Missing("--log-path"));
        let mut a = BASE.to_vec();
        a.extend(["--log-max-size", "10m"]);
        assert!(parse(&a).unwrap_err().to_string().contains("--log-max-size"));
        let mut a = BASE.to_vec();
        a.extend(["--log-max-files", "0"]);
        assert!(parse(&a).is_err());
        let mut a = BASE.to_vec();
        a.extend(["--log-driver", "syslog", "--log-path", "/x"]);
        assert!(parse(&a).unwrap_err().to_string().contains("syslog"));
        let mut a = BASE.to_vec();
        a[1] = "..";
        assert!(parse(&a).is_err());
        assert!(parse(&["--terminal=yes"]).is_err());
    }

    #[test]
    fn relative_paths_become_absolute() {
        let c = cfg(&["--id", "x", "--bundle", "b", "--state-dir", "s", "--runtime", "./rt"]);
        let cwd = std::env::current_dir().expect("cwd");
        assert!(same_path(&c.bundle, &cwd.join("b")));
        assert!(same_path(&c.runtime, &cwd.join("./rt")));
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help)));
    }
}
