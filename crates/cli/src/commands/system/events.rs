//! `berth events`: the daemon's event stream.

use berth_docker_types::events::EventMessage;

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::commands::{FILTER, filters};
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, v};
use crate::format::json::Json;
use crate::format::template::{ExecOptions, Template};
use crate::format::units::api_timestamp;

static FLAGS: &[Flag] = &[
    FILTER,
    v(
        "format",
        "string",
        "Format output using a custom template:\n'json': Print in JSON format\n'TEMPLATE': Print output using the given Go template",
    ),
    v("since", "string", "Show all events created since timestamp"),
    v("until", "string", "Stream events until this timestamp"),
];

pub static SPEC: Spec = Spec::new(
    "events",
    "[OPTIONS]",
    "Get real time events from the server",
    FLAGS,
    Args::None,
)
.aliases("berth system events, berth events");

/// RFC 3339 with nine fraction digits in the local zone (docker's
/// `RFC3339NanoFixed`).
pub fn nano_fixed(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let base = crate::format::units::rfc3339_local(secs);
    // insert the fraction before the zone
    let (dt, zone) = if let Some(s) = base.strip_suffix('Z') {
        (s.to_owned(), "Z".to_owned())
    } else {
        (base[..19].to_owned(), base[19..].to_owned())
    };
    format!("{dt}.{frac:09}{zone}")
}

/// docker's `prettyPrintEvent`.
pub fn pretty(e: &EventMessage) -> String {
    let mut s = String::new();
    if e.time_nano != 0 {
        s.push_str(&nano_fixed(e.time_nano));
        s.push(' ');
    } else if e.time != 0 {
        s.push_str(&nano_fixed(e.time * 1_000_000_000));
        s.push(' ');
    }
    s.push_str(&format!("{} {} {}", e.r#type, e.action, e.actor.id));
    if !e.actor.attributes.is_empty() {
        let attrs: Vec<String> = e
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let f = filters(m)?;
    let ts = |flag: &str| -> anyhow::Result<Option<String>> {
        m.value(flag)
            .filter(|s| !s.is_empty())
            .map(|s| api_timestamp(s).map_err(|e| StatusError::new(1, e)))
            .transpose()
    };
    let (since, until) = (ts("since")?, ts("until")?);
    let format = m.str("format");
    let tmpl = match format {
        "" => None,
        "json" => Some(Template::parse("{{json .}}").map_err(|e| StatusError::new(1, e.0))?),
        f => Some(
            Template::parse(f)
                .map_err(|e| StatusError::new(64, format!("template parsing error: {}", e.0)))?,
        ),
    };
    let q = Query::new()
        .add_if(!f.is_empty(), "filters", &f.to_json())
        .add_if(since.is_some(), "since", since.as_deref().unwrap_or(""))
        .add_if(until.is_some(), "until", until.as_deref().unwrap_or(""));
    let resp = ctx
        .client()?
        .stream("GET", &format!("/events{}", q.as_str()), &[], Body::Empty)?;
    let stream =
        serde_json::Deserializer::from_reader(std::io::BufReader::new(resp)).into_iter::<Json>();
    for ev in stream {
        let ev = ev.map_err(|e| anyhow::anyhow!("error reading the event stream: {e}"))?;
        let line = match &tmpl {
            Some(t) => t
                .execute(&ev, &ExecOptions::default())
                .map_err(|e| StatusError::new(1, format!("template parsing error: {}", e.0)))?,
            None => {
                let msg: EventMessage = serde_json::from_str(&ev.encode(false))
                    .map_err(|e| anyhow::anyhow!("error reading an event: {e}"))?;
                pretty(&msg)
            }
        };
        crate::commands::println(&line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_events() {
        let mut e = EventMessage {
            r#type: "container".into(),
            action: "start".into(),
            time_nano: 1_700_000_000_000_000_001,
            ..Default::default()
        };
        e.actor.id = "abc".into();
        e.actor.attributes.insert("name".into(), "web".into());
        e.actor.attributes.insert("image".into(), "busybox".into());
        let s = pretty(&e);
        assert!(s.contains(".000000001"), "{s}");
        assert!(
            s.ends_with(" container start abc (image=busybox, name=web)"),
            "{s}"
        );
    }
}
