//! Reporting a pass: conditions, observed generation, Events, and when to come back.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;

use super::{Outcome, Pass, Result};
use crate::controllers::{Error, events};
use crate::crd::conditions::{self, Desired, READY, SYNCED};

/// PascalCase reason for an Aura status or a step (`creating` → `Creating`).
fn pascal(state: &str) -> String {
    state
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

impl Pass<'_> {
    /// Writes what the pass found and decides the next pass.
    pub(super) async fn report(&mut self, result: Result<Outcome>) -> Result<Action> {
        let generation = self.obj.metadata.generation;
        let now = Time(jiff::Timestamp::now());
        let was_ready = conditions::is_true(&self.written.conditions, READY);
        let previous_sync = conditions::find(&self.written.conditions, SYNCED)
            .map(|c| (c.reason.clone(), c.message.clone()));
        let conds = &mut self.status.conditions;
        match &result {
            Ok(Outcome::Gone) => return Ok(self.requeue(&Outcome::Gone)),
            Ok(outcome) => {
                conditions::set(
                    conds,
                    Desired::yes(
                        SYNCED,
                        "ReconcileSucceeded",
                        "the last pass reached Aura and Kubernetes",
                    ),
                    generation,
                    now.clone(),
                );
                let ready = match outcome {
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
                    Outcome::Gone => unreachable!("handled above"),
                };
                conditions::set(conds, ready, generation, now);
                self.status.observed_generation = generation;
                self.ctx.memory.succeeded(&self.key());
            }
            Err(err) => {
                let reason = err.category();
                conditions::set(
                    conds,
                    Desired::no(SYNCED, reason, err.to_string()),
                    generation,
                    now.clone(),
                );
                // A passing failure (Aura unreachable) does not make a running instance unready.
                if err.needs_change() || matches!(err, Error::Waiting { .. }) || !was_ready {
                    conditions::set(
                        conds,
                        Desired::no(READY, reason, err.to_string()),
                        generation,
                        now,
                    );
                }
                if err.needs_change() {
                    // The spec (or a person) must change; this generation has been looked at.
                    self.status.observed_generation = generation;
                }
            }
        }
        if let Err(write_err) = self.save().await {
            tracing::warn!(error = %write_err, "could not write status");
        }
        let is_ready = conditions::is_true(&self.status.conditions, READY);
        if is_ready && !was_ready {
            events::normal(
                self.ctx,
                &*self.obj,
                "Ready",
                "the instance is ready; its connection Secret is usable".to_owned(),
            )
            .await;
        }
        match result {
            Ok(outcome) => Ok(self.requeue(&outcome)),
            Err(err) => {
                // One Event per new problem, not one per retry.
                let now_sync = conditions::find(&self.status.conditions, SYNCED)
                    .map(|c| (c.reason.clone(), c.message.clone()));
                if now_sync != previous_sync {
                    let note = err.to_string();
                    match err {
                        Error::Waiting { reason, .. } => {
                            events::normal(self.ctx, &*self.obj, reason, note).await
                        }
                        ref other => {
                            events::warning(self.ctx, &*self.obj, other.category(), note).await
                        }
                    }
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn states_become_pascal_case_reasons() {
        assert_eq!(super::pascal("creating"), "Creating");
        assert_eq!(super::pascal("loading failed"), "LoadingFailed");
        assert_eq!(super::pascal("AuraBusy"), "AuraBusy");
    }
}
