//! Graph Analytics (GDS) sessions: list, size estimate, get-or-create, get, delete.

use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize, Serializer};

use super::client::{Call, Client};
use super::error::{Error, Result};
use super::ids::{InstanceId, SessionId, TenantId};
use super::values::{AlgorithmCategory, CloudProvider, SESSION_MEMORY, SessionStatus, check_in};

/// Aura's longest session time to live.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A Graph Analytics session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Session {
    pub id: SessionId,
    #[serde(default)]
    pub name: String,
    /// As Aura reports it; may be `4Gi` rather than `4GB`.
    #[serde(default)]
    pub memory: String,
    #[serde(default = "starting")]
    pub status: SessionStatus,
    /// Empty for standalone sessions.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub instance_id: Option<InstanceId>,
    /// The database of a multi-database instance. The Go client calls it `database_uuid`, and
    /// Aura may send both names (shared/aura-api.md §10): read it with [`Session::database`].
    #[serde(default, deserialize_with = "empty_as_none")]
    pub database_id: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub database_uuid: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub expiry_date: Option<String>,
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    /// Older responses call the project `tenant_id`, newer ones `project_id`; some send both.
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    #[serde(default)]
    pub project_id: Option<TenantId>,
    #[serde(default)]
    pub cloud_provider: Option<CloudProvider>,
    #[serde(default)]
    pub region: Option<String>,
    /// Problems Aura reports next to the session (e.g. `OutOfMemory`, `Inactivity`).
    #[serde(skip_deserializing, default)]
    pub problems: Vec<SessionProblem>,
}

fn starting() -> SessionStatus {
    SessionStatus::Starting
}

impl Session {
    /// The session's tenant (project), under whichever name Aura sent it.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref().or(self.project_id.as_ref())
    }

    /// The session's database, under whichever name Aura sent it.
    pub fn database(&self) -> Option<&str> {
        self.database_id
            .as_deref()
            .or(self.database_uuid.as_deref())
    }

    /// The Bolt URL a GDS client connects to.
    pub fn bolt_url(&self) -> Option<String> {
        self.host
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| format!("neo4j+s://{h}"))
    }
}

/// An entry of the `errors` array Aura sends beside session data, even on 200.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SessionProblem {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub reason: String,
}

/// Where a new session runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Next to an instance (optionally one of its databases).
    Attached {
        instance_id: InstanceId,
        database_id: Option<String>,
    },
    /// On its own, in a tenant and region.
    Standalone {
        tenant_id: TenantId,
        cloud_provider: CloudProvider,
        region: String,
    },
}

/// The body of `POST /graph-analytics/sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSession {
    pub name: String,
    pub memory: String,
    pub ttl: Option<Duration>,
    pub placement: Placement,
}

impl CreateSession {
    /// Checks the name, memory size and time to live.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        check_in("memory", &self.memory, SESSION_MEMORY)?;
        if let Some(ttl) = self.ttl
            && (ttl < Duration::from_secs(1) || ttl > MAX_TTL)
        {
            return Err(Error::invalid(
                "ttl",
                format!("{ttl:?} is outside 1s..7 days"),
            ));
        }
        if let Placement::Standalone { region, .. } = &self.placement
            && region.trim().is_empty()
        {
            return Err(Error::invalid(
                "region",
                "must not be empty for a standalone session",
            ));
        }
        Ok(())
    }
}

impl Serialize for CreateSession {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut body = serde_json::json!({ "name": self.name, "memory": self.memory });
        if let Some(ttl) = self.ttl {
            body["ttl"] = format!("{}s", ttl.as_secs()).into();
        }
        match &self.placement {
            Placement::Attached {
                instance_id,
                database_id,
            } => {
                body["instance_id"] = instance_id.as_str().into();
                if let Some(db) = database_id {
                    body["database_id"] = db.as_str().into();
                }
            }
            Placement::Standalone {
                tenant_id,
                cloud_provider,
                region,
            } => {
                body["tenant_id"] = tenant_id.as_str().into();
                body["cloud_provider"] = cloud_provider.as_str().into();
                body["region"] = region.as_str().into();
            }
        }
        body.serialize(s)
    }
}

/// Graph statistics for a size estimate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SizeEstimateRequest {
    pub node_count: u64,
    pub node_label_count: u64,
    pub node_property_count: u64,
    pub relationship_count: u64,
    pub relationship_property_count: u64,
    pub algorithm_categories: Vec<AlgorithmCategory>,
}

/// Aura's size estimate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SizeEstimate {
    pub estimated_memory: String,
    pub recommended_size: String,
}

/// Filters for listing sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub tenant_id: Option<TenantId>,
    pub instance_id: Option<InstanceId>,
    pub include_deleted: bool,
}

/// How Aura answered a session create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCreated {
    pub session: Session,
    /// False when a session of that name already existed (Aura answers 200 instead of 202).
    pub created: bool,
}

/// `client.sessions()`.
pub struct Sessions<'c> {
    pub(crate) client: &'c Client,
}

#[derive(Deserialize)]
struct WithProblems<T> {
    data: T,
    #[serde(default)]
    errors: Vec<SessionProblem>,
}

