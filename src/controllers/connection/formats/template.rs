//! Templates of a Secret's keys, rendered with minijinja: checked before anything is written
//! (parses, names only known fields, renders), then rendered with the real details.
//!
//! minijinja because it is small (no dependencies with the features used here), well kept,
//! has a strict undefined mode, and can list the variables a template uses, which is how an
//! unknown field is refused before rendering.

use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};

/// Longest Secret key Kubernetes accepts.
const MAX_KEY_LEN: usize = 253;

/// Why a key cannot be written; `message` never holds a connection detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub key: String,
    pub message: String,
}

impl KeyProblem {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// An environment with the behaviour Secret values need: no HTML escaping, an undefined field
/// is an error, and the text is kept exactly as written (a trailing newline too).
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    if let Ok(syntax) = SyntaxConfig::builder().keep_trailing_newline(true).build() {
        env.set_syntax(syntax);
    }
    env
}

/// Whether Kubernetes accepts `key` as a Secret (or ConfigMap) key.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Checks one key and its template against the fields a kind offers: a valid key, a template
/// that parses, names only `known` fields and renders when they all have a value.
pub fn check(key: &str, template: &str, known: &[&str]) -> Result<(), KeyProblem> {
    if !valid_key(key) {
        return Err(KeyProblem::new(
            key,
            format!(
                "is not a valid Secret key: use 1 to {MAX_KEY_LEN} letters, digits, '-', '_' or '.'"
            ),
        ));
    }
    let env = environment();
    let compiled = env
        .template_from_str(template)
        .map_err(|e| KeyProblem::new(key, format!("template does not parse: {e}")))?;
    let mut unknown: Vec<String> = compiled
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !known.contains(&name.as_str()))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(KeyProblem::new(
            key,
            format!(
                "template uses {}, which {} not a connection field; known fields: {}",
                unknown.join(", "),
                if unknown.len() == 1 { "is" } else { "are" },
                known.join(", ")
            ),
        ));
    }
    // Placeholder values only: an error here may quote them, never a real detail.
    let sample: BTreeMap<&str, &str> = known.iter().map(|f| (*f, "x")).collect();
    compiled
        .render(sample)
        .map(|_| ())
        .map_err(|e| KeyProblem::new(key, format!("template cannot be rendered: {e}")))
}

/// Renders `template` with `fields`. `Ok(None)` when it needs a field that has no value yet
/// (the key is left out until it has one). A failure names no value: the fields are secret.
pub fn render(
    key: &str,
    template: &str,
    fields: &BTreeMap<&'static str, String>,
) -> Result<Option<String>, KeyProblem> {
    let env = environment();
    let failed = || KeyProblem::new(key, "template could not be rendered");
    let compiled = env.template_from_str(template).map_err(|_| failed())?;
    match compiled.render(fields) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::UndefinedError => Ok(None),
        Err(_) => Err(failed()),
    }
}

/// The field a template consists of alone (`{{ password }}`), if it does: its key holds that
/// field verbatim, so it can be read back.
pub fn sole_field(template: &str) -> Option<&str> {
    let inner = template
        .trim()
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .trim();
    let identifier = !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    identifier.then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["uri", "password"];

    fn fields(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    #[test]
    fn a_template_over_known_fields_passes_and_renders() {
        assert_eq!(check("URL", "{{ uri }}/x", KNOWN), Ok(()));
        let rendered = render("URL", "jdbc:{{ uri }}", &fields(&[("uri", "neo4j+s://h")]));
        assert_eq!(rendered, Ok(Some("jdbc:neo4j+s://h".to_owned())));
    }

    #[test]
    fn a_template_naming_an_unknown_field_is_refused_naming_it() {
        let problem = check("URL", "{{ uri }}{{ pasword }}", KNOWN).unwrap_err();
        assert_eq!(problem.key, "URL");
        assert!(problem.message.contains("pasword"), "{}", problem.message);
        assert!(problem.message.contains("known fields: uri, password"));
    }

    #[test]
    fn a_template_that_does_not_parse_is_refused() {
        let problem = check("URL", "{{ uri ", KNOWN).unwrap_err();
        assert!(
            problem.message.contains("does not parse"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn a_template_that_fails_to_render_is_refused() {
        let problem = check("N", "{{ uri + 1 }}", KNOWN).unwrap_err();
        assert!(
            problem.message.contains("cannot be rendered"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn invalid_secret_keys_are_refused() {
        for key in ["", "has space", "slash/key", "ü", &"k".repeat(254)] {
            let problem = check(key, "{{ uri }}", KNOWN).unwrap_err();
            assert!(
                problem.message.contains("not a valid Secret key"),
                "{key:?}"
            );
        }
        assert_eq!(check(&"k".repeat(253), "{{ uri }}", KNOWN), Ok(()));
        assert_eq!(check("a-b_c.d", "x", KNOWN), Ok(()));
    }

    #[test]
    fn a_key_whose_field_has_no_value_yet_is_left_out() {
        assert_eq!(render("U", "{{ uri }}", &fields(&[])), Ok(None));
        let with_default = render("U", "u={{ uri | default('') }}", &fields(&[]));
        assert_eq!(with_default, Ok(Some("u=".to_owned())));
    }

    #[test]
    fn text_is_kept_as_written_without_escaping() {
        let rendered = render("F", "a&b <{{ uri }}>\n", &fields(&[("uri", "x&y")]));
        assert_eq!(rendered, Ok(Some("a&b <x&y>\n".to_owned())));
    }

    #[test]
    fn a_render_failure_does_not_quote_the_value() {
        let problem = render(
            "P",
            "{{ password | int + 1 }}",
            &fields(&[("password", "s3cr3t")]),
        )
        .expect_err("int of a word fails");
        assert!(!problem.message.contains("s3cr3t"), "{}", problem.message);
    }

    #[test]
    fn a_sole_field_is_recognised() {
        assert_eq!(sole_field("{{ password }}"), Some("password"));
        assert_eq!(sole_field(" {{password}} "), Some("password"));
        assert_eq!(sole_field("x{{ password }}"), None);
        assert_eq!(sole_field("{{ password | upper }}"), None);
    }
}
