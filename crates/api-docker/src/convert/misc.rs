//! Events, stats, execs and volumes: engine types ↔ docker's JSON.

use berth_docker_types::events::{EventActor, EventMessage};
use berth_docker_types::exec::{ExecCreateRequest, ExecInspect, ExecProcessConfig};
use berth_docker_types::stats as ds;
use berth_docker_types::volume::{UsageData, Volume};
use berth_engine::model::{Event, EventType, ExecDetails, StatsSample, VolumeInfo};
use berth_engine::spec::ExecSpec;

use super::time_or_zero;
use crate::error::ApiError;

/// One event as `GET /events` streams it, with the pre-1.22 `status`, `id`
/// and `from` fields docker still fills for containers and images.
pub fn event(e: &Event) -> EventMessage {
    let legacy = matches!(e.typ, EventType::Container | EventType::Image);
    EventMessage {
        status: if legacy { e.action.clone() } else { String::new() },
        id: if legacy { e.actor_id.clone() } else { String::new() },
        from: if e.typ == EventType::Container { e.attributes.get("image").cloned().unwrap_or_default() } else { String::new() },
        r#type: e.typ.as_str().to_owned(),
        action: e.action.clone(),
        actor: EventActor { id: e.actor_id.clone(), attributes: e.attributes.clone() },
        scope: "local".to_owned(),
        time: e.time_nano.div_euclid(1_000_000_000),
        time_nano: e.time_nano,
    }
}

fn cpu(c: &berth_engine::model::CpuSample) -> ds::CpuStats {
    ds::CpuStats {
        cpu_usage: ds::CpuUsage {
            total_usage: c.total_usage,
            percpu_usage: (!c.percpu_usage.is_empty()).then(|| c.percpu_usage.clone()),
            usage_in_kernelmode: c.usage_in_kernelmode,
            usage_in_usermode: c.usage_in_usermode,
        },
        system_cpu_usage: c.system_cpu_usage,
        online_cpus: c.online_cpus,
        throttling_data: ds::ThrottlingData {
            periods: c.throttling_periods,
            throttled_periods: c.throttled_periods,
            throttled_time: c.throttled_time,
        },
    }
}

fn blkio(v: &[(u64, u64, String, u64)]) -> Option<Vec<ds::BlkioStatEntry>> {
    Some(v.iter().map(|(major, minor, op, value)| ds::BlkioStatEntry { major: *major, minor: *minor, op: op.clone(), value: *value }).collect())
}

/// One stats sample.
pub fn stats(s: &StatsSample) -> ds::StatsResponse {
    ds::StatsResponse {
        name: format!("/{}", s.name.trim_start_matches('/')),
        id: s.id.clone(),
        read: time_or_zero(s.read),
        preread: time_or_zero(s.preread),
        pids_stats: ds::PidsStats { current: s.pids_current, limit: s.pids_limit },
        blkio_stats: ds::BlkioStats {
            io_service_bytes_recursive: blkio(&s.blkio_io_service_bytes),
            io_serviced_recursive: (!s.blkio_io_serviced.is_empty()).then(|| blkio(&s.blkio_io_serviced)).flatten(),
            ..Default::default()
        },
        num_procs: 0,
        storage_stats: ds::StorageStats::default(),
        cpu_stats: cpu(&s.cpu),
        precpu_stats: cpu(&s.precpu),
        memory_stats: ds::MemoryStats {
            usage: s.memory_usage,
            max_usage: s.memory_max_usage,
            stats: (!s.memory_stats.is_empty()).then(|| s.memory_stats.clone()),
            failcnt: 0,
            limit: s.memory_limit,
        },
        networks: (!s.networks.is_empty()).then(|| {
            s.networks
                .iter()
                .map(|(k, n)| {
                    (k.clone(), ds::NetworkStats {
                        rx_bytes: n.rx_bytes,
                        rx_packets: n.rx_packets,
                        rx_errors: n.rx_errors,
                        rx_dropped: n.rx_dropped,
                        tx_bytes: n.tx_bytes,
                        tx_packets: n.tx_packets,
                        tx_errors: n.tx_errors,
                        tx_dropped: n.tx_dropped,
                    })
                })
                .collect()
        }),
    }
}

