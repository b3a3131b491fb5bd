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
            // Ready promises a usable Secret, for adopted instances too.
            Outcome::Settled if self.status.password_stored != Some(true) => Desired::no(
                READY,
                "PasswordUnavailable",
                format!(
                    "the instance runs but its password is not in the connection Secret {}: put it \
                     there as {} (reset it in the Aura console if nobody has it)",
                    super::secret::name(&self.obj),
                    crate::controllers::secrets::PASSWORD
                ),
            ),
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
