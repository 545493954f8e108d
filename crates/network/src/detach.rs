//! CNI DEL: taking a container off its networks (`detach` at stop,
//! `disconnect` for `docker network disconnect`), with the configuration
//! list and result cached at ADD time, so it works after a daemon restart,
//! when the namespace is already gone, and when run twice.

use crate::attach::{Endpoint, endpoint_of};
use crate::cni::{self, Call, Verb};
use crate::error::{Error, Result};
use crate::manager::NetworkManager;
use crate::persist;
use crate::ports::PublishedPort;
use crate::store::{AttachmentRecord, ContainerRecord, Mode, validate_container_id};

impl NetworkManager {
    /// DELs every attachment of the container (last first), releases its
    /// ports and forgets it. Unknown containers are fine (idempotent). If a
    /// DEL fails, the attachments that could not be deleted stay recorded
    /// for a later retry and the error is returned.
    pub fn detach(&self, id: &str) -> Result<()> {
        validate_container_id(id)?;
        let _busy = self.busy(id);
        let Some(rec) = self.lock().containers.get(id).cloned() else { return Ok(()) };
        let mut errors = Vec::new();
        let mut left = Vec::new();
        for a in rec.attachments.iter().rev() {
            if let Err(e) = self.del_one(&rec, a) {
                errors.push(e);
                left.insert(0, a.clone());
            }
        }
        let mut inner = self.lock();
        if left.is_empty() {
            inner.containers.remove(id);
            inner.ports.release(id);
            persist::remove_durable(&self.record_path(id))?;
            self.dns.remove(id);
        } else {
            let released: Vec<PublishedPort> = rec
                .attachments
                .iter()
                .filter(|a| !left.iter().any(|l| l.endpoint_id == a.endpoint_id))
                .flat_map(|a| a.ports.clone())
                .collect();
            release_some(&mut inner.ports, id, &released);
            if let Some(r) = inner.containers.get_mut(id) {
                r.attachments = left;
                let snapshot = r.clone();
                persist::write_json_atomic(&self.record_path(id), &snapshot)?;
            }
        }
        drop(inner);
        match errors.len() {
            0 => {
                tracing::info!(container = id, "detached");
                Ok(())
            }
            1 => Err(errors.remove(0)),
            n => Err(Error::Multiple { count: n, first: Box::new(errors.remove(0)) }),
        }
    }

    /// The stop path for a container whose processes have all exited:
    /// removes its namespace first, then DELs. Same end state as
    /// [`detach`](Self::detach) + [`remove_netns`](Self::remove_netns), but
    /// faster: deleting a veth inside a live namespace waits for the kernel
    /// (~30 ms here), while a namespace that is gone takes its veth with it
    /// asynchronously, so DEL only releases the lease and the port rules.
    /// The host end of the veth may linger for a few milliseconds after
    /// this returns.
    pub fn teardown(&self, id: &str) -> Result<()> {
        self.remove_netns(id)?;
        self.detach(id)
    }

    /// `docker network disconnect`: DEL of one network; its published ports
    /// go with it.
    pub fn disconnect(&self, id: &str, network: &str) -> Result<()> {
        validate_container_id(id)?;
        let _busy = self.busy(id);
        let (rec, att) = {
            let inner = self.lock();
            let net = self.resolve(&inner, network)?;
            let Some(rec) = inner.containers.get(id) else {
                return Err(Error::NotAttached { container: id.to_string(), network: net.name.clone() });
            };
            if rec.mode == Mode::Host || net.name == crate::network::HOST {
                return Err(Error::InvalidAttachment {
                    container: id.to_string(),
                    reason: "container cannot be disconnected from host network or connected to host network".into(),
                });
            }
            let Some(att) = rec.attachments.iter().find(|a| a.network == net.name).cloned() else {
                return Err(Error::NotAttached { container: id.to_string(), network: net.name.clone() });
            };
            (rec.clone(), att)
        };
        self.del_one(&rec, &att)?;
        let mut inner = self.lock();
        release_some(&mut inner.ports, id, &att.ports);
        if let Some(r) = inner.containers.get_mut(id) {
            r.attachments.retain(|a| a.endpoint_id != att.endpoint_id);
            let snapshot = r.clone();
            persist::write_json_atomic(&self.record_path(id), &snapshot)?;
        }
        drop(inner);
        self.sync_dns(id);
        self.refresh_hosts(id);
        Ok(())
    }

    /// DEL of one attachment with its cached list and result. The namespace
    /// is passed only while it is alive; without it the plugins still
    /// release the lease and rules (the veth died with the namespace).
    pub(crate) fn del_one(&self, rec: &ContainerRecord, a: &AttachmentRecord) -> Result<()> {
        let netns = rec.netns.as_deref().filter(|p| crate::netns::is_alive(p));
        let call = Call { verb: Verb::Del, container_id: &rec.id, netns, ifname: &a.ifname, network: &a.network };
        cni::del(&self.inv, &a.conflist, &call, &a.runtime_config, a.result.as_ref())
    }

    /// The container's endpoints (attachments whose ADD completed).
    pub fn endpoints(&self, id: &str) -> Vec<Endpoint> {
        self.lock().containers.get(id).map(|r| r.attachments.iter().filter_map(endpoint_of).collect()).unwrap_or_default()
    }

    /// `docker port`: the container's published ports, sorted.
    pub fn ports(&self, id: &str) -> Vec<PublishedPort> {
        let mut v: Vec<PublishedPort> = self
            .lock()
            .containers
            .get(id)
            .map(|r| r.attachments.iter().flat_map(|a| a.ports.clone()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Ids of the containers berth has networking records for.
    pub fn attached_containers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().containers.keys().cloned().collect();
        v.sort();
        v
    }
}

fn release_some(table: &mut crate::ports::PortTable, id: &str, ports: &[PublishedPort]) {
    for p in ports {
        table.release_one(id, p);
    }
}
