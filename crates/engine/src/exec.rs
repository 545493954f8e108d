//! `docker exec`: processes run in a running container through its shim.
//! Exec records live in memory only, as in docker; they go with their
//! container.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::engine::{AttachIo, ExecStarted, Inner};
use crate::error::{Error, Result, StartFailure};
use crate::model::{EventType, ExecDetails, ExecStartOptions};
use crate::spec::ExecSpec;

#[derive(Debug)]
pub(crate) struct Exec {
    pub id: String,
    pub container_id: String,
    pub spec: ExecSpec,
    pub state: Mutex<ExecState>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ExecState {
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
}

fn cmd_line(spec: &ExecSpec) -> String {
    spec.cmd.join(" ")
}

pub(crate) async fn create(inner: &Arc<Inner>, id: &str, spec: ExecSpec) -> Result<String> {
    let c = inner.lookup(id)?;
    let (running, paused, restarting) = {
        let r = c.rec();
        (r.state.running, r.state.paused, r.state.restarting)
    };
    if !running {
        return Err(Error::Conflict(format!("container {} is not running", c.id)));
    }
    if paused {
        return Err(Error::Conflict(format!("container {} is paused, unpause the container before exec", c.id)));
    }
    if restarting {
        return Err(Error::Conflict(format!("container {} is restarting, wait until the container is running", c.id)));
    }
    if spec.cmd.is_empty() {
        return Err(Error::invalid("No exec command specified"));
    }
    if spec.detach_keys.as_deref().is_some_and(|k| !k.is_empty()) {
        return Err(Error::unsupported("--detach-keys"));
    }
    for e in &spec.env {
        if e.split('=').next().is_none_or(str::is_empty) {
            return Err(Error::invalid(format!("invalid environment variable: {e}")));
        }
    }
    let exec_id = crate::names::new_id();
    let e = Arc::new(Exec { id: exec_id.clone(), container_id: c.id.clone(), spec: spec.clone(), state: Mutex::new(ExecState::default()) });
    inner.execs.lock().unwrap_or_else(|p| p.into_inner()).insert(exec_id.clone(), e);
    let rec = c.snapshot();
    inner.container_event(&rec, &format!("exec_create: {}", cmd_line(&spec)), &[("execID", exec_id.clone())]);
    Ok(exec_id)
}

fn lookup(inner: &Inner, exec_id: &str) -> Result<Arc<Exec>> {
    inner.execs.lock().unwrap_or_else(|p| p.into_inner()).get(exec_id).cloned().ok_or_else(|| Error::NoSuchExec(exec_id.to_owned()))
}

/// The OCI `process` of an exec: the container's environment and
/// capabilities, the exec's user, dir, env, terminal and its initial size
/// (`console_size`: the start's, else the create's).
fn process(inner: &Inner, c: &crate::engine::Container, e: &Exec, tty: bool, console_size: Option<(u16, u16)>) -> Result<Value> {
    let rec = c.snapshot();
    let rootfs = inner.container_dir(&rec.id).join("rootfs");
    let user_s = e.spec.user.clone().filter(|u| !u.is_empty()).or(rec.spec.user.clone()).unwrap_or_default();
    let passwd = crate::archive::read_in_root(&rootfs, "/etc/passwd");
    let group = crate::archive::read_in_root(&rootfs, "/etc/group");
    let groups = if e.spec.user.as_deref().is_some_and(|u| !u.is_empty()) { Vec::new() } else { rec.spec.group_add.clone() };
    let user = crate::oci::user::resolve(&user_s, &groups, passwd.as_deref(), group.as_deref())?;
    let mut env = vec![format!("PATH={}", crate::oci::DEFAULT_PATH), format!("HOSTNAME={}", rec.hostname)];
    if tty {
        env.push("TERM=xterm".into());
    }
    crate::oci::merge_env(&mut env, &rec.spec.env);
    crate::oci::merge_env(&mut env, &e.spec.env);
    if !env.iter().any(|v| v.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let caps = crate::oci::caps::compute(rec.spec.privileged || e.spec.privileged, &rec.spec.cap_add, &rec.spec.cap_drop)?;
    let sec = crate::oci::security_opts(&rec.spec.security_opt)?;
    let cwd = e.spec.working_dir.clone().filter(|w| !w.is_empty()).or(rec.spec.working_dir.clone()).filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::invalid(format!("the working directory '{cwd}' is invalid, it needs to be an absolute path")));
    }
    let mut p = json!({
        "terminal": tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": e.spec.cmd,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": sec.no_new_privileges,
    });
    if !user.additional_gids.is_empty() {
        p["user"]["additionalGids"] = json!(user.additional_gids);
    }
    if let (true, Some((h, w))) = (tty, console_size.or(e.spec.console_size)) {
        p["consoleSize"] = json!({"height": h, "width": w});
    }
    Ok(p)
}

