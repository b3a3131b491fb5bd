//! Installation classes: several operator installations in one cluster, each serving only the
//! objects marked for it (as external-secrets' `--controller-class` and IngressClass do).
//!
//! An object is marked with the label [`LABEL`]; an installation started with
//! `--installation-class NAME` serves the objects labelled `NAME`, and the default installation
//! (no class) serves the objects without the label. A label rather than a spec field, because a
//! label selector is applied by the API server: the watches ask only for this installation's
//! objects, so the others' are never sent, cached or reconciled here, and relabelling moves an
//! object from one installation to the other without touching its spec (or its generation).
//! It applies to AuraInstance, AuraSnapshot, GdsSession and ClusterAuraCredential alike, and
//! to the objects the operator owns for them (connection and admin Secrets, ConfigMaps), which
//! carry their owner's class (see [`marks`]): the watch of owned objects selects by class too.
//!
//! [`marks`]: crate::controllers::connection::marks

use std::fmt;

use kube::ResourceExt;
use kube::runtime::watcher;

/// The label that names the installation class serving an object (defined with the marking of
/// owned objects, in the connection layer below).
pub const LABEL: &str = crate::controllers::connection::marks::CLASS_LABEL;

/// The leader-election Lease of the default installation; a class adds `-<class>`.
const LEASE: &str = "aura-operator";

/// This installation's class: None for the default installation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallationClass(Option<String>);

/// A class name that cannot be one (it must be a label value and part of a Lease name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "installation class {0:?} is not a DNS label (1-63 lowercase letters, digits and '-', \
     starting and ending with a letter or digit)"
)]
pub struct InvalidClass(pub String);

impl InstallationClass {
    /// The default installation: it serves the unmarked objects.
    pub fn default_installation() -> Self {
        Self(None)
    }

    /// The installation of class `name`.
    pub fn named(name: &str) -> Result<Self, InvalidClass> {
        // A label value, and the end of the Lease name `aura-operator-<class>`.
        let valid = crate::controllers::connection::naming::is_name_part(name, 63);
        match valid {
            true => Ok(Self(Some(name.to_owned()))),
            false => Err(InvalidClass(name.to_owned())),
        }
    }

    /// The class name, None for the default installation.
    pub fn name(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The label selector of this installation's objects: labelled with its class, or (the
    /// default installation) not labelled at all.
    pub fn selector(&self) -> String {
        match &self.0 {
            Some(name) => format!("{LABEL}={name}"),
            None => format!("!{LABEL}"),
        }
    }

    /// A watch of this installation's objects only, selected by the API server.
    pub fn watch(&self) -> watcher::Config {
        watcher::Config::default().labels(&self.selector())
    }

    /// A watch of this installation's objects among those `selector` selects: both hold (a
    /// comma in a label selector is AND).
    pub fn watch_among(&self, selector: &str) -> watcher::Config {
        watcher::Config::default().labels(&format!("{selector},{}", self.selector()))
    }

    /// Whether `obj` is marked for this installation.
    pub fn serves(&self, obj: &impl ResourceExt) -> bool {
        obj.labels().get(LABEL).map(String::as_str) == self.name()
    }

    /// The class an object is marked for (as [`fmt::Display`] words it).
    pub fn of(obj: &impl ResourceExt) -> Self {
        Self(obj.labels().get(LABEL).cloned())
    }

    /// The leader-election Lease of this installation: installations of different classes in
    /// the same namespace must not wait for each other's leader.
    pub fn lease_name(&self) -> String {
        match &self.0 {
            Some(name) => format!("{LEASE}-{name}"),
            None => LEASE.to_owned(),
        }
    }
}

impl fmt::Display for InstallationClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(name) => write!(f, "installation class {name:?}"),
            None => f.write_str("the default installation (no installation class)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    fn labelled(class: Option<&str>) -> ConfigMap {
        let labels = class.map(|c| [(LABEL.to_owned(), c.to_owned())].into());
        ConfigMap {
            metadata: ObjectMeta {
                labels,
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn the_default_installation_serves_only_unmarked_objects() {
        let default = InstallationClass::default_installation();
        assert_eq!(default.selector(), "!aura.neo4j.io/installation-class");
        assert!(default.serves(&labelled(None)));
        assert!(!default.serves(&labelled(Some("blue"))));
        assert_eq!(default.lease_name(), "aura-operator");
        assert_eq!(
            default.watch_among("a=b").label_selector.as_deref(),
            Some("a=b,!aura.neo4j.io/installation-class")
        );
    }

    #[test]
    fn a_class_serves_only_its_own_objects_and_has_its_own_lease() {
        let blue = InstallationClass::named("blue").unwrap();
        assert_eq!(blue.selector(), "aura.neo4j.io/installation-class=blue");
        assert!(blue.serves(&labelled(Some("blue"))));
        assert!(!blue.serves(&labelled(Some("green"))));
        assert!(!blue.serves(&labelled(None)));
        assert_eq!(blue.lease_name(), "aura-operator-blue");
        assert_eq!(
            blue.watch_among("a=b").label_selector.as_deref(),
            Some("a=b,aura.neo4j.io/installation-class=blue")
        );
        assert_eq!(
            InstallationClass::of(&labelled(Some("green"))).to_string(),
            "installation class \"green\""
        );
    }

    #[test]
    fn a_class_must_be_a_dns_label() {
        for bad in ["", "Blue", "-blue", "blue-", "a.b", &"x".repeat(64)] {
            let err = InstallationClass::named(bad).unwrap_err();
            assert!(
                err.to_string().contains("is not a DNS label"),
                "{bad}: {err}"
            );
        }
        assert!(InstallationClass::named("team-a-2").is_ok());
    }
}
