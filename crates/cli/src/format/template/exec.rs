//! Executing a parsed template against a [`Json`] value, with Go's
//! semantics for the subset berth supports, and docker's template functions.

use std::fmt::Write as _;

use super::parse::{Arg, Cmd, Node, Number, Pipe, Term};
use super::{ExecOptions, Missing, TemplateError};
use crate::format::json::{Json, is_hidden};

/// Fields that Go's typed structs hold as slices: `null` prints as `[]`.
const LIST_FIELDS: &[&str] = &[
    "Args",
    "Binds",
    "BlkioDeviceReadBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceWriteIOps",
    "BlkioWeightDevice",
    "CapAdd",
    "CapDrop",
    "Cmd",
    "DeviceCgroupRules",
    "DeviceRequests",
    "Devices",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "Entrypoint",
    "Env",
    "ExecIDs",
    "ExtraHosts",
    "GroupAdd",
    "Layers",
    "Links",
    "MaskedPaths",
    "Mounts",
    "OnBuild",
    "ReadonlyPaths",
    "RepoDigests",
    "RepoTags",
    "SecurityOpt",
    "Shell",
    "Ulimits",
    "VolumesFrom",
    "Aliases",
    "DNSNames",
    "Warnings",
];

/// Fields that Go's typed structs hold as maps: `null` prints as `map[]`.
const MAP_FIELDS: &[&str] = &[
    "Labels",
    "Volumes",
    "ExposedPorts",
    "Ports",
    "PortBindings",
    "Networks",
    "Options",
    "Tmpfs",
    "Sysctls",
    "StorageOpt",
    "Annotations",
    "DriverOpts",
    "Config",
    "Data",
];

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(super) struct Exec<'a> {
    src: &'a str,
    opts: &'a ExecOptions<'a>,
    vars: Vec<(String, Json)>,
    out: String,
}

fn err_at(src: &str, arg: &Arg, msg: impl std::fmt::Display) -> TemplateError {
    let before = &src[..arg.pos.min(src.len())];
    let line = 1 + before.bytes().filter(|b| *b == b'\n').count();
    let col = arg.pos - before.rfind('\n').map_or(0, |i| i + 1);
    TemplateError(format!(
        "template: :{line}:{col}: executing \"\" at <{}>: {msg}",
        arg.text
    ))
}

/// Go's notion of truth for `if`, `with`, `and`, `or`, `not`.
pub fn truth(v: &Json) -> bool {
    match v {
        Json::Null | Json::NilList | Json::NilMap => false,
        Json::Bool(b) => *b,
        Json::Num(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Json::Str(s) => !s.is_empty(),
        Json::Arr(a) => !a.is_empty(),
        Json::Obj(m) => m.iter().any(|(k, _)| !is_hidden(k)),
    }
}

/// `fmt.Sprint` of one value.
pub fn print(v: &Json) -> String {
    let mut s = String::new();
    print_into(&mut s, v);
    s
}

fn print_into(out: &mut String, v: &Json) {
    match v {
        Json::Null => out.push_str("<no value>"),
        Json::NilList => out.push_str("[]"),
        Json::NilMap => out.push_str("map[]"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Num(n) => {
            let _ = write!(out, "{}", number_text(n));
        }
        Json::Str(s) => out.push_str(s),
        Json::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_nested(out, x);
            }
            out.push(']');
        }
        Json::Obj(m) => {
            let mut pairs: Vec<&(String, Json)> = m.iter().filter(|(k, _)| !is_hidden(k)).collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            out.push_str("map[");
            for (i, (k, x)) in pairs.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                print_nested(out, x);
            }
            out.push(']');
        }
    }
}

fn print_nested(out: &mut String, v: &Json) {
    // inside a composite Go prints a nil interface as <nil>
    if matches!(v, Json::Null) {
        out.push_str("<nil>")
    } else {
        print_into(out, v)
    }
}

/// Go prints float64 values with %v (shortest form, exponent for large).
fn number_text(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    format_float_g(f)
}

