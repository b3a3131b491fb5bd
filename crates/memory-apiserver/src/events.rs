//! Events are one resource with two APIs, as on a real server: `core/v1` Events (what
//! `kubectl get events` and `kubectl describe` read) and `events.k8s.io/v1` Events (what
//! controllers write through kube's `Recorder`). The store keeps every Event once, in its core
//! shape, under `("", "events")`; requests to `events.k8s.io` are converted on the way in and
//! out, so an Event written through either API is read, listed and watched through both.
//!
//! Field correspondence (the real server's conversion): `regarding` = `involvedObject`,
//! `note` = `message`, `reportingController` = `reportingComponent`, `deprecatedSource` =
//! `source`, `deprecatedCount` = `count`, `deprecatedFirstTimestamp` = `firstTimestamp`,
//! `deprecatedLastTimestamp` = `lastTimestamp`; `eventTime`, `series`, `type`, `reason`,
//! `action`, `related`, `reportingInstance` and `metadata` are the same in both.

use serde_json::{Map, Value};

use crate::store::ResourceType;

/// (events.k8s.io/v1 name, core/v1 name) of the fields that differ.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedCount", "count"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
];

/// Whether `resource` is the `events.k8s.io` face of the stored core Events.
pub fn is_events_v1(resource: &ResourceType) -> bool {
    resource.group == "events.k8s.io" && resource.plural == "events"
}

/// Where objects of `resource` are stored: core Events for `events.k8s.io` Events, else itself.
pub fn storage_of(resource: &ResourceType) -> ResourceType {
    if is_events_v1(resource) {
        ResourceType::new("", "events")
    } else {
        resource.clone()
    }
}

/// An `events.k8s.io/v1` Event (or a patch of one) in its core/v1 shape.
pub fn to_core(event: Value) -> Value {
    rename(event, |name| {
        RENAMED
            .iter()
            .find(|(new, _)| *new == name)
            .map(|(_, old)| *old)
    })
    .map_api_version("v1")
}

/// A stored core/v1 Event in its `events.k8s.io/v1` shape.
pub fn to_events_v1(event: Value) -> Value {
    rename(event, |name| {
        RENAMED
            .iter()
            .find(|(_, old)| *old == name)
            .map(|(new, _)| *new)
    })
    .map_api_version("events.k8s.io/v1")
}

struct Renamed(Value);

impl Renamed {
    /// Sets `apiVersion` when the object names one (a patch may not).
    fn map_api_version(mut self, api_version: &str) -> Value {
        if let Some(fields) = self.0.as_object_mut()
            && fields.contains_key("apiVersion")
        {
            fields.insert("apiVersion".into(), Value::String(api_version.into()));
        }
        self.0
    }
}

fn rename(event: Value, new_name: impl Fn(&str) -> Option<&'static str>) -> Renamed {
    let Value::Object(fields) = event else {
        return Renamed(event);
    };
    let mut out = Map::new();
    for (name, value) in fields {
        match new_name(&name) {
            Some(renamed) => out.insert(renamed.to_string(), value),
            None => out.insert(name, value),
        };
    }
    Renamed(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_shapes_convert_into_each_other() {
        let v1 = json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "demo.1", "namespace": "ns"},
            "eventTime": "2026-12-05T21:46:26.000000Z",
            "reportingController": "aura-operator",
            "reportingInstance": "aura-operator-0",
            "action": "Reconcile",
            "reason": "Created",
            "regarding": {"kind": "AuraInstance", "name": "demo", "namespace": "ns"},
            "note": "created in Aura",
            "type": "Normal",
            "series": {"count": 2, "lastObservedTime": "2026-12-05T21:47:26.000000Z"},
            "deprecatedCount": 2,
        });
        let core = to_core(v1.clone());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "demo");
        assert_eq!(core["message"], "created in Aura");
        assert_eq!(core["reportingComponent"], "aura-operator");
        assert_eq!(core["reportingInstance"], "aura-operator-0");
        assert_eq!(core["count"], 2);
        assert_eq!(core["series"]["count"], 2);
        assert!(core.get("regarding").is_none() && core.get("note").is_none());
        assert_eq!(to_events_v1(core), v1);
        // A patch without apiVersion stays without one.
        assert_eq!(to_core(json!({"note": "x"})), json!({"message": "x"}));
    }
}
