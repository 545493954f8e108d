//! `delete`: removes a stopped container (killing a created one, or any with
//! `--force`), its cgroups and state, then runs the poststop hooks.

use std::time::{Duration, Instant};

use super::{Runtime, bad_status, state_json};
use crate::state::Status;
use crate::{Error, Result, hooks};

pub fn delete(rt: &Runtime, id: &str, force: bool) -> Result<()> {
    let dir = match rt.root.open(id, true) {
        Ok(d) => d,
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some(st) = dir.load()? else {
        // a create that died before writing any state: only the directory is left
        return dir.remove();
    };
    let mut status = dir.status(Some(&st));
    if st.pid == 0 {
        // the creating runtime was killed (it held this lock until it died)
        status = Status::Stopped;
    }
    let cg = berth_cgroups::manager(&st.cgroup)?;
    match status {
        Status::Stopped => {}
        Status::Created => kill_and_wait(st.pid, st.init_start_time, &*cg)?,
        Status::Running | Status::Paused | Status::Creating if force => kill_and_wait(st.pid, st.init_start_time, &*cg)?,
        _ => return Err(bad_status(id, status, "cannot delete a container that is not stopped (use --force)")),
    }
    // whatever else is still in the cgroup (a container sharing our pid
    // namespace, exec'd processes) goes too
    if cg.enabled() {
        if matches!(cg.freezer_state(), Ok(berth_cgroups::FreezerState::Frozen)) {
            let _ = cg.thaw();
        }
        let _ = cg.kill_all(libc::SIGKILL);
    }
    cg.destroy()?;
    let cfg = dir.load_config().ok();
    let json = state_json(&st, Status::Stopped).to_string();
    dir.remove()?;
    if let Some(cfg) = cfg {
        hooks::run_all_warn("poststop", hooks::of(&cfg.spec, "poststop"), json.as_bytes(), &mut |e| {
            eprintln!("berth-runtime: warning: {}", e.chain());
        });
    }
    Ok(())
}

/// SIGKILLs the init process (thawing its cgroup first) and waits until it
/// is gone.
pub fn kill_and_wait(pid: i32, start: u64, cg: &dyn berth_cgroups::CgroupManager) -> Result<()> {
    if cg.enabled() {
        let _ = cg.thaw();
    }
    if crate::sys::process_start_time(pid) != Some(start) {
        return Ok(());
    }
    let _ = super::kill::send(pid, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut nap = Duration::from_micros(100);
    while crate::sys::process_start_time(pid) == Some(start) {
        // reap it if it is our child (run --keep, tests driving us as a library)
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        if Instant::now() > deadline {
            return Err(Error::Msg(format!("container init {pid} did not die within 10s of SIGKILL")));
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
    Ok(())
}
