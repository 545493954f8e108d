//! `berth version`: client and server versions. A `--format` that only
//! names `.Client` never contacts the daemon.

use berth_docker_types::system::Version;

use crate::app::Ctx;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, vs};
use crate::format::json::Json;
use crate::format::template::{ExecOptions, Template};

static FLAGS: &[Flag] = &[vs(
    'f',
    "format",
    "string",
    "Format output using a custom template:\n'json': Print in JSON format\n'TEMPLATE': Print output using the given Go template",
)];

pub static SPEC: Spec = Spec::new(
    "version",
    "[OPTIONS]",
    "Show the berth version information",
    FLAGS,
    Args::None,
);

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Set at build time by `BERTH_GIT_COMMIT` (release builds), else "unknown".
pub const GIT_COMMIT: &str = match option_env!("BERTH_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// `berth --version`.
pub fn print_short() -> anyhow::Result<()> {
    crate::commands::println(&format!("berth version {VERSION}, build {GIT_COMMIT}"))?;
    Ok(())
}

fn client_json(api: &str) -> Json {
    Json::obj([
        ("Platform", Json::obj([("Name", Json::str("berth"))])),
        ("Version", Json::str(VERSION)),
        ("ApiVersion", Json::str(api)),
        (
            "DefaultAPIVersion",
            Json::str(berth_docker_types::version::API_VERSION),
        ),
        ("GitCommit", Json::str(GIT_COMMIT)),
        (
            "GoVersion",
            Json::str(format!(
                "rust{}",
                option_env!("CARGO_PKG_RUST_VERSION").unwrap_or("")
            )),
        ),
        ("Os", Json::str(std::env::consts::OS)),
        ("Arch", Json::str(arch())),
        ("BuildTime", Json::str("")),
        ("Context", Json::str("default")),
    ])
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let format = m.str("format");
    let needs_server = format.is_empty()
        || format == "json"
        || format.contains("Server")
        || format.contains("json .")
        || format.contains("$");
    let tmpl = match format {
        "" => None,
        "json" => Some(Template::parse("{{json .}}").map_err(|e| StatusError::new(1, e.0))?),
        f => Some(
            Template::parse(f)
                .map_err(|e| StatusError::new(64, format!("template parsing error: {}", e.0)))?,
        ),
    };
    let (server, server_err): (Option<Vec<u8>>, Option<anyhow::Error>) = if needs_server {
        match ctx.client().and_then(|c| {
            c.call("GET", "/version", crate::client::Body::Empty)
                .map_err(Into::into)
        }) {
            Ok(b) => (Some(b), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    let api = ctx
        .client()
        .ok()
        .filter(|_| server.is_some())
        .and_then(|c| c.version().ok())
        .map(|v| v.to_string())
        .unwrap_or_else(|| berth_docker_types::version::API_VERSION.to_owned());
    let client = client_json(&api);
    if let Some(t) = tmpl {
        let server_json = server
            .as_deref()
            .and_then(|b| Json::parse(b).ok())
            .unwrap_or(Json::Null);
        let data = Json::obj([("Client", client), ("Server", server_json)]);
        let out = t
            .execute(&data, &ExecOptions::default())
            .map_err(|e| StatusError::new(1, format!("template parsing error: {}", e.0)))?;
        crate::commands::println(&out)?;
    } else {
        let mut out = format!(
            "Client:\n Version:           {VERSION}\n API version:       {api}\n Rust version:      {}\n Git commit:        {GIT_COMMIT}\n OS/Arch:           {}/{}\n Context:           default\n",
            option_env!("CARGO_PKG_RUST_VERSION").unwrap_or("1.95"),
            std::env::consts::OS,
            arch()
        );
        if let Some(b) = &server {
            let v: Version = crate::client::decode("version", b)?;
            out.push_str(&format!("\nServer: {}\n", v.platform.name));
            let min = if v.min_api_version.is_empty() {
                String::new()
            } else {
                format!(" (minimum version {})", v.min_api_version)
            };
            out.push_str(&format!(
                " Engine:\n  Version:          {}\n  API version:      {}{min}\n  Go version:       {}\n  Git commit:       {}\n  Built:            {}\n  OS/Arch:          {}/{}\n  Experimental:     {}\n",
                v.version, v.api_version, v.go_version, v.git_commit, v.build_time, v.os, v.arch, v.experimental
            ));
            for c in v.components.unwrap_or_default() {
                if c.name == "Engine" {
                    continue;
                }
                out.push_str(&format!(
                    " {}:\n  Version:          {}\n",
                    c.name, c.version
                ));
                for (k, val) in c.details.unwrap_or_default() {
                    out.push_str(&format!("  {:<18}{val}\n", format!("{k}:")));
                }
            }
        }
        crate::commands::print(&out)?;
    }
    if let Some(e) = server_err {
        return Err(e);
    }
    Ok(())
}
