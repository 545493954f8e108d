//! Lexing and parsing Go's text/template syntax into a tree.

use super::TemplateError;

/// A literal number: its text (as written) and value.
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

/// One operand of a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `.`
    Dot,
    /// `.A.B` on dot.
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone is the root).
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
    /// `(pipeline).A.B`
    Paren(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub term: Term,
    /// Byte offset in the source, for error messages.
    pub pos: usize,
    /// The source text of the operand (`.Foo`), for `at <.Foo>`.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cmd {
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    /// Variables declared (`$x :=`) or assigned (`$x =`).
    pub decls: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Break,
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Dot,
    Field(String),
    Var(String),
    Ident(String),
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    /// Whitespace between operands (Go needs it to tell `(x).F` from `(x) .F`).
    Space,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
    end: usize,
}

/// An action's tokens, or a piece of text.
#[derive(Debug)]
enum Item {
    Text(String),
    Action { toks: Vec<Token>, pos: usize },
}

fn line_of(src: &str, pos: usize) -> usize {
    1 + src[..pos.min(src.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
}

fn err(src: &str, pos: usize, msg: impl Into<String>) -> TemplateError {
    TemplateError(format!("template: :{}: {}", line_of(src, pos), msg.into()))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits the source into text and action tokens, applying `{{-`/`-}}`
/// trimming and dropping comments.
fn lex(src: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items: Vec<Item> = Vec::new();
    let mut rest_start = 0;
    let mut trim_next = false;
    loop {
        let Some(open_rel) = src[rest_start..].find("{{") else {
            let mut text = &src[rest_start..];
            if trim_next {
                text = text.trim_start();
            }
            if !text.is_empty() {
                items.push(Item::Text(text.to_owned()));
            }
            return Ok(items);
        };
        let open = rest_start + open_rel;
        let mut text = &src[rest_start..open];
        if trim_next {
            text = text.trim_start();
        }
        let mut i = open + 2;
        let b = src.as_bytes();
        if b.get(i) == Some(&b'-') && b.get(i + 1).is_some_and(|c| c.is_ascii_whitespace()) {
            text = text.trim_end();
            i += 1;
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_owned()));
        }
        // comment
        let after_ws = i + src[i..].len() - src[i..].trim_start().len();
        if src[after_ws..].starts_with("/*") {
            let Some(end_rel) = src[after_ws..].find("*/") else {
                return Err(err(src, open, "unclosed comment"));
            };
            let mut j = after_ws + end_rel + 2;
            let rest = &src[j..];
            let trimmed = rest.trim_start();
            let mut trim = false;
            if let Some(r) = trimmed.strip_prefix("-}}")
                && rest.len() != trimmed.len()
            {
                trim = true;
                j = src.len() - r.len();
            } else if let Some(r) = rest.strip_prefix("}}") {
                j = src.len() - r.len();
            } else {
                return Err(err(src, open, "comment ends before closing delimiter"));
            }
            trim_next = trim;
            rest_start = j;
            continue;
        }
        let (toks, close, trim) = lex_action(src, i, open)?;
        items.push(Item::Action { toks, pos: open });
        trim_next = trim;
        rest_start = close;
    }
}

/// Lexes one action from `i`; returns its tokens, the index after `}}` and
/// whether `-}}` asked to trim the following text.
fn lex_action(
    src: &str,
    mut i: usize,
    open: usize,
) -> Result<(Vec<Token>, usize, bool), TemplateError> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    loop {
        let Some(&c) = b.get(i) else {
            return Err(err(src, open, "unclosed action"));
        };
        // closing delimiter, possibly with trim marker
        if c.is_ascii_whitespace() {
            let start = i;
            while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
                i += 1;
            }
            if src[i..].starts_with("-}}") {
                return Ok((toks, i + 3, true));
            }
            if toks.last().is_some_and(|t: &Token| t.tok != Tok::Space) {
                toks.push(Token {
                    tok: Tok::Space,
                    pos: start,
                    end: i,
                });
            }
            continue;
        }
        if src[i..].starts_with("}}") {
            return Ok((toks, i + 2, false));
        }
        if c == b'\n' {
            return Err(err(src, i, "unclosed action"));
        }
        let start = i;
        let tok = match c {
            b'|' => {
                i += 1;
                Tok::Pipe
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Declare
            }
            b'=' => {
                i += 1;
                Tok::Assign
            }
            b'"' => {
                let (s, end) = lex_quoted(src, i)?;
                i = end;
                Tok::Str(s)
            }
            b'`' => {
                let Some(end_rel) = src[i + 1..].find('`') else {
                    return Err(err(src, i, "unterminated raw quoted string"));
                };
                let s = src[i + 1..i + 1 + end_rel].to_owned();
                i = i + 2 + end_rel;
                Tok::Str(s)
            }
            b'\'' => {
                let rest = &src[i + 1..];
                let mut chars = rest.chars();
                let ch = match chars.next() {
                    Some('\\') => match chars.next() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some(o) => o,
                        None => return Err(err(src, i, "unterminated character constant")),
                    },
                    Some(o) => o,
                    None => return Err(err(src, i, "unterminated character constant")),
                };
                let used = rest.len() - chars.as_str().len();
                if !chars.as_str().starts_with('\'') {
                    return Err(err(src, i, "unterminated character constant"));
                }
                i = i + 1 + used + 1;
                Tok::Num(Number::Int(ch as i64))
            }
            b'.' => {
                let name_start = i + 1;
                let mut j = name_start;
                while let Some(ch) = src[j..].chars().next().filter(|c| is_ident_char(*c)) {
                    j += ch.len_utf8();
                }
                if j == name_start {
                    if b.get(j).is_some_and(|c| c.is_ascii_digit()) {
                        let (n, end) = lex_number(src, i)?;
                        i = end;
                        toks.push(Token {
                            tok: Tok::Num(n),
                            pos: start,
                            end: i,
                        });
                        continue;
                    }
                    i = j;
                    Tok::Dot
                } else {
                    i = j;
                    Tok::Field(src[name_start..j].to_owned())
                }
            }
            b'$' => {
                let mut j = i + 1;
                while let Some(ch) = src[j..].chars().next().filter(|c| is_ident_char(*c)) {
                    j += ch.len_utf8();
                }
                let name = src[i..j].to_owned();
                i = j;
                Tok::Var(name)
            }
            b'-' | b'+' | b'0'..=b'9' => {
                let (n, end) = lex_number(src, i)?;
                i = end;
                Tok::Num(n)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\0');
                if !(ch.is_alphabetic() || ch == '_') {
                    return Err(err(src, i, format!("unexpected {ch:?} in command")));
                }
                let mut j = i;
                while let Some(ch) = src[j..].chars().next().filter(|c| is_ident_char(*c)) {
                    j += ch.len_utf8();
                }
                let word = &src[i..j];
                i = j;
                match word {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    w => Tok::Ident(w.to_owned()),
                }
            }
        };
        toks.push(Token {
            tok,
            pos: start,
            end: i,
        });
    }
}

