//! Images: berth-image records and config files → docker's list, inspect
//! and history JSON; image filters; pull/push progress → `JSONMessage`s.

use std::collections::{BTreeMap, HashMap, HashSet};

use berth_docker_types::container::DriverData;
use berth_docker_types::de::Empty;
use berth_docker_types::image as di;
use berth_docker_types::progress::JsonMessage;
use berth_docker_types::time::{ZERO_TIME, format_rfc3339_nano, parse_rfc3339, unix_seconds};
use berth_image::progress::Event;
use berth_image::{Image, ImageConfigFile, Reference};

/// docker's short form of a stored name (`busybox:latest`); the name as is
/// when it does not parse.
pub fn familiar(name: &str) -> String {
    Reference::parse(name).map(|r| r.familiar()).unwrap_or_else(|_| name.to_owned())
}

/// The creation time of an image in seconds (its config's `created`, else
/// when it was stored).
pub fn created_seconds(image: &Image) -> i64 {
    image
        .record
        .created
        .as_deref()
        .and_then(parse_rfc3339)
        .map(unix_seconds)
        .unwrap_or_else(|| i64::try_from(image.record.added).unwrap_or(0))
}

fn map_opt<V: Clone>(m: &Option<BTreeMap<String, V>>) -> Option<BTreeMap<String, Empty>> {
    m.as_ref().filter(|m| !m.is_empty()).map(|m| m.keys().map(|k| (k.clone(), Empty)).collect())
}

/// The image config as inspect shows it.
pub fn config(c: &berth_image::ImageConfig) -> di::ImageConfig {
    di::ImageConfig {
        user: c.user.clone().unwrap_or_default(),
        exposed_ports: map_opt(&c.exposed_ports),
        env: c.env.clone(),
        entrypoint: c.entrypoint.clone(),
        cmd: c.cmd.clone(),
        volumes: map_opt(&c.volumes),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        labels: c.labels.clone(),
        stop_signal: c.stop_signal.clone().unwrap_or_default(),
        args_escaped: c.args_escaped.unwrap_or(false),
        healthcheck: c.healthcheck.as_ref().map(|h| berth_docker_types::container::HealthConfig {
            test: h.test.clone(),
            interval: h.interval.unwrap_or(0),
            timeout: h.timeout.unwrap_or(0),
            start_period: h.start_period.unwrap_or(0),
            start_interval: h.start_interval.unwrap_or(0),
            retries: h.retries.unwrap_or(0),
        }),
        on_build: c.on_build.clone(),
        shell: c.shell.clone(),
    }
}

fn extra_str(cfg: &ImageConfigFile, key: &str) -> String {
    cfg.extra.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
}

