//! The Go `text/template` subset that `--format` takes, with docker's
//! template functions.
//!
//! Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming and
//! comments; fields (`.A.B`), `.`, variables (`$`, `$x := ...`,
//! `$x = ...`, `range $i, $v := ...`), string/raw/char/number/bool
//! literals, parenthesised pipelines with fields (`(index .X 0).Name`),
//! pipes; `if`/`else if`/`else`, `range`/`else` (arrays, maps in key order,
//! integers) with `break`/`continue`, `with`/`else with`/`else`; Go's
//! functions `and or not len index slice eq ne lt le gt ge print printf
//! println` and docker's `json split join title lower upper pad truncate`;
//! methods with arguments that a list provides (`{{.Label "x"}}` on `ps`).
//!
//! Not supported (a clear error, never ignored): `define`, `template`,
//! `block`, `call`, `html`, `js`, `urlquery`. Values print as Go prints
//! them, with one difference: a JSON object prints as a Go map
//! (`map[k:v]`), where docker prints a typed struct as `{v1 v2}` — use
//! `{{json .X}}` for an exact rendering.

mod exec;
mod parse;

use crate::format::json::Json;

pub use exec::{print, truth};

/// A template that does not parse or does not execute, with Go's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// What a missing field does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// `<no value>` (a Go map with the default option).
    Zero,
    /// `map has no entry for key "X"` (docker's inspect on raw JSON).
    MapError,
    /// `can't evaluate field X in type T` (a typed Go struct, like
    /// `*formatter.ContainerContext`).
    FieldError(&'static str),
}

/// A method hook: `(receiver, name, args)` → `None` when there is no such
/// method.
pub type Methods<'a> = &'a dyn Fn(&Json, &str, &[Json]) -> Option<Result<Json, String>>;

/// How to execute.
#[derive(Clone, Copy)]
pub struct ExecOptions<'a> {
    /// Rendering a table header: docker's header functions pass their
    /// argument through unchanged.
    pub header: bool,
    pub missing: Missing,
    pub methods: Option<Methods<'a>>,
}

impl std::fmt::Debug for ExecOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecOptions")
            .field("header", &self.header)
            .field("missing", &self.missing)
            .finish()
    }
}