/// `POST /containers/{id}/exec` body → the engine's exec spec.
pub fn exec_spec(r: ExecCreateRequest) -> Result<ExecSpec, ApiError> {
    let cmd = r.cmd.unwrap_or_default();
    if cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let console_size = match r.console_size {
        Some([h, w]) if h > 0 || w > 0 => Some((
            u16::try_from(h).map_err(|_| ApiError::bad_request("invalid ConsoleSize height"))?,
            u16::try_from(w).map_err(|_| ApiError::bad_request("invalid ConsoleSize width"))?,
        )),
        _ => None,
    };
    Ok(ExecSpec {
        cmd,
        env: r.env.unwrap_or_default(),
        user: (!r.user.is_empty()).then_some(r.user),
        working_dir: (!r.working_dir.is_empty()).then_some(r.working_dir),
        tty: r.tty,
        attach_stdin: r.attach_stdin,
        attach_stdout: r.attach_stdout,
        attach_stderr: r.attach_stderr,
        privileged: r.privileged,
        detach_keys: (!r.detach_keys.is_empty()).then_some(r.detach_keys),
        console_size,
    })
}

/// `GET /exec/{id}/json`.
pub fn exec_inspect(d: &ExecDetails) -> ExecInspect {
    ExecInspect {
        id: d.id.clone(),
        running: d.running,
        exit_code: d.exit_code.map(i64::from),
        process_config: Some(ExecProcessConfig {
            tty: d.spec.tty,
            entrypoint: d.entrypoint.clone(),
            arguments: d.arguments.clone(),
            privileged: Some(d.spec.privileged),
            user: d.user.clone(),
        }),
        open_stdin: d.open_stdin,
        open_stderr: d.open_stderr,
        open_stdout: d.open_stdout,
        can_remove: d.can_remove,
        container_id: d.container_id.clone(),
        detach_keys: String::new(),
        pid: i64::from(d.pid),
    }
}

/// A volume; `UsageData` only when the engine computed it (`system df`).
pub fn volume(v: &VolumeInfo) -> Volume {
    Volume {
        created_at: time_or_zero(v.created_at),
        driver: v.driver.clone(),
        labels: Some(v.labels.clone()),
        mountpoint: v.mountpoint.clone(),
        name: v.name.clone(),
        options: Some(v.options.clone()),
        scope: v.scope.clone(),
        status: None,
        usage_data: match (v.size, v.ref_count) {
            (None, None) => None,
            (size, refs) => Some(UsageData { size: size.unwrap_or(-1), ref_count: refs.unwrap_or(-1) }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn container_event_has_legacy_fields() {
        let e = Event {
            typ: EventType::Container,
            action: "start".into(),
            actor_id: "abc".into(),
            attributes: [("image".to_string(), "busybox".to_string()), ("name".to_string(), "web".to_string())].into(),
            time_nano: 1_700_000_000_123_456_789,
        };
        let v = serde_json::to_value(event(&e)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"status":"start","id":"abc","from":"busybox","Type":"container","Action":"start",
                "Actor":{"ID":"abc","Attributes":{"image":"busybox","name":"web"}},"scope":"local",
                "time":1_700_000_000i64,"timeNano":1_700_000_000_123_456_789i64})
        );
        let e = Event { typ: EventType::Volume, action: "create".into(), actor_id: "v".into(), attributes: BTreeMap::new(), time_nano: 5 };
        let v = serde_json::to_value(event(&e)).unwrap();
        assert!(v.get("status").is_none() && v.get("from").is_none());
    }

    #[test]
    fn stats_shape() {
        let mut s = StatsSample { id: "abc".into(), name: "web".into(), read: 1_000_000_000, memory_usage: 100, ..Default::default() };
        s.memory_stats.insert("inactive_file".into(), 10);
        s.cpu.total_usage = 5;
        s.cpu.online_cpus = 2;
        let v = serde_json::to_value(stats(&s)).unwrap();
        assert_eq!(v["name"], "/web");
        assert_eq!(v["read"], "1970-01-01T00:00:01Z");
        assert_eq!(v["preread"], "0001-01-01T00:00:00Z");
        assert_eq!(v["memory_stats"]["usage"], 100);
        assert_eq!(v["memory_stats"]["stats"]["inactive_file"], 10);
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 5);
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert!(v["blkio_stats"]["io_serviced_recursive"].is_null());
        assert_eq!(v["blkio_stats"]["io_service_bytes_recursive"], serde_json::json!([]));
        assert!(v.get("networks").is_none());
        assert_eq!(v["pids_stats"], serde_json::json!({}));
    }

    #[test]
    fn exec_create() {
        let r: ExecCreateRequest = serde_json::from_str(r#"{"Cmd":["sh"],"Tty":true,"AttachStdin":true,"ConsoleSize":[24,80],"User":"","Env":null}"#).unwrap();
        let s = exec_spec(r).unwrap();
        assert_eq!(s.cmd, vec!["sh".to_string()]);
        assert_eq!(s.console_size, Some((24, 80)));
        assert_eq!(s.user, None);
        let r: ExecCreateRequest = serde_json::from_str(r#"{"Cmd":[]}"#).unwrap();
        assert_eq!(exec_spec(r).unwrap_err().message, "No exec command specified");
    }
}
