//! The apply pass: one step towards the spec (the connection Secret is written by
//! [`super::connection_secret`]).

use super::plan::{self, Step};
use super::validate::as_spec_error;
use super::{Observed, Outcome, Pass, Result};
use crate::aura::{self, Instance, InstanceId, InstanceStatus, OverwriteStarted, SnapshotId};
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::events;
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::reconciler::pass::{self, News};
use crate::controllers::tenancy::references;
use crate::crd::instance::{DataSource, RestorePhase, RestoreStatus};

impl Pass<'_> {
    /// Observes: the credential, the tenant (and the spec against what it offers), the
    /// instance (created or adopted as needed) and its connection Secret.
    pub(super) async fn observe_instance(&mut self) -> Result<Observed> {
        let aura = self.aura().await?;
        let tenant = self.resolve_tenant(&aura).await?;
        self.check_credential_use(tenant.as_ref()).await?;
        let needs_check = self.user_driven() || self.status.instance_id.is_none();
        if needs_check && let Some(tenant) = &tenant {
            self.check_against_tenant(&aura, tenant).await?;
        }
        let instance = self.ensure_instance(&aura, tenant.as_ref()).await?;
        self.forget_drift();
        let login = self.write_secret(&instance, None).await?;
        self.write_config_map(&instance).await?;
        self.observe(&instance);
        let login = self.rotate_password(&instance, login).await?;
        self.check_connection(&instance, login).await;
        Ok(Observed { aura, instance })
    }

    /// The next step (pure): [`plan::for_resource`], which `aura-operator plan` runs too.
    pub(super) fn plan(&self, observed: &Observed) -> Step {
        plan::for_resource(&self.obj, &self.status, &observed.instance)
    }

    /// Records what Aura reports.
    pub(super) fn observe(&mut self, instance: &Instance) {
        self.notice_resumed_by_aura(&instance.status);
        self.status.status = Some(instance.status.clone());
        if let Some(url) = &instance.connection_url {
            self.status.connection_url = Some(url.clone());
        }
        self.status.memory = instance.memory.clone().or(self.status.memory.take());
        self.status.storage = instance.storage.clone().or(self.status.storage.take());
        self.status.aura_name = Some(instance.name.clone());
        // A restore that Aura accepted is complete once the instance is back to running.
        let mut completed = None;
        if let Some(restore) = &mut self.status.restore {
            if restore.phase == RestorePhase::Requested
                && instance.status == InstanceStatus::Running
            {
                restore.phase = RestorePhase::Completed;
                let note = format!("restore request {:?} completed", restore.request_id);
                completed = Some(News::normal("RestoreCompleted", note));
            } else if restore.phase == RestorePhase::Sending {
                // A pass stopped between recording and hearing Aura's answer: never resend.
                restore.phase = RestorePhase::Unknown;
                restore.message = Some(
                    "the operator stopped while sending this request; it may or may not have reached Aura. \
                     Change requestId to ask again"
                        .to_owned(),
                );
            }
        }
        if let Some(news) = completed {
            self.announce(news);
        }
    }

    /// Aura resumes an instance paused for 30 days by itself (and a person may resume one in
    /// the console): an instance last seen paused that now resumes or runs, though nothing here
    /// resumed it (a resume of ours records `resuming` at once) and the spec or the schedule
    /// wants it paused, gets a Warning Event; the plan then pauses it again.
    fn notice_resumed_by_aura(&mut self, now: &InstanceStatus) {
        let was_paused = self.written.status == Some(InstanceStatus::Paused);
        let resumed = matches!(now, InstanceStatus::Resuming | InstanceStatus::Running);
        if !(was_paused && resumed && self.wants_paused()) || self.observe_only() {
            return;
        }
        let by = if self.obj.spec.paused {
            "spec.paused is true"
        } else {
            "the schedule says paused"
        };
        let note = format!(
            "the instance was paused and Aura now reports it {now}, though the operator did not \
             resume it: Aura resumes an instance paused for 30 days by itself (or someone resumed \
             it in the console). {by}, so the operator pauses it again"
        );
        self.announce(News::warning("ResumedByAura", note));
    }

    pub(super) fn restore_pending(&self) -> bool {
        plan::restore_pending(&self.obj, &self.status)
    }

    /// Takes `step`. A 409 means Aura is busy: that is a wait, not a failure.
    pub(super) async fn act(
        &mut self,
        aura: &aura::Client,
        instance: &Instance,
        step: Step,
    ) -> Result<Outcome> {
        let id = &instance.id;
        let result = match step {
            Step::Settled => return Ok(Outcome::Settled),
            Step::Stuck(status) => return Ok(Outcome::Stuck(status)),
            Step::Wait(status) => return Ok(Outcome::Busy(status.to_string())),
            Step::Observe(differences) => return Ok(self.report_drift(differences).await),
            Step::Resume => aura.instances().resume(id).await.map(|_| {
                // Ours: the next pass must not take it for Aura's own 30-day resume.
                self.status.status = Some(InstanceStatus::Resuming);
                ("Resuming", "resuming the instance".to_owned())
            }),
            Step::Pause => aura
                .instances()
                .pause(id)
                .await
                .map(|_| ("Pausing", "pausing the instance".to_owned())),
            Step::Upgrade => aura.instances().upgrade(id).await.map(|_| {
                let note = "upgrading the instance from professional-db to business-critical in \
                            place (Aura removes the Graph Analytics plugin)";
                ("Upgrading", note.to_owned())
            }),
            Step::WrongType { have, want } => {
                return Err(plan::wrong_type(&have, &want).into());
            }
            Step::Update(update) => {
                if !pass::user_driven(&*self.obj) {
                    // The spec has not changed since it was last acted on: Aura was changed
                    // outside Kubernetes, and this puts it back.
                    self.ctx.metrics.drift_detected("AuraInstance");
                }
                let what = describe(&update);
                aura.instances()
                    .update(id, &update)
                    .await
                    .map(|_| ("Updating", format!("changing {what}")))
            }
            Step::Restore => return self.restore(aura, instance).await,
        };
        match result {
            Ok((reason, note)) => {
                events::normal(self.ctx, &*self.obj, reason, note).await;
                Ok(Outcome::Busy(reason.to_owned()))
            }
            Err(e) if e.is_busy() => Ok(Outcome::Busy("AuraBusy".to_owned())),
            Err(e) => Err(as_spec_error(e).into()),
        }
    }

    /// Carries out the pending restore request once: recorded as `Sending` before the call, and
    /// never resent when a pass stopped in between.
    async fn restore(&mut self, aura: &aura::Client, instance: &Instance) -> Result<Outcome> {
        let Some(request) = self.obj.spec.restore.clone() else {
            return Ok(Outcome::Settled);
        };
        let (source, snapshot) = self.resolve_source(&request.from).await?;
        self.check_source_tenant(aura, &source, "restore.from")
            .await?;
        let previous = self.status.restore.clone();
        self.status.restore = Some(RestoreStatus {
            request_id: request.request_id.clone(),
            phase: RestorePhase::Sending,
            message: None,
        });
        self.save().await?;
        let result = send_restore(aura, &instance.id, &source, snapshot.as_ref()).await;
        match result {
            Ok(note) => {
                self.set_restore(
                    &request.request_id,
                    RestorePhase::Requested,
                    Some(note.clone()),
                );
                self.save().await?;
                events::normal(self.ctx, &*self.obj, "RestoreRequested", note).await;
                Ok(Outcome::Busy("Restoring".to_owned()))
            }
            // Refused before acting: as if never sent.
            Err(e) if e.is_busy() || e.category() == aura::ErrorCategory::RateLimited => {
                self.status.restore = previous;
                self.save().await?;
                Ok(Outcome::Busy("AuraBusy".to_owned()))
            }
            Err(e) if e.request_may_have_acted() => {
                self.set_restore(
                    &request.request_id,
                    RestorePhase::Unknown,
                    Some(format!("{e}; change requestId to ask again")),
                );
                self.save().await?;
                Err(Error::NeedsAttention {
                    reason: Reason::RestoreOutcomeUnknown,
                    message: e.to_string(),
                }
                .into())
            }
            Err(e) => {
                self.set_restore(
                    &request.request_id,
                    RestorePhase::Failed,
                    Some(e.to_string()),
                );
                self.save().await?;
                Err(as_spec_error(e).into())
            }
        }
    }

    fn set_restore(&mut self, request_id: &str, phase: RestorePhase, message: Option<String>) {
        self.status.restore = Some(RestoreStatus {
            request_id: request_id.to_owned(),
            phase,
            message,
        });
    }

    /// The source instance (and snapshot) a data source names.
    pub(super) async fn resolve_source(
        &self,
        source: &DataSource,
    ) -> Result<(InstanceId, Option<SnapshotId>)> {
        let reasons = references::Reasons {
            missing: Reason::SourceNotFound,
            not_ready: Reason::SourceNotReady,
        };
        if let Some(reference) = &source.snapshot_ref {
            let (instance, snapshot) = references::completed_snapshot(
                self.ctx,
                &self.api_namespace(),
                &reference.name,
                &self.key(),
                reasons,
            )
            .await?;
            return Ok((instance, Some(snapshot)));
        }
        let instance = match (&source.instance_id, &source.instance_ref) {
            (Some(id), _) => InstanceId::new(id.as_str()).map_err(|_| {
                Error::invalid("source.instanceId", format!("{id:?} is not an instance id"))
            })?,
            (None, Some(reference)) => {
                references::aura_instance(
                    self.ctx,
                    &self.api_namespace(),
                    &reference.name,
                    &self.key(),
                    reasons,
                )
                .await?
                .id
            }
            (None, None) => {
                return Err(Error::invalid(
                    "source",
                    "name the source instance (instanceId or instanceRef) or snapshot (snapshotRef)",
                ).into());
            }
        };
        let snapshot = source
            .snapshot_id
            .as_deref()
            .map(SnapshotId::new)
            .transpose()
            .map_err(|_| Error::invalid("snapshotId", "is not a UUID"))?;
        Ok((instance, snapshot))
    }

    fn api_namespace(&self) -> String {
        kube::ResourceExt::namespace(&*self.obj).unwrap_or_default()
    }
}