fn lex_quoted(src: &str, start: usize) -> Result<(String, usize), TemplateError> {
    let mut out = String::new();
    let mut it = src[start + 1..].char_indices();
    while let Some((k, c)) = it.next() {
        match c {
            '"' => return Ok((out, start + 1 + k + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = it.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '0' => out.push('\0'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut hex = String::new();
                        for _ in 0..n {
                            if let Some((_, h)) = it.next() {
                                hex.push(h);
                            }
                        }
                        let v = u32::from_str_radix(&hex, 16)
                            .map_err(|_| err(src, start, "invalid syntax in quoted string"))?;
                        out.push(
                            char::from_u32(v).ok_or_else(|| {
                                err(src, start, "invalid syntax in quoted string")
                            })?,
                        );
                    }
                    _ => return Err(err(src, start, "invalid syntax in quoted string")),
                }
            }
            c => out.push(c),
        }
    }
    Err(err(src, start, "unterminated quoted string"))
}

fn lex_number(src: &str, start: usize) -> Result<(Number, usize), TemplateError> {
    let b = src.as_bytes();
    let mut j = start;
    if matches!(b.get(j), Some(b'-' | b'+')) {
        j += 1;
    }
    while b
        .get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_')
        || (matches!(b.get(j), Some(b'-' | b'+')) && matches!(b.get(j - 1), Some(b'e' | b'E')))
    {
        j += 1;
    }
    let text = src[start..j].replace('_', "");
    let (neg, body) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let parsed = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok().map(Number::Int)
    } else if body.contains(['.', 'e', 'E']) {
        body.parse::<f64>().ok().map(Number::Float)
    } else {
        body.parse::<i64>().ok().map(Number::Int)
    };
    match parsed {
        Some(Number::Int(n)) => Ok((Number::Int(if neg { -n } else { n }), j)),
        Some(Number::Float(f)) => Ok((Number::Float(if neg { -f } else { f }), j)),
        None => Err(err(
            src,
            start,
            format!("bad number syntax: {:?}", &src[start..j]),
        )),
    }
}