/// The exit code dockerd records for an exec that could not be started
/// (its `translateContainerdStartErr`, then 126 for anything it did not
/// classify): 127 when the command itself was not found, 126 when
/// something could not be invoked (permission denied) or anything else
/// failed first (an unknown user, a bad working directory), 127 again for
/// a path through something that is not a directory.
fn failure_exit_code(message: &str, cmd: &str) -> i32 {
    let m = message.to_lowercase();
    let mut code = 126;
    if !cmd.is_empty()
        && m.contains(&cmd.to_lowercase())
        && (m.contains("executable file not found") || m.contains("no such file or directory") || m.contains("system cannot find the file specified"))
    {
        code = 127;
    }
    if m.contains("permission denied") {
        code = 126;
    }
    if m.contains("not a directory") {
        code = 127;
    }
    code
}

pub(crate) async fn start(inner: &Arc<Inner>, exec_id: &str, opts: ExecStartOptions) -> Result<ExecStarted> {
    let e = lookup(inner, exec_id)?;
    {
        let mut st = e.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.started {
            return Err(Error::Conflict(format!("exec instance {exec_id} has already been started")));
        }
        st.started = true;
    }
    // from here on, whatever stops the process from running is its exit
    // code (docker exec exits with it): see `failure_exit_code`
    let fail = |err: Error| -> Error {
        let err = match err {
            Error::Runtime { detail, .. } => {
                let failure = StartFailure::classify(&detail);
                Error::StartFailed { message: format!("OCI runtime exec failed: exec failed: unable to start container process: {detail}"), failure }
            }
            e => e,
        };
        let code = failure_exit_code(&err.to_string(), e.spec.cmd.first().map(String::as_str).unwrap_or(""));
        let mut st = e.state.lock().unwrap_or_else(|p| p.into_inner());
        st.running = false;
        st.exit_code = Some(code);
        err
    };
    let c = inner.lookup(&e.container_id).map_err(fail)?;
    if !c.rec().state.running {
        return Err(fail(Error::Conflict(format!("container {} is not running", c.id))));
    }
    let shim = c.shim().ok_or_else(|| fail(Error::Conflict(format!("container {} is not running", c.id))))?;
    let tty = opts.tty || e.spec.tty;
    let proc_ = process(inner, &c, &e, tty, opts.console_size).map_err(fail)?;
    let stdin = e.spec.attach_stdin && !opts.detach;
    let req = json!({"op": "exec", "exec_id": exec_id, "process": proc_, "terminal": tty, "stdin": stdin, "attach": !opts.detach});
    let rec = c.snapshot();
    let (answer, stream) = if opts.detach {
        (shim.request(req).await.map_err(fail)?, None)
    } else {
        let (a, s) = shim.stream(req).await.map_err(fail)?;
        (a, Some(s))
    };
    let pid = answer.get("pid").and_then(Value::as_i64).unwrap_or(0) as i32;
    {
        let mut st = e.state.lock().unwrap_or_else(|p| p.into_inner());
        st.running = true;
        st.pid = pid;
    }
    inner.container_event(&rec, &format!("exec_start: {}", cmd_line(&e.spec)), &[("execID", exec_id.to_owned())]);
    // reap: the exit code from the shim, then exec_die
    let (inner2, e2, shim2) = (inner.clone(), e.clone(), shim.clone());
    tokio::spawn(async move {
        let code = match shim2.wait(Some(&e2.id)).await {
            Ok(x) => x.exit_code,
            Err(err) => {
                tracing::debug!(exec = %e2.id, error = %err, "exec wait");
                137
            }
        };
        {
            let mut st = e2.state.lock().unwrap_or_else(|p| p.into_inner());
            st.running = false;
            st.exit_code = Some(code);
            st.pid = 0;
        }
        let mut attrs = rec.spec.labels.clone();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.image_ref.clone());
        attrs.insert("execID".into(), e2.id.clone());
        attrs.insert("exitCode".into(), code.to_string());
        inner2.events.publish(EventType::Container, "exec_die", rec.id.clone(), attrs);
    });
    Ok(match stream {
        Some(s) => ExecStarted::Attached(AttachIo { io: Box::new(s), tty }),
        None => ExecStarted::Detached,
    })
}

