//! Restart policies (`no`, `on-failure[:N]`, `always`, `unless-stopped`)
//! with docker's backoff: 100 ms doubling per restart up to one minute,
//! reset once a run lasted 10 seconds.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::engine::{Container, Inner};
use crate::model::Status;
use crate::spec::{RestartPolicy, RestartPolicyName};
use crate::store::Sync;

const MAX_DELAY: Duration = Duration::from_secs(60);
const RESET_AFTER_NANOS: i64 = 10_000_000_000;

/// Whether a container that exited with `code` restarts under `policy`.
pub(crate) fn should_restart(policy: &RestartPolicy, code: i32, manually_stopped: bool, restart_count: i64) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name {
        RestartPolicyName::No => false,
        RestartPolicyName::Always | RestartPolicyName::UnlessStopped => true,
        RestartPolicyName::OnFailure => code != 0 && (policy.maximum_retry_count == 0 || restart_count < policy.maximum_retry_count),
    }
}

/// The delay before restart number `streak` (0-based) of a streak.
pub(crate) fn backoff(streak: u32) -> Duration {
    let d = Duration::from_millis(100).saturating_mul(1u32.checked_shl(streak.min(20)).unwrap_or(u32::MAX));
    d.min(MAX_DELAY)
}

/// Called after an exit was recorded.
pub(crate) fn after_exit(inner: &Arc<Inner>, c: &Arc<Container>, policy: &RestartPolicy, code: i32, ran_nanos: i64) {
    let (manual, count) = {
        let r = c.rec();
        (r.manually_stopped, r.restart_count)
    };
    if !should_restart(policy, code, manual, count) {
        return;
    }
    let streak = {
        let mut r = c.rec();
        if ran_nanos >= RESET_AFTER_NANOS {
            r.restart_streak = 0;
        }
        let s = r.restart_streak;
        r.restart_streak += 1;
        r.state.restarting = true;
        r.state.status = Status::Restarting;
        s
    };
    c.bump();
    schedule(inner.clone(), c.clone(), backoff(streak));
}

/// Starts `c` again after `delay` unless something (stop, kill, rm, start)
/// bumped its restart generation meanwhile.
pub(crate) fn schedule(inner: Arc<Inner>, c: Arc<Container>, delay: Duration) {
    let run_gen = c.restart_gen.load(Ordering::SeqCst);
    let mut shutdown = inner.shutdown.subscribe();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        let _op = c.op.lock().await;
        if c.restart_gen.load(Ordering::SeqCst) != run_gen || c.removed.load(Ordering::SeqCst) || c.rec().state.running {
            return;
        }
        {
            let mut r = c.rec();
            r.restart_count += 1;
            r.state.restarting = false;
        }
        if let Err(e) = crate::container::do_start(&inner, &c).await {
            tracing::warn!(container = %c.id, error = %e, "restart policy: start failed");
            // a failed start counts as an exit for the policy
            let (policy, code) = {
                let r = c.rec();
                (r.spec.restart_policy.clone(), r.state.exit_code)
            };
            let _ = inner.save(&c, Sync::Lazy);
            drop(_op);
            after_exit(&inner, &c, &policy, code, 0);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: RestartPolicyName, n: i64) -> RestartPolicy {
        RestartPolicy { name, maximum_retry_count: n }
    }

    #[test]
    fn policies() {
        assert!(!should_restart(&p(RestartPolicyName::No, 0), 1, false, 0));
        assert!(should_restart(&p(RestartPolicyName::Always, 0), 0, false, 5));
        assert!(!should_restart(&p(RestartPolicyName::Always, 0), 0, true, 5));
        assert!(should_restart(&p(RestartPolicyName::UnlessStopped, 0), 0, false, 0));
        assert!(should_restart(&p(RestartPolicyName::OnFailure, 0), 1, false, 100));
        assert!(!should_restart(&p(RestartPolicyName::OnFailure, 0), 0, false, 0));
        assert!(should_restart(&p(RestartPolicyName::OnFailure, 2), 1, false, 1));
        assert!(!should_restart(&p(RestartPolicyName::OnFailure, 2), 1, false, 2));
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(3200));
        assert_eq!(backoff(30), MAX_DELAY);
    }
}
