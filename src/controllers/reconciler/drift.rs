//! The `Drifted` condition of observe-only resources (`managementPolicy: Observe`): where Aura
//! differs from the spec, which the operator reports and never fixes.
//!
//! Set without churn like every condition; a drift that appears or changes is also one Warning
//! Event (not one per pass).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::pass::{Judged, Kind, News, Pass};
use crate::controllers::machinery::reasons::Reason;
use crate::crd::conditions::{self, DRIFTED, Desired};

impl<K: Kind> Pass<'_, K> {
    /// Records `differences` (empty: in sync) in the Drifted condition; a drift that appears or
    /// changes is counted in the `drift_detected` metric of `kind`.
    pub async fn record_drift(&mut self, kind: &'static str, differences: &[String]) {
        let now = Time(jiff::Timestamp::now());
        let generation = self.obj.meta().generation;
        let desired = if differences.is_empty() {
            Desired::no(
                DRIFTED,
                Reason::InSync.as_str(),
                "Aura matches the spec in every field the operator compares",
            )
        } else {
            Desired::yes(
                DRIFTED,
                Reason::Drifted.as_str(),
                format!("Aura differs from the spec: {}", differences.join("; ")),
            )
        };
        let (conds, _) = self.status.bookkeeping();
        let was = conditions::find(conds, DRIFTED).map(|c| c.message.clone());
        let message = desired.message.clone();
        conditions::set(conds, desired, generation, now);
        if !differences.is_empty() && was.as_deref() != Some(message.as_str()) {
            self.ctx.metrics.drift_detected(kind);
            let note = format!("{message} (managementPolicy Observe: nothing is changed)");
            self.announce(News::warning(Reason::Drifted.as_str(), note));
        }
    }

    /// Drops the Drifted condition (the resource manages its Aura object fully, or there is
    /// nothing to compare).
    pub fn forget_drift(&mut self) {
        let (conds, _) = self.status.bookkeeping();
        conds.retain(|c| c.type_ != DRIFTED);
    }
}
