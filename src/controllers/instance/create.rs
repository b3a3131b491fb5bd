//! Making sure the Aura instance exists, without ever creating two or losing a password.
//!
//! Aura's create is not idempotent and returns the password once. The protocol:
//! 1. Record the intent (the exact Aura name, which carries the resource UID's fingerprint) in
//!    the status *before* calling create.
//! 2. On a later pass that finds an intent but no instance id, list the tenant's instances and
//!    adopt the one with that name instead of creating another.
//! 3. After Aura answers, keep the password in memory and write it to the Secret before anything
//!    else; only then record the instance id.
//! 4. Claim the instance (see [`claims`]) before any changing call: an instance named by
//!    another resource's claim is not this resource's to change or delete.
//! 5. An adopted instance of ours whose password was never stored is unusable: by the
//!    `lostPasswordPolicy` it is deleted and created again (it cannot hold data nobody could log
//!    in to write), or reported for a person to decide.

use crate::controllers::connection::secrets;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::secret;
use super::validate::as_spec_error;
use super::{Pass, Result};
use crate::aura::{self, CreateInstance, Instance, InstanceId, TenantId};
use crate::controllers::connection::convert::{provider, tier};
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::error::Wait;
use crate::controllers::machinery::events;
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::tenancy::claims::{self, AuraObject};
use crate::crd::instance::{AuraInstanceSpec, CreateIntent, InstanceOrigin, LostPasswordPolicy};

