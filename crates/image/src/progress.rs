//! Progress of pulls and pushes, per layer, for docker's JSON progress stream.

use std::sync::Arc;

use crate::digest::Digest;

/// One progress event. `id` is the short (12 hex) layer digest, as docker shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Resolving a reference to a manifest.
    Resolving { reference: String },
    /// The manifest was found.
    Resolved { reference: String, digest: Digest },
    /// A layer waits for a download slot (or for its parent layer).
    Waiting { id: String },
    /// The layer (or blob) is already present; nothing to do.
    AlreadyExists { id: String },
    Downloading { id: String, current: u64, total: u64 },
    /// All bytes are in; checking size and digest.
    Verifying { id: String },
    DownloadComplete { id: String },
    /// Decompressing and unpacking; `current` counts compressed bytes.
    Extracting { id: String, current: u64, total: u64 },
    /// Layer committed (pull) or pushed (push).
    Done { id: String },
    /// Push: the blob was mounted from another repository.
    Mounted { id: String, from: String },
    Pushing { id: String, current: u64, total: u64 },
    /// The whole operation finished.
    Complete { reference: String, digest: Digest },
}

/// Where progress goes: a callback, possibly none. Cheap to clone.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(Event) + Send + Sync>>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Progress(callback)" } else { "Progress(none)" })
    }
}

impl Progress {
    /// Discards events.
    pub fn none() -> Self {
        Self(None)
    }

    /// Calls `f` for each event (from any thread; keep it quick).
    pub fn new(f: impl Fn(Event) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// Events into an unbounded channel (what berthd turns into JSON lines).
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self::new(move |e| drop(tx.send(e))), rx)
    }

    pub fn emit(&self, e: Event) {
        if let Some(f) = &self.0 {
            f(e);
        }
    }
}

/// Docker's layer id in progress output.
pub(crate) fn short_id(d: &Digest) -> String {
    d.short().to_owned()
}
