use super::*;
use crate::controllers::machinery::error::Error;

const URI: &str = "neo4j+s://abcd1234.databases.neo4j.io";

fn instance_fields() -> Fields {
    let mut f = Fields::default();
    f.set("uri", URI);
    f.set("username", "neo4j");
    f.set("password", "pw-1");
    f.set("instance_id", "abcd1234");
    f.set("instance_name", "shop");
    f
}

fn spec(format: Option<SecretFormat>, keys: &[(&str, &str)]) -> ConnectionSecretSpec {
    ConnectionSecretSpec {
        format,
        keys: keys
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..ConnectionSecretSpec::default()
    }
}

fn rendered(spec: &ConnectionSecretSpec, kind: Kind, fields: &Fields) -> BTreeMap<String, String> {
    Layout::of(spec, kind)
        .render(fields)
        .ok()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap_or_default()))
        .collect()
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Writes `fields` in `spec`'s layout, then reads them back as a later pass would.
fn round_trip(spec: &ConnectionSecretSpec, fields: &Fields) -> Fields {
    let layout = Layout::of(spec, Kind::Instance);
    let data = layout.render(fields).ok().unwrap_or_default();
    read_back(&data, Some(&layout.field_keys()))
}

#[test]
fn the_aura_format_has_the_keys_of_auras_credentials_file() {
    let data = rendered(&spec(None, &[]), Kind::Instance, &instance_fields());
    assert_eq!(
        pairs(&data),
        [
            ("AURA_INSTANCEID", "abcd1234"),
            ("AURA_INSTANCENAME", "shop"),
            ("NEO4J_PASSWORD", "pw-1"),
            ("NEO4J_URI", URI),
            ("NEO4J_USERNAME", "neo4j"),
        ]
    );
    assert_eq!(
        data,
        rendered(
            &spec(Some(SecretFormat::Aura), &[]),
            Kind::Instance,
            &instance_fields()
        )
    );
}

#[test]
fn the_spring_boot_format_has_springs_variables() {
    let data = rendered(
        &spec(Some(SecretFormat::SpringBoot), &[]),
        Kind::Instance,
        &instance_fields(),
    );
    assert_eq!(
        pairs(&data),
        [
            ("SPRING_NEO4J_AUTHENTICATION_PASSWORD", "pw-1"),
            ("SPRING_NEO4J_AUTHENTICATION_USERNAME", "neo4j"),
            ("SPRING_NEO4J_URI", URI),
        ]
    );
}

#[test]
fn the_jdbc_format_has_a_jdbc_url() {
    let data = rendered(
        &spec(Some(SecretFormat::Jdbc), &[]),
        Kind::Instance,
        &instance_fields(),
    );
    assert_eq!(
        pairs(&data),
        [
            ("JDBC_PASSWORD", "pw-1"),
            ("JDBC_URL", "jdbc:neo4j+s://abcd1234.databases.neo4j.io"),
            ("JDBC_USERNAME", "neo4j"),
        ]
    );
}

#[test]
fn the_dotenv_format_is_auras_file_in_one_key() {
    let data = rendered(
        &spec(Some(SecretFormat::Dotenv), &[]),
        Kind::Instance,
        &instance_fields(),
    );
    assert_eq!(data.len(), 1);
    let file = &data[DOTENV_KEY];
    let lines: Vec<&str> = file.lines().collect();
    assert!(lines[0].starts_with("# "), "{file}");
    assert_eq!(
        lines[1..],
        [
            format!("NEO4J_URI={URI}").as_str(),
            "NEO4J_USERNAME=neo4j",
            "NEO4J_PASSWORD=pw-1",
            "AURA_INSTANCEID=abcd1234",
            "AURA_INSTANCENAME=shop",
        ]
    );
    assert!(file.ends_with('\n'));
}

#[test]
fn the_dotenv_file_is_written_before_the_uri_is_known() {
    let mut fields = instance_fields();
    fields.0.remove("uri");
    let data = rendered(
        &spec(Some(SecretFormat::Dotenv), &[]),
        Kind::Instance,
        &fields,
    );
    assert!(data[DOTENV_KEY].contains("\nNEO4J_URI=\n"));
    assert!(data[DOTENV_KEY].contains("\nNEO4J_PASSWORD=pw-1\n"));
}