/// `GET /images/{name}/json`.
pub fn inspect(image: &Image, cfg: &ImageConfigFile) -> di::ImageInspect {
    let created = cfg.created.as_deref().and_then(parse_rfc3339).map(format_rfc3339_nano).unwrap_or_default();
    di::ImageInspect {
        id: image.id.to_string(),
        repo_tags: image.repo_tags.iter().map(|t| familiar(t)).collect(),
        repo_digests: image.repo_digests.iter().map(|t| familiar(t)).collect(),
        parent: String::new(),
        comment: extra_str(cfg, "comment"),
        created,
        docker_version: extra_str(cfg, "docker_version"),
        author: cfg.author.clone().unwrap_or_default(),
        config: Some(cfg.config.as_ref().map(config).unwrap_or_default()),
        architecture: cfg.architecture.clone(),
        variant: cfg.variant.clone().unwrap_or_default(),
        os: cfg.os.clone(),
        os_version: extra_str(cfg, "os.version"),
        size: i64::try_from(image.record.size).unwrap_or(i64::MAX),
        graph_driver: DriverData { name: "overlay2".to_owned(), data: Some(BTreeMap::new()) },
        root_fs: di::RootFs { r#type: "layers".to_owned(), layers: Some(cfg.rootfs.diff_ids.iter().map(ToString::to_string).collect()) },
        metadata: di::ImageMetadata { last_tag_time: ZERO_TIME.to_owned() },
        descriptor: None,
    }
}

/// `GET /images/{name}/history`, newest first. Layer sizes are the stored
/// (compressed) blob sizes.
pub fn history(image: &Image, cfg: &ImageConfigFile) -> Vec<di::HistoryItem> {
    let mut layers = image.record.layers.iter();
    let mut items: Vec<di::HistoryItem> = if cfg.history.is_empty() {
        image
            .record
            .layers
            .iter()
            .map(|l| di::HistoryItem {
                id: "<missing>".into(),
                created: created_seconds(image),
                created_by: String::new(),
                tags: None,
                size: i64::try_from(l.size).unwrap_or(0),
                comment: String::new(),
            })
            .collect()
    } else {
        cfg.history
            .iter()
            .map(|h| {
                let size = if h.empty_layer { 0 } else { layers.next().map(|l| i64::try_from(l.size).unwrap_or(0)).unwrap_or(0) };
                di::HistoryItem {
                    id: "<missing>".into(),
                    created: h.created.as_deref().and_then(parse_rfc3339).map(unix_seconds).unwrap_or(0),
                    created_by: h.created_by.clone().unwrap_or_default(),
                    tags: None,
                    size,
                    comment: h.comment.clone().unwrap_or_default(),
                }
            })
            .collect()
    };
    items.reverse();
    if let Some(top) = items.first_mut() {
        top.id = image.id.to_string();
        let tags: Vec<String> = image.repo_tags.iter().map(|t| familiar(t)).collect();
        top.tags = (!tags.is_empty()).then_some(tags);
    }
    items
}

/// One row of `GET /images/json`. `containers` and `shared_size` are -1
/// when not computed, as docker reports them.
pub fn summary(image: &Image, labels: Option<BTreeMap<String, String>>, containers: i64, shared_size: i64) -> di::ImageSummary {
    di::ImageSummary {
        containers,
        created: created_seconds(image),
        id: image.id.to_string(),
        labels,
        parent_id: String::new(),
        descriptor: None,
        repo_digests: image.repo_digests.iter().map(|t| familiar(t)).collect(),
        repo_tags: image.repo_tags.iter().map(|t| familiar(t)).collect(),
        shared_size,
        size: i64::try_from(image.record.size).unwrap_or(i64::MAX),
    }
}

/// Bytes of each image's layers that other images share too.
pub fn shared_sizes(images: &[Image]) -> HashMap<String, i64> {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for i in images {
        let distinct: HashSet<&str> = i.record.chain_ids.iter().map(String::as_str).collect();
        for c in distinct {
            *uses.entry(c).or_default() += 1;
        }
    }
    images
        .iter()
        .map(|i| {
            let shared: u64 = i
                .record
                .chain_ids
                .iter()
                .zip(&i.record.layers)
                .filter(|(c, _)| uses.get(c.as_str()).copied().unwrap_or(0) > 1)
                .map(|(_, l)| l.size)
                .sum();
            (i.id.to_string(), i64::try_from(shared).unwrap_or(i64::MAX))
        })
        .collect()
}

/// docker's `reference` filter: a glob (`*`, `?`, `[...]` as Go's
/// `path.Match`, where `*` does not cross `/`) against the familiar name,
/// or against `name:tag`.
pub fn reference_matches(pattern: &str, familiar_ref: &str) -> bool {
    let name = match familiar_ref.rfind(':') {
        Some(i) if !familiar_ref[i..].contains('/') => &familiar_ref[..i],
        _ => familiar_ref,
    };
    glob(pattern.as_bytes(), familiar_ref.as_bytes()) || glob(pattern.as_bytes(), name.as_bytes())
}

/// Go's `path.Match`: `*` matches any run of non-`/` bytes, `?` one
/// non-`/` byte, `[a-z]`/`[^x]` classes, `\` escapes.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => {
            let rest = &p[1..];
            let mut i = 0;
            loop {
                if glob(rest, &s[i..]) {
                    return true;
                }
                if i >= s.len() || s[i] == b'/' {
                    return false;
                }
                i += 1;
            }
        }
        Some(b'?') => !s.is_empty() && s[0] != b'/' && glob(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some((&c, rest_s)) = s.split_first() else { return false };
            let mut i = 1;
            let negate = p.get(1) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            while i < p.len() && (first || p[i] != b']') {
                first = false;
                let lo = if p[i] == b'\\' && i + 1 < p.len() {
                    i += 1;
                    p[i]
                } else {
                    p[i]
                };
                let hi = if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
                    i += 2;
                    p[i]
                } else {
                    lo
                };
                if lo <= c && c <= hi {
                    matched = true;
                }
                i += 1;
            }
            if i >= p.len() {
                return false; // unterminated class: Go reports ErrBadPattern
            }
            matched != negate && c != b'/' && glob(&p[i + 1..], rest_s)
        }
        Some(b'\\') if p.len() > 1 => !s.is_empty() && s[0] == p[1] && glob(&p[2..], &s[1..]),
        Some(&c) => !s.is_empty() && s[0] == c && glob(&p[1..], &s[1..]),
    }
}