/// Sends a restore: of the instance's own snapshot, or an overwrite from another instance (or
/// one of its snapshots). Returns what is being loaded, for the record.
async fn send_restore(
    aura: &aura::Client,
    target: &InstanceId,
    source: &InstanceId,
    snapshot: Option<&SnapshotId>,
) -> std::result::Result<String, aura::Error> {
    match snapshot {
        Some(snap) if source == target => aura
            .snapshots(target)
            .restore(snap)
            .await
            .map(|_| format!("restoring snapshot {snap}")),
        Some(snap) => aura
            .instances()
            .overwrite_from_snapshot(target, source, snap)
            .await
            .map(|started| {
                describe_overwrite(started, &format!("snapshot {snap} of instance {source}"))
            }),
        None => aura
            .instances()
            .overwrite_from_instance(target, source)
            .await
            .map(|started| describe_overwrite(started, &format!("instance {source}"))),
    }
}

fn describe(update: &aura::UpdateInstance) -> String {
    let value = serde_json::to_value(update).unwrap_or_default();
    value
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(k, v)| format!("{k} to {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn describe_overwrite(started: OverwriteStarted, from: &str) -> String {
    match started {
        OverwriteStarted::Instance(_) => format!("overwriting with the data of {from}"),
        OverwriteStarted::Job(job) => {
            format!("overwriting with the data of {from} (Aura job {job})")
        }
    }
}