#[test]
fn the_service_binding_format_has_the_specifications_keys() {
    let data = rendered(
        &spec(Some(SecretFormat::ServiceBinding), &[]),
        Kind::Instance,
        &instance_fields(),
    );
    assert_eq!(
        pairs(&data),
        [
            ("host", "abcd1234.databases.neo4j.io"),
            ("password", "pw-1"),
            ("provider", "aura"),
            ("type", "neo4j"),
            ("uri", URI),
            ("username", "neo4j"),
        ]
    );
}

#[test]
fn custom_keys_render_their_templates() {
    let custom = spec(
        None,
        &[
            ("DB_URL", "{{ uri }}/{{ database }}"),
            ("DB_HOST", "{{ host }}"),
            ("DB_PASS", "{{ password }}"),
            ("LABEL", "{{ instance_name | upper }}-{{ instance_id }}"),
        ],
    );
    assert_eq!(validate(&custom, Kind::Instance).ok(), Some(()));
    let data = rendered(&custom, Kind::Instance, &instance_fields());
    assert_eq!(
        pairs(&data),
        [
            ("DB_HOST", "abcd1234.databases.neo4j.io"),
            ("DB_PASS", "pw-1"),
            ("DB_URL", "neo4j+s://abcd1234.databases.neo4j.io/neo4j"),
            ("LABEL", "SHOP-abcd1234"),
        ]
    );
}

#[test]
fn a_key_whose_field_is_unknown_yet_is_left_out() {
    let mut fields = instance_fields();
    fields.0.remove("password");
    let data = rendered(
        &spec(Some(SecretFormat::SpringBoot), &[]),
        Kind::Instance,
        &fields,
    );
    assert!(!data.contains_key("SPRING_NEO4J_AUTHENTICATION_PASSWORD"));
    assert!(data.contains_key("SPRING_NEO4J_URI"));
}

fn refusal(spec: &ConnectionSecretSpec, kind: Kind) -> (String, String) {
    match validate(spec, kind) {
        Err(Error::InvalidSpec { field, message }) => (field, message),
        Err(other) => panic!("not InvalidSpec: {other}"),
        Ok(()) => panic!("accepted"),
    }
}

#[test]
fn a_template_naming_an_unknown_field_is_refused_naming_the_key() {
    let (field, message) = refusal(
        &spec(None, &[("P", "{{ password }}"), ("URL", "{{ url }}")]),
        Kind::Instance,
    );
    assert_eq!(field, "connectionSecret.keys.URL");
    assert!(message.contains("url"), "{message}");
}

#[test]
fn session_fields_are_unknown_to_an_instance() {
    let (field, _) = refusal(
        &spec(None, &[("P", "{{ password }}"), ("S", "{{ session_uri }}")]),
        Kind::Instance,
    );
    assert_eq!(field, "connectionSecret.keys.S");
    let session = spec(None, &[("S", "{{ session_uri }}")]);
    assert_eq!(validate(&session, Kind::Session).ok(), Some(()));
}

#[test]
fn an_invalid_secret_key_is_refused_naming_it() {
    let (field, message) = refusal(
        &spec(None, &[("P", "{{ password }}"), ("bad key", "{{ uri }}")]),
        Kind::Instance,
    );
    assert_eq!(field, "connectionSecret.keys.bad key");
    assert!(message.contains("not a valid Secret key"), "{message}");
}

#[test]
fn a_template_that_does_not_parse_is_refused_naming_the_key() {
    let (field, message) = refusal(
        &spec(None, &[("P", "{{ password }}"), ("U", "{% if uri %}")]),
        Kind::Instance,
    );
    assert_eq!(field, "connectionSecret.keys.U");
    assert!(message.contains("does not parse"), "{message}");
}

#[test]
fn an_instances_keys_must_keep_the_password_as_it_is() {
    let (field, message) = refusal(
        &spec(
            None,
            &[("URL", "neo4j+s://{{ username }}:{{ password }}@{{ host }}")],
        ),
        Kind::Instance,
    );
    assert_eq!(field, "connectionSecret.keys");
    assert!(message.contains("{{ password }}"), "{message}");
    // A session's password belongs to its instance's Secret: nothing to keep.
    let session = spec(None, &[("URL", "{{ session_uri }}")]);
    assert_eq!(validate(&session, Kind::Session).ok(), Some(()));
}

#[test]
fn format_and_keys_together_are_refused() {
    let (field, _) = refusal(
        &spec(Some(SecretFormat::Jdbc), &[("P", "{{ password }}")]),
        Kind::Instance,
    );
    assert_eq!(field, "connectionSecret");
}