/// Turns berth-image progress events into dockerd's pull/push lines.
#[derive(Debug, Default)]
pub struct ProgressTranslator {
    push: bool,
    /// `docker load`: layer progress only (none when quiet).
    load: Option<bool>,
    seen: HashSet<String>,
    /// Whether any layer was fetched (pull: "Downloaded newer image" vs
    /// "Image is up to date").
    downloaded: bool,
    /// `Resolved` was seen: from here on, output is committed (HTTP 200);
    /// an error before it is answered with a proper HTTP error instead.
    pub committed: bool,
    /// The familiar reference, for the final status line.
    pub reference: String,
    /// Push: the size of the pushed manifest, for the final line.
    pub manifest_size: Option<u64>,
    /// Progress of this blob id is not shown (the config blob of a push).
    pub skip_id: Option<String>,
}

impl ProgressTranslator {
    pub fn pull(reference: &str) -> Self {
        Self { reference: reference.to_owned(), ..Default::default() }
    }

    pub fn push(reference: &str) -> Self {
        Self { push: true, reference: reference.to_owned(), ..Default::default() }
    }

    /// `docker load`; `quiet` leaves out the per-layer progress.
    pub fn load(quiet: bool) -> Self {
        Self { load: Some(quiet), ..Default::default() }
    }

    /// Push: the first line, `The push refers to repository [...]`.
    pub fn push_start(&mut self) -> JsonMessage {
        self.committed = true;
        let repo = match self.reference.rfind(':') {
            Some(i) if !self.reference[i..].contains('/') => &self.reference[..i],
            _ => &self.reference,
        };
        JsonMessage::status(format!("The push refers to repository [{repo}]"), "")
    }

    fn first(&mut self, id: &str, out: &mut Vec<JsonMessage>) {
        if self.seen.insert(id.to_owned()) {
            let mut m = JsonMessage::status(if self.push { "Preparing" } else { "Pulling fs layer" }, id);
            m.progress_detail = Some(Default::default());
            out.push(m);
        }
    }

    /// The lines for one event (possibly none).
    pub fn translate(&mut self, e: &Event) -> Vec<JsonMessage> {
        let mut out = Vec::new();
        if let (Some(skip), Some(id)) = (&self.skip_id, event_id(e))
            && skip == id
        {
            return out;
        }
        if let Some(quiet) = self.load {
            // any progress means the archive is being read: answer 200 from here
            self.committed = true;
            if let (false, Event::Extracting { id, current, total }) = (quiet, e) {
                out.push(JsonMessage::progress("Loading layer", id.as_str(), to_i64(*current), to_i64(*total)));
            }
            return out;
        }
        let detail = |mut m: JsonMessage| {
            m.progress_detail = Some(Default::default());
            m
        };
        match e {
            Event::Resolving { .. } => {}
            Event::Resolved { reference, .. } => {
                self.committed = true;
                if !self.push {
                    let r = Reference::parse(reference).ok();
                    let name = r.as_ref().map(|r| familiar(&format!("{}:x", r.name()))).unwrap_or_default();
                    let name = name.strip_suffix(":x").unwrap_or(&name).to_owned();
                    let tag = r.as_ref().map(|r| r.manifest_reference()).unwrap_or_default();
                    out.push(JsonMessage::status(format!("Pulling from {name}"), tag));
                }
            }
            Event::Waiting { id } => {
                self.first(id, &mut out);
                out.push(detail(JsonMessage::status("Waiting", id.as_str())));
            }
            Event::AlreadyExists { id } => {
                self.seen.insert(id.clone());
                out.push(detail(JsonMessage::status(if self.push { "Layer already exists" } else { "Already exists" }, id.as_str())));
            }
            Event::Downloading { id, current, total } => {
                self.first(id, &mut out);
                self.downloaded = true;
                out.push(JsonMessage::progress("Downloading", id.as_str(), to_i64(*current), to_i64(*total)));
            }
            Event::Verifying { id } => out.push(detail(JsonMessage::status("Verifying Checksum", id.as_str()))),
            Event::DownloadComplete { id } => out.push(detail(JsonMessage::status("Download complete", id.as_str()))),
            Event::Extracting { id, current, total } => {
                self.downloaded = true;
                out.push(JsonMessage::progress("Extracting", id.as_str(), to_i64(*current), to_i64(*total)));
            }
            Event::Done { id } => out.push(detail(JsonMessage::status(if self.push { "Pushed" } else { "Pull complete" }, id.as_str()))),
            Event::Mounted { id, from } => {
                self.first(id, &mut out);
                out.push(detail(JsonMessage::status(format!("Mounted from {}", familiar(&format!("{from}:x")).trim_end_matches(":x")), id.as_str())));
            }
            Event::Pushing { id, current, total } => {
                self.first(id, &mut out);
                out.push(JsonMessage::progress("Pushing", id.as_str(), to_i64(*current), to_i64(*total)));
            }
            Event::Complete { reference, digest } => {
                if self.push {
                    let tag = Reference::parse(reference).ok().and_then(|r| r.tag().map(str::to_owned)).unwrap_or_default();
                    let (line, aux) = match self.manifest_size {
                        Some(size) => (
                            format!("{tag}: digest: {digest} size: {size}"),
                            serde_json::json!({"Tag": tag, "Digest": digest.to_string(), "Size": size}),
                        ),
                        None => (format!("{tag}: digest: {digest}"), serde_json::json!({"Tag": tag, "Digest": digest.to_string()})),
                    };
                    out.push(JsonMessage::status(line, ""));
                    out.push(JsonMessage { progress_detail: Some(Default::default()), aux: Some(aux), ..Default::default() });
                } else {
                    out.push(JsonMessage::status(format!("Digest: {digest}"), ""));
                    let verb = if self.downloaded { "Downloaded newer image for" } else { "Image is up to date for" };
                    out.push(JsonMessage::status(format!("Status: {verb} {}", self.reference), ""));
                }
            }
        }
        out
    }
}

