//! The plan of one AuraInstance: the controller's own checks and its pure `plan` step
//! ([`plan::for_resource`]), fed with the spec from the file and the instance as observed
//! (the resource's status, or a live read with `--refresh`).

use kube::ResourceExt;

use super::Planner;
use super::report::{Action, Entry};
use crate::aura::{self, Instance, InstanceId, InstanceStatus, TenantId};
use crate::controllers::connection::convert::{cdc, tier};
use crate::controllers::instance::plan::{self, Step};
use crate::controllers::instance::{create, limits, observe_only, report, validate};
use crate::controllers::reconciler::Reconciler;
use crate::controllers::reconciler::suspend;
use crate::controllers::tenancy::access::Restrictions;
use crate::controllers::tenancy::claims::{self, AuraObject};
use crate::controllers::{CredentialSource, Error};
use crate::crd::AuraInstance;
use crate::crd::instance::{AuraInstanceStatus, ManagementPolicy};

/// What the plan of one instance needs besides the [`Planner`].
pub struct Subject<'a> {
    /// The resource as the file says, with the cluster's metadata (UID) when it exists.
    pub obj: AuraInstance,
    /// The resource as the cluster has it.
    pub cluster: Option<&'a AuraInstance>,
    /// The entry to fill in (kind, namespace, name, source).
    pub entry: Entry,
}

impl Planner {
    /// The plan of one AuraInstance: its step, or the refusal the controller would report.
    pub async fn instance(&mut self, subject: Subject<'_>) -> Entry {
        let entry = subject.entry.clone();
        match self.instance_step(&subject).await {
            Ok(done) => done,
            Err(err) => refused(entry, &err),
        }
    }

    async fn instance_step(&mut self, s: &Subject<'_>) -> Result<Entry, Error> {
        let obj = &s.obj;
        obj.validate()?;
        if suspend::is_on(obj) {
            return Ok(suspended(s.entry.clone()));
        }
        let status = s.cluster.and_then(|c| c.status.clone()).unwrap_or_default();
        let (aura, restrictions, tenant) = self.checked_use(s, &status).await?;
        let (instance, adopted) = match (&status.instance_id, &obj.spec.instance_id) {
            (Some(id), _) => {
                let found = self.recorded(s, &status, &aura, tenant.as_ref(), id);
                (found.await?, false)
            }
            (None, Some(id)) => (self.adopted(obj, &aura, &restrictions, id).await?, true),
            (None, None) => return Ok(creation(s.entry.clone(), obj, tenant.as_ref())),
        };
        let step = plan::for_resource(obj, &status, &instance);
        let mut entry = from_step(s.entry.clone(), obj, &instance, step)?;
        entry.aura_id = Some(instance.id.to_string());
        if adopted {
            let note = format!("adopts Aura instance {} ({})", instance.id, instance.name);
            entry.changes.insert(0, note);
        }
        Ok(entry)
    }

    /// The credential the resource would use, what it allows, and the tenant: the checks a
    /// pass makes before it looks at the instance (for Full: the credential's tenants, limits
    /// and count, and, for a new or changed spec, the tenant's offers).
    async fn checked_use(
        &mut self,
        s: &Subject<'_>,
        status: &AuraInstanceStatus,
    ) -> Result<(aura::Client, Restrictions, Option<TenantId>), Error> {
        let obj = &s.obj;
        let source = CredentialSource::named(
            obj.spec.credentials_secret_ref.as_ref(),
            obj.spec.credential_ref.as_ref(),
        )
        .unwrap_or(CredentialSource::Default);
        let namespace = obj.namespace().unwrap_or_default();
        let grant = self.aura.grant(&namespace, &source).await?;
        let (aura, restrictions) = (grant.client, grant.restrictions);
        let tenant = match &status.tenant_id {
            Some(id) => TenantId::new(id.as_str()).ok(),
            None => validate::tenant_of(&obj.spec, &aura).await?,
        };
        if obj.spec.management_policy == ManagementPolicy::Observe {
            return Ok((aura, restrictions, tenant));
        }
        if let Some(tenant) = &tenant {
            restrictions.check_tenant(Some(tenant.as_str()), tenant_field(obj))?;
        }
        restrictions.check_instance(&obj.spec)?;
        let new = status.instance_id.is_none();
        if new {
            self.check_count(obj, &restrictions).await?;
        }
        let user_driven = s.cluster.is_none_or(|c| spec_of(c) != spec_of(obj));
        if (user_driven || new)
            && let Some(tenant) = &tenant
        {
            let offers = self.aura.tenant(&aura, tenant).await?;
            validate::check_shape(&obj.spec, offers)?;
        }
        Ok((aura, restrictions, tenant))
    }

