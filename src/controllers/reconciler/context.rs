//! What every pass shares: the machinery's [`Engine`] and the tenancy parts on top of it.

use std::ops::Deref;
use std::sync::Arc;

use crate::controllers::machinery::clock::Clock;
use crate::controllers::machinery::{Engine, Timing};
use crate::controllers::tenancy::claims::Claims;
use crate::controllers::tenancy::credentials::AuraClients;
use crate::database::{DatabaseSettings, LoginGuard};
use crate::metrics::Metrics;

/// What every reconcile shares. It reads as an [`Engine`] (through `Deref`), so that the
/// machinery, which knows nothing of tenants, takes the same context the kinds pass around.
pub struct Context {
    engine: Engine,
    pub aura: AuraClients,
    /// Which resource manages which Aura object (Leases in the operator's namespace).
    pub claims: Claims,
    /// Whether and how connection Secrets are verified by logging in over Bolt.
    pub database: DatabaseSettings,
}

impl Deref for Context {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl Context {
    /// A context whose claims live in the namespace `default`.
    pub fn new(kube: kube::Client, aura: AuraClients, timing: Timing) -> Arc<Self> {
        Self::with_metrics(kube, aura, timing, Metrics::new(), "default")
    }

    /// A context serving `metrics`, whose claims live in `operator_namespace`.
    pub fn with_metrics(
        kube: kube::Client,
        aura: AuraClients,
        timing: Timing,
        metrics: Arc<Metrics>,
        operator_namespace: &str,
    ) -> Arc<Self> {
        Self::with_clock(
            kube,
            aura,
            timing,
            metrics,
            operator_namespace,
            Clock::default(),
            DatabaseSettings::default(),
        )
    }

    /// Like [`with_metrics`](Self::with_metrics), reading the time from `clock`.
    pub fn with_clock(
        kube: kube::Client,
        aura: AuraClients,
        timing: Timing,
        metrics: Arc<Metrics>,
        operator_namespace: &str,
        clock: Clock,
        mut database: DatabaseSettings,
    ) -> Arc<Self> {
        // Its own memory of refused logins, shared by every pass of these controllers only.
        database.guard = Some(Arc::new(LoginGuard::default()));
        Arc::new(Self {
            claims: Claims::new(kube.clone(), operator_namespace),
            engine: Engine::new(kube, timing, metrics, clock),
            aura,
            database,
        })
    }

    /// Refreshes the gauges that are read rather than counted: the engine's (resources by
    /// status, passes waiting), and what each credential's rate budget admits right now and at
    /// what rate.
    pub fn refresh_gauges(&self) {
        self.engine.refresh_gauges();
        for (client_id, budget) in self.aura.budgets() {
            let labels = crate::metrics::CredentialLabels { client_id };
            // A counter that follows the budget's own count of requests let through.
            let admitted = self.metrics.budget_admitted.get_or_create(&labels);
            admitted.inc_by(budget.admitted().saturating_sub(admitted.get()));
            self.metrics
                .budget_available
                .get_or_create(&labels)
                .set(i64::from(budget.available()));
            self.metrics
                .budget_effective
                .get_or_create(&labels)
                .set(i64::from(budget.effective_per_minute()));
            let (interactive, background) = budget.waiting();
            for (priority, count) in [("interactive", interactive), ("background", background)] {
                let labels = crate::metrics::CredentialPriorityLabels {
                    client_id: labels.client_id.clone(),
                    priority,
                };
                let count = i64::try_from(count).unwrap_or(i64::MAX);
                self.metrics
                    .budget_waiting
                    .get_or_create(&labels)
                    .set(count);
            }
        }
    }
}
