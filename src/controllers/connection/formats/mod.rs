//! What a connection Secret holds, in each format: the connection details as named fields,
//! the keys a format (or the user's templates) makes of them, and how they are read back from
//! a Secret written in any format — the password of an instance lives nowhere else.
//!
//! Reading back does not depend on the current spec: each Secret carries an annotation saying
//! where each detail it holds verbatim is (`password=SPRING_NEO4J_AUTHENTICATION_PASSWORD`,
//! or `password=credentials.env#NEO4J_PASSWORD` for a line of a dotenv file), so changing the
//! format finds the password under the old format's key. A Secret without the annotation was
//! written before formats existed, with the `aura` keys.

pub mod template;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;

use crate::crd::common::{ConnectionSecretSpec, SecretFormat};
pub use template::KeyProblem;

/// Annotation saying where each detail the Secret holds verbatim is.
pub const FIELD_KEYS_ANNOTATION: &str = "aura.neo4j.io/field-keys";
/// The key of the `dotenv` format.
pub const DOTENV_KEY: &str = "credentials.env";

/// Fields an AuraInstance's templates may use.
pub const INSTANCE_FIELDS: &[&str] = &[
    "uri",
    "host",
    "username",
    "password",
    "instance_id",
    "instance_name",
    "database",
];
/// Fields a GdsSession's templates may use: the session's, and its instance's when attached.
pub const SESSION_FIELDS: &[&str] = &[
    "session_id",
    "session_name",
    "session_host",
    "session_uri",
    "uri",
    "host",
    "username",
    "password",
    "instance_id",
    "instance_name",
    "database",
];

/// Which kind a Secret is for: the fields and the formats differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Instance,
    Session,
}

impl Kind {
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Instance => INSTANCE_FIELDS,
            Self::Session => SESSION_FIELDS,
        }
    }
}

/// Connection details by field name. Holds the password: no `Debug`.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Fields(BTreeMap<&'static str, String>);

impl Fields {
    /// Sets `field` (one of the names above) unless `value` is empty. The host and database
    /// follow from a URI.
    pub fn set(&mut self, field: &'static str, value: impl Into<String>) {
        let value = value.into();
        if value.is_empty() {
            return;
        }
        if field == "uri" {
            if let Some(host) = host_of(&value) {
                self.0.insert("host", host);
            }
            self.0.insert("database", "neo4j".to_owned());
        }
        self.0.insert(field, value);
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// Takes the instance details (not the session's) of `other`.
    pub fn take_instance_details(&mut self, other: &Fields) {
        for field in INSTANCE_FIELDS {
            if let Some(value) = other.get(field) {
                self.0.insert(field, value.to_owned());
            }
        }
    }
}

/// The host of a URI like `neo4j+s://abcd1234.databases.neo4j.io`.
fn host_of(uri: &str) -> Option<String> {
    url::Url::parse(uri)
        .ok()?
        .host_str()
        .map(str::to_owned)
        .filter(|h| !h.is_empty())
}

/// Where a detail is, in a Secret's data.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    /// The whole value of a key.
    Key(String),
    /// A `VAR=value` line of the dotenv file under a key.
    DotenvLine { key: String, var: String },
}

/// The keys a Secret gets: key → template, and where each detail lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    keys: Vec<(String, String)>,
    readback: Vec<(String, Location)>,
}

/// The `aura` keys of an instance: the names of Aura's credentials file.
const AURA_KEYS: [(&str, &str); 5] = [
    ("NEO4J_URI", "uri"),
    ("NEO4J_USERNAME", "username"),
    ("NEO4J_PASSWORD", "password"),
    ("AURA_INSTANCEID", "instance_id"),
    ("AURA_INSTANCENAME", "instance_name"),
];

/// Aura's credentials file, as its console offers it for download: a comment, then one
/// `NAME=value` line per detail. Details not known yet are left empty, so that the file (and
/// the password in it) is written from the first pass.
const DOTENV: &str = "\
# Neo4j Aura instance {{ instance_name | default('') }} ({{ instance_id | default('') }}), written by aura-operator
NEO4J_URI={{ uri | default('') }}
NEO4J_USERNAME={{ username | default('') }}
NEO4J_PASSWORD={{ password | default('') }}
AURA_INSTANCEID={{ instance_id | default('') }}
AURA_INSTANCENAME={{ instance_name | default('') }}
";

fn field(name: &str) -> String {
    format!("{{{{ {name} }}}}")
}