/// The layer id an event is about, if any.
fn event_id(e: &Event) -> Option<&str> {
    match e {
        Event::Waiting { id }
        | Event::AlreadyExists { id }
        | Event::Downloading { id, .. }
        | Event::Verifying { id }
        | Event::DownloadComplete { id }
        | Event::Extracting { id, .. }
        | Event::Done { id }
        | Event::Mounted { id, .. }
        | Event::Pushing { id, .. } => Some(id),
        Event::Resolving { .. } | Event::Resolved { .. } | Event::Complete { .. } => None,
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob(b"busy*", b"busybox"));
        assert!(!glob(b"*", b"a/b"));
        assert!(glob(b"*/*", b"a/b"));
        assert!(glob(b"b?sybox", b"busybox"));
        assert!(glob(b"[a-c]usybox", b"busybox"));
        assert!(!glob(b"[^b]usybox", b"busybox"));
        assert!(!glob(b"[abc", b"a"));
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("busybox:1", "busybox:latest"));
        assert!(reference_matches("127.0.0.1:5000/*", "127.0.0.1:5000/busybox:latest"));
    }

    #[test]
    fn pull_lines() {
        let d = berth_image::Digest::of(b"x");
        let mut t = ProgressTranslator::pull("busybox:latest");
        assert!(t.translate(&Event::Resolving { reference: "docker.io/library/busybox:latest".into() }).is_empty());
        assert!(!t.committed);
        let l = t.translate(&Event::Resolved { reference: "docker.io/library/busybox:latest".into(), digest: d.clone() });
        assert!(t.committed);
        assert_eq!(serde_json::to_string(&l[0]).unwrap(), r#"{"status":"Pulling from busybox","id":"latest"}"#);
        let l = t.translate(&Event::Downloading { id: "abc".into(), current: 5, total: 10 });
        assert_eq!(serde_json::to_string(&l[0]).unwrap(), r#"{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}"#);
        assert_eq!(l[1].status, "Downloading");
        let l = t.translate(&Event::Done { id: "abc".into() });
        assert_eq!(l[0].status, "Pull complete");
        let l = t.translate(&Event::Complete { reference: "docker.io/library/busybox:latest".into(), digest: d.clone() });
        assert_eq!(l[0].status, format!("Digest: {d}"));
        assert_eq!(l[1].status, "Status: Downloaded newer image for busybox:latest");
        let mut t = ProgressTranslator::pull("busybox:latest");
        t.translate(&Event::AlreadyExists { id: "abc".into() });
        let l = t.translate(&Event::Complete { reference: "x".into(), digest: d });
        assert_eq!(l[1].status, "Status: Image is up to date for busybox:latest");
    }

    #[test]
    fn push_lines() {
        let d = berth_image::Digest::of(b"x");
        let mut t = ProgressTranslator::push("127.0.0.1:5000/busybox:latest");
        assert_eq!(t.push_start().status, "The push refers to repository [127.0.0.1:5000/busybox]");
        t.manifest_size = Some(527);
        let l = t.translate(&Event::Complete { reference: "127.0.0.1:5000/busybox:latest".into(), digest: d.clone() });
        assert_eq!(l[0].status, format!("latest: digest: {d} size: 527"));
        assert_eq!(l[1].aux.as_ref().unwrap()["Size"], 527);
    }
}
