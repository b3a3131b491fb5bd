//! Reading Kubernetes manifests from files and folders (`aura-operator sandbox --apply`).
//!
//! Everything is read and checked before anything starts, so a typo in a CI job fails at once
//! with the file and the document it is in, instead of half-way through an apply. The rules
//! follow `kubectl apply -f`: a folder means its `*.yaml`, `*.yml` and `*.json` files (not its
//! subfolders), in name order; a file named on the command line is read whatever its name; a
//! YAML file may hold several documents; a `List` (`kind: List`, or any `...List` with `items`)
//! stands for its items.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// Where an object came from: the file, the document in it (from 1) and, for an item of a
/// `List`, the item (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub document: usize,
    pub item: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} document {}", self.file.display(), self.document)?;
        if let Some(item) = self.item {
            write!(f, " item {item}")?;
        }
        Ok(())
    }
}

/// One Kubernetes object from a manifest: it has `apiVersion`, `kind` and `metadata.name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub origin: Origin,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `metadata.namespace` as written (none: the default namespace, or a cluster-scoped kind).
    pub namespace: Option<String>,
    /// The whole object, as read.
    pub object: Value,
}

/// Why the manifests could not be read. Each names the path (and the document) to look at.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: no such file or directory", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no *.yaml, *.yml or *.json file in this directory", path.display())]
    EmptyDirectory { path: PathBuf },
    #[error("{}: not valid YAML: {message}", origin)]
    Yaml { origin: Origin, message: String },
    #[error("{}: not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{origin}: not a Kubernetes object (no apiVersion/kind)")]
    NotAnObject { origin: Origin },
    #[error("{origin}: {kind} without metadata.name (generateName is not supported)")]
    NoName { origin: Origin, kind: String },
    #[error("no Kubernetes object in {}", list(paths))]
    Nothing { paths: Vec<PathBuf> },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every object in `paths` (files or folders), in order.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<Manifest>, ManifestError> {
    let mut manifests = Vec::new();
    for path in paths {
        for file in files(path)? {
            manifests.extend(read_file(&file)?);
        }
    }
    if manifests.is_empty() && !paths.is_empty() {
        return Err(ManifestError::Nothing {
            paths: paths.to_vec(),
        });
    }
    Ok(manifests)
}

/// The files `path` stands for: itself, or a folder's manifest files in name order.
pub fn files(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ManifestError::Missing {
            path: path.to_owned(),
        },
        _ => ManifestError::Read {
            path: path.to_owned(),
            source,
        },
    })?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let read = |source| ManifestError::Read {
        path: path.to_owned(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read)? {
        let file = entry.map_err(read)?.path();
        let manifest_like = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if manifest_like && file.is_file() {
            found.push(file);
        }
    }
    if found.is_empty() {
        return Err(ManifestError::EmptyDirectory {
            path: path.to_owned(),
        });
    }
    found.sort();
    Ok(found)
}

/// The objects of one file: JSON for `*.json`, multi-document YAML otherwise.
pub fn read_file(path: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_owned(),
        source,
    })?;
    if path.extension().is_some_and(|e| e == "json") {
        let value: Value = serde_json::from_str(&text).map_err(|source| ManifestError::Json {
            path: path.to_owned(),
            source,
        })?;
        return objects(path, 1, value);
    }
    parse_yaml(path, &text)
}

/// The objects of a YAML text (several documents); `path` only names it in errors.
pub fn parse_yaml(path: &Path, text: &str) -> Result<Vec<Manifest>, ManifestError> {
    let mut manifests = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let value = Value::deserialize(document).map_err(|e| ManifestError::Yaml {
            origin: Origin {
                file: path.to_owned(),
                document: number,
                item: None,
            },
            message: e.to_string(),
        })?;
        manifests.extend(objects(path, number, value)?);
    }
    Ok(manifests)
}

/// The objects of one document: none for an empty one, the items of a List, or itself.
fn objects(path: &Path, document: usize, value: Value) -> Result<Vec<Manifest>, ManifestError> {
    let origin = |item| Origin {
        file: path.to_owned(),
        document,
        item,
    };
    if value.is_null() {
        return Ok(Vec::new());
    }
    let is_list =
        value["kind"].as_str().is_some_and(|k| k.ends_with("List")) && value["items"].is_array();
    if !is_list {
        return Ok(vec![object(origin(None), value)?]);
    }
    let Value::Array(items) = value["items"].clone() else {
        return Ok(Vec::new());
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| object(origin(Some(i + 1)), item))
        .collect()
}