#[test]
fn instance_only_formats_are_refused_for_a_session() {
    for format in [
        SecretFormat::SpringBoot,
        SecretFormat::Jdbc,
        SecretFormat::Dotenv,
    ] {
        let (field, message) = refusal(&spec(Some(format), &[]), Kind::Session);
        assert_eq!(field, "connectionSecret.format");
        assert!(message.contains(format.as_str()), "{message}");
    }
    for format in [SecretFormat::Aura, SecretFormat::ServiceBinding] {
        assert_eq!(
            validate(&spec(Some(format), &[]), Kind::Session).ok(),
            Some(())
        );
    }
}

#[test]
fn every_builtin_format_passes_its_own_checks() {
    for format in [
        SecretFormat::Aura,
        SecretFormat::SpringBoot,
        SecretFormat::Jdbc,
        SecretFormat::Dotenv,
        SecretFormat::ServiceBinding,
    ] {
        assert_eq!(
            validate(&spec(Some(format), &[]), Kind::Instance).ok(),
            Some(()),
            "{format:?}"
        );
    }
}

#[test]
fn the_password_is_read_back_from_every_format() {
    let formats = [
        spec(None, &[]),
        spec(Some(SecretFormat::SpringBoot), &[]),
        spec(Some(SecretFormat::Jdbc), &[]),
        spec(Some(SecretFormat::Dotenv), &[]),
        spec(Some(SecretFormat::ServiceBinding), &[]),
        spec(
            None,
            &[
                ("MY_PASS", "{{ password }}"),
                ("MY_ID", "{{ instance_id }}"),
            ],
        ),
    ];
    for format in &formats {
        let back = round_trip(format, &instance_fields());
        assert_eq!(back.get("password"), Some("pw-1"), "{format:?}");
        assert_eq!(
            back.get("username").is_some(),
            format.keys.is_empty(),
            "{format:?}"
        );
    }
}

#[test]
fn a_secret_written_before_formats_is_read_with_the_aura_keys() {
    let data = Layout::of(&spec(None, &[]), Kind::Instance)
        .render(&instance_fields())
        .ok()
        .unwrap_or_default();
    let back = read_back(&data, None);
    assert_eq!(back.get("password"), Some("pw-1"));
    assert_eq!(back.get("instance_id"), Some("abcd1234"));
    assert_eq!(back.get("host"), Some("abcd1234.databases.neo4j.io"));
}

#[test]
fn the_session_formats_carry_the_session_and_its_instance() {
    let mut fields = instance_fields();
    fields.set("session_id", "s-1");
    fields.set("session_name", "analysis");
    fields.set("session_host", "s1.sessions.neo4j.io");
    fields.set("session_uri", "neo4j+s://s1.sessions.neo4j.io");
    let aura = rendered(&spec(None, &[]), Kind::Session, &fields);
    assert_eq!(aura["GDS_SESSION_URI"], "neo4j+s://s1.sessions.neo4j.io");
    assert_eq!(aura["NEO4J_PASSWORD"], "pw-1");
    assert!(!aura.contains_key("AURA_INSTANCENAME"));
    let binding = rendered(
        &spec(Some(SecretFormat::ServiceBinding), &[]),
        Kind::Session,
        &fields,
    );
    assert_eq!(
        pairs(&binding),
        [
            ("database-uri", URI),
            ("host", "s1.sessions.neo4j.io"),
            ("password", "pw-1"),
            ("provider", "aura"),
            ("type", "neo4j-gds-session"),
            ("uri", "neo4j+s://s1.sessions.neo4j.io"),
            ("username", "neo4j"),
        ]
    );
}

#[test]
fn the_content_hash_changes_with_any_key_or_value() {
    let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect()
    };
    let base = content_hash(&data(&[("A", "1"), ("B", "2")]));
    assert!(
        base.starts_with("sha256:") && base.len() == 7 + 64,
        "{base}"
    );
    assert_eq!(base, content_hash(&data(&[("B", "2"), ("A", "1")])));
    assert_ne!(base, content_hash(&data(&[("A", "1"), ("B", "3")])));
    assert_ne!(base, content_hash(&data(&[("A", "1"), ("C", "2")])));
    assert_ne!(base, content_hash(&data(&[("A", "1B"), ("", "2")])));
}