impl Pass<'_> {
    /// The Aura instance this resource manages, created or adopted as needed.
    pub(super) async fn ensure_instance(
        &mut self,
        aura: &aura::Client,
        tenant: Option<&TenantId>,
    ) -> Result<Instance> {
        if let Some(shown) = self
            .obj
            .status
            .as_ref()
            .and_then(|s| s.instance_id.as_deref())
        {
            self.ctx.memory.instance_seen(&self.key(), shown);
        }
        if self.status.instance_id.is_none()
            && let Some(id) = self.ctx.memory.recorded_instance(&self.key())
        {
            // The Secret write before the id was recorded queues another pass, which can read
            // a cached copy older than that status write: catch up instead of taking our own
            // fresh instance for one an earlier crash left behind.
            self.status.instance_id = Some(id);
            self.status.create_intent = None;
            self.status
                .created_at
                .get_or_insert_with(|| Time(jiff::Timestamp::now()));
        }
        if let Some(id) = self.status.instance_id.clone() {
            return self.existing(aura, &id).await;
        }
        if let Some(id) = self.obj.spec.instance_id.clone() {
            return self.adopt_by_id(aura, &id).await;
        }
        let tenant =
            tenant.ok_or_else(|| Error::invalid("tenantId", "set tenantId or tenantName"))?;
        if self.status.create_intent.is_none() && self.catch_up_with_the_api_server().await? {
            // The cache was behind: the resource already records an intent or an instance.
            if let Some(id) = self.status.instance_id.clone() {
                return self.existing(aura, &id).await;
            }
        }
        let name = self.desired_name();
        match self.status.create_intent.clone() {
            // An earlier pass may have created it without recording it: look before creating,
            // and give a create Aura does not show yet time to appear before sending another.
            Some(intent) => {
                if let Some(found) = self.find_created(aura, tenant, &intent.aura_name).await? {
                    return self.adopt_created(aura, found).await;
                }
                if self.within_grace(&intent.since) {
                    let what = format!("an instance named {:?}", intent.aura_name);
                    return Err(self.not_visible_yet(&what).into());
                }
                self.status.create_intent = Some(CreateIntent {
                    since: Time(jiff::Timestamp::now()),
                    ..intent
                });
                self.save().await?;
            }
            None => {
                self.status.create_intent = Some(CreateIntent {
                    aura_name: name.clone(),
                    tenant_id: tenant.to_string(),
                    since: Time(jiff::Timestamp::now()),
                });
                self.save().await?;
            }
        }
        self.create(aura, tenant, &name).await
    }

    /// Before the one decision that must never be taken twice (to create), reads the resource
    /// from the API server rather than the watch cache, which can lag behind this operator's own
    /// status writes. Returns whether the API server knew more than the cache.
    async fn catch_up_with_the_api_server(&mut self) -> Result<bool> {
        let fresh = self.api.get_status(&self.obj.name_any()).await?;
        let status = fresh.status.unwrap_or_default();
        if status.create_intent.is_none() && status.instance_id.is_none() {
            return Ok(false);
        }
        self.status.create_intent = status.create_intent.clone();
        self.status.instance_id = status.instance_id.clone();
        self.status.created_at = status.created_at.clone();
        self.written = status;
        Ok(true)
    }

    /// Whether a 404 for the recorded instance may only mean Aura does not show it yet: it was
    /// created moments ago and no read has shown it running since.
    pub(super) fn may_be_invisible(&self) -> bool {
        let fresh = self
            .status
            .created_at
            .as_ref()
            .is_some_and(|at| self.within_grace(at));
        let seen = self
            .status
            .status
            .as_ref()
            .is_some_and(|s| *s != aura::InstanceStatus::Creating);
        fresh && !seen
    }

    /// The instance as this resource recorded it at its create, before Aura shows it.
    fn as_created(&self, id: InstanceId) -> Instance {
        let status = &self.status;
        Instance {
            tenant_id: status
                .tenant_id
                .as_deref()
                .and_then(|t| TenantId::new(t).ok()),
            connection_url: status.connection_url.clone(),
            memory: status.memory.clone(),
            storage: status.storage.clone(),
            ..Instance::creating(id, status.aura_name.clone().unwrap_or_default())
        }
    }

    /// Whether `since` lies within the window in which Aura may not show a new instance yet.
    pub(super) fn within_grace(&self, since: &Time) -> bool {
        jiff::Timestamp::now().duration_since(since.0) < self.grace()
    }

    fn grace(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::try_from(self.ctx.timing.visibility_grace).unwrap_or_default()
    }

    /// The wait while Aura does not show a new instance yet, on the growing polling schedule:
    /// each look costs a call of the credential's budget.
    pub(super) fn not_visible_yet(&self, what: &str) -> Wait {
        self.wait(
            Reason::NotVisibleYet,
            format!("{what} was created moments ago and Aura does not show it yet"),
        )
    }

    /// The Aura name for this resource (prefix from the spec, fingerprint from the UID).
    pub(super) fn desired_name(&self) -> String {
        super::plan::desired_name(&self.obj)
    }

    /// Goes on only while this resource holds the claim on instance `id` (see [`claims`]):
    /// called before the first changing call on it in every pass.
    pub(super) async fn claim(&self, id: &str) -> Result<()> {
        claims::require(&self.ctx.claims, &*self.obj, AuraObject::Instance, id).await
    }

    /// Whether the instance was adopted, for a resource recorded before `status.origin`
    /// existed: `spec.instanceId` is immutable, so it tells.
    pub(super) fn origin_by_spec(&self) -> InstanceOrigin {
        match self.obj.spec.instance_id {
            Some(_) => InstanceOrigin::Adopted,
            None => InstanceOrigin::Created,
        }
    }

    async fn existing(&mut self, aura: &aura::Client, id: &str) -> Result<Instance> {
        let id = InstanceId::new(id).map_err(as_spec_error)?;
        // Resources recorded before claims existed get theirs here, on their next pass.
        self.claim(id.as_str()).await?;
        self.status.origin.get_or_insert(self.origin_by_spec());
        match aura.instances().get(&id).await {
            Ok(instance) => Ok(instance),
            // Aura does not show it yet: go on with what its create answered, still creating.
            Err(e) if e.is_not_found() && self.may_be_invisible() => Ok(self.as_created(id)),
            Err(e) if e.is_not_found() => Err(gone(&id).into()),
            Err(e) => Err(e.into()),
        }
    }

    async fn adopt_by_id(&mut self, aura: &aura::Client, id: &str) -> Result<Instance> {
        let instance_id = InstanceId::new(id).map_err(|_| {
            Error::invalid("instanceId", format!("{id:?} is not an Aura instance id"))
        })?;
        self.claim(id).await?;
        let instance = aura.instances().get(&instance_id).await.map_err(|e| {
            if e.is_not_found() {
                not_adoptable(id)
            } else {
                Error::Aura(e)
            }
        })?;
        let tenant = instance.tenant_id.as_ref().map(|t| t.as_str());
        self.restrictions.check_tenant(tenant, "instanceId")?;
        self.check_adopted_placement(&instance)?;
        if self.status.tenant_id.is_none() {
            self.status.tenant_id = instance.tenant_id.as_ref().map(ToString::to_string);
        }
        self.status.instance_id = Some(instance.id.to_string());
        self.status.aura_name = Some(instance.name.clone());
        self.status.origin = Some(InstanceOrigin::Adopted);
        self.save().await?;
        events::normal(
            self.ctx,
            &*self.obj,
            "Adopted",
            format!("adopted existing Aura instance {id}"),
        )
        .await;
        Ok(instance)
    }

    pub(super) fn check_adopted_placement(&self, instance: &Instance) -> Result<(), Error> {
        placement(&self.obj.spec, instance)
    }

    /// Instances of the tenant with exactly `name`, not being deleted.
    async fn find_created(
        &self,
        aura: &aura::Client,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<Instance>> {
        let candidates: Vec<_> = aura
            .instances()
            .list(Some(tenant))
            .await?
            .into_iter()
            .filter(|s| s.name == name)
            .collect();
        let mut alive = Vec::new();
        for candidate in candidates {
            match aura.instances().get(&candidate.id).await {
                Ok(instance) if !instance.status.is_being_deleted() => alive.push(instance),
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        match alive.len() {
            0 | 1 => Ok(alive.pop()),
            n => Err(Error::NeedsAttention {
                reason: Reason::DuplicateInstances,
                message: format!(
                    "{n} Aura instances are named {name:?}; the operator will not guess which one is this \
                     resource's. Delete the extra ones in Aura ({})",
                    alive
                        .iter()
                        .map(|i| i.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }.into()),
        }
    }

    /// Calls create, then secures the password before recording the instance.
    async fn create(
        &mut self,
        aura: &aura::Client,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Instance> {
        let request = self.create_request(tenant, name).await?;
        if let Some(source) = &request.source_instance_id {
            self.check_source_tenant(aura, source, "source").await?;
        }
        events::normal(
            self.ctx,
            &*self.obj,
            "CreateRequested",
            format!("creating Aura instance {name:?}"),
        )
        .await;
        let created = match aura.instances().create(&request).await {
            Ok(created) => created,
            Err(e) => {
                if !e.request_may_have_acted() {
                    // Aura certainly did not create anything: the next pass need not look.
                    self.status.create_intent = None;
                    self.save().await?;
                }
                return Err(as_spec_error(e).into());
            }
        };
        let id = created.id.to_string();
        self.ctx
            .memory
            .keep_password(&self.key(), &id, created.password.clone());
        let instance = Instance {
            tenant_id: Some(tenant.clone()),
            cloud_provider: created.cloud_provider.clone(),
            region: created.region.clone(),
            instance_type: created.instance_type.clone(),
            connection_url: created.connection_url.clone(),
            memory: Some(request.memory.clone()),
            storage: request.storage.clone(),
            ..Instance::creating(created.id.clone(), created.name.clone())
        };
        let note = format!(
            "Aura instance {id} created; connection details in Secret {}",
            secret::name(&self.obj)
        );
        self.record_instance(&instance, Some(&created.username), "Created", note)
            .await?;
        // Only now: the id did not exist before Aura's answer, so nobody could claim it earlier
        // (the Aura name carries this resource's UID fingerprint, so no other resource's create
        // finds it either). The password is in the Secret first: should someone who read the id
        // in Aura in this very moment have claimed it, this resource is refused and loses nothing.
        self.claim(&id).await?;
        Ok(instance)
    }

    /// Records an instance this resource created (or an earlier pass did): the password goes to
    /// the Secret before the instance id goes to the status, so that if the status write fails
    /// the next pass finds the instance by name and the password in memory or the Secret.
    async fn record_instance(
        &mut self,
        instance: &Instance,
        username: Option<&str>,
        reason: &str,
        note: String,
    ) -> Result<()> {
        let id = instance.id.to_string();
        self.write_secret(instance, username).await?;
        self.status.instance_id = Some(id.clone());
        self.status.aura_name = Some(instance.name.clone());
        self.status.create_intent = None;
        self.status.created_at = Some(Time(jiff::Timestamp::now()));
        self.status.origin = Some(InstanceOrigin::Created);
        self.save().await?;
        self.ctx.memory.instance_recorded(&self.key(), &id);
        events::normal(self.ctx, &*self.obj, reason, note).await;
        Ok(())
    }

    async fn create_request(&self, tenant: &TenantId, name: &str) -> Result<CreateInstance> {
        let spec = &self.obj.spec;
        let mut request = CreateInstance::new(
            name,
            tenant.clone(),
            provider(spec.cloud_provider),
            &spec.region,
            tier(spec.instance_type),
            &spec.memory,
        );
        request.version = spec.version.clone();
        request.storage = spec.storage.clone();
        request.vector_optimized = spec.vector_optimized;
        request.graph_analytics_plugin = spec.graph_analytics_plugin;
        request.customer_managed_key_id = spec
            .customer_managed_key_id
            .as_deref()
            .map(aura::CmekId::new)
            .transpose()
            .map_err(as_spec_error)?;
        if let Some(source) = &spec.source {
            let (instance, snapshot) = self.resolve_source(source).await?;
            request.source_instance_id = Some(instance);
            request.source_snapshot_id = snapshot;
        }
        Ok(request)
    }

    /// An instance of ours found by name: adopt it if its password is safe, else apply the
    /// lost-password policy.
    async fn adopt_created(&mut self, aura: &aura::Client, instance: Instance) -> Result<Instance> {
        let id = instance.id.to_string();
        // Before the lost-password policy may delete it.
        self.claim(&id).await?;
        let existing = secrets::read(&self.secrets, &secret::name(&self.obj)).await?;
        let password = self
            .ctx
            .memory
            .password(&self.key(), &id)
            .or_else(|| existing.as_ref().and_then(|e| e.password_for(&id)));
        if let Some(password) = password {
            self.ctx.memory.keep_password(&self.key(), &id, password);
            let note = format!("found Aura instance {id} created by an earlier pass; recorded it");
            self.record_instance(&instance, None, "Recovered", note)
                .await?;
            return Ok(instance);
        }
        match self.obj.spec.lost_password_policy {
            LostPasswordPolicy::Recreate => {
                events::warning(
                    self.ctx,
                    &*self.obj,
                    "PasswordLost",
                    format!("Aura instance {id} was created but its password never reached the Secret; deleting it and creating another"),
                )
                .await;
                aura.instances().delete(&instance.id).await?;
                // That create is settled: the next one need not wait for it to show.
                let spent = Time(jiff::Timestamp::now() - self.grace());
                if let Some(intent) = &mut self.status.create_intent {
                    intent.since = spent;
                    self.save().await?;
                }
                Err(Wait {
                    reason: Reason::RecreatingInstance,
                    message: format!(
                        "deleting Aura instance {id}, whose password was lost, before creating another"
                    ),
                    retry: self.ctx.timing.poll.initial,
                }
                .into())
            }
            LostPasswordPolicy::Wait => Err(Error::NeedsAttention {
                reason: Reason::PasswordLost,
                message: format!(
                    "Aura instance {id} was created by this operator but its password never reached the Secret. \
                     Reset the password in the Aura console and put it in the Secret ({}), \
                     or delete the instance in Aura, or set lostPasswordPolicy: Recreate",
                    secret::layout(&self.obj).describe("password")
                ),
            }.into()),
        }
    }
}

/// The refusal of an instance whose cloud provider, region or tier (other than the one upgrade
/// Aura makes in place) differs from the spec: placement cannot change.
pub fn placement(spec: &AuraInstanceSpec, instance: &Instance) -> Result<(), Error> {
    let mismatch = |field: &str, have: String, want: String| {
        Error::invalid(
            field,
            format!(
                "instance {} has {have:?}, the spec says {want:?}; placement cannot change",
                instance.id
            ),
        )
    };
    if let Some(p) = &instance.cloud_provider
        && *p != provider(spec.cloud_provider)
    {
        return Err(mismatch(
            "cloudProvider",
            p.to_string(),
            provider(spec.cloud_provider).to_string(),
        ));
    }
    if let Some(r) = &instance.region
        && *r != spec.region
    {
        return Err(mismatch("region", r.clone(), spec.region.clone()));
    }
    // The one tier change Aura makes in place is the plan's to carry out (an upgrade).
    let upgrade = instance.instance_type == Some(aura::InstanceType::ProfessionalDb)
        && tier(spec.instance_type) == aura::InstanceType::BusinessCritical;
    if let Some(t) = &instance.instance_type
        && *t != tier(spec.instance_type)
        && !upgrade
    {
        return Err(mismatch(
            "type",
            t.to_string(),
            tier(spec.instance_type).to_string(),
        ));
    }
    Ok(())
}

/// The refusal when the recorded instance is gone from Aura: the operator does not recreate it
/// on its own.
pub fn gone(id: &InstanceId) -> Error {
    Error::NeedsAttention {
        reason: Reason::InstanceNotFound,
        message: format!(
            "Aura instance {id} no longer exists (deleted outside Kubernetes?). The operator does \
             not recreate it on its own: delete this AuraInstance and apply it again to get a new one"
        ),
    }
}

/// The refusal when the instance `spec.instanceId` names is not in Aura.
pub fn not_adoptable(id: &str) -> Error {
    Error::invalid(
        "instanceId",
        format!("Aura has no instance {id} visible to this credential"),
    )
}
