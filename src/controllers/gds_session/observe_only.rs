//! Observe-only (`spec.managementPolicy: Observe`): find the live session called `spec.name`,
//! mirror it in the status and the Secret, and report how it differs from the spec — never
//! create, recreate or delete a session.
//!
//! Every Aura call here is a read: the recorded session by id, else the sessions listed (within
//! the instance or tenant the spec names, if any) and picked by name. No claim is taken:
//! watching a session does not stop the resource that manages it. A session that ended is
//! reported whatever `expiredPolicy` says; a later pass picks up a new live session of the same
//! name.

use super::ensure::Found;
use super::{Pass, Result};
use crate::aura::{self, Session, SessionFilter, SessionId, SessionStatus};
use crate::controllers::connection::convert::provider;
use crate::controllers::machinery::error::Error;
use crate::controllers::reconciler::pass::News;
use crate::controllers::tenancy::references::ReferencedInstance;
use crate::crd::gds_session::{self, GdsSessionSpec};
use crate::crd::instance::ManagementPolicy;

impl Pass<'_> {
    /// Whether this resource only observes its session.
    pub(super) fn observe_only(&self) -> bool {
        self.obj.spec.management_policy == ManagementPolicy::Observe
    }

    /// The live session called `spec.name`, read only.
    pub(super) async fn observe_session(
        &mut self,
        aura: &aura::Client,
        referenced: Option<&ReferencedInstance>,
    ) -> Result<Found> {
        let Some(name) = self.obj.spec.name.clone() else {
            // validate() refuses this first; kept so that no Observe path can create.
            return Err(Error::invalid("name", "managementPolicy Observe needs it").into());
        };
        if let Some(session) = self.recorded_live(aura, &name).await? {
            return Ok(Found::Session(Box::new(session)));
        }
        let filter = self.filter(aura, referenced).await?;
        let named: Vec<Session> = aura
            .sessions()
            .list(&filter)
            .await?
            .into_iter()
            .filter(|s| s.name == name)
            .collect();
        let mut live: Vec<Session> = named
            .iter()
            .filter(|s| !s.status.has_ended())
            .cloned()
            .collect();
        if live.len() > 1 {
            return Err(Error::invalid(
                self.placement_field(),
                format!(
                    "{} live GDS sessions named {name:?} are visible to this credential; name the \
                     instance or tenant of the one to observe",
                    live.len()
                ),
            )
            .into());
        }
        let Some(session) = live.pop() else {
            return Ok(self.not_live(&name, &named));
        };
        let tenant = session.tenant().map(|t| t.as_str());
        self.restrictions
            .check_tenant(tenant, self.placement_field())?;
        if self.status.session_id.as_deref() != Some(session.id.as_str()) {
            let note = format!(
                "observing GDS session {name:?} ({}): managementPolicy is Observe, nothing in \
                 Aura is changed",
                session.id
            );
            self.announce(News::normal("Observing", note));
        }
        Ok(Found::Session(Box::new(session)))
    }

    /// The recorded session, if Aura still has it live under that name (one read).
    async fn recorded_live(&self, aura: &aura::Client, name: &str) -> Result<Option<Session>> {
        let Some(id) = self.status.session_id.as_deref() else {
            return Ok(None);
        };
        let Ok(id) = SessionId::new(id) else {
            return Ok(None);
        };
        match aura.sessions().get(&id).await {
            Ok(s) if s.name == name && !s.status.has_ended() => Ok(Some(s)),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// What the spec says about where the session is, as a list filter.
    async fn filter(
        &mut self,
        aura: &aura::Client,
        referenced: Option<&ReferencedInstance>,
    ) -> Result<SessionFilter> {
        let instance_id = self.attached_to(referenced)?;
        let tenant_id = self.spec_tenant(aura).await?;
        Ok(SessionFilter {
            tenant_id,
            instance_id,
            include_deleted: false,
        })
    }

    /// The spec field that says where the session is.
    fn placement_field(&self) -> &'static str {
        placement_field(&self.obj.spec)
    }

    /// No live session of that name: an ended one (or the one recorded, now gone) is reported
    /// as ended; none at all as missing.
    fn not_live(&mut self, name: &str, named: &[Session]) -> Found {
        if let Some(ended) = named.first() {
            self.observe(ended);
            return Found::Ended(ended.status.to_string());
        }
        if self.status.session_id.is_some() {
            self.status.status = Some(SessionStatus::Deleted);
            return Found::Ended(SessionStatus::Deleted.to_string());
        }
        Found::Missing(format!(
            "Aura has no live GDS session named {name:?} visible to this credential{}; under \
             managementPolicy Observe the operator never creates one (it looks again every \
             resync)",
            self.where_note()
        ))
    }

    fn where_note(&self) -> String {
        let spec = &self.obj.spec;
        match (
            &spec.instance_ref,
            &spec.instance_id,
            &spec.tenant_id,
            &spec.tenant_name,
        ) {
            (Some(r), ..) => format!(" on the instance of AuraInstance {}", r.name),
            (None, Some(id), ..) => format!(" on instance {id}"),
            (None, None, Some(id), _) => format!(" in tenant {id}"),
            (None, None, None, Some(name)) => format!(" in tenant {name:?}"),
            _ => String::new(),
        }
    }
}

