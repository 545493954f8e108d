//! The smaller `run`/`create` values: `--ulimit`, `--restart`, `--cpus`,
//! `--device`, `--security-opt`, `--network` (simple and advanced),
//! `--attach`, `--pull`.

use berth_docker_types::container::{DeviceMapping, RestartPolicy, Ulimit};

/// go-units `ParseUlimit`: `nofile=1024[:2048]`.
pub fn parse_ulimit(v: &str) -> Result<Ulimit, String> {
    const NAMES: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let Some((name, limits)) = v.split_once('=') else {
        return Err(format!("invalid ulimit argument: {v}"));
    };
    if !NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parts: Vec<&str> = limits.split(':').collect();
    if parts.len() > 2 {
        return Err(format!(
            "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
        ));
    }
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("strconv.ParseInt: parsing \"{s}\": invalid syntax"))
    };
    let soft = num(parts[0])?;
    let hard = match parts.get(1) {
        Some(h) => num(h)?,
        None => soft,
    };
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(Ulimit {
        name: name.to_owned(),
        hard,
        soft,
    })
}

/// docker's `ParseRestartPolicy` (names are checked by the daemon).
pub fn parse_restart(v: &str) -> Result<RestartPolicy, String> {
    let (name, count) = match v.split_once(':') {
        Some(("", _)) => {
            return Err("invalid restart policy format: no policy provided before colon".into());
        }
        Some((n, c)) => (n, Some(c)),
        None => (v, None),
    };
    let mut p = RestartPolicy {
        name: name.to_owned(),
        maximum_retry_count: 0,
    };
    if let Some(c) = count.filter(|c| !c.is_empty()) {
        p.maximum_retry_count = c.parse().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_owned()
        })?;
    }
    Ok(p)
}

/// docker's `NanoCPUs`: a decimal number of CPUs → nanoCPUs.
pub fn parse_cpus(v: &str) -> Result<i64, String> {
    let bad = || format!("failed to parse {v} as a rational number");
    let t = v.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let frac_trim = frac.trim_end_matches('0');
    if frac_trim.len() > 9 {
        return Err("value is too precise".into());
    }
    let whole: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut f = frac_trim.to_owned();
    while f.len() < 9 {
        f.push('0');
    }
    let nanos: i64 = f.parse().map_err(|_| bad())?;
    let total = whole
        .checked_mul(1_000_000_000)
        .and_then(|w| w.checked_add(nanos))
        .ok_or_else(bad)?;
    Ok(if neg { -total } else { total })
}

fn valid_device_mode(m: &str) -> bool {
    if m.is_empty() || m.len() > 3 {
        return false;
    }
    let mut seen = [false; 3];
    for c in m.chars() {
        let i = match c {
            'r' => 0,
            'w' => 1,
            'm' => 2,
            _ => return false,
        };
        if seen[i] {
            return false;
        }
        seen[i] = true;
    }
    true
}

/// docker's `validateDevice` + `parseLinuxDevice`: `host[:container][:mode]`.
pub fn parse_device(v: &str) -> Result<Vec<DeviceMapping>, String> {
    if v.matches(':').count() > 2 {
        return Err(format!("bad format for path: {v}"));
    }
    let arr: Vec<&str> = v.split(':').collect();
    if arr[0].is_empty() {
        return Err(format!("bad format for path: {v}"));
    }
    let (src, mut dst, mut perms) = (arr[0], String::new(), "rwm".to_owned());
    match arr.len() {
        1 => {}
        2 => {
            if valid_device_mode(arr[1]) {
                perms = arr[1].to_owned();
            } else {
                dst = arr[1].to_owned();
            }
        }
        _ => {
            if !valid_device_mode(arr[2]) {
                return Err(format!("bad mode specified: {}", arr[2]));
            }
            dst = arr[1].to_owned();
            perms = arr[2].to_owned();
        }
    }
    let container_path = if dst.is_empty() { src } else { dst.as_str() };
    if !container_path.starts_with('/') {
        return Err(format!("{container_path} is not an absolute path"));
    }
    if dst.is_empty() {
        dst = src.to_owned();
    }
    Ok(vec![DeviceMapping {
        path_on_host: src.to_owned(),
        path_in_container: dst,
        cgroup_permissions: perms,
    }])
}

