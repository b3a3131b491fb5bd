//! What `plan` found, one entry per resource, printed as text or as JSON, and the exit code.

use std::fmt::Write as _;

use serde::Serialize;

/// What the operator would do with one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Create the Aura object (instance, snapshot or session).
    Create,
    /// Change mutable fields (memory, storage, name, ...): resize or rename.
    Update,
    Pause,
    Resume,
    /// professional-db to business-critical, in place.
    Upgrade,
    /// Load data into the instance (restore or overwrite).
    Restore,
    /// Aura is busy with the object; the operator waits and polls.
    Wait,
    /// Take over an existing Aura object (`instanceId`); Aura itself is not changed.
    Adopt,
    /// Nothing in Aura would change.
    NoChange,
    /// The operator would refuse the resource (its reason and message say why).
    Refused,
    /// In the cluster, not in the files (`--prune`): what its deletion would do in Aura.
    Delete,
}

impl Action {
    /// Whether Aura would change (or is changing).
    pub fn changes(self) -> bool {
        !matches!(self, Self::NoChange | Self::Refused | Self::Adopt)
    }

    fn word(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Upgrade => "upgrade",
            Self::Restore => "restore",
            Self::Wait => "wait",
            Self::Adopt => "adopt",
            Self::NoChange => "no change",
            Self::Refused => "refused",
            Self::Delete => "delete",
        }
    }
}

/// One resource's plan.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Where it came from (file and document), or `cluster` for a pruned one.
    pub source: String,
    pub action: Action,
    /// What would change, one line per field (`memory: 2GB -> 4GB`), or the create's shape.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// The controller's condition reason for a refusal, or for what it would report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The Aura id the resource stands for, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aura_id: Option<String>,
}

impl Entry {
    pub fn new(kind: &str, namespace: &str, name: &str, source: &str, action: Action) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source: source.to_owned(),
            action,
            changes: Vec::new(),
            reason: None,
            message: None,
            aura_id: None,
        }
    }

    pub fn with_changes(mut self, changes: Vec<String>) -> Self {
        self.changes = changes;
        self
    }

    pub fn with_note(mut self, reason: impl Into<String>, message: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self.message = Some(message.into());
        self
    }

    pub fn with_id(mut self, id: Option<String>) -> Self {
        self.aura_id = id;
        self
    }
}

/// The whole plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub resources: Vec<Entry>,
    /// Files and documents skipped, and why.
    pub warnings: Vec<String>,
    /// Aura API requests made (all reads).
    pub aura_calls: u64,
    /// With `--refresh`: how long the live reads took, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_seconds: Option<f64>,
    /// Where the observed state came from: `status` or `live`.
    pub observed_from: &'static str,
}

/// How `plan` ends: 0 nothing would change, 2 something would, 1 a refusal or an error.
pub fn exit_code(report: &Report) -> u8 {
    if report.resources.iter().any(|e| e.action == Action::Refused) {
        return 1;
    }
    if report.resources.iter().any(|e| e.action.changes()) {
        return 2;
    }
    0
}

/// The plan as text, one block per resource, then a summary line.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    for entry in &report.resources {
        let _ = write!(
            out,
            "{} {}/{}: {}",
            entry.kind,
            entry.namespace,
            entry.name,
            entry.action.word()
        );
        if let Some(id) = &entry.aura_id {
            let _ = write!(out, " ({id})");
        }
        out.push('\n');
        for change in &entry.changes {
            let _ = writeln!(out, "    {change}");
        }
        if let (Some(reason), Some(message)) = (&entry.reason, &entry.message) {
            let _ = writeln!(out, "    {reason}: {message}");
        }
    }
    let count = |f: fn(&Entry) -> bool| report.resources.iter().filter(|e| f(e)).count();
    let _ = write!(
        out,
        "Plan: {} to change, {} unchanged, {} refused ({} Aura calls, state from {}",
        count(|e| e.action.changes()),
        count(|e| matches!(e.action, Action::NoChange | Action::Adopt)),
        count(|e| e.action == Action::Refused),
        report.aura_calls,
        report.observed_from,
    );
    if let Some(seconds) = report.refresh_seconds {
        let _ = write!(out, "; live reads took {seconds:.1} s");
    }
    out.push_str(")\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(actions: &[Action]) -> Report {
        Report {
            resources: actions
                .iter()
                .map(|a| Entry::new("AuraInstance", "default", "x", "f.yaml", *a))
                .collect(),
            ..Report::default()
        }
    }

    #[test]
    fn the_exit_code_says_whether_anything_would_change() {
        assert_eq!(exit_code(&report(&[Action::NoChange, Action::Adopt])), 0);
        assert_eq!(exit_code(&report(&[Action::NoChange, Action::Update])), 2);
        assert_eq!(exit_code(&report(&[Action::Wait])), 2);
        assert_eq!(exit_code(&report(&[Action::Create, Action::Refused])), 1);
    }

    #[test]
    fn the_text_names_each_resource_its_changes_and_a_summary() {
        let mut r = report(&[Action::Update]);
        r.resources[0].changes = vec!["memory: 2GB -> 4GB".into()];
        r.aura_calls = 3;
        r.observed_from = "status";
        let text = text(&r);
        assert!(text.starts_with("AuraInstance default/x: update\n    memory: 2GB -> 4GB\n"));
        assert!(text.ends_with(
            "Plan: 1 to change, 0 unchanged, 0 refused (3 Aura calls, state from status)\n"
        ));
    }
}
