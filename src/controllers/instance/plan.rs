//! What to do next, given the spec and what Aura reports. Pure: no I/O, tested with values.
//!
//! One step per pass: Aura accepts one operation at a time (it answers 409 while another is
//! running), so the controller acts once, then polls until the instance settles.

use kube::ResourceExt;

use super::schedule::wants_paused;
use super::validate::spec_field;
use crate::aura::{self, CdcEnrichmentMode, Instance, InstanceStatus, UpdateInstance};
use crate::controllers::connection::convert::{cdc, tier};
use crate::controllers::connection::naming;
use crate::controllers::machinery::error::Error;
use crate::crd::AuraInstance;
use crate::crd::instance::{AuraInstanceSpec, AuraInstanceStatus, ManagementPolicy};

/// The next action on the Aura instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Aura is busy with an operation; poll again.
    Wait(InstanceStatus),
    /// Resume a paused instance (before other changes, or because the spec says so).
    Resume,
    /// Upgrade a professional-db instance to business-critical, in place.
    Upgrade,
    /// The spec names another tier than the instance has, and Aura cannot change it (CEL
    /// refuses such a change; this catches specs that bypassed it, or adopted instances).
    WrongType {
        have: aura::InstanceType,
        want: aura::InstanceType,
    },
    /// Change mutable fields.
    Update(UpdateInstance),
    /// Load data (a restore or overwrite request not yet carried out).
    Restore,
    /// Pause a running instance.
    Pause,
    /// Nothing to do: the instance is as specified.
    Settled,
    /// A status the operator cannot act on (suspended, loading failed, unknown).
    Stuck(InstanceStatus),
    /// Observe-only: report these differences from the spec (see [`differences`]), change nothing.
    Observe(Vec<String>),
}

/// The step for a resource (its spec, metadata and status as the pass built it) and the
/// instance as observed: the controller's plan, and what `aura-operator plan` reports. The
/// schedule speaks through `paused`, so the plan needs no other notion of it.
pub fn for_resource(obj: &AuraInstance, status: &AuraInstanceStatus, observed: &Instance) -> Step {
    let name = wanted_name(obj, observed);
    let scheduled;
    let spec = if wants_paused(obj, status) && !obj.spec.paused {
        scheduled = AuraInstanceSpec {
            paused: true,
            ..obj.spec.clone()
        };
        &scheduled
    } else {
        &obj.spec
    };
    if obj.spec.management_policy == ManagementPolicy::Observe {
        return Step::Observe(differences(spec, observed, &name));
    }
    next_step(spec, observed, &name, restore_pending(obj, status))
}

/// The Aura name for a resource this operator creates: the spec's prefix (or namespace and
/// name) and the fingerprint of its UID.
pub fn desired_name(obj: &AuraInstance) -> String {
    naming::aura_name(
        obj.spec.aura_name.as_deref(),
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
        &obj.uid().unwrap_or_default(),
    )
}

/// The name the instance should have in Aura. An adopted instance keeps its own name unless
/// `spec.auraName` asks for another (taken as the exact name: the instance is not ours to
/// mark); one this resource created carries its fingerprint.
pub fn wanted_name(obj: &AuraInstance, instance: &Instance) -> String {
    if obj.spec.instance_id.is_none() {
        return desired_name(obj);
    }
    match obj.spec.aura_name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => {
            name.chars().take(aura::instances::MAX_NAME_LEN).collect()
        }
        _ => instance.name.clone(),
    }
}

