//! `berth container ...`: one file per verb.

pub mod attach;
pub mod commit;
pub mod cp;
pub mod create;
pub mod diff;
pub mod exec;
pub mod export;
pub mod inspect;
pub mod kill;
pub mod logs;
pub mod pause;
pub mod port;
pub mod prune;
pub mod ps;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod run;
pub mod start;
pub mod stats;
pub mod stop;
pub mod top;
pub mod wait;

use berth_docker_types::container::ContainerInspect;

use crate::client::Client;
use crate::commands::seg;

/// `GET /containers/{id}/json`.
pub fn inspect_container(
    client: &Client,
    id: &str,
) -> Result<ContainerInspect, crate::client::ClientError> {
    client.get(&format!("/containers/{}/json", seg(id)))
}

/// Resizes a container's (or exec's) tty; `what` is `containers` or `exec`.
pub fn resize(
    client: &Client,
    what: &str,
    id: &str,
    (rows, cols): (u16, u16),
) -> Result<(), crate::client::ClientError> {
    client.post(&format!("/{what}/{}/resize?h={rows}&w={cols}", seg(id)))
}