    /// The instance the resource records, as observed: from its status and one list of its
    /// tenant (is it still there?), or read live with `--refresh`.
    async fn recorded(
        &mut self,
        s: &Subject<'_>,
        status: &AuraInstanceStatus,
        aura: &aura::Client,
        tenant: Option<&TenantId>,
        id: &str,
    ) -> Result<Instance, Error> {
        let instance_id = InstanceId::new(id).map_err(validate::as_spec_error)?;
        let observe = s.obj.spec.management_policy == ManagementPolicy::Observe;
        let gone = || match observe {
            true => observe_only::not_found(id),
            false => create::gone(&instance_id),
        };
        if self.refresh {
            return self
                .aura
                .instance(aura, &instance_id)
                .await?
                .ok_or_else(gone);
        }
        if let Some(tenant) = tenant {
            let listed = self.aura.instances(aura, tenant).await?;
            if !listed.iter().any(|i| i.id == instance_id) {
                return Err(gone());
            }
        }
        Ok(from_status(
            instance_id,
            status,
            s.cluster.unwrap_or(&s.obj),
        ))
    }

    /// The instance `spec.instanceId` names, for a resource that would adopt it: the claim
    /// (another resource may manage it), a live read, its tenant and placement.
    async fn adopted(
        &mut self,
        obj: &AuraInstance,
        aura: &aura::Client,
        restrictions: &Restrictions,
        id: &str,
    ) -> Result<Instance, Error> {
        let instance_id = InstanceId::new(id).map_err(|_| {
            Error::invalid("instanceId", format!("{id:?} is not an Aura instance id"))
        })?;
        let observe = obj.spec.management_policy == ManagementPolicy::Observe;
        if !observe {
            self.check_claim(obj, id).await?;
        }
        let Some(instance) = self.aura.instance(aura, &instance_id).await? else {
            return Err(match observe {
                true => observe_only::not_found(id),
                false => create::not_adoptable(id),
            });
        };
        let tenant = instance.tenant_id.as_ref().map(TenantId::as_str);
        restrictions.check_tenant(tenant, "instanceId")?;
        create::placement(&obj.spec, &instance)?;
        Ok(instance)
    }

    /// Refuses a new instance beyond its ClusterAuraCredential's per-namespace limit, counted
    /// as the controller counts ([`limits::ahead`]) among the namespace's AuraInstances once the
    /// files are applied: the cluster's, and the files' new ones, which come after the cluster's
    /// and, being created in the same second, in name order among themselves.
    async fn check_count(
        &mut self,
        obj: &AuraInstance,
        restrictions: &Restrictions,
    ) -> Result<(), Error> {
        let (Some(max), Some(credential)) =
            (restrictions.max_instances(), restrictions.credential())
        else {
            return Ok(());
        };
        let namespace = obj.namespace().unwrap_or_default();
        let mut others = self.cluster.all::<AuraInstance>(&namespace).await?;
        let new: Vec<AuraInstance> = self
            .pending
            .iter()
            .filter(|p| p.namespace() == obj.namespace() && p.name_any() != obj.name_any())
            .cloned()
            .collect();
        others.extend(new.iter().cloned());
        let ahead = limits::ahead(obj, &others, credential);
        if ahead < max as usize {
            return Ok(());
        }
        let refusal = limits::over_limit(&namespace, ahead, credential, max);
        let new_ahead: Vec<String> = new
            .iter()
            .filter(|p| limits::ahead(obj, std::slice::from_ref(*p), credential) == 1)
            .map(|p| p.name_any())
            .collect();
        if new_ahead.is_empty() {
            return Err(refusal);
        }
        let count = Count {
            namespace: &namespace,
            credential,
            max,
            place: ahead + 1,
        };
        Err(count.explain(refusal, &new_ahead))
    }