/// Whether a restore request in the spec has not been carried out yet.
pub fn restore_pending(obj: &AuraInstance, status: &AuraInstanceStatus) -> bool {
    match (&obj.spec.restore, &status.restore) {
        (Some(wanted), Some(done)) => wanted.request_id != done.request_id,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The refusal of a tier change Aura cannot make ([`Step::WrongType`]).
pub fn wrong_type(have: &aura::InstanceType, want: &aura::InstanceType) -> Error {
    Error::invalid(
        "type",
        format!(
            "the instance is {have} and Aura cannot make it {want}: the only tier change made \
             in place is professional-db to business-critical. Set type back to {have}, or \
             create a new AuraInstance"
        ),
    )
}

/// Mutable fields whose spec value differs from what Aura reports. Fields Aura does not
/// report are left alone rather than re-sent forever.
pub fn drift(spec: &AuraInstanceSpec, observed: &Instance, desired_name: &str) -> UpdateInstance {
    let differs = |want: &str, have: Option<&String>| have.is_some_and(|h| h != want);
    let mut update = UpdateInstance::default();
    if observed.name != desired_name {
        update.name = Some(desired_name.to_owned());
    }
    if differs(&spec.memory, observed.memory.as_ref()) {
        update.memory = Some(spec.memory.clone());
    }
    if let Some(storage) = &spec.storage
        && differs(storage, observed.storage.as_ref())
    {
        update.storage = Some(storage.clone());
    }
    if let Some(count) = spec.secondaries_count
        && observed.secondaries_count.unwrap_or(0) != count
    {
        update.secondaries_count = Some(count);
    }
    if let Some(mode) = spec.cdc_enrichment_mode {
        let want = cdc(mode);
        if observed
            .cdc_enrichment_mode
            .as_ref()
            .unwrap_or(&CdcEnrichmentMode::Off)
            != &want
        {
            update.cdc_enrichment_mode = Some(want);
        }
    }
    if let Some(want) = spec.vector_optimized
        && observed.vector_optimized.is_some_and(|have| have != want)
    {
        update.vector_optimized = Some(want);
    }
    if let Some(want) = spec.graph_analytics_plugin
        && observed
            .graph_analytics_plugin
            .is_some_and(|have| have != want)
    {
        update.graph_analytics_plugin = Some(want);
    }
    update
}

/// A tier the spec asks for that the instance does not have: `Ok` for the one change Aura
/// makes in place (professional-db → business-critical), `Err` with the refusal for any other.
/// None when they agree, or when Aura does not report the type (business-critical instances
/// sometimes omit it).
fn type_change(spec: &AuraInstanceSpec, observed: &Instance) -> Option<Result<(), Step>> {
    let want = tier(spec.instance_type);
    let have = observed.instance_type.clone()?;
    // A word this client does not know is no ground to refuse the spec.
    if have == want || matches!(have, aura::InstanceType::Other(_)) {
        return None;
    }
    if have == aura::InstanceType::ProfessionalDb && want == aura::InstanceType::BusinessCritical {
        return Some(Ok(()));
    }
    Some(Err(Step::WrongType { have, want }))
}

/// Every field where Aura differs from the spec, as `field: Aura has X, the spec says Y`, for
/// an observe-only resource: what [`next_step`] would change ([`drift`], and pause or resume),
/// reported instead of acted on. Empty when the instance is as specified.
pub fn differences(
    spec: &AuraInstanceSpec,
    observed: &Instance,
    desired_name: &str,
) -> Vec<String> {
    let update = drift(spec, observed, desired_name);
    let want = serde_json::to_value(&update).unwrap_or_default();
    let have = serde_json::to_value(observed).unwrap_or_default();
    let mut found: Vec<String> = want
        .as_object()
        .into_iter()
        .flatten()
        .map(|(field, wanted)| {
            let name = if field == "name" {
                "auraName"
            } else {
                spec_field(field)
            };
            format!(
                "{name}: Aura has {}, the spec says {wanted}",
                have[field.as_str()]
            )
        })
        .collect();
    let paused = observed.status == InstanceStatus::Paused;
    let running = observed.status == InstanceStatus::Running;
    if (spec.paused && running) || (!spec.paused && paused) {
        found.push(format!(
            "paused: Aura has the instance {}, the spec says paused {}",
            observed.status, spec.paused
        ));
    }
    found
}

/// The next step. `restore_pending` says whether a restore request awaits.
pub fn next_step(
    spec: &AuraInstanceSpec,
    observed: &Instance,
    desired_name: &str,
    restore_pending: bool,
) -> Step {
    let status = &observed.status;
    if status.is_transient() {
        return Step::Wait(status.clone());
    }
    let paused = *status == InstanceStatus::Paused;
    let running = *status == InstanceStatus::Running;
    if !paused && !running {
        return Step::Stuck(status.clone());
    }
    let tier_change = type_change(spec, observed);
    if let Some(Err(wrong)) = tier_change {
        return wrong;
    }
    let upgrade = tier_change.is_some();
    // A paused instance that must run, or that must run for a restore or an upgrade, resumes
    // first.
    if paused && (!spec.paused || restore_pending || upgrade) {
        return Step::Resume;
    }
    // The upgrade goes before other changes: Aura may size the new tier differently.
    if upgrade {
        return Step::Upgrade;
    }
    let update = drift(spec, observed, desired_name);
    if !update.is_empty() {
        // Aura accepts changes to a paused instance, and they apply when it resumes.
        return Step::Update(update);
    }
    if restore_pending {
        return Step::Restore;
    }
    if spec.paused && running {
        return Step::Pause;
    }
    Step::Settled
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(extra: serde_json::Value) -> AuraInstanceSpec {
        let mut base = json!({
            "tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
            "region": "europe-west1", "type": "professional-db", "memory": "2GB"
        });
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn instance(status: &str, memory: &str) -> Instance {
        serde_json::from_value(json!({
            "id": "c9f0d13a", "name": "orders-5f3a9c1e", "status": status, "memory": memory,
            "storage": "4GB", "secondaries_count": 0, "cdc_enrichment_mode": "OFF",
            "vector_optimized": false, "graph_analytics_plugin": false
        }))
        .unwrap()
    }

    const NAME: &str = "orders-5f3a9c1e";

    #[test]
    fn a_running_instance_as_specified_is_settled() {
        assert_eq!(
            next_step(&spec(json!({})), &instance("running", "2GB"), NAME, false),
            Step::Settled
        );
    }

    #[test]
    fn transitions_are_waited_out() {
        assert_eq!(
            next_step(
                &spec(json!({"memory": "4GB"})),
                &instance("updating", "2GB"),
                NAME,
                false
            ),
            Step::Wait(InstanceStatus::Updating)
        );
    }

    #[test]
    fn a_memory_change_becomes_an_update_of_memory_only() {
        let step = next_step(
            &spec(json!({"memory": "8GB"})),
            &instance("running", "2GB"),
            NAME,
            false,
        );
        assert_eq!(
            step,
            Step::Update(UpdateInstance {
                memory: Some("8GB".into()),
                ..Default::default()
            })
        );
    }

    #[test]
    fn pause_and_resume_follow_the_spec() {
        assert_eq!(
            next_step(
                &spec(json!({"paused": true})),
                &instance("running", "2GB"),
                NAME,
                false
            ),
            Step::Pause
        );
        assert_eq!(
            next_step(&spec(json!({})), &instance("paused", "2GB"), NAME, false),
            Step::Resume
        );
        assert_eq!(
            next_step(
                &spec(json!({"paused": true})),
                &instance("paused", "2GB"),
                NAME,
                false
            ),
            Step::Settled
        );
    }

    #[test]
    fn changes_to_a_paused_instance_are_made_without_resuming_it() {
        let step = next_step(
            &spec(json!({"paused": true, "memory": "4GB"})),
            &instance("paused", "2GB"),
            NAME,
            false,
        );
        assert!(matches!(step, Step::Update(u) if u.memory.as_deref() == Some("4GB")));
    }

    #[test]
    fn a_restore_waits_for_updates_and_needs_a_running_instance() {
        assert_eq!(
            next_step(&spec(json!({})), &instance("running", "2GB"), NAME, true),
            Step::Restore
        );
        assert_eq!(
            next_step(
                &spec(json!({"paused": true})),
                &instance("paused", "2GB"),
                NAME,
                true
            ),
            Step::Resume
        );
        assert!(matches!(
            next_step(
                &spec(json!({"memory": "4GB"})),
                &instance("running", "2GB"),
                NAME,
                true
            ),
            Step::Update(_)
        ));
    }

    #[test]
    fn fields_aura_does_not_report_are_not_sent_again_and_again() {
        let mut observed = instance("running", "2GB");
        observed.vector_optimized = None;
        assert_eq!(
            next_step(
                &spec(json!({"vectorOptimized": true})),
                &observed,
                NAME,
                false
            ),
            Step::Settled
        );
    }

    #[test]
    fn a_renamed_prefix_renames_the_instance() {
        let step = next_step(
            &spec(json!({})),
            &instance("running", "2GB"),
            "billing-5f3a9c1e",
            false,
        );
        assert!(matches!(step, Step::Update(u) if u.name.as_deref() == Some("billing-5f3a9c1e")));
    }

    fn typed(status: &str, instance_type: &str) -> Instance {
        let mut observed = instance(status, "2GB");
        observed.instance_type = Some(aura::InstanceType::from_wire(instance_type));
        observed
    }

    #[test]
    fn professional_to_business_critical_is_an_upgrade() {
        let upgrade = spec(json!({"type": "business-critical"}));
        assert_eq!(
            next_step(&upgrade, &typed("running", "professional-db"), NAME, false),
            Step::Upgrade
        );
        assert_eq!(
            next_step(
                &upgrade,
                &typed("running", "business-critical"),
                NAME,
                false
            ),
            Step::Settled
        );
        assert_eq!(
            next_step(&upgrade, &typed("updating", "professional-db"), NAME, false),
            Step::Wait(InstanceStatus::Updating)
        );
        let paused = spec(json!({"type": "business-critical", "paused": true}));
        assert_eq!(
            next_step(&paused, &typed("paused", "professional-db"), NAME, false),
            Step::Resume,
            "Aura upgrades running instances only"
        );
    }

    #[test]
    fn every_other_tier_change_is_refused() {
        let step = next_step(
            &spec(json!({"type": "professional-db"})),
            &typed("running", "business-critical"),
            NAME,
            false,
        );
        assert_eq!(
            step,
            Step::WrongType {
                have: aura::InstanceType::BusinessCritical,
                want: aura::InstanceType::ProfessionalDb
            }
        );
        let step = next_step(
            &spec(json!({"type": "business-critical"})),
            &typed("running", "enterprise-db"),
            NAME,
            false,
        );
        assert!(matches!(step, Step::WrongType { .. }), "{step:?}");
    }

    #[test]
    fn differences_name_every_drifted_field_with_both_values() {
        let found = differences(
            &spec(json!({"memory": "8GB", "vectorOptimized": true, "paused": true})),
            &instance("running", "2GB"),
            "billing-5f3a9c1e",
        );
        assert_eq!(
            found,
            vec![
                "memory: Aura has \"2GB\", the spec says \"8GB\"",
                "auraName: Aura has \"orders-5f3a9c1e\", the spec says \"billing-5f3a9c1e\"",
                "vectorOptimized: Aura has false, the spec says true",
                "paused: Aura has the instance running, the spec says paused true",
            ]
        );
        assert!(differences(&spec(json!({})), &instance("running", "2GB"), NAME).is_empty());
        assert!(differences(&spec(json!({})), &instance("updating", "2GB"), NAME).is_empty());
    }

    #[test]
    fn suspended_instances_are_reported_not_touched() {
        assert_eq!(
            next_step(&spec(json!({})), &instance("suspended", "2GB"), NAME, false),
            Step::Stuck(InstanceStatus::Suspended)
        );
    }
}

/// The controller's plan (a pass's `plan` step, through the [`Reconciler`] trait) and
/// `aura-operator plan`'s (the resource's status as observed state, see
/// [`crate::cli::plan::instance::from_status`]) decide the same step for the same spec and
/// state.
#[cfg(test)]
mod same_as_the_cli {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::controllers::machinery::Timing;
    use crate::controllers::reconciler::Context;
    use crate::controllers::reconciler::Reconciler;
    use crate::controllers::tenancy::credentials::AuraClients;
    use crate::controllers::tenancy::credentials::AuraSettings;
    use crate::controllers::tenancy::credentials::DefaultCredential;

    fn resource(spec: serde_json::Value, status: serde_json::Value) -> AuraInstance {
        let mut base = json!({
            "tenantId": "a1b2c3d4-0000-4000-8000-000000000001", "cloudProvider": "gcp",
            "region": "europe-west1", "type": "professional-db", "memory": "2GB",
            "secondariesCount": 1, "cdcEnrichmentMode": "FULL", "vectorOptimized": true
        });
        base.as_object_mut()
            .unwrap()
            .extend(spec.as_object().unwrap().clone());
        serde_json::from_value(json!({
            "apiVersion": "aura.neo4j.io/v1alpha1", "kind": "AuraInstance",
            "metadata": {"name": "orders", "namespace": "team-a",
                         "uid": "5f3a9c1e-0000-4000-8000-00000000abcd", "generation": 2},
            "spec": base, "status": status
        }))
        .unwrap()
    }

    fn status(aura_status: &str, memory: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut base = json!({
            "instanceId": "c9f0d13a", "tenantId": "a1b2c3d4-0000-4000-8000-000000000001",
            "auraName": "team-a-orders-5f3a9c1e", "status": aura_status, "memory": memory,
            "storage": "4GB", "observedGeneration": 1
        });
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        base
    }

    /// The live instance the controller would have read: as the cluster's resource recorded
    /// it, with the fields its status does not keep as the cluster's spec made them.
    fn live(cluster: &AuraInstance) -> Instance {
        let status = cluster.status.clone().unwrap();
        serde_json::from_value(json!({
            "id": status.instance_id, "name": status.aura_name, "status": status.status,
            "tenant_id": status.tenant_id, "memory": status.memory, "storage": status.storage,
            "type": "professional-db", "secondaries_count": 1, "cdc_enrichment_mode": "FULL",
            "vector_optimized": true
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn the_controller_and_plan_decide_the_same_step() {
        let kube = memory_apiserver::ApiServer::new().client();
        let clients = AuraClients::new(AuraSettings::default(), DefaultCredential::None);
        let ctx = Context::new(kube, clients, Timing::default());
        let aura = crate::aura::ClientBuilder::new(
            crate::aura::Credentials::new("id", "secret".to_owned()).unwrap(),
        )
        .build()
        .unwrap();
        let scheduled = json!({"schedule": {"wants": "Paused"}});
        let restored = json!({"restore": {"requestId": "r1", "phase": "Completed"}});
        let cases = [
            (json!({}), status("running", "2GB", json!({}))),
            (
                json!({"memory": "4GB"}),
                status("running", "2GB", json!({})),
            ),
            (json!({"paused": true}), status("running", "2GB", json!({}))),
            (json!({}), status("paused", "2GB", json!({}))),
            (json!({}), status("running", "2GB", scheduled)),
            (
                json!({"auraName": "billing"}),
                status("running", "2GB", json!({})),
            ),
            (
                json!({"type": "business-critical"}),
                status("running", "2GB", json!({})),
            ),
            (
                json!({"secondariesCount": 2}),
                status("running", "2GB", json!({})),
            ),
            (json!({}), status("updating", "2GB", json!({}))),
            (json!({}), status("suspended", "2GB", json!({}))),
            (
                json!({"restore": {"requestId": "r2", "from": {"instanceId": "a"}}}),
                status("running", "2GB", restored),
            ),
            (
                json!({"managementPolicy": "Observe", "instanceId": "c9f0d13a", "memory": "8GB"}),
                status("running", "2GB", json!({})),
            ),
        ];
        let mut steps = Vec::new();
        for (spec, recorded) in cases {
            let cluster = resource(json!({}), recorded.clone());
            let wanted = resource(spec.clone(), recorded);
            let instance = live(&cluster);
            let observed = super::super::Observed {
                aura: aura.clone(),
                instance: instance.clone(),
            };
            let pass = super::super::Pass::new(Arc::new(wanted.clone()), &ctx);
            let controller = <AuraInstance as Reconciler>::plan(&pass, &observed);
            let status = cluster.status.clone().unwrap();
            let from_status =
                crate::cli::plan::instance::from_status(instance.id.clone(), &status, &cluster);
            let cli = for_resource(&wanted, &status, &from_status);
            assert_eq!(controller, cli, "spec {spec}");
            steps.push(controller);
        }
        // The cases are not all the same step: the comparison covers each kind of step.
        let kinds: std::collections::BTreeSet<_> = steps
            .iter()
            .map(|s| {
                format!("{s:?}")
                    .split(['(', ' '])
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            [
                "Observe", "Pause", "Restore", "Resume", "Settled", "Stuck", "Update", "Upgrade",
                "Wait"
            ]
        );
    }
}