/// docker's `parseSecurityOpts`: a `seccomp=FILE` profile is read and sent
/// compacted; returns the options and (for `systempaths=unconfined`) empty
/// masked/readonly path lists.
pub fn parse_security_opts(opts: &[&str]) -> Result<(Vec<String>, bool), String> {
    let mut out = Vec::new();
    let mut unconfined_paths = false;
    for opt in opts {
        if *opt == "systempaths=unconfined" {
            unconfined_paths = true;
            continue;
        }
        let (k, v) = match opt.split_once('=') {
            Some(kv) => kv,
            None if *opt == "no-new-privileges" => {
                out.push((*opt).to_owned());
                continue;
            }
            None => match opt.split_once(':') {
                Some(kv) => kv,
                None => return Err(format!("Invalid --security-opt: {opt:?}")),
            },
        };
        if k == "seccomp" && v != "unconfined" && v != "builtin" {
            let bytes = std::fs::read(v).map_err(|e| {
                format!(
                    "opening seccomp profile ({v}) failed: {}",
                    super::kv::io_text(&e)
                )
            })?;
            let compact = crate::format::json::compact(&bytes)
                .map_err(|e| format!("compacting json for seccomp profile ({v}) failed: {e}"))?;
            out.push(format!("seccomp={compact}"));
            continue;
        }
        out.push((*opt).to_owned());
    }
    Ok((out, unconfined_paths))
}

/// One `--network` value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NetworkAttachment {
    pub target: String,
    pub aliases: Vec<String>,
    pub ipv4: String,
    pub ipv6: String,
    pub mac: String,
    pub driver_opts: Vec<(String, String)>,
    pub link_local_ips: Vec<String>,
    pub gw_priority: i64,
    /// Given with `name=` (advanced syntax).
    pub advanced: bool,
}

/// docker's `NetworkOpt.Set`: `name` or `name=n,alias=a,ip=..,ip6=..,
/// mac-address=..,driver-opt=k=v,link-local-ip=..,gw-priority=N`.
pub fn parse_network(v: &str) -> Result<NetworkAttachment, String> {
    if !v.contains('=') {
        return Ok(NetworkAttachment {
            target: v.to_owned(),
            ..Default::default()
        });
    }
    let mut n = NetworkAttachment {
        advanced: true,
        ..Default::default()
    };
    for field in super::mounts::csv_fields(v)? {
        let Some((k, val)) = field.split_once('=') else {
            return Err(format!("invalid field '{field}' must be a key=value pair"));
        };
        match k.trim().to_lowercase().as_str() {
            "name" => n.target = val.to_owned(),
            "alias" => n.aliases.push(val.to_owned()),
            "ip" => n.ipv4 = val.to_owned(),
            "ip6" => n.ipv6 = val.to_owned(),
            "mac-address" => n.mac = val.to_owned(),
            "link-local-ip" => n.link_local_ips.push(val.to_owned()),
            "driver-opt" => {
                let (a, b) = val
                    .split_once('=')
                    .ok_or_else(|| format!("invalid driver-opt '{val}': must be key=value"))?;
                n.driver_opts.push((a.to_owned(), b.to_owned()));
            }
            "gw-priority" => {
                n.gw_priority = val
                    .parse()
                    .map_err(|_| format!("invalid gw-priority ({val}): must be an integer"))?
            }
            _ => return Err(format!("invalid field key {k}")),
        }
    }
    Ok(n)
}

/// `--attach`: `stdin`, `stdout` or `stderr`, any case.
pub fn validate_attach(v: &str) -> Result<String, String> {
    let l = v.to_lowercase();
    if matches!(l.as_str(), "stdin" | "stdout" | "stderr") {
        Ok(l)
    } else {
        Err("valid streams are STDIN, STDOUT and STDERR".into())
    }
}

/// `--pull`: `always`, `missing` (default) or `never`.
pub fn validate_pull(v: &str) -> Result<(), String> {
    match v {
        "always" | "missing" | "never" | "" => Ok(()),
        _ => Err(format!(
            "invalid pull option: '{v}': must be one of \"always\", \"missing\" or \"never\""
        )),
    }
}