impl Sessions<'_> {
    /// Sessions matching `filter`.
    pub async fn list(&self, filter: &SessionFilter) -> Result<Vec<Session>> {
        let mut call = Call::get("/graph-analytics/sessions", "/graph-analytics/sessions");
        if let Some(tenant) = &filter.tenant_id {
            call = call.query("tenantId", tenant);
        }
        if let Some(instance) = &filter.instance_id {
            call = call.query("instanceId", instance);
        }
        if filter.include_deleted {
            call = call.query("includeDeleted", "true");
        }
        let reply: WithProblems<Vec<Session>> = self.client.send(call).await?.decode()?;
        let mut sessions = reply.data;
        for session in &mut sessions {
            session.problems = reply
                .errors
                .iter()
                .filter(|p| p.id == session.id.as_str())
                .cloned()
                .collect();
        }
        Ok(sessions)
    }

    /// Asks Aura how much memory a session for this graph needs.
    pub async fn estimate(&self, request: &SizeEstimateRequest) -> Result<SizeEstimate> {
        if request.node_count == 0 {
            return Err(Error::invalid("node_count", "must be greater than zero"));
        }
        // A pure computation on Aura's side: safe to resend.
        let call = Call::new(
            Method::POST,
            "/graph-analytics/sessions/sizing",
            "/graph-analytics/sessions/sizing",
            true,
        )
        .json(request)?;
        self.client.send(call).await?.data()
    }

    /// Gets or creates the session called `request.name`. Aura's create is get-or-create by name,
    /// so resending it cannot make a second session.
    pub async fn create(&self, request: &CreateSession) -> Result<SessionCreated> {
        request.validate()?;
        let call = Call::new(
            Method::POST,
            "/graph-analytics/sessions",
            "/graph-analytics/sessions",
            true,
        )
        .json(request)?;
        let reply = self.client.send(call).await?;
        let created = reply.status == http::StatusCode::ACCEPTED;
        let WithProblems {
            data: mut session,
            errors,
        } = reply.decode::<WithProblems<Session>>()?;
        session.problems = errors;
        Ok(SessionCreated { session, created })
    }

    /// One session, with any problems Aura reports for it.
    pub async fn get(&self, id: &SessionId) -> Result<Session> {
        let call = Call::get(
            "/graph-analytics/sessions/{sessionId}",
            format!("/graph-analytics/sessions/{id}"),
        );
        let WithProblems {
            data: mut session,
            errors,
        } = self
            .client
            .send(call)
            .await?
            .decode::<WithProblems<Session>>()?;
        session.problems = errors;
        Ok(session)
    }

    /// Deletes a session. Returns false when it was already gone (404 counts as done).
    pub async fn delete(&self, id: &SessionId) -> Result<bool> {
        let call = Call::new(
            Method::DELETE,
            "/graph-analytics/sessions/{sessionId}",
            format!("/graph-analytics/sessions/{id}"),
            true,
        );
        match self.client.send(call).await {
            Ok(_) => Ok(true),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    }
}

fn empty_as_none<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let raw = Option::<serde_json::Value>::deserialize(d)?;
    match raw {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attached() -> CreateSession {
        CreateSession {
            name: "job-1".into(),
            memory: "8GB".into(),
            ttl: Some(Duration::from_secs(1800)),
            placement: Placement::Attached {
                instance_id: InstanceId::new("c9f0d13a").unwrap(),
                database_id: None,
            },
        }
    }

    #[test]
    fn create_body_has_the_placement_fields_only() {
        let body = serde_json::to_value(attached()).unwrap();
        assert_eq!(body["instance_id"], "c9f0d13a");
        assert_eq!(body["ttl"], "1800s");
        assert!(body.get("tenant_id").is_none());
        let standalone = CreateSession {
            placement: Placement::Standalone {
                tenant_id: TenantId::new("6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10").unwrap(),
                cloud_provider: CloudProvider::Gcp,
                region: "europe-west1".into(),
            },
            ttl: None,
            ..attached()
        };
        let body = serde_json::to_value(standalone).unwrap();
        assert_eq!(body["cloud_provider"], "gcp");
        assert!(body.get("instance_id").is_none() && body.get("ttl").is_none());
    }

    #[test]
    fn validation_names_memory_and_ttl() {
        let bad_memory = CreateSession {
            memory: "3GB".into(),
            ..attached()
        };
        assert!(
            bad_memory
                .validate()
                .unwrap_err()
                .to_string()
                .contains("`memory`")
        );
        let bad_ttl = CreateSession {
            ttl: Some(MAX_TTL * 2),
            ..attached()
        };
        assert!(
            bad_ttl
                .validate()
                .unwrap_err()
                .to_string()
                .contains("`ttl`")
        );
    }

    #[test]
    fn session_reads_empty_instance_and_project_id() {
        let s: Session = serde_json::from_value(serde_json::json!({
            "id": "s-1", "name": "n", "memory": "4Gi", "status": "", "instance_id": "",
            "project_id": "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10", "host": "abc.sessions.example"
        }))
        .unwrap();
        assert_eq!(s.status, SessionStatus::Starting);
        assert_eq!(s.instance_id, None);
        assert!(s.tenant().is_some());
        let both: Session = serde_json::from_value(serde_json::json!({
            "id": "s-1", "project_id": "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10",
            "tenant_id": "6a2c5b1e-0b5f-4c53-9d4f-2f5b1f3c9a10"
        }))
        .unwrap();
        assert!(both.tenant().is_some());
        // shared/aura-api.md §10: `database_uuid` alone, or beside `database_id`.
        let go: Session =
            serde_json::from_value(serde_json::json!({ "id": "s-1", "database_uuid": "db-7" }))
                .unwrap();
        assert_eq!(go.database(), Some("db-7"));
        let echoed: Session = serde_json::from_value(serde_json::json!({
            "id": "s-1", "database_id": "db-7", "database_uuid": "db-7"
        }))
        .unwrap();
        assert_eq!(echoed.database(), Some("db-7"));
        assert_eq!(
            s.bolt_url().as_deref(),
            Some("neo4j+s://abc.sessions.example")
        );
    }
}
