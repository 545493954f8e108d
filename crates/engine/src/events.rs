//! The event bus: every lifecycle step publishes a docker-shaped
//! [`Event`]; subscribers get a replay of the recent past (`since`) and then
//! live events until `until`, filtered as `docker events --filter` does.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::{broadcast, mpsc};

use crate::model::{Event, EventType, EventsOptions};

/// How many past events are kept for `since` replays (docker keeps 256).
const HISTORY: usize = 1024;

#[derive(Debug)]
pub(crate) struct Bus {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

/// A subscription: events in order; ends at `until` or when the engine
/// shuts down.
pub type EventStream = mpsc::Receiver<Event>;

impl Bus {
    pub(crate) fn new() -> Bus {
        let (tx, _) = broadcast::channel(4096);
        Bus { tx, history: Mutex::new(VecDeque::with_capacity(HISTORY)) }
    }

    pub(crate) fn publish(&self, typ: EventType, action: impl Into<String>, actor: impl Into<String>, attributes: BTreeMap<String, String>) {
        let mut time = crate::time::now_nanos();
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        // strictly increasing, so that `since`/`until` replays are exact
        if let Some(last) = h.back()
            && time <= last.time_nano
        {
            time = last.time_nano + 1;
        }
        let e = Event { typ, action: action.into(), actor_id: actor.into(), attributes, time_nano: time };
        tracing::debug!(event = %e.action, actor = %e.actor_id, "event");
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(e.clone());
        // published while the history lock is held: subscribers see no gap
        let _ = self.tx.send(e);
    }

    pub(crate) fn subscribe(&self, opts: EventsOptions) -> EventStream {
        let (out, rx) = mpsc::channel(256);
        let (replay, mut live) = {
            let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            let replay: Vec<Event> = if opts.since > 0 || opts.until > 0 {
                h.iter()
                    .filter(|e| (opts.since == 0 || e.time_nano >= opts.since) && (opts.until == 0 || e.time_nano <= opts.until))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            (replay, self.tx.subscribe())
        };
        tokio::spawn(async move {
            let mut last = 0;
            for e in replay {
                last = e.time_nano;
                if matches(&e, &opts.filters) && out.send(e).await.is_err() {
                    return;
                }
            }
            let now = crate::time::now_nanos();
            if opts.until > 0 && opts.until <= now {
                return;
            }
            let deadline = (opts.until > 0).then(|| std::time::Duration::from_nanos((opts.until - now) as u64));
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => return,
                    _ = out.closed() => return,
                    r = live.recv() => match r {
                        Ok(e) => {
                            if e.time_nano <= last {
                                continue;
                            }
                            if matches(&e, &opts.filters) && out.send(e).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "an events subscriber fell behind");
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
        });
        rx
    }
}

/// docker's event filters: values of one key are ORed, keys ANDed.
pub(crate) fn matches(e: &Event, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(k, vals)| {
        if vals.is_empty() {
            return true;
        }
        vals.iter().any(|v| match k.as_str() {
            "type" => e.typ.as_str() == v,
            "event" => e.action == *v || e.action.split(':').next() == Some(v.as_str()),
            "container" => {
                e.typ == EventType::Container
                    && (e.actor_id.starts_with(v.as_str()) || e.attributes.get("name").is_some_and(|n| n == v.trim_start_matches('/')))
            }
            "image" => {
                e.attributes.get("image").is_some_and(|i| i == v || i.starts_with(&format!("{v}:")))
                    || (e.typ == EventType::Image && (e.actor_id == *v || e.actor_id.starts_with(&format!("{v}:"))))
            }
            "label" => match v.split_once('=') {
                Some((lk, lv)) => e.attributes.get(lk).is_some_and(|x| x == lv),
                None => e.attributes.contains_key(v),
            },
            "volume" => e.typ == EventType::Volume && e.actor_id == *v,
            "network" => e.typ == EventType::Network && (e.actor_id.starts_with(v.as_str()) || e.attributes.get("name") == Some(v)),
            "daemon" => e.typ == EventType::Daemon,
            "scope" => v == "local",
            _ => false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[tokio::test]
    async fn replay_then_live_filtered_until() {
        let bus = Bus::new();
        bus.publish(EventType::Container, "create", "aaa", attrs(&[("name", "web"), ("image", "busybox")]));
        bus.publish(EventType::Image, "pull", "busybox:latest", attrs(&[("name", "busybox")]));
        let since = 1;
        let mut f = BTreeMap::new();
        f.insert("type".to_string(), vec!["container".to_string()]);
        let mut rx = bus.subscribe(EventsOptions { since, until: 0, filters: f });
        let e = rx.recv().await.unwrap();
        assert_eq!((e.action.as_str(), e.actor_id.as_str()), ("create", "aaa"));
        bus.publish(EventType::Image, "tag", "x", BTreeMap::new());
        bus.publish(EventType::Container, "start", "aaa", attrs(&[("name", "web")]));
        let e = rx.recv().await.unwrap();
        assert_eq!(e.action, "start");
        // until in the past: replay only, then the stream ends
        let now = crate::time::now_nanos();
        let mut rx = bus.subscribe(EventsOptions { since: 1, until: now, filters: BTreeMap::new() });
        let mut n = 0;
        while rx.recv().await.is_some() {
            n += 1;
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn filter_keys() {
        let e = Event {
            typ: EventType::Container,
            action: "exec_start: sh -c true".into(),
            actor_id: "abcdef".into(),
            attributes: attrs(&[("name", "web"), ("image", "busybox"), ("com.x", "1")]),
            time_nano: 1,
        };
        let f = |k: &str, v: &str| -> BTreeMap<String, Vec<String>> { [(k.to_string(), vec![v.to_string()])].into() };
        assert!(matches(&e, &f("event", "exec_start")));
        assert!(matches(&e, &f("container", "web")));
        assert!(matches(&e, &f("container", "abc")));
        assert!(matches(&e, &f("image", "busybox")));
        assert!(matches(&e, &f("label", "com.x=1")));
        assert!(matches(&e, &f("label", "com.x")));
        assert!(!matches(&e, &f("label", "com.x=2")));
        assert!(!matches(&e, &f("type", "image")));
    }
}
