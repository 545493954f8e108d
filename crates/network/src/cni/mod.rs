//! CNI 1.0 from the runtime's side: executing a network configuration list
//! (ADD in order with `prevResult` chaining, DEL in reverse with the cached
//! result, CHECK), `runtimeConfig` built from the plugins' declared
//! `capabilities`, and a typed view of the result.
//!
//! Written from the CNI specification (SPEC.md, "Network Configuration Lists"
//! and "Section 3"); the Rust CNI crates are abandoned.

pub(crate) mod invoke;

use std::net::Ipv4Addr;

use serde::Deserialize;
use serde_json::{Map, Value};

pub(crate) use invoke::{Call, Invoker, Verb};

use crate::error::{Error, Result};
use crate::ipnet::parse_interface_addr;

/// The CNI spec version berth writes into every configuration.
pub const CNI_VERSION: &str = "1.0.0";

/// The configuration one plugin of `list` gets on stdin: the list's `name`
/// and `cniVersion`, `runtimeConfig` restricted to the capabilities the
/// plugin declares, and `prevResult` when given.
pub(crate) fn plugin_config(list: &Value, index: usize, prev: Option<&Value>, runtime: &Map<String, Value>) -> Value {
    let mut conf = list["plugins"][index].as_object().cloned().unwrap_or_default();
    conf.insert("name".into(), list["name"].clone());
    conf.insert("cniVersion".into(), list["cniVersion"].clone());
    let caps: Vec<String> = conf
        .get("capabilities")
        .and_then(Value::as_object)
        .map(|c| c.iter().filter(|(_, v)| v.as_bool() == Some(true)).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let rc: Map<String, Value> =
        caps.iter().filter_map(|c| runtime.get(c).map(|v| (c.clone(), v.clone()))).collect();
    if !rc.is_empty() {
        conf.insert("runtimeConfig".into(), Value::Object(rc));
    }
    if let Some(p) = prev {
        conf.insert("prevResult".into(), p.clone());
    }
    Value::Object(conf)
}

fn plugin_type<'a>(list: &'a Value, index: usize, call: &Call<'_>) -> Result<&'a str> {
    list["plugins"][index]["type"].as_str().ok_or_else(|| Error::PluginResult {
        call: crate::error::PluginCall::boxed(format!("#{index}"), call.verb.as_str(), call.container_id.to_string(), call.network.to_string()),
        reason: "plugin configuration without a type".into(),
    })
}

fn plugin_count(list: &Value) -> usize {
    list["plugins"].as_array().map_or(0, Vec::len)
}

/// ADD: every plugin in order, each seeing the previous one's result. Stops
/// at the first error; the caller then runs [`del`] for the whole list, as
/// the spec asks.
pub(crate) fn add(inv: &Invoker, list: &Value, call: &Call<'_>, runtime: &Map<String, Value>) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for i in 0..plugin_count(list) {
        let ty = plugin_type(list, i, call)?;
        let conf = plugin_config(list, i, prev.as_ref(), runtime);
        match inv.exec(ty, call, &conf)? {
            Some(r) => prev = Some(r),
            None => {
                return Err(Error::PluginResult {
                    call: crate::error::PluginCall::boxed(ty.to_string(), call.verb.as_str(), call.container_id.to_string(), call.network.to_string()),
                    reason: "ADD printed no result".into(),
                });
            }
        }
    }
    prev.ok_or_else(|| Error::PluginResult {
        call: crate::error::PluginCall::boxed(String::new(), call.verb.as_str(), call.container_id.to_string(), call.network.to_string()),
        reason: "network configuration list has no plugins".into(),
    })
}

/// DEL: every plugin in reverse order with the cached ADD result (omitted
/// when the ADD never completed). Stops at the first error.
pub(crate) fn del(
    inv: &Invoker,
    list: &Value,
    call: &Call<'_>,
    runtime: &Map<String, Value>,
    cached: Option<&Value>,
) -> Result<()> {
    for i in (0..plugin_count(list)).rev() {
        let ty = plugin_type(list, i, call)?;
        inv.exec(ty, call, &plugin_config(list, i, cached, runtime))?;
    }
    Ok(())
}