pub(crate) async fn inspect(inner: &Arc<Inner>, exec_id: &str) -> Result<ExecDetails> {
    let e = lookup(inner, exec_id)?;
    let c = inner.lookup(&e.container_id).ok();
    let running = e.state.lock().unwrap_or_else(|p| p.into_inner()).running;
    if running && let Some(shim) = c.as_ref().and_then(|c| c.shim()) {
        // the stream may have ended before our waiter heard of the exit:
        // ask the shim, which knows first
        if let Ok(v) = shim.request(json!({"op": "exec_state", "exec_id": exec_id})).await
            && v.get("status").and_then(Value::as_str) == Some("stopped")
        {
            let code = v.get("exit_code").and_then(Value::as_i64).unwrap_or(0) as i32;
            let mut st = e.state.lock().unwrap_or_else(|p| p.into_inner());
            st.running = false;
            st.exit_code = Some(code);
            st.pid = 0;
        }
    }
    let st = e.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let user = e.spec.user.clone().or_else(|| c.as_ref().and_then(|c| c.rec().spec.user.clone())).unwrap_or_default();
    let mut args = e.spec.cmd.clone();
    let entrypoint = if args.is_empty() { String::new() } else { args.remove(0) };
    Ok(ExecDetails {
        id: e.id.clone(),
        container_id: e.container_id.clone(),
        running: st.running,
        exit_code: st.exit_code,
        pid: st.pid,
        open_stdin: e.spec.attach_stdin,
        open_stdout: e.spec.attach_stdout,
        open_stderr: e.spec.attach_stderr,
        spec: e.spec.clone(),
        entrypoint,
        arguments: args,
        user,
        can_remove: !st.running,
    })
}

pub(crate) async fn resize(inner: &Arc<Inner>, exec_id: &str, height: u16, width: u16) -> Result<()> {
    let e = lookup(inner, exec_id)?;
    let running = e.state.lock().unwrap_or_else(|p| p.into_inner()).running;
    if !running {
        return Err(Error::Conflict(format!("exec {exec_id} is not running")));
    }
    let c = inner.lookup(&e.container_id)?;
    let shim = c.shim().ok_or_else(|| Error::Conflict(format!("container {} is not running", c.id)))?;
    shim.resize(Some(exec_id), height, width).await
}

#[cfg(test)]
mod tests {
    use super::failure_exit_code;

    #[test]
    fn exec_failures_get_dockers_exit_codes() {
        let not_found = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH";
        assert_eq!(failure_exit_code(not_found, "nosuch"), 127);
        assert_eq!(failure_exit_code("exec: \"/bin/nope\": stat /bin/nope: no such file or directory", "/bin/nope"), 127);
        assert_eq!(failure_exit_code("exec: \"/etc/passwd\": permission denied", "/etc/passwd"), 126);
        assert_eq!(failure_exit_code("unable to find user nosuchuser: no matching entries in passwd file", "true"), 126);
        // a missing working directory is not a missing command
        assert_eq!(failure_exit_code("chdir to cwd (\"/nowhere\") set in config.json failed: no such file or directory", "true"), 126);
        assert_eq!(failure_exit_code("exec: \"/etc/passwd/x\": not a directory", "/etc/passwd/x"), 127);
    }
}