fn object(origin: Origin, value: Value) -> Result<Manifest, ManifestError> {
    let text = |pointer: &str| {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (Some(api_version), Some(kind)) = (text("/apiVersion"), text("/kind")) else {
        return Err(ManifestError::NotAnObject { origin });
    };
    let Some(name) = text("/metadata/name") else {
        return Err(ManifestError::NoName { origin, kind });
    };
    let namespace = text("/metadata/namespace");
    Ok(Manifest {
        origin,
        api_version,
        kind,
        name,
        namespace,
        object: value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Manifest>, ManifestError> {
        parse_yaml(Path::new("deploy/x.yaml"), text)
    }

    const INSTANCE: &str = "apiVersion: aura.neo4j.io/v1alpha1\nkind: AuraInstance\n\
                            metadata:\n  name: demo\nspec:\n  memory: 2GB\n";

    #[test]
    fn several_documents_are_read_in_order_and_empty_ones_skipped() {
        let text = format!(
            "---\n{INSTANCE}---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\n\
             metadata:\n  name: settings\n  namespace: team-a\n"
        );
        let objects = parse(&text).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].kind, "AuraInstance");
        assert_eq!(objects[0].name, "demo");
        assert_eq!(objects[0].namespace, None);
        assert_eq!(objects[0].object["spec"]["memory"], "2GB");
        assert_eq!(objects[1].kind, "ConfigMap");
        assert_eq!(objects[1].namespace.as_deref(), Some("team-a"));
        assert_eq!(objects[1].origin.document, 3);
    }

    #[test]
    fn a_document_without_api_version_or_kind_is_named_by_file_and_number() {
        let err = parse(&format!("{INSTANCE}---\nfoo: bar\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deploy/x.yaml document 2: not a Kubernetes object (no apiVersion/kind)"
        );
        for not_objects in ["- a\n- b\n", "just text\n", "kind: AuraInstance\n"] {
            let err = parse(not_objects).unwrap_err();
            assert!(
                matches!(err, ManifestError::NotAnObject { .. }),
                "{not_objects:?}: {err}"
            );
        }
    }

    #[test]
    fn an_object_without_a_name_is_refused() {
        let err =
            parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: x-\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "deploy/x.yaml document 1: ConfigMap without metadata.name (generateName is not supported)"
        );
    }

    #[test]
    fn broken_yaml_is_named_with_its_document_and_position() {
        let err = parse(&format!("{INSTANCE}---\nmetadata: [unclosed\n")).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("deploy/x.yaml document 2: not valid YAML: "),
            "{message}"
        );
        assert!(message.contains("line"), "no position in: {message}");
    }

    #[test]
    fn a_list_stands_for_its_items() {
        let text = "apiVersion: v1\nkind: List\nitems:\n\
                    - apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n\
                    - apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n";
        let objects = parse(text).unwrap();
        assert_eq!(
            objects.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(
            objects[1].origin.to_string(),
            "deploy/x.yaml document 1 item 2"
        );
        let bad = "apiVersion: v1\nkind: List\nitems:\n- {name: x}\n";
        assert_eq!(
            parse(bad).unwrap_err().to_string(),
            "deploy/x.yaml document 1 item 1: not a Kubernetes object (no apiVersion/kind)"
        );
    }

    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("manifests-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_folder_means_its_manifest_files_in_name_order() {
        let dir = Dir::new();
        dir.write(
            "b.yml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-yml}\n",
        );
        dir.write(
            "c.json",
            r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "from-json"}}"#,
        );
        dir.write("a.yaml", INSTANCE);
        dir.write("notes.txt", "not a manifest");
        std::fs::create_dir(dir.0.join("sub.yaml")).unwrap();
        let objects = read_all(std::slice::from_ref(&dir.0)).unwrap();
        assert_eq!(
            objects.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["demo", "from-yml", "from-json"]
        );
    }

    #[test]
    fn missing_paths_empty_folders_and_broken_json_are_named() {
        let dir = Dir::new();
        let missing = dir.0.join("nope.yaml");
        let err = read_all(std::slice::from_ref(&missing)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: no such file or directory", missing.display())
        );
        let empty = dir.0.join("empty");
        std::fs::create_dir(&empty).unwrap();
        let err = read_all(std::slice::from_ref(&empty)).unwrap_err();
        assert!(matches!(err, ManifestError::EmptyDirectory { .. }), "{err}");
        let json = dir.write("x.json", "{\"apiVersion\": ");
        let err = read_all(&[json]).unwrap_err();
        assert!(err.to_string().contains("x.json: not valid JSON"), "{err}");
        let comments = dir.write("only-comments.yaml", "# nothing\n");
        let err = read_all(&[comments]).unwrap_err();
        assert!(matches!(err, ManifestError::Nothing { .. }), "{err}");
    }
}