/// Go's `%v` for float64: `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn format_float_g(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let exp = f.abs().log10().floor() as i32;
    if !(-4..21).contains(&exp) {
        // shortest mantissa digits with Go's exponent form (e+06)
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let s = format!("{f}");
    s
}

fn int_of(v: &Json) -> Option<i64> {
    match v {
        Json::Num(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        _ => None,
    }
}

fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "<nil>",
        Json::Bool(_) => "bool",
        Json::Num(n) if n.is_f64() => "float64",
        Json::Num(_) => "int",
        Json::Str(_) => "string",
        Json::Arr(_) | Json::NilList => "[]interface {}",
        Json::Obj(_) | Json::NilMap => "map[string]interface {}",
    }
}

fn want_str<'v>(name: &str, v: &'v Json) -> Result<&'v str, String> {
    match v {
        Json::Str(s) => Ok(s),
        other => Err(format!(
            "error calling {name}: wrong type for value; expected string; got {}",
            type_name(other)
        )),
    }
}

/// Compares two basic values as Go's `eq`/`lt` do.
fn compare(a: &Json, b: &Json) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    match (a, b) {
        (Json::Num(x), Json::Num(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return Ok(x.cmp(&y));
            }
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            Ok(x.partial_cmp(&y).unwrap_or(Ordering::Equal))
        }
        (Json::Str(x), Json::Str(y)) => Ok(x.cmp(y)),
        (Json::Bool(x), Json::Bool(y)) => Ok(x.cmp(y)),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn equal(a: &Json, b: &Json) -> Result<bool, String> {
    if a.is_null() || b.is_null() {
        return Ok(a.is_null() && b.is_null());
    }
    match (a, b) {
        (Json::Arr(_) | Json::Obj(_), _) | (_, Json::Arr(_) | Json::Obj(_)) => {
            Err("non-comparable types".into())
        }
        _ => compare(a, b).map(|o| o == std::cmp::Ordering::Equal),
    }
}

impl<'a> Exec<'a> {
    pub(super) fn new(src: &'a str, opts: &'a ExecOptions<'a>, root: &Json) -> Self {
        Exec {
            src,
            opts,
            vars: vec![("$".to_owned(), root.clone())],
            out: String::new(),
        }
    }

    pub(super) fn finish(self) -> String {
        self.out
    }

    pub(super) fn run(&mut self, nodes: &[Node], dot: &Json) -> Result<(), TemplateError> {
        self.walk(nodes, dot).map(|_| ())
    }

    fn walk(&mut self, nodes: &[Node], dot: &Json) -> Result<Flow, TemplateError> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decls.is_empty() {
                        print_into(&mut self.out, &v);
                    }
                }
                Node::If(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipe(p, dot)?;
                    let flow = if truth(&v) {
                        self.walk(body, dot)?
                    } else {
                        self.walk(els, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::With(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipe(p, dot)?;
                    let flow = if truth(&v) {
                        self.walk(body, &v)?
                    } else {
                        self.walk(els, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(p, body, els) => {
                    let mark = self.vars.len();
                    let decls = p.decls.clone();
                    let bare = Pipe {
                        decls: Vec::new(),
                        assign: false,
                        cmds: p.cmds.clone(),
                    };
                    let v = self.pipe(&bare, dot)?;
                    let items: Vec<(Json, Json)> = match &v {
                        Json::Arr(a) => a
                            .iter()
                            .enumerate()
                            .map(|(i, x)| (Json::int(i as i64), x.clone()))
                            .collect(),
                        Json::Obj(m) => {
                            let mut pairs: Vec<(Json, Json)> = m
                                .iter()
                                .filter(|(k, _)| !is_hidden(k))
                                .map(|(k, x)| (Json::str(k.clone()), x.clone()))
                                .collect();
                            pairs.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
                            pairs
                        }
                        Json::Null | Json::NilList | Json::NilMap => Vec::new(),
                        Json::Num(_) => match int_of(&v) {
                            Some(n) => (0..n.max(0))
                                .map(|i| (Json::int(i), Json::int(i)))
                                .collect(),
                            None => {
                                return Err(self.err_pipe(p, "range can't iterate over a float"));
                            }
                        },
                        other => {
                            return Err(self.err_pipe(
                                p,
                                format!("range can't iterate over {}", print(other)),
                            ));
                        }
                    };
                    if items.is_empty() {
                        let flow = self.walk(els, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(flow, Flow::Normal) {
                            return Ok(flow);
                        }
                        continue;
                    }
                    for (k, x) in items {
                        let inner = self.vars.len();
                        match decls.as_slice() {
                            [] => {}
                            [one] => self.vars.push((one.clone(), x.clone())),
                            [a, b, ..] => {
                                self.vars.push((a.clone(), k));
                                self.vars.push((b.clone(), x.clone()));
                            }
                        }
                        let flow = self.walk(body, &x)?;
                        self.vars.truncate(inner);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn err_pipe(&self, p: &Pipe, msg: impl std::fmt::Display) -> TemplateError {
        match p.cmds.first().and_then(|c| c.args.first()) {
            Some(a) => err_at(self.src, a, msg),
            None => TemplateError(format!("template: {msg}")),
        }
    }

    fn pipe(&mut self, p: &Pipe, dot: &Json) -> Result<Json, TemplateError> {
        let mut val: Option<Json> = None;
        for c in &p.cmds {
            val = Some(self.command(c, dot, val)?);
        }
        let v = val.unwrap_or(Json::Null);
        if p.assign {
            for d in &p.decls {
                match self.vars.iter_mut().rev().find(|(n, _)| n == d) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(self.err_pipe(p, format!("undefined variable: {d}"))),
                }
            }
        } else if let Some(d) = p.decls.first() {
            self.vars.push((d.clone(), v.clone()));
        }
        Ok(v)
    }

    fn command(&mut self, c: &Cmd, dot: &Json, piped: Option<Json>) -> Result<Json, TemplateError> {
        let first = &c.args[0];
        let rest = &c.args[1..];
        match &first.term {
            Term::Ident(name) => {
                let mut args = Vec::with_capacity(rest.len() + 1);
                // `and`/`or` short-circuit
                if name == "and" || name == "or" {
                    let mut last = Json::Null;
                    let total = rest.len() + usize::from(piped.is_some());
                    if total == 0 {
                        return Err(err_at(
                            self.src,
                            first,
                            format!("wrong number of args for {name}: want at least 1 got 0"),
                        ));
                    }
                    for a in rest {
                        last = self.arg(a, dot)?;
                        if truth(&last) == (name == "or") {
                            return Ok(last);
                        }
                    }
                    if let Some(p) = piped {
                        last = p;
                    }
                    return Ok(last);
                }
                for a in rest {
                    args.push(self.arg(a, dot)?);
                }
                if let Some(p) = piped {
                    args.push(p);
                }
                self.call(first, name, args)
            }
            Term::Field(fields) => {
                let recv = dot.clone();
                self.field_chain(first, recv, fields, rest, piped, dot)
            }
            Term::Var(name, fields) => {
                let recv = self.var(first, name)?;
                if fields.is_empty() {
                    return self.no_args(first, rest, piped, recv);
                }
                self.field_chain(first, recv, fields, rest, piped, dot)
            }
            Term::Paren(p, fields) => {
                let recv = self.pipe(p, dot)?;
                if fields.is_empty() {
                    return self.no_args(first, rest, piped, recv);
                }
                self.field_chain(first, recv, fields, rest, piped, dot)
            }
            _ => {
                let v = self.arg(first, dot)?;
                self.no_args(first, rest, piped, v)
            }
        }
    }

    fn no_args(
        &self,
        first: &Arg,
        rest: &[Arg],
        piped: Option<Json>,
        v: Json,
    ) -> Result<Json, TemplateError> {
        if !rest.is_empty() || piped.is_some() {
            return Err(err_at(
                self.src,
                first,
                format!("can't give argument to non-function {}", first.text),
            ));
        }
        Ok(v)
    }

    fn var(&self, a: &Arg, name: &str) -> Result<Json, TemplateError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| err_at(self.src, a, format!("undefined variable: {name}")))
    }

    /// An argument value (not a command head: identifiers are functions
    /// called without arguments).
    fn arg(&mut self, a: &Arg, dot: &Json) -> Result<Json, TemplateError> {
        Ok(match &a.term {
            Term::Dot => dot.clone(),
            Term::Field(fields) => self.field_chain(a, dot.clone(), fields, &[], None, dot)?,
            Term::Var(name, fields) => {
                let v = self.var(a, name)?;
                if fields.is_empty() {
                    v
                } else {
                    self.field_chain(a, v, fields, &[], None, dot)?
                }
            }
            Term::Ident(name) => self.call(a, name, Vec::new())?,
            Term::Str(s) => Json::Str(s.clone()),
            Term::Num(Number::Int(n)) => Json::int(*n),
            Term::Num(Number::Float(f)) => {
                serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Num)
            }
            Term::Bool(b) => Json::Bool(*b),
            Term::Nil => return Err(err_at(self.src, a, "nil is not a command")),
            Term::Paren(p, fields) => {
                let v = self.pipe(p, dot)?;
                if fields.is_empty() {
                    v
                } else {
                    self.field_chain(a, v, fields, &[], None, dot)?
                }
            }
        })
    }

    /// `.A.B` on `recv`; a final name with arguments is a method call.
    fn field_chain(
        &mut self,
        a: &Arg,
        mut recv: Json,
        fields: &[String],
        rest: &[Arg],
        piped: Option<Json>,
        dot: &Json,
    ) -> Result<Json, TemplateError> {
        let has_args = !rest.is_empty() || piped.is_some();
        for (i, name) in fields.iter().enumerate() {
            let last = i + 1 == fields.len();
            if last && has_args {
                let mut args = Vec::new();
                for r in rest {
                    args.push(self.arg(r, dot)?);
                }
                if let Some(p) = piped.clone() {
                    args.push(p);
                }
                if let Some(m) = self.opts.methods
                    && let Some(res) = m(&recv, name, &args)
                {
                    return res
                        .map_err(|e| err_at(self.src, a, format!("error calling {name}: {e}")));
                }
                return Err(err_at(
                    self.src,
                    a,
                    format!("{name} has arguments but cannot be invoked as function"),
                ));
            }
            // a method without arguments (header mode has none: fields are headers)
            if let Some(m) = self.opts.methods
                && !self.opts.header
                && recv.get(name).is_none()
                && let Some(res) = m(&recv, name, &[])
            {
                recv =
                    res.map_err(|e| err_at(self.src, a, format!("error calling {name}: {e}")))?;
                continue;
            }
            recv = match &recv {
                // docker's structs name fields in Go (`ID`, `DNS`, `APIVersion`)
                // where the JSON says `Id`, `Dns`, `ApiVersion`: an exported
                // name matches its JSON key whatever the case
                Json::Obj(m) => match m.iter().find(|(k, _)| k == name).or_else(|| {
                    if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                        let mut it = m.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
                        match (it.next(), it.next()) {
                            (Some(one), None) => Some(one),
                            _ => None,
                        }
                    } else {
                        None
                    }
                }) {
                    Some((_, Json::Null)) if LIST_FIELDS.contains(&name.as_str()) => Json::NilList,
                    Some((_, Json::Null)) if MAP_FIELDS.contains(&name.as_str()) => Json::NilMap,
                    Some((_, v)) => v.clone(),
                    None => match &self.opts.missing {
                        Missing::Zero => Json::Null,
                        Missing::MapError => {
                            return Err(err_at(
                                self.src,
                                a,
                                format!("map has no entry for key \"{name}\""),
                            ));
                        }
                        Missing::FieldError(ty) => {
                            return Err(err_at(
                                self.src,
                                a,
                                format!("can't evaluate field {name} in type {ty}"),
                            ));
                        }
                    },
                },
                Json::NilMap => Json::Null,
                Json::Null => {
                    return Err(err_at(
                        self.src,
                        a,
                        format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                other => {
                    return Err(err_at(
                        self.src,
                        a,
                        format!("can't evaluate field {name} in type {}", type_name(other)),
                    ));
                }
            };
        }
        Ok(recv)
    }

    fn call(&mut self, a: &Arg, name: &str, args: Vec<Json>) -> Result<Json, TemplateError> {
        let e = |msg: String| err_at(self.src, a, msg);
        let arity = |want: usize| -> Result<(), TemplateError> {
            if args.len() != want {
                return Err(err_at(
                    self.src,
                    a,
                    format!(
                        "wrong number of args for {name}: want {want} got {}",
                        args.len()
                    ),
                ));
            }
            Ok(())
        };
        // docker's header functions keep the column name
        if self.opts.header
            && matches!(
                name,
                "json" | "split" | "join" | "title" | "lower" | "upper" | "truncate"
            )
        {
            return Ok(args.into_iter().next().unwrap_or(Json::Null));
        }
        match name {
            "json" => {
                arity(1)?;
                Ok(Json::Str(args[0].encode(false)))
            }
            "split" => {
                arity(2)?;
                let s = want_str(name, &args[0]).map_err(e)?;
                let sep = want_str(name, &args[1]).map_err(e)?;
                let parts: Vec<Json> = if sep.is_empty() {
                    s.chars().map(|c| Json::Str(c.to_string())).collect()
                } else {
                    s.split(sep).map(|p| Json::Str(p.to_owned())).collect()
                };
                Ok(Json::Arr(parts))
            }
            "join" => {
                arity(2)?;
                let sep = want_str(name, &args[1]).map_err(e)?;
                let items = match &args[0] {
                    Json::Arr(a) => a,
                    Json::NilList | Json::Null => return Ok(Json::str("")),
                    other => {
                        return Err(e(format!(
                            "error calling join: wrong type for value; expected []string; got {}",
                            type_name(other)
                        )));
                    }
                };
                let mut parts = Vec::with_capacity(items.len());
                for x in items {
                    parts.push(want_str(name, x).map_err(|_| e(format!("error calling join: wrong type for value; expected []string; got {}", type_name(&args[0]))))?.to_owned());
                }
                Ok(Json::Str(parts.join(sep)))
            }
            "title" => {
                arity(1)?;
                let s = want_str(name, &args[0]).map_err(e)?;
                let mut out = String::with_capacity(s.len());
                let mut prev_letter = false;
                for c in s.chars() {
                    if !prev_letter && c.is_alphabetic() {
                        out.extend(c.to_uppercase());
                    } else {
                        out.push(c);
                    }
                    prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
                }
                Ok(Json::Str(out))
            }
            "lower" => {
                arity(1)?;
                Ok(Json::Str(
                    want_str(name, &args[0]).map_err(e)?.to_lowercase(),
                ))
            }
            "upper" => {
                arity(1)?;
                Ok(Json::Str(
                    want_str(name, &args[0]).map_err(e)?.to_uppercase(),
                ))
            }
            "pad" => {
                arity(3)?;
                let s = want_str(name, &args[0]).map_err(e)?;
                let (pre, post) = match (int_of(&args[1]), int_of(&args[2])) {
                    (Some(a), Some(b)) if a >= 0 && b >= 0 => (a as usize, b as usize),
                    _ => return Err(e("error calling pad: expected non-negative integers".into())),
                };
                if s.is_empty() {
                    return Ok(Json::str(""));
                }
                Ok(Json::Str(format!(
                    "{}{s}{}",
                    " ".repeat(pre),
                    " ".repeat(post)
                )))
            }
            "truncate" => {
                arity(2)?;
                let s = want_str(name, &args[0]).map_err(e)?;
                let n = int_of(&args[1])
                    .ok_or_else(|| e("error calling truncate: expected an integer".into()))?;
                let n = usize::try_from(n).unwrap_or(0);
                if s.len() < n {
                    return Ok(Json::str(s));
                }
                let mut cut = n;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                Ok(Json::Str(s[..cut].to_owned()))
            }
            "not" => {
                arity(1)?;
                Ok(Json::Bool(!truth(&args[0])))
            }
            "len" => {
                arity(1)?;
                let n = match &args[0] {
                    Json::Str(s) => s.len(),
                    Json::Arr(a) => a.len(),
                    Json::Obj(m) => m.iter().filter(|(k, _)| !is_hidden(k)).count(),
                    Json::NilList | Json::NilMap => 0,
                    other => {
                        return Err(e(format!(
                            "error calling len: len of type {}",
                            type_name(other)
                        )));
                    }
                };
                Ok(Json::int(n as i64))
            }
            "index" => {
                if args.is_empty() {
                    return Err(e(
                        "wrong number of args for index: want at least 1 got 0".into()
                    ));
                }
                let mut it = args.into_iter();
                let mut v = it.next().unwrap_or(Json::Null);
                for k in it {
                    v = match (&v, &k) {
                        // a missing key gives the zero value of the map's values:
                        // "" for the string maps docker's structs have (labels, options)
                        (Json::Obj(m), Json::Str(key)) => match m.iter().find(|(n, _)| n == key) {
                            Some((_, x)) => x.clone(),
                            None if m.iter().all(|(_, x)| matches!(x, Json::Str(_))) => {
                                Json::str("")
                            }
                            None => Json::Null,
                        },
                        (Json::NilMap, Json::Str(_)) => Json::str(""),
                        (Json::Arr(a), _) => {
                            let i = int_of(&k).ok_or_else(|| {
                                e(format!(
                                    "error calling index: cannot index slice/array with type {}",
                                    type_name(&k)
                                ))
                            })?;
                            match usize::try_from(i).ok().and_then(|i| a.get(i)) {
                                Some(x) => x.clone(),
                                None => {
                                    return Err(e(format!(
                                        "error calling index: index out of range: {i}"
                                    )));
                                }
                            }
                        }
                        (Json::Str(s), _) => {
                            let i = int_of(&k).ok_or_else(|| {
                                e(format!(
                                    "error calling index: cannot index string with type {}",
                                    type_name(&k)
                                ))
                            })?;
                            match usize::try_from(i).ok().and_then(|i| s.as_bytes().get(i)) {
                                Some(b) => Json::int(i64::from(*b)),
                                None => {
                                    return Err(e(format!(
                                        "error calling index: index out of range: {i}"
                                    )));
                                }
                            }
                        }
                        (Json::Null, _) => {
                            return Err(e("error calling index: index of untyped nil".into()));
                        }
                        (Json::NilList, _) => {
                            return Err(e(format!(
                                "error calling index: index out of range: {}",
                                print(&k)
                            )));
                        }
                        (Json::Obj(_) | Json::NilMap, _) => {
                            return Err(e(format!(
                                "error calling index: value has type {}; should be string",
                                type_name(&k)
                            )));
                        }
                        (other, _) => {
                            return Err(e(format!(
                                "error calling index: can't index item of type {}",
                                type_name(other)
                            )));
                        }
                    };
                }
                Ok(v)
            }
            "slice" => {
                if args.is_empty() {
                    return Err(e(
                        "wrong number of args for slice: want at least 1 got 0".into()
                    ));
                }
                let idx: Vec<i64> = args[1..]
                    .iter()
                    .map(|x| {
                        int_of(x).ok_or_else(|| {
                            e("error calling slice: cannot index slice with a non-integer".into())
                        })
                    })
                    .collect::<Result<_, _>>()?;
                let len = match &args[0] {
                    Json::Str(s) => s.len(),
                    Json::Arr(a) => a.len(),
                    other => {
                        return Err(e(format!(
                            "error calling slice: can't slice item of type {}",
                            type_name(other)
                        )));
                    }
                } as i64;
                let from = idx.first().copied().unwrap_or(0);
                let to = idx.get(1).copied().unwrap_or(len);
                if from < 0 || to < from || to > len {
                    return Err(e(format!("error calling slice: index out of range: {to}")));
                }
                let (from, to) = (from as usize, to as usize);
                Ok(match &args[0] {
                    Json::Str(s) => Json::Str(s.get(from..to).unwrap_or("").to_owned()),
                    Json::Arr(a) => Json::Arr(a[from..to].to_vec()),
                    _ => Json::Null,
                })
            }
            "eq" => {
                if args.len() < 2 {
                    return Err(e("missing argument for comparison".into()));
                }
                for other in &args[1..] {
                    if equal(&args[0], other).map_err(|m| e(format!("error calling eq: {m}")))? {
                        return Ok(Json::Bool(true));
                    }
                }
                Ok(Json::Bool(false))
            }
            "ne" => {
                arity(2)?;
                Ok(Json::Bool(
                    !equal(&args[0], &args[1]).map_err(|m| e(format!("error calling ne: {m}")))?,
                ))
            }
            "lt" | "le" | "gt" | "ge" => {
                arity(2)?;
                let o = compare(&args[0], &args[1])
                    .map_err(|m| e(format!("error calling {name}: {m}")))?;
                use std::cmp::Ordering::*;
                Ok(Json::Bool(match name {
                    "lt" => o == Less,
                    "le" => o != Greater,
                    "gt" => o == Greater,
                    _ => o != Less,
                }))
            }
            "print" => Ok(Json::Str(sprint(&args))),
            "println" => {
                let parts: Vec<String> = args.iter().map(print).collect();
                Ok(Json::Str(format!("{}\n", parts.join(" "))))
            }
            "printf" => {
                let Some(Json::Str(f)) = args.first() else {
                    return Err(e("error calling printf: the format must be a string".into()));
                };
                Ok(Json::Str(sprintf(f, &args[1..])))
            }
            _ => Err(TemplateError(format!(
                "template: :{}: function \"{name}\" not defined",
                1 + self.src[..a.pos.min(self.src.len())].matches('\n').count()
            ))),
        }
    }
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
fn sprint(args: &[Json]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Json::Str(_)) && !matches!(args[i - 1], Json::Str(_)) {
            out.push(' ');
        }
        out.push_str(&print(a));
    }
    out
}

/// A subset of `fmt.Sprintf`: `%v %s %d %q %t %f %x %X %%` with flags `-`,
/// `0`, `+`, width and precision.
fn sprintf(f: &str, args: &[Json]) -> String {
    let mut out = String::new();
    let mut it = f.chars().peekable();
    let mut next_arg = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        let mut plus = false;
        while let Some(&fl) = it.peek() {
            match fl {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            it.next();
        }
        let mut width = String::new();
        while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                it.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next_arg += 1;
        let body = match verb {
            'v' | 's' => {
                let s = print(arg);
                match prec {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
            'd' => match int_of(arg) {
                Some(n) if plus && n >= 0 => format!("+{n}"),
                Some(n) => n.to_string(),
                None => format!("%!d({}={})", type_name(arg), print(arg)),
            },
            'q' => {
                let mut s = String::new();
                crate::format::json::quote_into(&mut s, &print(arg), false);
                s
            }
            't' => match arg {
                Json::Bool(b) => b.to_string(),
                other => format!("%!t({}={})", type_name(other), print(other)),
            },
            'f' | 'F' => match arg {
                Json::Num(n) => format!("{:.*}", prec.unwrap_or(6), n.as_f64().unwrap_or(0.0)),
                other => format!("%!f({}={})", type_name(other), print(other)),
            },
            'x' | 'X' => {
                let s = match arg {
                    Json::Num(_) => int_of(arg).map(|n| format!("{n:x}")).unwrap_or_default(),
                    Json::Str(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                    other => print(other),
                };
                if verb == 'X' { s.to_uppercase() } else { s }
            }
            other => format!("%!{other}({}={})", type_name(arg), print(arg)),
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < w {
            let pad = w - len;
            if left {
                out.push_str(&body);
                out.push_str(&" ".repeat(pad));
            } else if zero && matches!(verb, 'd' | 'f' | 'x' | 'X') {
                let (sign, digits) = if let Some(d) = body.strip_prefix('-') {
                    ("-", d)
                } else {
                    ("", body.as_str())
                };
                out.push_str(sign);
                out.push_str(&"0".repeat(pad));
                out.push_str(digits);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| format!("{}={}", type_name(a), print(a)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}