    /// Refuses an instance whose claim another live AuraInstance holds.
    async fn check_claim(&self, obj: &AuraInstance, id: &str) -> Result<(), Error> {
        let kube = self.cluster.kube();
        let found = claims::holder(kube, &self.operator_namespace, AuraObject::Instance, id)
            .await
            .or_else(forbidden_is_unknown)?;
        let Some((holder, uid)) = found else {
            return Ok(());
        };
        let this = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
        if holder == this {
            return Ok(());
        }
        let Some((namespace, name)) = holder.split_once('/') else {
            return Ok(());
        };
        let api: kube::Api<AuraInstance> = kube::Api::namespaced(kube.clone(), namespace);
        let alive = api
            .get_opt(name)
            .await
            .or_else(forbidden_is_unknown)?
            .is_some_and(|h| uid.is_none() || h.uid() == uid);
        if alive {
            return Err(claims::already_managed::<AuraInstance>(
                AuraObject::Instance,
                id,
                &holder,
            ));
        }
        Ok(())
    }
}

/// Where a new instance would come in its credential's per-namespace count.
struct Count<'a> {
    namespace: &'a str,
    credential: &'a str,
    max: u32,
    /// 1 for the first instance counted.
    place: usize,
}

impl Count<'_> {
    /// The controller's refusal, with why plan expects it: the other new manifests counted
    /// ahead, and the order plan assumes for them.
    fn explain(&self, refusal: Error, new_ahead: &[String]) -> Error {
        let Error::NeedsAttention { reason, message } = refusal else {
            return refusal;
        };
        let message = format!(
            "{message}. It would be the {} AuraInstance in namespace {:?} under \
             ClusterAuraCredential {:?}, limit {}, counting {} from this plan before it: new \
             manifests count in name order, as the operator orders resources created in the same \
             second; applied apart or in another order, which one is refused depends on which is \
             created and reconciled first",
            ordinal(self.place),
            self.namespace,
            self.credential,
            self.max,
            new_ahead.join(", "),
        );
        Error::NeedsAttention { reason, message }
    }
}

/// 1st, 2nd, 3rd, 4th... 11th, 12th, 13th... 21st.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A read the user may not make counts as nothing found: plan reports what it can see.
fn forbidden_is_unknown<T: Default>(err: kube::Error) -> kube::Result<T> {
    match &err {
        kube::Error::Api(status) if status.code == 403 => Ok(T::default()),
        _ => Err(err),
    }
}

/// The spec field that named the tenant, as the controller names it in a refusal.
fn tenant_field(obj: &AuraInstance) -> &'static str {
    match (&obj.spec.tenant_name, &obj.spec.tenant_id) {
        (Some(_), _) => "tenantName",
        (None, Some(_)) => "tenantId",
        (None, None) => "instanceId",
    }
}

fn spec_of(obj: &AuraInstance) -> serde_json::Value {
    serde_json::to_value(&obj.spec).unwrap_or_default()
}

/// The instance as the operator last observed it: the status's Aura status, name, memory and
/// storage; what the status does not record (secondaries, CDC, vector optimisation, the GDS
/// plugin, the tier) as the cluster's spec, which the operator made Aura match.
pub fn from_status(
    id: InstanceId,
    status: &AuraInstanceStatus,
    cluster: &AuraInstance,
) -> Instance {
    let spec = &cluster.spec;
    Instance {
        tenant_id: status
            .tenant_id
            .as_deref()
            .and_then(|t| TenantId::new(t).ok()),
        connection_url: status.connection_url.clone(),
        memory: status.memory.clone(),
        storage: status.storage.clone(),
        instance_type: Some(tier(spec.instance_type)),
        secondaries_count: spec.secondaries_count,
        cdc_enrichment_mode: spec.cdc_enrichment_mode.map(cdc),
        vector_optimized: spec.vector_optimized,
        graph_analytics_plugin: spec.graph_analytics_plugin,
        status: status.status.clone().unwrap_or(InstanceStatus::Creating),
        ..Instance::creating(id, status.aura_name.clone().unwrap_or_default())
    }
}

