//! What Ready says after an apply pass over an instance that ran to its end.

use super::{Outcome, Pass, secret};
use crate::aura::InstanceStatus;
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::reconciler::pass::{Verdict, pascal};

impl Pass<'_> {
    /// The verdict of a pass that ran to its end with `outcome`.
    pub(super) fn verdict(&self, outcome: &Outcome) -> Verdict {
        match outcome {
            // Ready promises a usable Secret, for adopted instances too.
            Outcome::Settled if self.status.password_stored != Some(true) => Verdict::stalled(
                Reason::PasswordUnavailable,
                format!(
                    "the instance runs but its password is not in the connection Secret {}: put it \
                     there ({}; reset it in the Aura console if nobody has it)",
                    secret::name(&self.obj),
                    secret::layout(&self.obj).describe("password")
                ),
            ),
            Outcome::Settled if let Some(refused) = self.authentication_failed() => {
                Verdict::stalled(Reason::AuthenticationFailed, refused)
            }
            Outcome::Settled => {
                let state = self.status.status.clone();
                let reason = if state == Some(InstanceStatus::Paused) {
                    Reason::Paused
                } else {
                    Reason::Running
                };
                let state = state.map(|s| s.to_string()).unwrap_or_default();
                Verdict::ready(reason, format!("the instance is {state} as specified"))
            }
            Outcome::Busy(state) => {
                Verdict::busy(state, format!("waiting for Aura: {}", pascal(state)))
            }
            Outcome::Observed {
                status,
                differences,
            } => observed(status, differences),
            Outcome::Stuck(status) => stuck(status),
        }
    }
}

/// Ready for an instance in a status the operator cannot act on (suspended, loading failed,
/// a word it does not know).
pub fn stuck(status: &InstanceStatus) -> Verdict {
    match status {
        InstanceStatus::LoadingFailed => Verdict::stalled(
            Reason::LoadingFailed,
            "Aura reports `loading failed`: the data load into this instance failed and the \
             operator cannot recover it; look in the Aura console (restore a snapshot, or \
             delete the instance)",
        ),
        InstanceStatus::Suspended => Verdict::stalled(
            Reason::AuraSuspended,
            "Aura reports `suspended`: Aura suspended this instance (often billing or a \
             policy); the operator cannot resume it. Look in the Aura console or ask Neo4j \
             support",
        ),
        // A word this operator does not know may be a new transient state: keep looking.
        status => Verdict::not_ready(
            Reason::AuraStatusUnhandled,
            format!("Aura reports {status:?}; the operator waits"),
        ),
    }
}

/// Ready for an observe-only resource: observed, settled (running or paused) and as the spec
/// says. It does not promise a password: `status.passwordStored` tells.
pub fn observed(status: &InstanceStatus, differences: &[String]) -> Verdict {
    if status.is_transient() {
        let state = status.to_string();
        let message = format!("Aura is {state}; observing only (managementPolicy Observe)");
        return Verdict::busy(state, message);
    }
    if !matches!(status, InstanceStatus::Running | InstanceStatus::Paused) {
        return Verdict::not_ready(
            Reason::AuraStatusUnhandled,
            format!("Aura reports {status:?}; observing only (managementPolicy Observe)"),
        );
    }
    // The operator will not change Aura or the spec: only a person ends the drift (Stalled).
    if !differences.is_empty() {
        return Verdict::stalled(
            Reason::Drifted,
            format!(
                "Aura differs from the spec and managementPolicy Observe changes nothing: {}",
                differences.join("; ")
            ),
        );
    }
    Verdict::ready(
        Reason::InSync,
        format!("the instance is {status} as specified; observing only (managementPolicy Observe)"),
    )
}