impl Layout {
    /// The layout `spec` asks for on a Secret of `kind`: its keys, or its format.
    pub fn of(spec: &ConnectionSecretSpec, kind: Kind) -> Self {
        if !spec.keys.is_empty() {
            return Self::from_templates(spec.keys.clone());
        }
        let per_field = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(key, f)| ((*key).to_owned(), field(f)))
                .collect::<Vec<_>>()
        };
        let format = spec.format.unwrap_or_default();
        let keys = match (format, kind) {
            (SecretFormat::Aura, Kind::Instance) => per_field(&AURA_KEYS),
            (SecretFormat::Aura, Kind::Session) => per_field(&[
                ("GDS_SESSION_ID", "session_id"),
                ("GDS_SESSION_NAME", "session_name"),
                ("GDS_SESSION_HOST", "session_host"),
                ("GDS_SESSION_URI", "session_uri"),
                ("NEO4J_URI", "uri"),
                ("NEO4J_USERNAME", "username"),
                ("NEO4J_PASSWORD", "password"),
                ("AURA_INSTANCEID", "instance_id"),
            ]),
            (SecretFormat::SpringBoot, _) => per_field(&[
                ("SPRING_NEO4J_URI", "uri"),
                ("SPRING_NEO4J_AUTHENTICATION_USERNAME", "username"),
                ("SPRING_NEO4J_AUTHENTICATION_PASSWORD", "password"),
            ]),
            (SecretFormat::Jdbc, _) => {
                let mut keys =
                    per_field(&[("JDBC_USERNAME", "username"), ("JDBC_PASSWORD", "password")]);
                keys.push(("JDBC_URL".to_owned(), "jdbc:{{ uri }}".to_owned()));
                keys
            }
            (SecretFormat::Dotenv, _) => {
                let readback = AURA_KEYS
                    .iter()
                    .map(|(var, f)| {
                        let at = Location::DotenvLine {
                            key: DOTENV_KEY.to_owned(),
                            var: (*var).to_owned(),
                        };
                        ((*f).to_owned(), at)
                    })
                    .collect();
                return Self {
                    keys: vec![(DOTENV_KEY.to_owned(), DOTENV.to_owned())],
                    readback,
                };
            }
            (SecretFormat::ServiceBinding, Kind::Instance) => {
                let mut keys = constants(&[("type", "neo4j"), ("provider", "aura")]);
                keys.extend(per_field(&[
                    ("uri", "uri"),
                    ("host", "host"),
                    ("username", "username"),
                    ("password", "password"),
                ]));
                keys
            }
            (SecretFormat::ServiceBinding, Kind::Session) => {
                let mut keys = constants(&[("type", "neo4j-gds-session"), ("provider", "aura")]);
                keys.extend(per_field(&[
                    ("uri", "session_uri"),
                    ("host", "session_host"),
                    ("username", "username"),
                    ("password", "password"),
                    ("database-uri", "uri"),
                ]));
                keys
            }
        };
        Self::from_templates(keys)
    }

    /// A layout of templates; a key that is one field alone is where that field is read back.
    fn from_templates(keys: impl IntoIterator<Item = (String, String)>) -> Self {
        let keys: Vec<(String, String)> = keys.into_iter().collect();
        let readback = keys
            .iter()
            .filter_map(|(key, t)| {
                Some((
                    template::sole_field(t)?.to_owned(),
                    Location::Key(key.clone()),
                ))
            })
            .collect();
        Self { keys, readback }
    }

    /// Checks every key and template before anything is written. An instance's layout must
    /// hold the password verbatim somewhere: it is read back from there.
    pub fn check(&self, kind: Kind) -> Result<(), KeyProblem> {
        for (key, t) in &self.keys {
            template::check(key, t, kind.fields())?;
        }
        let password_kept = self.readback.iter().any(|(f, _)| f == "password");
        if kind == Kind::Instance && !password_kept {
            return Err(KeyProblem {
                key: String::new(),
                message: "no key is exactly {{ password }}: the password exists only in this \
                          Secret, so one key must hold it as it is"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// The Secret's data for `fields`. Keys needing a field without a value are left out.
    pub fn render(&self, fields: &Fields) -> Result<BTreeMap<String, ByteString>, KeyProblem> {
        let mut data = BTreeMap::new();
        for (key, t) in &self.keys {
            if let Some(text) = template::render(key, t, &fields.0)? {
                data.insert(key.clone(), ByteString(text.into_bytes()));
            }
        }
        Ok(data)
    }

    /// The keys this layout writes (when their fields have values).
    pub fn key_names(&self) -> Vec<&str> {
        self.keys.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// Where `field` is written, for a person: "key NEO4J_PASSWORD", "line NEO4J_PASSWORD of
    /// key credentials.env".
    pub fn describe(&self, field: &str) -> String {
        match self.readback.iter().find(|(f, _)| f == field) {
            Some((_, Location::Key(key))) => format!("key {key}"),
            Some((_, Location::DotenvLine { key, var })) => format!("line {var}= of key {key}"),
            None => format!("no key (the format has no {field})"),
        }
    }

    /// The annotation value saying where each detail is (see the module docs).
    pub fn field_keys(&self) -> String {
        self.readback
            .iter()
            .map(|(f, at)| match at {
                Location::Key(key) => format!("{f}={key}"),
                Location::DotenvLine { key, var } => format!("{f}={key}#{var}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Checks the connection Secret's spec for a resource of `kind` before anything is written:
/// a refusal names the field (`connectionSecret.keys.<key>`) and the problem.
pub fn validate(
    spec: &ConnectionSecretSpec,
    kind: Kind,
) -> Result<(), crate::controllers::machinery::error::Error> {
    use crate::controllers::machinery::error::Error;
    if spec.format.is_some() && !spec.keys.is_empty() {
        return Err(Error::invalid(
            "connectionSecret",
            "set format or keys, not both",
        ));
    }
    let session_format = matches!(
        spec.format,
        None | Some(SecretFormat::Aura | SecretFormat::ServiceBinding)
    );
    if kind == Kind::Session && !session_format {
        let format = spec.format.unwrap_or_default().as_str();
        return Err(Error::invalid(
            "connectionSecret.format",
            format!(
                "{format} is for AuraInstances; a GdsSession takes aura, service-binding or keys"
            ),
        ));
    }
    Ok(Layout::of(spec, kind).check(kind)?)
}

impl From<KeyProblem> for crate::controllers::machinery::error::Error {
    /// A refused key, as a spec error naming `connectionSecret.keys.<key>`.
    fn from(p: KeyProblem) -> Self {
        let field = if p.key.is_empty() {
            "connectionSecret.keys".to_owned()
        } else {
            format!("connectionSecret.keys.{}", p.key)
        };
        Self::invalid(field, p.message)
    }
}

fn constants(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The details a Secret holds, read through its field-keys annotation (or the `aura` keys of
/// a Secret written before formats).
pub fn read_back(data: &BTreeMap<String, ByteString>, field_keys: Option<&str>) -> Fields {
    let locations: Vec<(String, Location)> = match field_keys {
        Some(annotation) => parse_field_keys(annotation),
        None => AURA_KEYS
            .iter()
            .map(|(key, f)| ((*f).to_owned(), Location::Key((*key).to_owned())))
            .collect(),
    };
    let text = |key: &str| {
        data.get(key)
            .and_then(|b| std::str::from_utf8(&b.0).ok())
            .map(str::to_owned)
    };
    let mut fields = Fields::default();
    for (name, at) in locations {
        let Some(known) = INSTANCE_FIELDS
            .iter()
            .chain(SESSION_FIELDS)
            .find(|f| **f == name)
        else {
            continue;
        };
        let value = match at {
            Location::Key(key) => text(&key),
            Location::DotenvLine { key, var } => {
                text(&key).and_then(|file| dotenv_value(&file, &var))
            }
        };
        if let Some(value) = value {
            fields.set(known, value);
        }
    }
    fields
}

fn parse_field_keys(annotation: &str) -> Vec<(String, Location)> {
    annotation
        .split(',')
        .filter_map(|entry| {
            let (f, at) = entry.split_once('=')?;
            let at = match at.split_once('#') {
                Some((key, var)) => Location::DotenvLine {
                    key: key.to_owned(),
                    var: var.to_owned(),
                },
                None => Location::Key(at.to_owned()),
            };
            Some((f.to_owned(), at))
        })
        .collect()
}

/// The value of `var` in a dotenv file (`VAR=value` lines, `#` comments).
fn dotenv_value(file: &str, var: &str) -> Option<String> {
    file.lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.split_once('=')?;
            (name.trim() == var).then(|| value.trim_end_matches('\r').to_owned())
        })
}

/// A digest of a Secret's data, changed by any change of a key or value: consumers (and tools
/// like Reloader) compare it to know that the connection details changed.
pub fn content_hash(data: &BTreeMap<String, ByteString>) -> String {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for (key, value) in data {
        // Lengths first, so that no two different maps feed the same bytes.
        digest.update(&(key.len() as u64).to_be_bytes());
        digest.update(key.as_bytes());
        digest.update(&(value.0.len() as u64).to_be_bytes());
        digest.update(&value.0);
    }
    let sum = digest.finish();
    let hex: String = sum.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests;
