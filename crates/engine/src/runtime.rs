//! OCI runtime handlers driven directly through runc's command line, for the
//! few things the engine does without the shim: cleaning up after a dead
//! shim (`delete --force`), and asking the state of a container at restore.

use std::path::PathBuf;
use std::process::Stdio;

use crate::config::RuntimeHandler;
use crate::error::{Error, Result};

/// A runtime handler with its state root.
#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    pub name: String,
    pub handler: RuntimeHandler,
    pub root: PathBuf,
}

impl Runtime {
    fn command(&self, verb: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.handler.path);
        c.arg("--root").arg(&self.root);
        c.args(&self.handler.args);
        c.arg(verb);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c.kill_on_drop(true);
        c
    }

    async fn run(&self, verb: &str, args: &[&str], id: &str) -> Result<Vec<u8>> {
        let mut c = self.command(verb);
        c.args(args).arg(id);
        let out = c.output().await.map_err(|e| Error::Runtime {
            runtime: self.name.clone(),
            verb: verb.into(),
            id: id.into(),
            detail: format!("cannot run {}: {e}", self.handler.path.display()),
        })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let detail = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("failed").trim().to_owned();
            return Err(Error::Runtime { runtime: self.name.clone(), verb: verb.into(), id: id.into(), detail });
        }
        Ok(out.stdout)
    }

    /// `delete --force`: removes the runtime's state (killing what is left).
    /// A container the runtime does not know is fine.
    pub async fn delete_force(&self, id: &str) -> Result<()> {
        if !self.root.join(id).exists() {
            return Ok(());
        }
        match self.run("delete", &["--force"], id).await {
            Ok(_) => Ok(()),
            Err(Error::Runtime { detail, .. }) if detail.contains("does not exist") || detail.contains("not found") || detail.contains("no such") => Ok(()),
            Err(e) => Err(e),
        }
    }
}