impl Default for ExecOptions<'_> {
    fn default() -> Self {
        ExecOptions {
            header: false,
            missing: Missing::Zero,
            methods: None,
        }
    }
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let nodes = parse::parse(src)?;
        Ok(Template {
            src: src.to_owned(),
            nodes,
        })
    }

    pub fn execute(&self, data: &Json, opts: &ExecOptions<'_>) -> Result<String, TemplateError> {
        let mut ex = exec::Exec::new(&self.src, opts, data);
        ex.run(&self.nodes, data)?;
        Ok(ex.finish())
    }

    /// Executes and keeps what was written before an error (docker ignores
    /// errors when rendering table headers).
    pub fn execute_partial(&self, data: &Json, opts: &ExecOptions<'_>) -> String {
        let mut ex = exec::Exec::new(&self.src, opts, data);
        let _ = ex.run(&self.nodes, data);
        ex.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, data: &str) -> Result<String, String> {
        let data = Json::parse(data.as_bytes()).unwrap();
        Template::parse(t)
            .map_err(|e| e.0)?
            .execute(&data, &ExecOptions::default())
            .map_err(|e| e.0)
    }

    fn ok(t: &str, data: &str) -> String {
        run(t, data).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    const INSPECT: &str = r#"{"Id":"abc","Name":"/web","State":{"Status":"running","Running":true,"Pid":42,"ExitCode":0},
        "Config":{"Labels":{"x":"1","com.example.y":"two"},"Env":["A=1","B=2"],"Cmd":null,"Image":"busybox"},
        "HostConfig":{"Binds":null,"Memory":0},"NetworkSettings":{"Networks":{"bridge":{"IPAddress":"10.0.0.2"}}},
        "Mounts":[],"Ratio":0.5}"#;

    #[test]
    fn fields_and_text() {
        assert_eq!(
            ok("{{.Id}} {{.State.Running}} {{.State.Pid}}", INSPECT),
            "abc true 42"
        );
        assert_eq!(ok("x{{/* comment */}}y", INSPECT), "xy");
        assert_eq!(ok("a  {{- .Id -}}  b", INSPECT), "aabcb");
        assert_eq!(ok("{{.Ratio}}", INSPECT), "0.5");
    }

    #[test]
    fn docker_inspect_idioms() {
        assert_eq!(
            ok(r#"{{index .Config.Labels "com.example.y"}}"#, INSPECT),
            "two"
        );
        assert_eq!(
            ok(
                r#"{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"#,
                INSPECT
            ),
            "10.0.0.2"
        );
        assert_eq!(
            ok(
                r#"{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}"#,
                INSPECT
            ),
            "com.example.y=two;x=1;"
        );
        assert_eq!(
            ok(r#"{{json .Config.Labels}}"#, INSPECT),
            r#"{"x":"1","com.example.y":"two"}"#
        );
        assert_eq!(ok(r#"{{join .Config.Env ","}}"#, INSPECT), "A=1,B=2");
        assert_eq!(ok(r#"{{.Config.Env}}"#, INSPECT), "[A=1 B=2]");
        assert_eq!(
            ok(
                r#"{{.HostConfig.Binds}} {{.Config.Cmd}} {{json .HostConfig.Binds}}"#,
                INSPECT
            ),
            "[] [] null"
        );
        assert_eq!(
            ok(r#"{{.Config.Labels}}"#, INSPECT),
            "map[com.example.y:two x:1]"
        );
        assert_eq!(
            ok(r#"{{if .State.Running}}up{{else}}down{{end}}"#, INSPECT),
            "up"
        );
        assert_eq!(
            ok(
                r#"{{if eq .State.Status "exited"}}e{{else if eq .State.Status "running"}}r{{else}}?{{end}}"#,
                INSPECT
            ),
            "r"
        );
        assert_eq!(ok(r#"{{with .State}}{{.Pid}}{{end}}"#, INSPECT), "42");
        assert_eq!(ok(r#"{{len .Mounts}} {{len .Config.Env}}"#, INSPECT), "0 2");
        assert_eq!(
            ok(r#"{{range .Mounts}}m{{else}}none{{end}}"#, INSPECT),
            "none"
        );
        assert_eq!(ok(r#"{{(index .Config.Env 1)}}"#, INSPECT), "B=2");
        assert_eq!(ok(r#"{{.Name | printf "%s!"}}"#, INSPECT), "/web!");
        assert_eq!(
            ok(
                r#"{{printf "%-6s|%3d|%05.1f" .Config.Image .State.Pid .Ratio}}"#,
                INSPECT
            ),
            "busybox| 42|000.5"
        );
        assert_eq!(
            ok(
                r#"{{upper .Config.Image}} {{title "hello world"}} {{lower "AB"}}"#,
                INSPECT
            ),
            "BUSYBOX Hello World ab"
        );
        assert_eq!(
            ok(
                r#"{{split "a:b:c" ":"}} {{truncate .Id 2}} [{{pad "x" 1 2}}]"#,
                INSPECT
            ),
            "[a b c] ab [ x  ]"
        );
    }

    #[test]
    fn variables_and_control() {
        assert_eq!(
            ok(r#"{{$n := .State.Pid}}{{$n}}{{$n = 7}} {{$n}}"#, INSPECT),
            "42 7"
        );
        assert_eq!(
            ok(
                r#"{{range $i, $e := .Config.Env}}{{if $i}},{{end}}{{$e}}{{end}}"#,
                INSPECT
            ),
            "A=1,B=2"
        );
        assert_eq!(
            ok(
                r#"{{range .Config.Env}}{{if eq . "B=2"}}{{break}}{{end}}{{.}}{{end}}"#,
                INSPECT
            ),
            "A=1"
        );
        assert_eq!(
            ok(
                r#"{{range .Config.Env}}{{if eq . "A=1"}}{{continue}}{{end}}{{.}}{{end}}"#,
                INSPECT
            ),
            "B=2"
        );
        assert_eq!(
            ok(r#"{{range $.Config.Env}}{{$.Id}}{{end}}"#, INSPECT),
            "abcabc"
        );
        assert_eq!(
            ok(
                r#"{{and .State.Running .Id}} {{or .HostConfig.Memory "none"}} {{not .State.Running}}"#,
                INSPECT
            ),
            "abc none false"
        );
        assert_eq!(
            ok(
                r#"{{if and (gt .State.Pid 1) (lt .State.Pid 100)}}ok{{end}}"#,
                INSPECT
            ),
            "ok"
        );
        assert_eq!(ok(r#"{{range 3}}{{.}}{{end}}"#, INSPECT), "012");
    }

    #[test]
    fn go_field_names_reach_json_keys() {
        let d = r#"{"Id":"abc","HostConfig":{"Dns":["1.1.1.1"]},"ApiVersion":"1.50"}"#;
        assert_eq!(
            ok("{{.ID}} {{.HostConfig.DNS}} {{.APIVersion}}", d),
            "abc [1.1.1.1] 1.50"
        );
        assert_eq!(ok("{{.id}}", d), "<no value>");
    }

    #[test]
    fn missing_and_errors() {
        assert_eq!(ok("{{.Nope}}", INSPECT), "<no value>");
        let data = Json::parse(INSPECT.as_bytes()).unwrap();
        let t = Template::parse("{{.Nope}}").unwrap();
        let e = t
            .execute(
                &data,
                &ExecOptions {
                    missing: Missing::MapError,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(
            e.0,
            r#"template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope""#
        );
        let e = t
            .execute(
                &data,
                &ExecOptions {
                    missing: Missing::FieldError("*formatter.ContainerContext"),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(
            e.0,
            r#"template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"#
        );
        assert_eq!(
            run("{{nope .}}", "{}").unwrap_err(),
            r#"template: :1: function "nope" not defined"#
        );
        assert!(run("{{.Id", "{}").unwrap_err().contains("unclosed action"));
        assert!(
            run("{{if .Id}}x", "{}")
                .unwrap_err()
                .contains("unexpected EOF")
        );
        assert!(
            run("{{end}}", "{}")
                .unwrap_err()
                .contains("unexpected {{end}}")
        );
        assert!(
            run(r#"{{template "x"}}"#, "{}")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            run(r#"{{index .Config.Env 5}}"#, INSPECT)
                .unwrap_err()
                .contains("index out of range: 5")
        );
        assert!(
            run(r#"{{eq .State.Pid "x"}}"#, INSPECT)
                .unwrap_err()
                .contains("incompatible types for comparison")
        );
        assert!(
            run(r#"{{.Id.Foo}}"#, INSPECT)
                .unwrap_err()
                .contains("can't evaluate field Foo in type string")
        );
        assert!(
            run(r#"{{break}}"#, INSPECT)
                .unwrap_err()
                .contains("outside")
        );
    }

    #[test]
    fn methods_and_headers() {
        let row = Json::obj([
            ("Names", Json::str("web")),
            ("\0labels", Json::obj([("a", Json::str("1"))])),
        ]);
        let methods = |recv: &Json, name: &str, args: &[Json]| -> Option<Result<Json, String>> {
            if name != "Label" {
                return None;
            }
            let key = args.first().and_then(Json::as_str).unwrap_or("");
            Some(Ok(recv
                .get("\0labels")
                .and_then(|l| l.get(key))
                .cloned()
                .unwrap_or(Json::str(""))))
        };
        let t = Template::parse(r#"{{.Names}} {{.Label "a"}} {{json .}}"#).unwrap();
        let out = t
            .execute(
                &row,
                &ExecOptions {
                    methods: Some(&methods),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(out, r#"web 1 {"Names":"web"}"#);
        let header = Json::obj([("Names", Json::str("NAMES"))]);
        let t = Template::parse(r#"{{upper .Names}}|{{json .Names}}|{{pad .Names 1 1}}"#).unwrap();
        assert_eq!(
            t.execute(
                &header,
                &ExecOptions {
                    header: true,
                    ..Default::default()
                }
            )
            .unwrap(),
            "NAMES|NAMES| NAMES "
        );
    }
}
