//! Output formatting: docker's `--format` for lists (`table`, `json`, a
//! template, the default table) and for inspect, plus the pieces they are
//! made of.

pub mod json;
pub mod table;
pub mod template;
pub mod units;

use json::Json;
use template::{ExecOptions, Methods, Missing, Template, TemplateError};

/// A `--format` for a list command, as docker's formatter reads it.
#[derive(Debug)]
pub struct ListFormat {
    tmpl: Template,
    table: bool,
}

/// docker's `table`/`\t`/`\n` handling of a format string.
fn pre_format(s: &str) -> (String, bool) {
    let (body, table) = match s.strip_prefix("table") {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    (body, table)
}

impl ListFormat {
    /// `source` is `--format`; `default_table` the command's table (with
    /// the `table ` prefix); `quiet` asks for IDs only.
    pub fn new(source: &str, default_table: &str, quiet: bool) -> Result<Self, TemplateError> {
        let chosen = match source {
            "" | "table" if quiet => "{{.ID}}",
            "" | "table" => default_table,
            "json" => "{{json .}}",
            _ if quiet => "{{.ID}}",
            other => other,
        };
        let (body, table) = pre_format(chosen);
        let tmpl = Template::parse(&body)
            .map_err(|e| TemplateError(format!("template parsing error: {}", e.0)))?;
        Ok(ListFormat { tmpl, table })
    }

    pub fn is_table(&self) -> bool {
        self.table
    }

    /// Renders the rows (and the header for a table).
    pub fn render(
        &self,
        rows: &[Json],
        header: &Json,
        missing: Missing,
        methods: Option<Methods<'_>>,
    ) -> Result<String, TemplateError> {
        let opts = ExecOptions {
            header: false,
            missing,
            methods,
        };
        let mut body = String::new();
        for r in rows {
            let line = self
                .tmpl
                .execute(r, &opts)
                .map_err(|e| TemplateError(format!("template parsing error: {}", e.0)))?;
            body.push_str(&line);
            body.push('\n');
        }
        if !self.table {
            return Ok(body);
        }
        let head = self.tmpl.execute_partial(
            header,
            &ExecOptions {
                header: true,
                missing: Missing::Zero,
                methods: None,
            },
        );
        Ok(table::align(&format!("{head}\n{body}")))
    }
}

/// docker's `TruncateID`: the first 12 hex digits, without `sha256:`.
pub fn short_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, h)| h);
    id.chars().take(12).collect()
}

/// docker's `Ellipsis`: at most `max` characters, the last one `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    if max <= 1 {
        return s.chars().take(max).collect();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote`: `"..."` with Go's escapes; printable Unicode kept.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Json> {
        vec![
            Json::obj([("ID", Json::str("abc")), ("Names", Json::str("web"))]),
            Json::obj([("ID", Json::str("def")), ("Names", Json::str("db"))]),
        ]
    }

    fn header() -> Json {
        Json::obj([
            ("ID", Json::str("CONTAINER ID")),
            ("Names", Json::str("NAMES")),
        ])
    }

    #[test]
    fn table_with_header() {
        let f = ListFormat::new("table {{.ID}}\\t{{.Names}}", "", false).unwrap();
        let out = f.render(&rows(), &header(), Missing::Zero, None).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   NAMES\nabc            web\ndef            db\n"
        );
    }

    #[test]
    fn custom_json_and_quiet() {
        let f = ListFormat::new("{{.Names}}", "table {{.ID}}", false).unwrap();
        assert_eq!(
            f.render(&rows(), &header(), Missing::Zero, None).unwrap(),
            "web\ndb\n"
        );
        let f = ListFormat::new("json", "table {{.ID}}", false).unwrap();
        assert_eq!(
            f.render(&rows()[..1], &header(), Missing::Zero, None)
                .unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"web\"}\n"
        );
        let f = ListFormat::new("", "table {{.ID}}\t{{.Names}}", true).unwrap();
        assert_eq!(
            f.render(&rows(), &header(), Missing::Zero, None).unwrap(),
            "abc\ndef\n"
        );
        let f = ListFormat::new("table", "table {{.ID}}", false).unwrap();
        assert!(f.is_table());
    }

    #[test]
    fn errors_are_template_parsing_errors() {
        let e = ListFormat::new("{{.ID", "", false).unwrap_err();
        assert!(
            e.0.starts_with("template parsing error: template: :1: unclosed action"),
            "{}",
            e.0
        );
        let f = ListFormat::new("{{.Nope}}", "", false).unwrap();
        let e = f
            .render(
                &rows(),
                &header(),
                Missing::FieldError("*formatter.ContainerContext"),
                None,
            )
            .unwrap_err();
        assert!(
            e.0.contains("can't evaluate field Nope in type *formatter.ContainerContext"),
            "{}",
            e.0
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("sleep 10"), "\"sleep 10\"");
        assert_eq!(go_quote("a\"b\\c\n\u{1}…"), "\"a\\\"b\\\\c\\n\\x01…\"");
    }

    #[test]
    fn ids_and_ellipsis() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(
            ellipsis("sleep 1000000000000000000", 20),
            "sleep 1000000000000…"
        );
        assert_eq!(ellipsis("sh", 20), "sh");
    }
}