/// A MAC address `aa:bb:cc:dd:ee:ff`.
pub fn valid_mac(v: &str) -> bool {
    let parts: Vec<&str> = v.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits() {
        assert_eq!(
            parse_ulimit("nofile=10:20"),
            Ok(Ulimit {
                name: "nofile".into(),
                hard: 20,
                soft: 10
            })
        );
        assert_eq!(parse_ulimit("nproc=5").unwrap().hard, 5);
        assert_eq!(
            parse_ulimit("bogus=1").unwrap_err(),
            "invalid ulimit type: bogus"
        );
        assert_eq!(
            parse_ulimit("nofile").unwrap_err(),
            "invalid ulimit argument: nofile"
        );
        assert_eq!(
            parse_ulimit("nofile=20:10").unwrap_err(),
            "ulimit soft limit must be less than or equal to hard limit: 20 > 10"
        );
        assert!(
            parse_ulimit("nofile=1:2:3")
                .unwrap_err()
                .starts_with("too many limit value arguments")
        );
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("on-failure:3"),
            Ok(RestartPolicy {
                name: "on-failure".into(),
                maximum_retry_count: 3
            })
        );
        assert_eq!(parse_restart("always").unwrap().name, "always");
        assert!(
            parse_restart(":3")
                .unwrap_err()
                .contains("no policy provided")
        );
        assert!(
            parse_restart("on-failure:x")
                .unwrap_err()
                .contains("must be an integer")
        );
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.000000001"), Ok(1));
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert_eq!(
            parse_cpus("0.0000000001").unwrap_err(),
            "value is too precise"
        );
        assert_eq!(
            parse_cpus("x").unwrap_err(),
            "failed to parse x as a rational number"
        );
    }

    #[test]
    fn devices() {
        let d = parse_device("/dev/fuse").unwrap();
        assert_eq!(
            (
                d[0].path_in_container.as_str(),
                d[0].cgroup_permissions.as_str()
            ),
            ("/dev/fuse", "rwm")
        );
        let d = parse_device("/dev/sda:/dev/xvda:r").unwrap();
        assert_eq!(
            (
                d[0].path_in_container.as_str(),
                d[0].cgroup_permissions.as_str()
            ),
            ("/dev/xvda", "r")
        );
        let d = parse_device("/dev/null:rw").unwrap();
        assert_eq!(d[0].cgroup_permissions, "rw");
        assert_eq!(
            parse_device("/dev/a:/b:x").unwrap_err(),
            "bad mode specified: x"
        );
        assert_eq!(
            parse_device("/dev/a:rel").unwrap_err(),
            "rel is not an absolute path"
        );
    }

    #[test]
    fn security_opts() {
        let (o, unconf) = parse_security_opts(&[
            "no-new-privileges",
            "seccomp=unconfined",
            "systempaths=unconfined",
            "label:disable",
        ])
        .unwrap();
        assert_eq!(
            o,
            vec!["no-new-privileges", "seccomp=unconfined", "label:disable"]
        );
        assert!(unconf);
        assert_eq!(
            parse_security_opts(&["bogus"]).unwrap_err(),
            "Invalid --security-opt: \"bogus\""
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        std::fs::write(&p, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let (o, _) = parse_security_opts(&[&format!("seccomp={}", p.display())]).unwrap();
        assert_eq!(o, vec![r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]);
        assert!(
            parse_security_opts(&["seccomp=/nonexistent"])
                .unwrap_err()
                .starts_with("opening seccomp profile (/nonexistent) failed: no such file")
        );
    }

    #[test]
    fn networks() {
        assert_eq!(parse_network("foo").unwrap().target, "foo");
        let n = parse_network("name=foo,alias=a,ip=10.0.0.5,driver-opt=x=y").unwrap();
        assert_eq!(
            (n.target.as_str(), n.aliases.len(), n.ipv4.as_str()),
            ("foo", 1, "10.0.0.5")
        );
        assert!(parse_network("name=foo,bogus=1").is_err());
        assert!(valid_mac("02:42:ac:11:00:02"));
        assert!(!valid_mac("02:42"));
        assert_eq!(validate_attach("STDIN"), Ok("stdin".into()));
        assert!(validate_pull("sometimes").is_err());
    }
}
