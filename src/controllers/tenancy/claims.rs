//! One manager per Aura object, across the whole cluster.
//!
//! Two resources naming the same Aura instance (or GDS session) would fight over it: one pauses
//! what the other resumes, and either one's deletion destroys the other's data. So a resource
//! manages an Aura object only while it holds the object's *claim*: a Lease in the operator's own
//! namespace named after the object (`aura-instance-<id>`, `gds-session-<id>`), whose holder is
//! the resource (namespace/name in `holderIdentity`, UID in a label).
//!
//! Why a Lease in the API server and not a map in memory or a look through the cache: the
//! decision must survive a restart of the operator, and two new resources racing for the same
//! object both see "nobody manages it" in any cache. A plain create of an object with a
//! deterministic name is atomic: exactly one create succeeds, every other gets 409 AlreadyExists
//! and reads who holds it. A claim whose holder no longer exists (its UID is gone: deleted while
//! the operator was down, or recreated under the same name) is taken over with a replace guarded
//! by the resourceVersion read, so two takers cannot both win either. The holder deletes its
//! claims as the last step of its cleanup, whatever its deletion policy.
//!
//! A claim once held is remembered in memory, so a settled resource does not ask the API server
//! on every pass; after a restart each resource asks once.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use kube::{Api, ResourceExt};

use crate::controllers::connection::naming;
use crate::controllers::machinery::FIELD_MANAGER;
use crate::controllers::machinery::error::{Error, Stop};
use crate::controllers::machinery::reasons::Reason;

/// Label on a claim: the UID of the resource holding it (to find all of a holder's claims).
pub const HOLDER_UID_LABEL: &str = "aura.neo4j.io/holder-uid";
/// Annotation on a claim: the Aura id it stands for, exactly.
pub const AURA_ID_ANNOTATION: &str = "aura.neo4j.io/aura-id";
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "aura-operator");

/// The kinds of Aura object a resource can claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuraObject {
    Instance,
    Session,
}

impl AuraObject {
    fn what(self) -> &'static str {
        match self {
            Self::Instance => "Aura instance",
            Self::Session => "GDS session",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Self::Instance => "aura-instance-",
            Self::Session => "gds-session-",
        }
    }

    /// The claim's name: the prefix and the id when the id is a valid name part (Aura's ids
    /// are), else the prefix and a fingerprint of the id (the annotation keeps the exact id).
    pub fn claim_name(self, id: &str) -> String {
        if naming::is_name_part(id, 200) {
            format!("{}{id}", self.prefix())
        } else {
            format!("{}x-{}", self.prefix(), naming::fingerprint(&hex_of(id)))
        }
    }
}

/// A stable hexadecimal digest of `text` (FNV-1a, 64 bits), for ids that are no valid name.
fn hex_of(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This resource holds the claim: it may manage the object.
    Held,
    /// Another live resource holds it (`namespace/name`).
    HeldBy(String),
}

/// The claims of this operator: where they live, and the ones known to be held.
pub struct Claims {
    kube: kube::Client,
    namespace: String,
    /// Claim name → UID of the holder, for claims this operator has seen held by a live
    /// resource of its own making.
    held: Mutex<HashMap<String, String>>,
}

