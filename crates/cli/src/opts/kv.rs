//! `-e`, `--env-file`, `-l`, `--label-file`, `--sysctl`, `--add-host`:
//! docker's key=value lists and files.

use std::collections::BTreeMap;

/// docker's `ValidateEnv`: `KEY` alone takes the value from our own
/// environment when it is set there.
pub fn validate_env(v: &str) -> Result<String, String> {
    let (k, _) = v.split_once('=').unwrap_or((v, ""));
    if k.is_empty() {
        return Err(format!("invalid environment variable: {v}"));
    }
    if v.contains('=') {
        return Ok(v.to_owned());
    }
    match std::env::var(k) {
        Ok(val) => Ok(format!("{k}={val}")),
        Err(_) => Ok(v.to_owned()),
    }
}

/// docker's `ValidateLabel`.
pub fn validate_label(v: &str) -> Result<String, String> {
    let (k, _) = v.split_once('=').unwrap_or((v, ""));
    if k.trim().is_empty() {
        return Err(format!("invalid label '{v}': empty name"));
    }
    Ok(v.to_owned())
}

/// docker's `parseKeyValueFile`: one `KEY=VALUE` per line, `#` comments,
/// blank lines skipped; a bare `KEY` takes our environment's value when
/// `from_env` (env files) or stays bare.
pub fn read_kv_file(path: &str, from_env: bool) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("open {path}: {}", io_text(&e)))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        format!("env file {path} contains invalid utf8 bytes at line {line}")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (var, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if var.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        let var = var.trim_start();
        if var.contains(char::is_whitespace) {
            return Err(format!("variable '{var}' contains whitespaces"));
        }
        match value {
            Some(v) => out.push(format!("{var}={v}")),
            None => match std::env::var(var.trim()).ok().filter(|_| from_env) {
                Some(val) => out.push(format!("{}={val}", var.trim())),
                None => out.push(var.to_owned()),
            },
        }
    }
    Ok(out)
}

/// The text Go prints for an OS error (`no such file or directory`).
pub fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    // Rust appends " (os error N)"
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

/// Files first, then flags (docker's `ReadKVEnvStrings`/`ReadKVStrings`).
pub fn merge(files: &[&str], values: &[String], from_env: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for f in files {
        out.extend(read_kv_file(f, from_env)?);
    }
    out.extend(values.iter().cloned());
    Ok(out)
}

/// `k=v` → k: v, `k` → k: "" (docker's `ConvertKVStringsToMap`).
pub fn to_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// docker's `ValidateExtraHost`: `name:ip` or `name=ip`, ip may be
/// `host-gateway`; returns the `name:ip` form the API takes.
pub fn validate_extra_host(v: &str) -> Result<String, String> {
    let (name, ip) = match v.split_once('=') {
        Some(p) => p,
        None => v
            .split_once(':')
            .ok_or_else(|| format!("bad format for add-host: {v:?}"))?,
    };
    if name.is_empty() || ip.is_empty() {
        return Err(format!("bad format for add-host: {v:?}"));
    }
    let ip_clean = ip.trim_start_matches('[').trim_end_matches(']');
    if ip_clean != "host-gateway" && ip_clean.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address in add-host: {ip:?}"));
    }
    Ok(format!("{name}:{ip_clean}"))
}

/// docker's `ValidateSysctl`: namespaced kernel parameters only.
pub fn validate_sysctl(v: &str) -> Result<String, String> {
    const PREFIXES: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let Some((k, _)) = v.split_once('=') else {
        return Err(format!("sysctl '{v}' is not allowed"));
    };
    if PREFIXES.contains(&k) || k.starts_with("fs.mqueue.") || k.starts_with("net.") {
        return Ok(v.to_owned());
    }
    Err(format!("sysctl '{v}' is not allowed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values() {
        assert_eq!(validate_env("A=1"), Ok("A=1".into()));
        assert_eq!(validate_env("A="), Ok("A=".into()));
        assert_eq!(
            validate_env("=x"),
            Err("invalid environment variable: =x".into())
        );
        // PATH is set in any test environment
        assert!(validate_env("PATH").unwrap().starts_with("PATH=/"));
        assert_eq!(
            validate_env("BERTH_SURELY_UNSET_VAR"),
            Ok("BERTH_SURELY_UNSET_VAR".into())
        );
    }

    #[test]
    fn env_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e");
        std::fs::write(&p, "\u{feff}# c\n\nA=1\n  B = x \nPATH\nNOPE_UNSET_X\n").unwrap();
        let p = p.to_str().unwrap();
        let got = read_kv_file(p, true).unwrap_err();
        assert_eq!(got, "variable 'B ' contains whitespaces");
        std::fs::write(p, "A=1\n  B= x \nPATH\nNOPE_UNSET_X\n").unwrap();
        let got = read_kv_file(p, true).unwrap();
        assert_eq!(got[0], "A=1");
        assert_eq!(got[1], "B= x ");
        assert!(got[2].starts_with("PATH=/"));
        assert_eq!(got[3], "NOPE_UNSET_X");
        assert_eq!(
            read_kv_file("/nonexistent/e", true).unwrap_err(),
            "open /nonexistent/e: no such file or directory"
        );
        std::fs::write(p, "=x\n").unwrap();
        assert_eq!(
            read_kv_file(p, true).unwrap_err(),
            "no variable name on line '=x'"
        );
    }

    #[test]
    fn labels_hosts_sysctls() {
        assert!(validate_label("=x").is_err());
        assert_eq!(
            to_map(&["a=b".into(), "c".into()])
                .get("c")
                .map(String::as_str),
            Some("")
        );
        assert_eq!(validate_extra_host("db:10.0.0.2"), Ok("db:10.0.0.2".into()));
        assert_eq!(validate_extra_host("db=::1"), Ok("db:::1".into()));
        assert_eq!(
            validate_extra_host("gw:host-gateway"),
            Ok("gw:host-gateway".into())
        );
        assert!(validate_extra_host("db:notanip").is_err());
        assert!(validate_sysctl("net.ipv4.ip_forward=1").is_ok());
        assert!(validate_sysctl("vm.swappiness=1").is_err());
    }
}