/// CHECK: every plugin in order with the cached ADD result.
pub(crate) fn check(
    inv: &Invoker,
    list: &Value,
    call: &Call<'_>,
    runtime: &Map<String, Value>,
    cached: &Value,
) -> Result<()> {
    for i in 0..plugin_count(list) {
        let ty = plugin_type(list, i, call)?;
        inv.exec(ty, call, &plugin_config(list, i, Some(cached), runtime))?;
    }
    Ok(())
}

/// The parts of a CNI 1.0 result berth uses.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ResultView {
    #[serde(default)]
    pub interfaces: Vec<InterfaceView>,
    #[serde(default)]
    pub ips: Vec<IpView>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InterfaceView {
    pub name: String,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub sandbox: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IpView {
    pub address: String,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub interface: Option<usize>,
}

/// What a container got from one ADD: its IPv4 address and prefix, gateway,
/// MAC of `ifname`, and the host-side veth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    pub host_veth: Option<String>,
}

/// Reads the container interface `ifname` out of a result.
pub(crate) fn summarize(result: &Value, ifname: &str) -> Option<Summary> {
    let view: ResultView = serde_json::from_value(result.clone()).ok()?;
    let idx = view.interfaces.iter().position(|i| i.name == ifname && !i.sandbox.is_empty());
    let ip = view
        .ips
        .iter()
        .filter(|ip| idx.is_none() || ip.interface == idx)
        .find_map(|ip| parse_interface_addr(&ip.address).map(|(a, p)| (a, p, ip)))?;
    let mac = idx.map(|i| view.interfaces[i].mac.clone()).unwrap_or_default();
    // The bridge plugin lists bridge, host veth, container interface.
    let host_veth = view
        .interfaces
        .iter()
        .find(|i| i.sandbox.is_empty() && i.name.starts_with("veth"))
        .map(|i| i.name.clone());
    Some(Summary {
        ip: ip.0,
        prefix: ip.1,
        gateway: ip.2.gateway.as_deref().and_then(|g| g.parse().ok()),
        mac,
        host_veth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plugin_config_injects_name_version_capabilities_and_prev_result() {
        let list = json!({
            "cniVersion": "1.0.0", "name": "front",
            "plugins": [
                {"type": "bridge", "bridge": "br0"},
                {"type": "portmap", "capabilities": {"portMappings": true, "ips": false}}
            ]
        });
        let mut rc = Map::new();
        rc.insert("portMappings".into(), json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]));
        rc.insert("ips".into(), json!(["10.0.0.2"]));
        let first = plugin_config(&list, 0, None, &rc);
        assert_eq!(first, json!({"type": "bridge", "bridge": "br0", "name": "front", "cniVersion": "1.0.0"}));
        let prev = json!({"cniVersion": "1.0.0", "ips": []});
        let second = plugin_config(&list, 1, Some(&prev), &rc);
        assert_eq!(second["runtimeConfig"], json!({"portMappings": rc["portMappings"]}));
        assert_eq!(second["prevResult"], prev);
        assert_eq!(second["name"], "front");
    }

    #[test]
    fn summary_picks_the_container_interface() {
        let r = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "berth0", "mac": "aa:aa:aa:aa:aa:aa"},
                {"name": "veth1234", "mac": "bb:bb:bb:bb:bb:bb"},
                {"name": "eth0", "mac": "cc:cc:cc:cc:cc:cc", "sandbox": "/run/berth/netns/x"}
            ],
            "ips": [{"interface": 2, "address": "10.87.0.5/16", "gateway": "10.87.0.1"}]
        });
        let s = summarize(&r, "eth0").expect("summary");
        assert_eq!(s.ip, Ipv4Addr::new(10, 87, 0, 5));
        assert_eq!(s.prefix, 16);
        assert_eq!(s.gateway, Some(Ipv4Addr::new(10, 87, 0, 1)));
        assert_eq!(s.mac, "cc:cc:cc:cc:cc:cc");
        assert_eq!(s.host_veth.as_deref(), Some("veth1234"));
        assert!(summarize(&json!({"cniVersion": "1.0.0"}), "eth0").is_none());
    }
}
