//! The command-line parser, with the rules of pflag (which docker's cobra
//! commands use) so that every way of writing docker's flags works the same:
//! `--name=x`, `--name x`, `-dit`, `-eA=1`, `-e=A=1`, `--rm=false`, `--`,
//! flags after arguments (unless the command stops at its first argument,
//! like `run IMAGE CMD -x`), and docker's error texts and exit codes.
//!
//! Each command is described by a static [`Spec`]; parsing gives
//! [`Matches`]. Values are checked where docker checks them (at parse time)
//! through [`Matches::parse`], whose errors read
//! `invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'`.

use std::fmt::Write as _;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--rm`, `--rm=false`.
    Bool,
    /// One value; the last one given wins.
    Value,
    /// A value that may be given many times (`-e A -e B`).
    List,
}

/// One flag of a command.
#[derive(Debug)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    /// What the help shows after the name (`string`, `list`, `int`, `bytes`).
    pub value_name: &'static str,
    /// Shown as `(default ...)` in the help.
    pub default: &'static str,
    pub help: &'static str,
    pub hidden: bool,
    /// Known to docker, not done by berth yet: refused with `not supported yet`.
    pub unsupported: bool,
}

impl Flag {
    pub const fn new(
        long: &'static str,
        short: Option<char>,
        kind: Kind,
        value_name: &'static str,
        help: &'static str,
    ) -> Self {
        Self {
            long,
            short,
            kind,
            value_name,
            default: "",
            help,
            hidden: false,
            unsupported: false,
        }
    }
    pub const fn default_value(mut self, d: &'static str) -> Self {
        self.default = d;
        self
    }
    pub const fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }
    pub const fn unsupported(mut self) -> Self {
        self.unsupported = true;
        self
    }
}

/// `--long` boolean.
pub const fn b(long: &'static str, help: &'static str) -> Flag {
    Flag::new(long, None, Kind::Bool, "", help)
}
/// `-s, --long` boolean.
pub const fn bs(short: char, long: &'static str, help: &'static str) -> Flag {
    Flag::new(long, Some(short), Kind::Bool, "", help)
}
/// `--long value`.
pub const fn v(long: &'static str, value_name: &'static str, help: &'static str) -> Flag {
    Flag::new(long, None, Kind::Value, value_name, help)
}
/// `-s, --long value`.
pub const fn vs(
    short: char,
    long: &'static str,
    value_name: &'static str,
    help: &'static str,
) -> Flag {
    Flag::new(long, Some(short), Kind::Value, value_name, help)
}
/// `--long value`, repeatable.
pub const fn l(long: &'static str, help: &'static str) -> Flag {
    Flag::new(long, None, Kind::List, "list", help)
}
/// `-s, --long value`, repeatable.
pub const fn ls(short: char, long: &'static str, help: &'static str) -> Flag {
    Flag::new(long, Some(short), Kind::List, "list", help)
}

/// How many positional arguments a command takes (cobra's validators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    Any,
    None,
    Exact(usize),
    Min(usize),
    Max(usize),
    Range(usize, usize),
}

/// A command: its path after `berth` (`container ls`), usage and flags.
#[derive(Debug)]
pub struct Spec {
    pub path: &'static str,
    /// The usage after the command path: `[OPTIONS] IMAGE [COMMAND] [ARG...]`.
    pub usage: &'static str,
    pub about: &'static str,
    /// Other spellings shown in the help (`berth container ls, berth ps`).
    pub aliases: &'static str,
    pub flags: &'static [Flag],
    /// False: flags end at the first argument (`run IMAGE CMD --flag-of-cmd`).
    pub interspersed: bool,
    pub args: Args,
    /// `-h` is help (false where `-h` is `--hostname`).
    pub short_help: bool,
}

impl Spec {
    pub const fn new(
        path: &'static str,
        usage: &'static str,
        about: &'static str,
        flags: &'static [Flag],
        args: Args,
    ) -> Self {
        Self {
            path,
            usage,
            about,
            aliases: "",
            flags,
            interspersed: true,
            args,
            short_help: true,
        }
    }
    pub const fn aliases(mut self, a: &'static str) -> Self {
        self.aliases = a;
        self
    }
    pub const fn stop_at_first_arg(mut self) -> Self {
        self.interspersed = false;
        self
    }
    pub const fn no_short_help(mut self) -> Self {
        self.short_help = false;
        self
    }

    fn find_long(&self, name: &str) -> Option<usize> {
        self.flags.iter().position(|f| f.long == name)
    }

    fn find_short(&self, c: char) -> Option<usize> {
        self.flags.iter().position(|f| f.short == Some(c))
    }

    /// `berth ps [OPTIONS]` (for the path the command was invoked by).
    pub fn use_line(&self, path: &str) -> String {
        let cmd = command_name(path);
        if self.usage.is_empty() {
            cmd
        } else {
            format!("{cmd} {}", self.usage)
        }
    }

    /// The help text, shaped like cobra's.
    pub fn help(&self, path: &str) -> String {
        let mut out = String::new();
        let _ = write!(out, "\nUsage:  {}\n\n{}\n", self.use_line(path), self.about);
        if !self.aliases.is_empty() {
            let _ = write!(out, "\nAliases:\n  {}\n", self.aliases);
        }
        let shown: Vec<&Flag> = self.flags.iter().filter(|f| !f.hidden).collect();
        let mut lines: Vec<(String, String)> = shown
            .iter()
            .map(|f| {
                let mut left = match f.short {
                    Some(c) => format!("  -{c}, --{}", f.long),
                    None => format!("      --{}", f.long),
                };
                if f.kind != Kind::Bool && !f.value_name.is_empty() {
                    left.push(' ');
                    left.push_str(f.value_name);
                }
                let mut right = f.help.to_owned();
                if !f.default.is_empty() {
                    let _ = write!(right, " (default {})", f.default);
                }
                if f.unsupported {
                    right.push_str(" (not supported yet)");
                }
                (left, right)
            })
            .collect();
        if self.short_help {
            lines.push(("  -h, --help".into(), "Print usage".into()));
        } else {
            lines.push(("      --help".into(), "Print usage".into()));
        }
        let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        out.push_str("\nOptions:\n");
        for (l, r) in lines {
            let _ = writeln!(out, "{l:width$}   {r}");
        }
        out
    }
}

/// `berth ps`, or `berth` for the root.
pub fn command_name(path: &str) -> String {
    if path.is_empty() {
        "berth".to_owned()
    } else {
        format!("berth {path}")
    }
}

/// A command line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// A bad flag or flag value: docker answers with the usage and exit 125.
    #[error("{message}\n\nUsage:  {use_line}\n\nRun '{command} --help' for more information")]
    Flag {
        message: String,
        use_line: String,
        command: String,
    },
    /// The wrong number of arguments: docker answers with exit 1 (and says
    /// "See" for too few, "Run" otherwise; its "SRun" typo for too many is
    /// not copied).
    #[error(
        "berth: '{command}' {message}\n\nUsage:  {use_line}\n\n{verb} '{command} --help' for more information"
    )]
    Args {
        message: String,
        use_line: String,
        command: String,
        verb: &'static str,
    },
    /// A docker flag that berth does not do yet.
    #[error("berth: not supported yet: {0}")]
    Unsupported(String),
}

impl UsageError {
    pub fn status(&self) -> i32 {
        match self {
            Self::Flag { .. } | Self::Unsupported(_) => 125,
            Self::Args { .. } => 1,
        }
    }
}

/// The result of parsing: flag values in command-line order and the
/// positional arguments.
#[derive(Debug)]
pub struct Matches {
    pub spec: &'static Spec,
    /// The command words as typed (`container ls` or `ps`).
    pub path: String,
    values: Vec<(usize, String)>,
    pub args: Vec<String>,
    /// `--help` was given.
    pub help: bool,
}

/// pflag's (Go's strconv.ParseBool) accepted spellings.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn flag_name(f: &Flag) -> String {
    match f.short {
        Some(c) => format!("-{c}, --{}", f.long),
        None => format!("--{}", f.long),
    }
}

impl Matches {
    fn flag_error(spec: &Spec, path: &str, message: String) -> UsageError {
        UsageError::Flag {
            message,
            use_line: spec.use_line(path),
            command: command_name(path),
        }
    }

    /// Parses `argv` (without the command words) against `spec`, for the
    /// command invoked as `path` (`container ls`).
    pub fn new(spec: &'static Spec, path: &str, argv: &[String]) -> Result<Self, UsageError> {
        let mut m = Matches {
            spec,
            path: path.to_owned(),
            values: Vec::new(),
            args: Vec::new(),
            help: false,
        };
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            i += 1;
            if a == "--" {
                m.args.extend(argv[i..].iter().cloned());
                break;
            }
            if let Some(body) = a.strip_prefix("--").filter(|b| !b.is_empty()) {
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (body, None),
                };
                if name == "help" {
                    m.help = true;
                    continue;
                }
                let Some(idx) = spec.find_long(name) else {
                    return Err(Self::flag_error(
                        spec,
                        path,
                        format!("unknown flag: --{name}"),
                    ));
                };
                let f = &spec.flags[idx];
                let value = match (f.kind, inline) {
                    (Kind::Bool, Some(v)) => v.to_owned(),
                    (Kind::Bool, None) => "true".to_owned(),
                    (_, Some(v)) => v.to_owned(),
                    (_, None) => {
                        let Some(next) = argv.get(i) else {
                            return Err(Self::flag_error(
                                spec,
                                path,
                                format!("flag needs an argument: --{name}"),
                            ));
                        };
                        i += 1;
                        next.clone()
                    }
                };
                m.push(idx, value)?;
                continue;
            }
            if let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
                let chars: Vec<(usize, char)> = shorts.char_indices().collect();
                let mut k = 0;
                while k < chars.len() {
                    let (pos, c) = chars[k];
                    let rest = &shorts[pos + c.len_utf8()..];
                    let idx = match spec.find_short(c) {
                        Some(idx) => idx,
                        None if c == 'h' && spec.short_help => {
                            m.help = true;
                            k += 1;
                            continue;
                        }
                        None => {
                            return Err(Self::flag_error(
                                spec,
                                path,
                                format!("unknown shorthand flag: '{c}' in -{shorts}"),
                            ));
                        }
                    };
                    let f = &spec.flags[idx];
                    if let Some(v) = rest.strip_prefix('=') {
                        m.push(idx, v.to_owned())?;
                        break;
                    }
                    if f.kind == Kind::Bool {
                        m.push(idx, "true".to_owned())?;
                        k += 1;
                        continue;
                    }
                    if !rest.is_empty() {
                        m.push(idx, rest.to_owned())?;
                        break;
                    }
                    let Some(next) = argv.get(i) else {
                        return Err(Self::flag_error(
                            spec,
                            path,
                            format!("flag needs an argument: '{c}' in -{shorts}"),
                        ));
                    };
                    i += 1;
                    m.push(idx, next.clone())?;
                    break;
                }
                continue;
            }
            // a positional argument ("-" alone is one)
            m.args.push(a.clone());
            if !spec.interspersed {
                m.args.extend(argv[i..].iter().cloned());
                break;
            }
        }
        if m.help {
            return Ok(m);
        }
        if let Some(&(idx, _)) = m
            .values
            .iter()
            .find(|(idx, _)| spec.flags[*idx].unsupported)
        {
            return Err(UsageError::Unsupported(format!(
                "--{}",
                spec.flags[idx].long
            )));
        }
        m.check_args()?;
        Ok(m)
    }

    fn push(&mut self, idx: usize, value: String) -> Result<(), UsageError> {
        let f = &self.spec.flags[idx];
        if f.kind == Kind::Bool && parse_bool(&value).is_none() {
            return Err(Self::flag_error(
                self.spec,
                &self.path,
                format!(
                    "invalid argument \"{value}\" for \"{}\" flag: strconv.ParseBool: parsing \"{value}\": invalid syntax",
                    flag_name(f)
                ),
            ));
        }
        if f.value_name == "int" && value.parse::<i64>().is_err() {
            let why = if value.is_empty()
                || value
                    .trim_start_matches(['-', '+'])
                    .bytes()
                    .any(|b| !b.is_ascii_digit())
            {
                "invalid syntax"
            } else {
                "value out of range"
            };
            return Err(Self::flag_error(
                self.spec,
                &self.path,
                format!(
                    "invalid argument \"{value}\" for \"{}\" flag: strconv.ParseInt: parsing \"{value}\": {why}",
                    flag_name(f)
                ),
            ));
        }
        self.values.push((idx, value));
        Ok(())
    }

    fn check_args(&self) -> Result<(), UsageError> {
        let n = self.args.len();
        let plural = |k: usize| if k == 1 { "argument" } else { "arguments" };
        let msg = match self.spec.args {
            Args::Any => None,
            Args::None if n > 0 => Some("accepts no arguments".to_owned()),
            Args::None => None,
            Args::Exact(k) if n != k => Some(format!("requires {k} {}", plural(k))),
            Args::Min(k) if n < k => Some(format!("requires at least {k} {}", plural(k))),
            Args::Max(k) if n > k => Some(format!("requires at most {k} {}", plural(k))),
            Args::Range(a, b) if n < a || n > b => Some(format!(
                "requires at least {a} and at most {b} {}",
                plural(b)
            )),
            _ => None,
        };
        match msg {
            Some(message) => {
                let verb = if matches!(self.spec.args, Args::Min(_)) {
                    "See"
                } else {
                    "Run"
                };
                Err(UsageError::Args {
                    message,
                    use_line: self.spec.use_line(&self.path),
                    command: command_name(&self.path),
                    verb,
                })
            }
            None => Ok(()),
        }
    }

    fn index(&self, long: &str) -> usize {
        // a programming error (a flag name not in the spec) shows up in every test of the command
        self.spec
            .find_long(long)
            .unwrap_or_else(|| panic!("flag --{long} is not declared for '{}'", self.path))
    }

    /// True when the flag was given at all.
    pub fn changed(&self, long: &str) -> bool {
        let idx = self.index(long);
        self.values.iter().any(|(i, _)| *i == idx)
    }

    /// The last value of a flag.
    pub fn value(&self, long: &str) -> Option<&str> {
        let idx = self.index(long);
        self.values
            .iter()
            .rev()
            .find(|(i, _)| *i == idx)
            .map(|(_, v)| v.as_str())
    }

    /// The last value, or `""`.
    pub fn str(&self, long: &str) -> &str {
        self.value(long).unwrap_or("")
    }

    /// Every value of a repeatable flag, in order.
    pub fn list(&self, long: &str) -> Vec<&str> {
        let idx = self.index(long);
        self.values
            .iter()
            .filter(|(i, _)| *i == idx)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean flag (values were checked while parsing).
    pub fn bool(&self, long: &str) -> bool {
        self.value(long).and_then(parse_bool).unwrap_or(false)
    }

    /// An `int` flag (checked while parsing), or `default`.
    pub fn int(&self, long: &str, default: i64) -> i64 {
        self.value(long)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Converts the last value with `f`, reporting a failure as docker does:
    /// `invalid argument "x" for "-m, --memory" flag: <error>`.
    pub fn parse<T>(
        &self,
        long: &str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, UsageError> {
        match self.value(long) {
            None => Ok(None),
            Some(v) => f(v).map(Some).map_err(|e| self.invalid(long, v, &e)),
        }
    }

    /// Converts every value of a repeatable flag with `f`.
    pub fn parse_list<T>(
        &self,
        long: &str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, UsageError> {
        self.list(long)
            .into_iter()
            .map(|v| f(v).map_err(|e| self.invalid(long, v, &e)))
            .collect()
    }

    /// `invalid argument "v" for "-x, --long" flag: why`.
    pub fn invalid(&self, long: &str, value: &str, why: &str) -> UsageError {
        let f = &self.spec.flags[self.index(long)];
        Self::flag_error(
            self.spec,
            &self.path,
            format!(
                "invalid argument \"{value}\" for \"{}\" flag: {why}",
                flag_name(f)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static FLAGS: &[Flag] = &[
        bs('d', "detach", "Run in background"),
        bs('i', "interactive", "Keep STDIN open"),
        bs('t', "tty", "Allocate a pseudo-TTY"),
        ls('e', "env", "Set environment variables"),
        v("name", "string", "Assign a name"),
        vs('h', "hostname", "string", "Container host name"),
        b("rm", "Remove on exit"),
        vs('m', "memory", "bytes", "Memory limit"),
        Flag::new("stop-timeout", None, Kind::Value, "int", "Timeout"),
        l("gpus", "GPU devices").unsupported(),
    ];
    static RUN: Spec = Spec::new(
        "run",
        "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "Create and run",
        FLAGS,
        Args::Min(1),
    )
    .stop_at_first_arg()
    .no_short_help();
    static RM: Spec = Spec::new(
        "rm",
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Remove",
        FLAGS,
        Args::Min(1),
    );
    static PS_FLAGS: &[Flag] = &[bs('a', "all", "Show all")];
    static PS: Spec = Spec::new("ps", "[OPTIONS]", "List", PS_FLAGS, Args::None);

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn combined_shorts_and_values() {
        let m = Matches::new(
            &RUN,
            "run",
            &argv("-dit -eA=1 -e=B=2 -e C --name=web -h box busybox sh -c x"),
        )
        .unwrap();
        assert!(m.bool("detach") && m.bool("interactive") && m.bool("tty"));
        assert_eq!(m.list("env"), vec!["A=1", "B=2", "C"]);
        assert_eq!(m.value("name"), Some("web"));
        assert_eq!(m.str("hostname"), "box");
        assert_eq!(m.args, argv("busybox sh -c x"));
    }

    #[test]
    fn stops_at_first_argument_for_run() {
        let m = Matches::new(&RUN, "run", &argv("busybox ls --rm -d")).unwrap();
        assert!(!m.bool("rm"));
        assert_eq!(m.args, argv("busybox ls --rm -d"));
    }

    #[test]
    fn interspersed_flags_after_args() {
        let m = Matches::new(&RM, "rm", &argv("a -d b")).unwrap();
        assert!(m.bool("detach"));
        assert_eq!(m.args, argv("a b"));
        let m = Matches::new(&RM, "rm", &argv("a -- -d")).unwrap();
        assert_eq!(m.args, argv("a -d"));
    }

    #[test]
    fn bool_with_value() {
        let m = Matches::new(&RM, "rm", &argv("--rm=false -d=true x")).unwrap();
        assert!(!m.bool("rm"));
        assert!(m.bool("detach"));
        assert!(m.changed("rm"));
        let e = Matches::new(&RM, "rm", &argv("--rm=maybe x")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid argument \"maybe\" for \"--rm\" flag: strconv.ParseBool"),
            "{e}"
        );
        assert_eq!(e.status(), 125);
    }

    #[test]
    fn errors_read_like_docker() {
        let e = Matches::new(&PS, "ps", &argv("--foo")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown flag: --foo\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information"
        );
        assert_eq!(e.status(), 125);
        let e = Matches::new(&PS, "ps", &argv("-x")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unknown shorthand flag: 'x' in -x\n"),
            "{e}"
        );
        let e = Matches::new(&RM, "rm", &argv("x --name")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("flag needs an argument: --name\n"),
            "{e}"
        );
        let e = Matches::new(&RM, "rm", &argv("x -e")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("flag needs an argument: 'e' in -e\n"),
            "{e}"
        );
        let e = Matches::new(&RUN, "run", &argv("")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "berth: 'berth run' requires at least 1 argument\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'berth run --help' for more information"
        );
        assert_eq!(e.status(), 1);
        let e = Matches::new(&PS, "ps", &argv("extra")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "berth: 'berth ps' accepts no arguments\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information"
        );
    }

    #[test]
    fn int_flags_checked_while_parsing() {
        let e = Matches::new(&RM, "rm", &argv("--stop-timeout x c")).unwrap_err();
        assert!(e.to_string().starts_with("invalid argument \"x\" for \"--stop-timeout\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"), "{e}");
        let m = Matches::new(&RM, "rm", &argv("--stop-timeout -5 c")).unwrap();
        assert_eq!(m.int("stop-timeout", 0), -5);
    }

    #[test]
    fn parse_reports_flag_names() {
        let m = Matches::new(&RM, "rm", &argv("-m abc c")).unwrap();
        let e = m
            .parse("memory", |v| Err::<i64, _>(format!("invalid size: '{v}'")))
            .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'\n"
            ),
            "{e}"
        );
    }

    #[test]
    fn unsupported_flags_are_refused() {
        let e = Matches::new(&RM, "rm", &argv("--gpus all c")).unwrap_err();
        assert_eq!(e.to_string(), "berth: not supported yet: --gpus");
        assert_eq!(e.status(), 125);
    }

    #[test]
    fn help_flags() {
        assert!(Matches::new(&PS, "ps", &argv("-h")).unwrap().help);
        assert!(Matches::new(&RUN, "run", &argv("--help")).unwrap().help);
        // -h is --hostname for run
        let m = Matches::new(&RUN, "run", &argv("-h x img")).unwrap();
        assert!(!m.help);
        assert!(RUN.help("run").contains("--hostname string"));
    }

    #[test]
    fn dash_alone_is_an_argument() {
        let m = Matches::new(&RM, "rm", &argv("- -d")).unwrap();
        assert_eq!(m.args, argv("-"));
    }
}