struct Parser<'a> {
    src: &'a str,
    items: Vec<Item>,
    i: usize,
}

/// What ended a list.
#[derive(Debug)]
enum End {
    Eof,
    Closed,
    /// `{{else}}` or `{{else if ...}}` / `{{else with ...}}` (the rest of
    /// the action's tokens).
    Else(Vec<Token>, usize),
}

pub fn parse(src: &str) -> Result<Vec<Node>, TemplateError> {
    let items = lex(src)?;
    let mut p = Parser { src, items, i: 0 };
    let (nodes, end) = p.list(false)?;
    match end {
        End::Eof => Ok(nodes),
        End::Closed => Err(err(src, src.len(), "unexpected {{end}}")),
        End::Else(_, pos) => Err(err(src, pos, "unexpected {{else}}")),
    }
}

impl Parser<'_> {
    fn list(&mut self, in_range: bool) -> Result<(Vec<Node>, End), TemplateError> {
        let mut nodes = Vec::new();
        while self.i < self.items.len() {
            let item = std::mem::replace(&mut self.items[self.i], Item::Text(String::new()));
            self.i += 1;
            match item {
                Item::Text(t) => nodes.push(Node::Text(t)),
                Item::Action { toks, pos } => {
                    let toks: Vec<Token> = toks.into_iter().collect();
                    let first = toks.iter().position(|t| t.tok != Tok::Space);
                    let Some(first) = first else {
                        return Err(err(self.src, pos, "missing value for command"));
                    };
                    let rest: Vec<Token> = toks[first + 1..].to_vec();
                    match &toks[first].tok {
                        Tok::Ident(k) if k == "end" => return Ok((nodes, End::Closed)),
                        Tok::Ident(k) if k == "else" => return Ok((nodes, End::Else(rest, pos))),
                        Tok::Ident(k) if k == "if" || k == "range" || k == "with" => {
                            let kw = k.clone();
                            nodes.push(self.control(&kw, rest, pos, in_range)?);
                        }
                        Tok::Ident(k) if k == "break" || k == "continue" => {
                            if !in_range {
                                return Err(err(
                                    self.src,
                                    pos,
                                    format!("{{{{{k}}}}} outside {{{{range}}}}"),
                                ));
                            }
                            nodes.push(if k == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        Tok::Ident(k) if matches!(k.as_str(), "define" | "template" | "block") => {
                            return Err(err(
                                self.src,
                                pos,
                                format!("{{{{{k}}}}} is not supported by berth's templates"),
                            ));
                        }
                        _ => nodes.push(Node::Action(self.pipeline(&toks, pos)?)),
                    }
                }
            }
        }
        Ok((nodes, End::Eof))
    }

    fn control(
        &mut self,
        kw: &str,
        toks: Vec<Token>,
        pos: usize,
        in_range: bool,
    ) -> Result<Node, TemplateError> {
        let pipe = self.pipeline(&toks, pos)?;
        let body_in_range = in_range || kw == "range";
        let (body, end) = self.list(body_in_range)?;
        let else_nodes = match end {
            End::Eof => return Err(err(self.src, pos, format!("unexpected EOF in {kw}"))),
            End::Closed => Vec::new(),
            End::Else(rest, epos) => {
                let first = rest.iter().position(|t| t.tok != Tok::Space);
                match first.map(|f| (&rest[f].tok, f)) {
                    None => {
                        let (els, end2) = self.list(in_range)?;
                        match end2 {
                            End::Closed => els,
                            End::Eof => {
                                return Err(err(self.src, epos, format!("unexpected EOF in {kw}")));
                            }
                            End::Else(_, p) => {
                                return Err(err(self.src, p, "expected end; found {{else}}"));
                            }
                        }
                    }
                    // `else if` / `else with`: a nested control sharing our {{end}}
                    Some((Tok::Ident(k2), f))
                        if (k2 == "if" && kw == "if") || (k2 == "with" && kw == "with") =>
                    {
                        let k2 = k2.clone();
                        let inner = rest[f + 1..].to_vec();
                        vec![self.control(&k2, inner, epos, in_range)?]
                    }
                    Some(_) => return Err(err(self.src, epos, "unexpected tokens after else")),
                }
            }
        };
        Ok(match kw {
            "if" => Node::If(pipe, body, else_nodes),
            "range" => Node::Range(pipe, body, else_nodes),
            _ => Node::With(pipe, body, else_nodes),
        })
    }

    fn pipeline(&self, toks: &[Token], pos: usize) -> Result<Pipe, TemplateError> {
        let toks: Vec<&Token> = {
            // trim spaces at both ends
            let mut v: Vec<&Token> = toks.iter().collect();
            while v.first().is_some_and(|t| t.tok == Tok::Space) {
                v.remove(0);
            }
            while v.last().is_some_and(|t| t.tok == Tok::Space) {
                v.pop();
            }
            v
        };
        let mut decls = Vec::new();
        let mut assign = false;
        let mut start = 0;
        // `$x :=`, `$i, $v :=`, `$x =`
        let sig: Vec<&Tok> = toks
            .iter()
            .filter(|t| t.tok != Tok::Space)
            .map(|t| &t.tok)
            .collect();
        let decl_len = match sig.as_slice() {
            [Tok::Var(_), Tok::Declare | Tok::Assign, ..] => Some(2),
            [
                Tok::Var(_),
                Tok::Comma,
                Tok::Var(_),
                Tok::Declare | Tok::Assign,
                ..,
            ] => Some(4),
            _ => None,
        };
        if let Some(n) = decl_len {
            let mut seen = 0;
            for (k, t) in toks.iter().enumerate() {
                if t.tok == Tok::Space {
                    continue;
                }
                match &t.tok {
                    Tok::Var(v) => decls.push(v.clone()),
                    Tok::Assign => assign = true,
                    _ => {}
                }
                seen += 1;
                if seen == n {
                    start = k + 1;
                    break;
                }
            }
        }
        let body = &toks[start..];
        if body.iter().all(|t| t.tok == Tok::Space) {
            return Err(err(self.src, pos, "missing value for command"));
        }
        let mut cmds = Vec::new();
        for part in split_top(body, |t| t.tok == Tok::Pipe) {
            cmds.push(self.command(&part, pos)?);
        }
        Ok(Pipe {
            decls,
            assign,
            cmds,
        })
    }

    fn command(&self, toks: &[&Token], pos: usize) -> Result<Cmd, TemplateError> {
        let mut args = Vec::new();
        let mut k = 0;
        while k < toks.len() {
            if toks[k].tok == Tok::Space {
                k += 1;
                continue;
            }
            let (arg, next) = self.operand(toks, k, pos)?;
            args.push(arg);
            k = next;
        }
        if args.is_empty() {
            return Err(err(self.src, pos, "missing value for command"));
        }
        Ok(Cmd { args })
    }

    /// One operand starting at `toks[k]`: a term and the fields chained to it.
    fn operand(
        &self,
        toks: &[&Token],
        k: usize,
        pos: usize,
    ) -> Result<(Arg, usize), TemplateError> {
        let t = toks[k];
        let mut next = k + 1;
        let term = match &t.tok {
            Tok::Dot => Term::Dot,
            Tok::Field(f) => {
                let mut fields = vec![f.clone()];
                while let Some(Tok::Field(g)) = toks.get(next).map(|t| &t.tok) {
                    fields.push(g.clone());
                    next += 1;
                }
                Term::Field(fields)
            }
            Tok::Var(v) => {
                let mut fields = Vec::new();
                while let Some(Tok::Field(g)) = toks.get(next).map(|t| &t.tok) {
                    fields.push(g.clone());
                    next += 1;
                }
                Term::Var(v.clone(), fields)
            }
            Tok::Ident(name) => Term::Ident(name.clone()),
            Tok::Str(s) => Term::Str(s.clone()),
            Tok::Num(n) => Term::Num(n.clone()),
            Tok::Bool(b) => Term::Bool(*b),
            Tok::Nil => Term::Nil,
            Tok::LParen => {
                // find the matching paren
                let mut depth = 1;
                let mut j = k + 1;
                while j < toks.len() {
                    match toks[j].tok {
                        Tok::LParen => depth += 1,
                        Tok::RParen => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= toks.len() {
                    return Err(err(self.src, t.pos, "unclosed left paren"));
                }
                let inner: Vec<Token> = toks[k + 1..j].iter().map(|t| (*t).clone()).collect();
                let pipe = self.pipeline(&inner, t.pos)?;
                next = j + 1;
                let mut fields = Vec::new();
                while let Some(Tok::Field(g)) = toks.get(next).map(|t| &t.tok) {
                    fields.push(g.clone());
                    next += 1;
                }
                Term::Paren(Box::new(pipe), fields)
            }
            Tok::RParen => return Err(err(self.src, t.pos, "unexpected right paren")),
            Tok::Pipe => return Err(err(self.src, pos, "missing command")),
            Tok::Declare | Tok::Assign | Tok::Comma => {
                return Err(err(self.src, t.pos, "unexpected token in operand"));
            }
            Tok::Space => return Err(err(self.src, t.pos, "unexpected space")),
        };
        // an operand must be followed by a space, a pipe or the end
        if let Some(after) = toks.get(next)
            && !matches!(after.tok, Tok::Space | Tok::Pipe)
        {
            return Err(err(
                self.src,
                after.pos,
                format!(
                    "unexpected {:?} in operand",
                    &self.src[after.pos..after.end]
                ),
            ));
        }
        let end = toks.get(next.saturating_sub(1)).map_or(t.end, |x| x.end);
        Ok((
            Arg {
                term,
                pos: t.pos,
                text: self.src[t.pos..end].to_owned(),
            },
            next,
        ))
    }
}

/// Splits tokens at top-level separators (outside parentheses).
fn split_top<'t>(toks: &[&'t Token], is_sep: impl Fn(&Token) -> bool) -> Vec<Vec<&'t Token>> {
    let mut parts = vec![Vec::new()];
    let mut depth = 0i32;
    for t in toks {
        match t.tok {
            Tok::LParen => depth += 1,
            Tok::RParen => depth -= 1,
            _ => {}
        }
        if depth == 0 && is_sep(t) {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(*t);
        }
    }
    parts
}