/// Where Aura's session differs from what the spec says about it, one entry per field with
/// both values. Only fields the spec sets are compared; graph statistics are not (comparing
/// them would need Aura's size estimate, a POST).
pub fn differences(spec: &GdsSessionSpec, session: &Session) -> Vec<String> {
    let mut found = Vec::new();
    let mut differs = |field: &str, aura: &str, spec: &str| {
        found.push(format!(
            "{field}: Aura has {aura:?}, the spec says {spec:?}"
        ));
    };
    if let Some(memory) = &spec.memory
        && !same_memory(memory, &session.memory)
    {
        differs("memory", &session.memory, memory);
    }
    if let (Some(ttl), Some(aura_ttl)) = (&spec.ttl, &session.ttl)
        && gds_session::parse_ttl(ttl) != gds_session::parse_ttl(aura_ttl)
    {
        differs("ttl", aura_ttl, ttl);
    }
    if let Some(database) = &spec.database_id
        && session.database() != Some(database.as_str())
    {
        differs(
            "databaseId",
            session.database().unwrap_or_default(),
            database,
        );
    }
    if let Some(cloud) = spec.cloud_provider
        && session.cloud_provider.as_ref() != Some(&provider(cloud))
    {
        let aura = session
            .cloud_provider
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        differs("cloudProvider", &aura, &provider(cloud).to_string());
    }
    if let Some(region) = &spec.region
        && session.region.as_deref() != Some(region.as_str())
    {
        differs(
            "region",
            session.region.as_deref().unwrap_or_default(),
            region,
        );
    }
    found
}

/// Whether two memory sizes are the same number of gigabytes (Aura may write `8Gi` for `8GB`).
fn same_memory(spec: &str, aura: &str) -> bool {
    let number = |text: &str| -> Option<u64> {
        let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &text[digits.len()..];
        matches!(unit, "GB" | "Gi" | "G" | "GiB").then_some(())?;
        digits.parse().ok()
    };
    match (number(spec), number(aura)) {
        (Some(a), Some(b)) => a == b,
        _ => spec == aura,
    }
}

/// The spec field that says where an observed session is, as a refusal names it (pure:
/// `aura-operator plan` names the same field).
pub fn placement_field(spec: &GdsSessionSpec) -> &'static str {
    if spec.instance_ref.is_some() {
        return "instanceRef";
    }
    if spec.instance_id.is_some() {
        return "instanceId";
    }
    if spec.tenant_name.is_some() {
        return "tenantName";
    }
    if spec.tenant_id.is_some() {
        return "tenantId";
    }
    "name"
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn session(extra: serde_json::Value) -> Session {
        let mut body = json!({"id": "s-0000aaaa", "name": "watched", "memory": "8GB",
                              "status": "Ready", "cloud_provider": "gcp",
                              "region": "europe-west1", "ttl": "3600s"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(body).unwrap()
    }

    fn spec(body: serde_json::Value) -> GdsSessionSpec {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn only_fields_the_spec_sets_are_compared() {
        let bare = spec(json!({"name": "watched", "managementPolicy": "Observe"}));
        assert!(differences(&bare, &session(json!({}))).is_empty());
        let same = spec(json!({"name": "watched", "memory": "8GB", "ttl": "1h",
                               "cloudProvider": "gcp", "region": "europe-west1"}));
        assert!(differences(&same, &session(json!({"memory": "8Gi"}))).is_empty());
    }

    #[test]
    fn each_difference_names_the_field_and_both_values() {
        let wanted = spec(json!({"name": "watched", "memory": "16GB", "ttl": "30m",
                                 "region": "us-east1"}));
        let found = differences(&wanted, &session(json!({})));
        assert_eq!(
            found,
            [
                r#"memory: Aura has "8GB", the spec says "16GB""#,
                r#"ttl: Aura has "3600s", the spec says "30m""#,
                r#"region: Aura has "europe-west1", the spec says "us-east1""#,
            ]
        );
    }
}
