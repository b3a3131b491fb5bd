//! Who may use a shared credential, and for what: the namespaces allowed to use a
//! ClusterAuraCredential or the operator-wide default, and a ClusterAuraCredential's tenants and
//! limits.
//!
//! Every check here runs before the Aura call that would change something, so a refusal costs
//! at most the read that told the tenant (a tenant name, an adopted or referenced instance).
//! A refusal is a [`Error::NeedsAttention`] with one of the reasons `CredentialNotAllowed`,
//! `CredentialLimitExceeded` or `CredentialNotFound`, and a message naming the spec field.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::core::{Selector, SelectorExt};

use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::reasons::Reason;
use crate::crd::credential::{AllowedNamespaces, ClusterAuraCredentialSpec};
use crate::crd::instance::{AuraInstanceSpec, InstanceType};

type Result<T> = std::result::Result<T, Error>;

/// Namespaces allowed to use a credential.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamespaceAllow {
    /// Every namespace (the emulator's credential, or an explicit `*`).
    pub all: bool,
    pub names: Vec<String>,
    /// Labels the namespace must carry (equality terms); None: no selection by label.
    pub selector: Option<Selector>,
}

impl NamespaceAllow {
    /// Every namespace.
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// Only the listed namespaces.
    pub fn names(names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// What a ClusterAuraCredential's `allowedNamespaces` says. A selector that cannot be
    /// turned into one (an unknown operator) allows no namespace by label.
    pub fn from_spec(spec: &AllowedNamespaces) -> std::result::Result<Self, String> {
        let selector = match &spec.selector {
            Some(s) => Some(Selector::try_from(s.clone()).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(Self {
            all: false,
            names: spec.names.clone(),
            selector,
        })
    }

    /// Whether `namespace` may use the credential. Reads the Namespace's labels only when a
    /// selector must decide.
    pub async fn allows(&self, kube: &kube::Client, namespace: &str) -> Result<bool> {
        if self.all || self.names.iter().any(|n| n == namespace) {
            return Ok(true);
        }
        let Some(selector) = &self.selector else {
            return Ok(false);
        };
        Ok(selector.matches(&namespace_labels(kube, namespace).await?))
    }

    /// For messages: what is allowed, in the administrator's terms.
    pub fn describe(&self) -> String {
        if self.all {
            return "all namespaces".to_owned();
        }
        let mut parts = Vec::new();
        if !self.names.is_empty() {
            parts.push(format!("namespaces {}", self.names.join(", ")));
        }
        if let Some(selector) = &self.selector {
            parts.push(format!("namespaces labelled {selector}"));
        }
        if parts.is_empty() {
            return "no namespace".to_owned();
        }
        parts.join(" and ")
    }
}

/// The labels of Namespace `name`. Kubernetes gives every namespace the label
/// `kubernetes.io/metadata.name`; a namespace that cannot be found has only that one.
async fn namespace_labels(kube: &kube::Client, name: &str) -> Result<BTreeMap<String, String>> {
    let api: Api<Namespace> = Api::all(kube.clone());
    let mut labels = match api.get_opt(name).await? {
        Some(ns) => ns.metadata.labels.unwrap_or_default(),
        None => BTreeMap::new(),
    };
    labels
        .entry("kubernetes.io/metadata.name".to_owned())
        .or_insert_with(|| name.to_owned());
    Ok(labels)
}

/// A refusal to use a credential.
pub fn refused(reason: Reason, field: &str, message: impl std::fmt::Display) -> Error {
    Error::NeedsAttention {
        reason,
        message: format!("spec.{field}: {message}"),
    }
}

/// What a ClusterAuraCredential restricts beyond the namespace: tenants and limits. The
/// default is no restriction (a namespace's own Secret, or the operator's default credential).
#[derive(Debug, Clone, Default)]
pub struct Restrictions(Option<Arc<(String, ClusterAuraCredentialSpec)>>);

impl Restrictions {
    pub fn of(name: &str, spec: ClusterAuraCredentialSpec) -> Self {
        Self(Some(Arc::new((name.to_owned(), spec))))
    }

    /// The ClusterAuraCredential in use, if any.
    pub fn credential(&self) -> Option<&str> {
        self.0.as_deref().map(|(name, _)| name.as_str())
    }

    /// Whether some tenants are not allowed (then the tenant must be known before a change).
    pub fn limits_tenants(&self) -> bool {
        self.0
            .as_deref()
            .is_some_and(|(_, spec)| !spec.allowed_tenants.iter().any(|t| t == "*"))
    }

    /// Refuses a tenant the credential does not allow; `field` is where it came from. `None`
    /// (a tenant Aura did not tell) is refused when tenants are limited.
    pub fn check_tenant(&self, tenant: Option<&str>, field: &str) -> Result<()> {
        let Some((name, spec)) = self.0.as_deref() else {
            return Ok(());
        };
        if !self.limits_tenants()
            || tenant.is_some_and(|t| spec.allowed_tenants.iter().any(|a| a == t))
        {
            return Ok(());
        }
        let tenant = tenant.unwrap_or("(unknown)");
        Err(refused(
            Reason::CredentialNotAllowed,
            field,
            format!(
                "ClusterAuraCredential {name:?} may not be used for tenant {tenant} (its \
                 allowedTenants: {})",
                spec.allowed_tenants.join(", ")
            ),
        ))
    }

    /// Refuses an instance type or memory size beyond the credential's limits.
    pub fn check_instance(&self, spec: &AuraInstanceSpec) -> Result<()> {
        let Some((name, credential)) = self.0.as_deref() else {
            return Ok(());
        };
        let limits = &credential.limits;
        if !limits.instance_types.is_empty() && !limits.instance_types.contains(&spec.instance_type)
        {
            return Err(refused(
                Reason::CredentialLimitExceeded,
                "type",
                format!(
                    "ClusterAuraCredential {name:?} allows only instance types {}",
                    type_names(&limits.instance_types)
                ),
            ));
        }
        if let Some(max) = &limits.max_memory
            && gigabytes(&spec.memory) > gigabytes(max)
        {
            return Err(refused(
                Reason::CredentialLimitExceeded,
                "memory",
                format!(
                    "{} is above the {max} that ClusterAuraCredential {name:?} allows",
                    spec.memory
                ),
            ));
        }
        Ok(())
    }

    /// The most instances a namespace may have with this credential, if limited.
    pub fn max_instances(&self) -> Option<u32> {
        self.0.as_deref()?.1.limits.max_instances_per_namespace
    }
}

fn type_names(types: &[InstanceType]) -> String {
    types
        .iter()
        .map(|t| crate::controllers::connection::convert::tier(*t).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The number in a size such as "8GB" (the schema checks the form; anything else is huge, so
/// that it never passes a limit).
fn gigabytes(size: &str) -> u64 {
    size.trim_end_matches("GB").parse().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn restricted(limits: serde_json::Value) -> Restrictions {
        let spec = serde_json::from_value(json!({
            "secretRef": {"name": "s"},
            "allowedNamespaces": {"names": ["a"]},
            "allowedTenants": ["a1b2c3d4-0000-4000-8000-000000000001"],
            "limits": limits,
        }))
        .unwrap();
        Restrictions::of("team", spec)
    }

    fn instance(kind: &str, memory: &str) -> AuraInstanceSpec {
        serde_json::from_value(json!({
            "tenantId": "a1b2c3d4-0000-4000-8000-000000000001",
            "cloudProvider": "gcp", "region": "europe-west1", "type": kind, "memory": memory
        }))
        .unwrap()
    }

    #[test]
    fn tenants_outside_the_list_are_refused_naming_the_field() {
        let r = restricted(json!({}));
        assert!(
            r.check_tenant(Some("a1b2c3d4-0000-4000-8000-000000000001"), "tenantId")
                .is_ok()
        );
        let err = r
            .check_tenant(Some("a1b2c3d4-0000-4000-8000-000000000002"), "tenantName")
            .unwrap_err();
        assert_eq!(err.reason(), Reason::CredentialNotAllowed);
        assert!(err.to_string().starts_with("spec.tenantName: "), "{err}");
        assert!(r.check_tenant(None, "instanceId").is_err());
        assert!(Restrictions::default().check_tenant(None, "x").is_ok());
    }

    #[test]
    fn memory_is_compared_as_a_number() {
        let r = restricted(json!({"maxMemory": "8GB", "instanceTypes": ["professional-db"]}));
        assert!(
            r.check_instance(&instance("professional-db", "8GB"))
                .is_ok()
        );
        let err = r
            .check_instance(&instance("professional-db", "16GB"))
            .unwrap_err();
        assert_eq!(err.reason(), Reason::CredentialLimitExceeded);
        assert!(err.to_string().starts_with("spec.memory: "), "{err}");
        let err = r
            .check_instance(&instance("enterprise-db", "2GB"))
            .unwrap_err();
        assert!(err.to_string().starts_with("spec.type: "), "{err}");
    }

    #[test]
    fn the_description_says_what_is_allowed() {
        assert_eq!(NamespaceAllow::all().describe(), "all namespaces");
        assert_eq!(NamespaceAllow::default().describe(), "no namespace");
        assert_eq!(
            NamespaceAllow::names(["a", "b"]).describe(),
            "namespaces a, b"
        );
    }
}
