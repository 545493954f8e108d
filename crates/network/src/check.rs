//! CNI CHECK: is the container's networking still what ADD set up?

use crate::cni::{self, Call, Verb};
use crate::error::{Error, Result};
use crate::manager::NetworkManager;
use crate::store::{AttachState, Mode, validate_container_id};

impl NetworkManager {
    /// Runs CHECK for every attachment (plugins in order, with the cached
    /// result): the interface, address, routes and port rules must still be
    /// there. For `none` the namespace must be alive; `host` has nothing to check.
    pub fn check(&self, id: &str) -> Result<()> {
        validate_container_id(id)?;
        let _busy = self.busy(id);
        let Some(rec) = self.lock().containers.get(id).cloned() else {
            return Err(Error::NotAttached { container: id.to_string(), network: "(any)".into() });
        };
        if rec.mode != Mode::Host
            && let Some(ns) = rec.netns.as_deref()
            && !crate::netns::is_alive(ns)
        {
            return Err(Error::Netns {
                path: ns.to_path_buf(),
                op: "check",
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        if self.wants_dns(id) && !self.dns.serving(id) {
            return Err(Error::NotAttached { container: id.to_string(), network: "(embedded DNS server not running)".into() });
        }
        for a in &rec.attachments {
            let Some(result) = a.result.as_ref().filter(|_| a.state == AttachState::Added) else {
                return Err(Error::NotAttached { container: id.to_string(), network: format!("{} (ADD never completed)", a.network) });
            };
            let call = Call { verb: Verb::Check, container_id: &rec.id, netns: rec.netns.as_deref(), ifname: &a.ifname, network: &a.network };
            match cni::check(&self.inv, &a.conflist, &call, &a.runtime_config, result) {
                Ok(()) => {}
                Err(e) if is_portmap_ipv6_check_bug(&e) => {
                    tracing::debug!(container = id, network = %a.network, "ignoring portmap's IPv6 CHECK of an IPv4-only container");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// portmap up to v1.2 checks its IPv6 chain even for containers without
/// IPv6 and fails there, after the IPv4 check passed
/// (containernetworking/plugins#819). berth gives containers IPv4 only, so
/// that failure says nothing about the container.
fn is_portmap_ipv6_check_bug(e: &Error) -> bool {
    matches!(e, Error::Plugin { call, msg, .. }
        if call.plugin == "portmap" && call.command == "CHECK" && msg.starts_with("could not check ipv6 dnat"))
}