/// A resource that can hold a claim: namespaced, read back to tell whether it still lives.
pub trait Holder:
    kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Holder for K where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
{
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Claims {
    /// Claims kept in `namespace` (the operator's own).
    pub fn new(kube: kube::Client, namespace: impl Into<String>) -> Self {
        Self {
            kube,
            namespace: namespace.into(),
            held: Mutex::default(),
        }
    }

    fn api(&self) -> Api<Lease> {
        Api::namespaced(self.kube.clone(), &self.namespace)
    }
}

/// Claims the Aura object `id` for `holder`: held already, newly taken, taken over from a holder
/// that no longer exists, or refused because another live resource holds it.
pub async fn claim<K: Holder>(
    claims: &Claims,
    holder: &K,
    object: AuraObject,
    id: &str,
) -> kube::Result<Claim> {
    let name = object.claim_name(id);
    let uid = holder.uid().unwrap_or_default();
    if lock(&claims.held).get(&name) == Some(&uid) {
        return Ok(Claim::Held);
    }
    let api = claims.api();
    let mine = lease(&name, id, holder);
    // Bounded: a round ends early only when another writer changed the claim in between.
    let mut last_seen = String::new();
    for _ in 0..5 {
        let found = match api.create(&post(), &mine).await {
            Ok(_) => return Ok(remember(claims, name, uid)),
            Err(e) if code(&e) == Some(409) => api.get_opt(&name).await?,
            Err(e) => return Err(e),
        };
        // Deleted between our create and our read: create again.
        let Some(found) = found else { continue };
        if holder_uid(&found) == Some(uid.as_str()) {
            return Ok(remember(claims, name, uid));
        }
        last_seen = holder_identity(&found);
        if holder_alive::<K>(claims, &found).await? {
            return Ok(Claim::HeldBy(last_seen));
        }
        let mut replacement = mine.clone();
        replacement.metadata.resource_version = found.metadata.resource_version.clone();
        match api.replace(&name, &post(), &replacement).await {
            Ok(_) => {
                tracing::info!(claim = %name, previous = %last_seen, "took over a claim whose holder no longer exists");
                return Ok(remember(claims, name, uid));
            }
            // Someone else changed it first: look again.
            Err(e) if matches!(code(&e), Some(409 | 404)) => {}
            Err(e) => return Err(e),
        }
    }
    // Others keep changing it: not ours this pass.
    Ok(Claim::HeldBy(last_seen))
}

/// Who holds the claim on `id`, by a read only (`aura-operator plan` and `import`): the
/// holder's `namespace/name` and UID, or None when nobody claims it.
pub async fn holder(
    kube: &kube::Client,
    namespace: &str,
    object: AuraObject,
    id: &str,
) -> kube::Result<Option<(String, Option<String>)>> {
    let api: Api<Lease> = Api::namespaced(kube.clone(), namespace);
    let found = api.get_opt(&object.claim_name(id)).await?;
    Ok(found.map(|claim| {
        let uid = holder_uid(&claim).map(str::to_owned);
        (holder_identity(&claim), uid)
    }))
}

/// Goes on only while `holder` holds the claim on `id`; else stops the pass with
/// `AlreadyManaged`, naming the resource that manages the object.
pub async fn require<K: Holder>(
    claims: &Claims,
    holder: &K,
    object: AuraObject,
    id: &str,
) -> Result<(), Stop> {
    match claim(claims, holder, object, id).await? {
        Claim::Held => Ok(()),
        Claim::HeldBy(other) => Err(already_managed::<K>(object, id, &other).into()),
    }
}

/// The refusal: who manages the object, and what this resource will not do.
pub fn already_managed<K: Holder>(object: AuraObject, id: &str, other: &str) -> Error {
    let (what, kind) = (object.what(), K::kind(&()));
    Error::NeedsAttention {
        reason: Reason::AlreadyManaged,
        message: format!(
            "{what} {id} is already managed by {kind} {other}; this resource makes no change to \
             it and its deletion leaves it in place. Point this resource at another one, or delete \
             {other} first (this resource then takes over on a later pass)"
        ),
    }
}

/// Deletes every claim `holder_uid` holds: the last step of a resource's cleanup. A claim
/// changed meanwhile (its resourceVersion moved on) is someone else's now and stays.
pub async fn release_all(claims: &Claims, holder_uid: &str) -> kube::Result<()> {
    if holder_uid.is_empty() {
        return Ok(());
    }
    let api = claims.api();
    let selector = format!("{HOLDER_UID_LABEL}={holder_uid}");
    let found = api.list(&ListParams::default().labels(&selector)).await?;
    for claim in found.items {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: claim.metadata.resource_version.clone(),
                uid: claim.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        match api.delete(&claim.name_any(), &params).await {
            Ok(_) => {}
            Err(e) if matches!(code(&e), Some(404 | 409)) => {}
            Err(e) => return Err(e),
        }
    }
    lock(&claims.held).retain(|_, uid| uid != holder_uid);
    Ok(())
}

fn remember(claims: &Claims, name: String, uid: String) -> Claim {
    lock(&claims.held).insert(name, uid);
    Claim::Held
}

/// Whether the resource a claim names still exists with the UID the claim recorded. A holder
/// the operator may not read counts as alive: refusing is safe, taking over is not.
async fn holder_alive<K: Holder>(claims: &Claims, claim: &Lease) -> kube::Result<bool> {
    let Some((namespace, name)) = holder_identity(claim)
        .split_once('/')
        .map(|(n, m)| (n.to_owned(), m.to_owned()))
    else {
        return Ok(true);
    };
    let Some(uid) = holder_uid(claim) else {
        return Ok(true);
    };
    let api: Api<K> = Api::namespaced(claims.kube.clone(), &namespace);
    match api.get_opt(&name).await {
        Ok(Some(found)) => Ok(found.meta().uid.as_deref() == Some(uid)),
        Ok(None) => Ok(false),
        Err(e) if code(&e) == Some(403) => Ok(true),
        Err(e) => Err(e),
    }
}

fn lease<K: Holder>(name: &str, id: &str, holder: &K) -> Lease {
    let identity = format!(
        "{}/{}",
        holder.namespace().unwrap_or_default(),
        holder.name_any()
    );
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                [
                    (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
                    (
                        HOLDER_UID_LABEL.to_owned(),
                        holder.uid().unwrap_or_default(),
                    ),
                ]
                .into(),
            ),
            annotations: Some([(AURA_ID_ANNOTATION.to_owned(), id.to_owned())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(identity),
            ..LeaseSpec::default()
        }),
    }
}

fn holder_uid(claim: &Lease) -> Option<&str> {
    claim.labels().get(HOLDER_UID_LABEL).map(String::as_str)
}

fn holder_identity(claim: &Lease) -> String {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default()
}

fn post() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    }
}

fn code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(e) => Some(e.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aura_ids_name_their_claims_and_other_ids_are_fingerprinted() {
        assert_eq!(
            AuraObject::Instance.claim_name("0a1b2c3d"),
            "aura-instance-0a1b2c3d"
        );
        assert_eq!(
            AuraObject::Session.claim_name("abc-123"),
            "gds-session-abc-123"
        );
        let odd = AuraObject::Session.claim_name("ABC_123");
        assert!(odd.starts_with("gds-session-x-"), "{odd}");
        assert_ne!(odd, AuraObject::Session.claim_name("ABC_124"));
        assert_eq!(odd, AuraObject::Session.claim_name("ABC_123"));
    }
}
