//! Start-up cleanup after a crash: DEL for every container berth holds
//! networking for that no longer exists, and removal of namespace mounts
//! nobody owns.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::manager::NetworkManager;

/// What [`NetworkManager::cleanup_stale`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// containers whose attachments were deleted
    pub detached: Vec<String>,
    /// namespace mounts removed from the run dir
    pub netns_removed: Vec<String>,
    /// containers that could not be cleaned (kept for the next try), with the error
    pub failed: Vec<(String, String)>,
}

impl NetworkManager {
    /// DELs the attachments of every recorded container not in `live_ids`
    /// (including ADDs that were interrupted before their result was
    /// recorded), removes their namespaces and files, and removes any
    /// namespace mount under the run dir that belongs to no live container.
    /// Errors of one container do not stop the others; they are reported.
    pub fn cleanup_stale(&self, live_ids: &[&str]) -> Result<CleanupReport> {
        let live: HashSet<&str> = live_ids.iter().copied().collect();
        let mut report = CleanupReport::default();
        for id in self.attached_containers() {
            if live.contains(id.as_str()) {
                continue;
            }
            match self.detach(&id) {
                Ok(()) => {
                    report.detached.push(id.clone());
                    if let Err(e) = self.remove_files(&id) {
                        report.failed.push((id.clone(), e.to_string()));
                    }
                }
                Err(e) => report.failed.push((id.clone(), e.to_string())),
            }
        }
        let run_dir = &self.cfg.run_dir;
        let entries = std::fs::read_dir(run_dir).map_err(Error::io("read dir", run_dir))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if live.contains(name.as_str()) || self.lock().containers.contains_key(&name) {
                continue;
            }
            match crate::netns::remove(&e.path()) {
                Ok(()) => report.netns_removed.push(name),
                Err(err) => report.failed.push((name, err.to_string())),
            }
        }
        if !report.detached.is_empty() || !report.netns_removed.is_empty() {
            tracing::info!(detached = ?report.detached, netns = ?report.netns_removed, "cleaned up stale networking");
        }
        Ok(report)
    }
}
