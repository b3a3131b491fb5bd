//! Reporting a pass: conditions, observed generation, Events, and when to come back.
//!
//! The rules shared by every controller live in [`crate::controllers::pass`]; what is particular
//! to an instance is what Ready says after a successful pass.

use kube::runtime::controller::Action;

use super::{Outcome, Pass, Result};
use crate::controllers::pass::{self, pascal};
use crate::crd::conditions::{Desired, READY};

impl Pass<'_> {
    /// Writes what the pass found and decides the next pass.
    pub(super) async fn report(&mut self, result: Result<Outcome>) -> Result<Action> {
        let ready = match &result {
            Ok(Outcome::Gone) => return Ok(self.requeue(&Outcome::Gone)),
            Ok(outcome) => Ok(self.ready_condition(outcome)),
            Err(err) => Err(err),
        };
        pass::report(
            self,
            ready,
            "the instance is ready; its connection Secret is usable",
        )
        .await;
        result.map(|outcome| self.requeue(&outcome))
    }

    /// What Ready says after a pass that did not fail.
    fn ready_condition(&self, outcome: &Outcome) -> Desired<'static> {
        match outcome {
            Outcome::Settled
                if self.status.password_stored == Some(false)
                    && self.obj.spec.instance_id.is_none() =>
            {
                Desired::no(
                    READY,
                    "PasswordUnavailable",
                    "the instance runs but its password is not in the connection Secret",
                )
            }
            Outcome::Settled => {
                let state = self.status.status.clone().unwrap_or_default();
                Desired::yes(
                    READY,
                    if state == "paused" {
                        "Paused"
                    } else {
                        "Running"
                    },
                    format!("the instance is {state} as specified"),
                )
            }
            Outcome::Busy(state) => Desired::no(
                READY,
                "InProgress",
                format!("waiting for Aura: {}", pascal(state)),
            ),
            Outcome::Stuck(status) => Desired::no(
                READY,
                "AuraStatusUnhandled",
                format!("Aura reports {status:?}; the operator waits"),
            ),
            Outcome::Gone => Desired::no(READY, "Gone", "the Aura instance is gone"),
        }
    }
}