/// The create the controller would make.
fn creation(entry: Entry, obj: &AuraInstance, tenant: Option<&TenantId>) -> Entry {
    let spec = &obj.spec;
    let mut changes = vec![
        format!("type: {}", tier(spec.instance_type)),
        format!("memory: {}", spec.memory),
        format!(
            "region: {} {}",
            crate::controllers::connection::convert::provider(spec.cloud_provider),
            spec.region
        ),
    ];
    if let Some(tenant) = tenant {
        changes.push(format!("tenant: {tenant}"));
    }
    if obj.uid().is_some() {
        changes.push(format!("name: {}", plan::desired_name(obj)));
    }
    if spec.paused {
        changes.push("then paused".to_owned());
    }
    Entry {
        action: Action::Create,
        changes,
        ..entry
    }
}

/// The entry for the controller's step.
fn from_step(
    entry: Entry,
    obj: &AuraInstance,
    instance: &Instance,
    step: Step,
) -> Result<Entry, Error> {
    let name = plan::wanted_name(obj, instance);
    let (action, changes) = match step {
        Step::Settled => (Action::NoChange, Vec::new()),
        Step::Wait(status) => (
            Action::Wait,
            vec![format!(
                "Aura reports the instance {status}; the operator waits for it"
            )],
        ),
        Step::Resume => (
            Action::Resume,
            vec![format!("status: {} -> running", instance.status)],
        ),
        Step::Pause => (Action::Pause, vec!["status: running -> paused".to_owned()]),
        Step::Upgrade => (
            Action::Upgrade,
            vec!["type: professional-db -> business-critical (in place)".to_owned()],
        ),
        Step::WrongType { have, want } => return Err(plan::wrong_type(&have, &want)),
        Step::Update(_) => (
            Action::Update,
            plan::differences(&obj.spec, instance, &name),
        ),
        Step::Restore => (Action::Restore, restore_lines(obj)),
        Step::Stuck(status) => {
            let verdict = report::stuck(&status);
            let done = Entry {
                action: Action::NoChange,
                ..entry
            };
            return Ok(done.with_note(verdict.reason.as_str(), verdict.message));
        }
        Step::Observe(differences) => {
            let verdict = report::observed(&instance.status, &differences);
            let done = Entry {
                action: Action::NoChange,
                changes: differences,
                ..entry
            };
            return Ok(done.with_note(verdict.reason.as_str(), verdict.message));
        }
    };
    Ok(Entry {
        action,
        changes,
        ..entry
    })
}

fn restore_lines(obj: &AuraInstance) -> Vec<String> {
    let Some(restore) = &obj.spec.restore else {
        return Vec::new();
    };
    let from = serde_json::to_string(&restore.from).unwrap_or_default();
    vec![format!(
        "restore request {:?}: overwrite the instance's data from {from}",
        restore.request_id
    )]
}

/// A suspended resource: the operator makes no Aura call for it.
pub fn suspended(entry: Entry) -> Entry {
    entry.with_note(
        crate::controllers::Reason::Suspended.as_str(),
        format!(
            "the annotation {} is \"true\": the operator makes no Aura call for this resource",
            suspend::ANNOTATION
        ),
    )
}

/// The refusal the controller would report.
pub fn refused(entry: Entry, err: &Error) -> Entry {
    Entry {
        action: Action::Refused,
        ..entry
    }
    .with_note(err.reason().as_str(), err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_read_as_english_ordinals() {
        let words: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 103, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            words,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "103rd",
                "111th"
            ]
        );
    }
}
