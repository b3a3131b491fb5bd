//! The manifests to plan: AuraInstances, AuraSnapshots and GdsSessions from files and folders.
//! Unlike `sandbox --apply`, a file that is not YAML or an object of another kind does not stop
//! the plan: it is named in a warning and skipped, so that a folder of mixed manifests plans.

use std::path::PathBuf;

use crate::cli::manifests::{self, Manifest};
use crate::controllers::tenancy::installation::{InstallationClass, LABEL};

/// The group of the operator's kinds.
pub const GROUP: &str = "aura.neo4j.io";

/// The kinds `plan` plans.
pub const KINDS: [&str; 3] = ["AuraInstance", "AuraSnapshot", "GdsSession"];

/// One manifest to plan, with the namespace it goes to.
#[derive(Debug, Clone)]
pub struct Input {
    pub manifest: Manifest,
    pub namespace: String,
}

/// The manifests of `paths` for the operator's kinds; everything else becomes a warning.
/// A path that does not exist is an error: the command line itself is wrong.
pub fn read(
    paths: &[PathBuf],
    default_namespace: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Input>, manifests::ManifestError> {
    let mut found = Vec::new();
    for path in paths {
        for file in manifests::files(path)? {
            match manifests::read_file(&file) {
                Ok(objects) => found.extend(objects),
                Err(e) => warnings.push(format!("skipped: {e}")),
            }
        }
    }
    Ok(found
        .into_iter()
        .filter(|m| is_planned(m, warnings))
        .map(|manifest| Input {
            namespace: manifest
                .namespace
                .clone()
                .unwrap_or_else(|| default_namespace.to_owned()),
            manifest,
        })
        .collect())
}

/// The inputs the installation of `class` serves; the others are named in a warning (another
/// installation plans them).
pub fn of_class(
    inputs: Vec<Input>,
    class: &InstallationClass,
    warnings: &mut Vec<String>,
) -> Vec<Input> {
    inputs
        .into_iter()
        .filter(|input| {
            let m = &input.manifest;
            let label = m.object["metadata"]["labels"][LABEL].as_str();
            if label == class.name() {
                return true;
            }
            let how = match label {
                Some(other) => format!("--installation-class {other}"),
                None => "no --installation-class".to_owned(),
            };
            warnings.push(format!(
                "skipped: {}: {} {:?} is served by another installation (label {LABEL}: {}); \
                 plan it with {how}",
                m.origin,
                m.kind,
                m.name,
                label.unwrap_or("none, the default installation")
            ));
            false
        })
        .collect()
}

/// Whether `m` is of a kind `plan` plans; else a warning names it.
fn is_planned(m: &Manifest, warnings: &mut Vec<String>) -> bool {
    let group = m.api_version.split_once('/').map_or("", |(g, _)| g);
    if group == GROUP && KINDS.contains(&m.kind.as_str()) {
        return true;
    }
    warnings.push(format!(
        "skipped: {}: {} {:?} ({}) is not an AuraInstance, AuraSnapshot or GdsSession",
        m.origin, m.kind, m.name, m.api_version
    ));
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_kinds_and_broken_files_are_warnings_not_errors() {
        let dir = std::env::temp_dir().join(format!("plan-input-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.yaml"),
            "apiVersion: aura.neo4j.io/v1alpha1\nkind: AuraInstance\nmetadata: {name: a}\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n\
             ---\napiVersion: aura.neo4j.io/v1alpha1\nkind: AuraWidget\nmetadata: {name: w}\n",
        )
        .unwrap();
        std::fs::write(dir.join("b.yaml"), "key: [unclosed\n").unwrap();
        let mut warnings = Vec::new();
        let inputs = read(std::slice::from_ref(&dir), "team-a", &mut warnings).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].manifest.name, "a");
        assert_eq!(inputs[0].namespace, "team-a");
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].contains("b.yaml document 1: not valid YAML"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("ConfigMap \"c\""), "{warnings:?}");
        assert!(warnings[2].contains("AuraWidget \"w\""), "{warnings:?}");
    }

    #[test]
    fn manifests_of_another_installation_are_skipped_with_the_flag_that_plans_them() {
        let dir = std::env::temp_dir().join(format!("plan-class-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.yaml"),
            "apiVersion: aura.neo4j.io/v1alpha1\nkind: AuraInstance\nmetadata: {name: plain}\n\
             ---\napiVersion: aura.neo4j.io/v1alpha1\nkind: AuraInstance\n\
             metadata: {name: blue, labels: {aura.neo4j.io/installation-class: blue}}\n",
        )
        .unwrap();
        let read = |class: &InstallationClass| {
            let mut warnings = Vec::new();
            let inputs = read(std::slice::from_ref(&dir), "default", &mut warnings).unwrap();
            let names: Vec<String> = of_class(inputs, class, &mut warnings)
                .into_iter()
                .map(|i| i.manifest.name)
                .collect();
            (names, warnings)
        };
        let (names, warnings) = read(&InstallationClass::default_installation());
        assert_eq!(names, ["plain"]);
        assert!(
            warnings[0].contains("\"blue\"") && warnings[0].contains("--installation-class blue"),
            "{warnings:?}"
        );
        let (names, warnings) = read(&InstallationClass::named("blue").unwrap());
        assert_eq!(names, ["blue"]);
        assert!(
            warnings[0].contains("\"plain\"") && warnings[0].contains("no --installation-class"),
            "{warnings:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
