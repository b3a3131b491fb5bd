//! Every CEL rule (`x-kubernetes-validations`) of the project's CRDs, each with an object (or,
//! for a transition rule, an update) that the rule refuses and one it lets through. A rule that
//! gains no case here fails the test, by name.

use serde_json::{Value, json};

use super::admission::{call, crds, server_with_crds};

/// A case: the kind and schema node the rule sits on and its message (which names the rule),
/// the spec a valid object starts from, and merge patches to that spec. For a rule without
/// `oldSelf`, `bad` and `good` are created; for a transition rule, the object is created from
/// `base` and `bad` and `good` are updates.
struct Case {
    kind: &'static str,
    node: &'static str,
    message: &'static str,
    base: Value,
    bad: Value,
    good: Value,
}

fn instance() -> Value {
    json!({"cloudProvider": "gcp", "memory": "2GB", "region": "europe-west1", "tenantId": "t1",
           "type": "professional-db"})
}

fn snapshot() -> Value {
    json!({"instanceRef": {"name": "db"}})
}

fn credential() -> Value {
    json!({"secretRef": {"name": "aura-api"}, "allowedNamespaces": {"names": ["team-a"]},
           "allowedTenants": ["*"]})
}

fn session() -> Value {
    json!({"memory": "8GB", "instanceRef": {"name": "db"}})
}

fn standalone() -> Value {
    json!({"memory": "8GB", "tenantId": "t1", "cloudProvider": "gcp", "region": "europe-west1"})
}

fn with(mut base: Value, patch: Value) -> Value {
    json_patch::merge(&mut base, &patch);
    base
}

const UUID: &str = "6f0d6a9e-1111-4e55-9a53-000000000001";
const UUID2: &str = "6f0d6a9e-1111-4e55-9a53-000000000002";

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let case = |kind, node, message, base: Value, bad: Value, good: Value| Case { kind, node, message, base, bad, good };
    let both_credentials = json!({"credentialRef": {"name": "c"}, "credentialsSecretRef": {"name": "s"}});
    let one_credential = json!({"credentialRef": {"name": "c"}});
    let schedule = json!({"pause": "0 20 * * 1-5", "resume": "0 7 * * 1-5"});
    let password = json!({"PW": "{{ password }}"});
    let mut all = vec![
        // AuraInstance, on spec.
        case("AuraInstance", "spec", "set credentialRef (a ClusterAuraCredential) or credentialsSecretRef (a Secret of this namespace), not both",
             instance(), both_credentials.clone(), one_credential.clone()),
        case("AuraInstance", "spec", "set tenantId or tenantName (or instanceId to adopt an existing instance)",
             instance(), json!({"tenantId": null}), json!({"tenantId": null, "instanceId": "0123abcd"})),
        case("AuraInstance", "spec", "set tenantId or tenantName, not both",
             instance(), json!({"tenantName": "team"}), json!({"tenantId": null, "tenantName": "team"})),
        case("AuraInstance", "spec", "managementPolicy Observe needs instanceId: the operator only watches an instance that already exists, it never creates one",
             instance(), json!({"managementPolicy": "Observe"}), json!({"managementPolicy": "Observe", "instanceId": "0123abcd"})),
        case("AuraInstance", "spec", "schedule: free instances cannot be paused (Aura pauses them itself when idle)",
             instance(), json!({"type": "free-db", "schedule": schedule}), json!({"schedule": schedule})),
        case("AuraInstance", "spec", "cloudProvider is immutable: Aura cannot move an instance to another cloud; create a new AuraInstance",
             instance(), json!({"cloudProvider": "aws"}), json!({"memory": "4GB"})),
        case("AuraInstance", "spec", "region is immutable: Aura cannot move an instance to another region; create a new AuraInstance",
             instance(), json!({"region": "us-east-1"}), json!({"memory": "4GB"})),
        case("AuraInstance", "spec", "type is immutable, except professional-db to business-critical (an upgrade in place): Aura cannot change the tier of an instance otherwise",
             instance(), json!({"type": "enterprise-db"}), json!({"type": "business-critical"})),
        case("AuraInstance", "spec", "version is immutable",
             instance(), json!({"version": "6"}), json!({"version": "5", "paused": true})),
        case("AuraInstance", "spec", "tenantId is immutable",
             instance(), json!({"tenantId": "t2"}), json!({"paused": true})),
        case("AuraInstance", "spec", "tenantName is immutable",
             with(instance(), json!({"tenantId": null, "tenantName": "team"})), json!({"tenantName": "other"}), json!({"paused": true})),
        case("AuraInstance", "spec", "instanceId is immutable",
             with(instance(), json!({"instanceId": "0123abcd"})), json!({"instanceId": "0123abce"}), json!({"paused": true})),
        case("AuraInstance", "spec", "customerManagedKeyId is immutable",
             with(instance(), json!({"customerManagedKeyId": "key-1"})), json!({"customerManagedKeyId": "key-2"}), json!({"paused": true})),
        case("AuraInstance", "spec", "source is immutable: it only applies when the instance is created; use restore to load data into an existing instance",
             with(instance(), json!({"source": {"instanceId": "0123abcd"}})), json!({"source": {"instanceId": "0123abce"}}), json!({"paused": true})),
        // AuraInstance, on spec.connectionSecret.
        case("AuraInstance", "spec.connectionSecret", "set format or keys, not both",
             instance(), json!({"connectionSecret": {"format": "jdbc", "keys": password}}), json!({"connectionSecret": {"format": "jdbc"}})),
        case("AuraInstance", "spec.connectionSecret", "every key of keys must be 1 to 253 characters (letters, digits, '-', '_' and '.')",
             instance(), json!({"connectionSecret": {"keys": {"": "{{ password }}"}}}), json!({"connectionSecret": {"keys": password}})),
        // GdsSession, on spec.connectionSecret.
        case("GdsSession", "spec.connectionSecret", "set format or keys, not both",
             session(), json!({"connectionSecret": {"format": "aura", "keys": {"URI": "{{ uri }}"}}}), json!({"connectionSecret": {"keys": {"URI": "{{ uri }}"}}})),
        case("GdsSession", "spec.connectionSecret", "every key of keys must be 1 to 253 characters (letters, digits, '-', '_' and '.')",
             session(), json!({"connectionSecret": {"keys": {"": "{{ uri }}"}}}), json!({"connectionSecret": {"keys": {"URI": "{{ uri }}"}}})),
        // AuraSnapshot.
        case("AuraSnapshot", "spec", "set credentialRef (a ClusterAuraCredential) or credentialsSecretRef (a Secret of this namespace), not both",
             snapshot(), both_credentials.clone(), json!({"credentialsSecretRef": {"name": "s"}})),
        case("AuraSnapshot", "spec", "name the instance: set exactly one of instanceRef and instanceId",
             snapshot(), json!({"instanceId": "0123abcd"}), json!({"instanceRef": null, "instanceId": "0123abcd"})),
        case("AuraSnapshot", "spec", "instanceRef is immutable: a snapshot belongs to one instance; create another AuraSnapshot",
             snapshot(), json!({"instanceRef": {"name": "other"}}), one_credential.clone()),
        case("AuraSnapshot", "spec", "instanceId is immutable: a snapshot belongs to one instance; create another AuraSnapshot",
             json!({"instanceId": "0123abcd"}), json!({"instanceId": "0123abce"}), one_credential.clone()),
        case("AuraSnapshot", "spec", "snapshotId is immutable",
             with(snapshot(), json!({"snapshotId": UUID})), json!({"snapshotId": UUID2}), one_credential.clone()),
        case("AuraSnapshot", "spec", "managementPolicy Observe needs snapshotId: the operator only watches a snapshot that already exists, it never takes one",
             snapshot(), json!({"managementPolicy": "Observe"}), json!({"managementPolicy": "Observe", "snapshotId": UUID})),
        // ClusterAuraCredential.
        case("ClusterAuraCredential", "spec.allowedNamespaces", "name the allowed namespaces (names) or select them by label (selector)",
             credential(), json!({"allowedNamespaces": {"names": []}}), json!({"allowedNamespaces": {"names": [], "selector": {"matchLabels": {"team": "a"}}}})),
        // GdsSession, on spec.
        case("GdsSession", "spec", "set credentialRef (a ClusterAuraCredential) or credentialsSecretRef (a Secret of this namespace), not both",
             session(), both_credentials, one_credential.clone()),
        case("GdsSession", "spec", "managementPolicy Observe needs name: the operator only watches a session that already exists, found by its name, it never creates one",
             session(), json!({"managementPolicy": "Observe"}), json!({"managementPolicy": "Observe", "name": "sess"})),
        case("GdsSession", "spec", "set memory, or graph statistics for Aura to estimate it; exactly one (under managementPolicy Observe, at most one)",
             session(), json!({"graph": {"nodeCount": 10}}), json!({"memory": null, "graph": {"nodeCount": 10}})),
        case("GdsSession", "spec", "attach the session to an instance (instanceRef or instanceId) or place it standalone (tenantId or tenantName with cloudProvider and region); exactly one (under managementPolicy Observe, at most one)",
             session(), json!({"instanceRef": null}), json!({"instanceRef": null, "tenantId": "t1", "cloudProvider": "gcp", "region": "europe-west1"})),
        case("GdsSession", "spec", "set instanceRef or instanceId, not both",
             session(), json!({"instanceId": "0123abcd"}), json!({"instanceRef": null, "instanceId": "0123abcd"})),
        case("GdsSession", "spec", "set tenantId or tenantName, not both",
             standalone(), json!({"tenantName": "team"}), json!({"tenantId": null, "tenantName": "team"})),
        case("GdsSession", "spec", "a standalone session needs cloudProvider and region",
             standalone(), json!({"region": null}), json!({"region": "us-east-1"})),
        case("GdsSession", "spec", "databaseId applies to attached sessions only",
             standalone(), json!({"databaseId": "neo4j"}), json!({"tenantId": null, "cloudProvider": null, "region": null, "instanceRef": {"name": "db"}, "databaseId": "neo4j"})),
        case("GdsSession", "spec", "name is immutable",
             with(session(), json!({"name": "sess"})), json!({"name": "other"}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "memory is immutable: Aura cannot resize a session; create another GdsSession",
             session(), json!({"memory": "16GB"}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "graph is immutable: Aura cannot resize a session; create another GdsSession",
             with(session(), json!({"memory": null, "graph": {"nodeCount": 10}})), json!({"graph": {"nodeCount": 20}}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "ttl is immutable: it is fixed when the session is created",
             with(session(), json!({"ttl": "1h"})), json!({"ttl": "2h"}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "instanceRef is immutable",
             session(), json!({"instanceRef": {"name": "other"}}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "instanceId is immutable",
             with(session(), json!({"instanceRef": null, "instanceId": "0123abcd"})), json!({"instanceId": "0123abce"}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "databaseId is immutable",
             with(session(), json!({"databaseId": "a"})), json!({"databaseId": "b"}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "tenantId is immutable",
             standalone(), json!({"tenantId": "t2"}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "tenantName is immutable",
             with(standalone(), json!({"tenantId": null, "tenantName": "team"})), json!({"tenantName": "other"}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "cloudProvider is immutable",
             standalone(), json!({"cloudProvider": "aws"}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "region is immutable",
             standalone(), json!({"region": "us-east-1"}), json!({"connectionSecret": {"name": "x"}})),
        case("GdsSession", "spec", "a GdsSession's connectionSecret.format is aura or service-binding (or use keys)",
             session(), json!({"connectionSecret": {"format": "jdbc"}}), json!({"connectionSecret": {"format": "service-binding"}})),
    ];
    // The same three rules on an instance's `source` and on its `restore.from`.
    for (node, wrap) in [
        ("spec.source", (|from: Value| json!({"source": from})) as fn(Value) -> Value),
        ("spec.restore.from", |from: Value| json!({"restore": {"requestId": "r1", "from": from}})),
    ] {
        all.push(case("AuraInstance", node, "set at most one of instanceId and instanceRef",
            instance(), wrap(json!({"instanceId": "0123abcd", "instanceRef": {"name": "other"}})), wrap(json!({"instanceId": "0123abcd"}))));
        all.push(case("AuraInstance", node, "name the source instance (instanceId or instanceRef) or snapshot (snapshotRef)",
            instance(), wrap(json!({"snapshotId": UUID})), wrap(json!({"instanceRef": {"name": "other"}, "snapshotId": UUID}))));
        all.push(case("AuraInstance", node, "snapshotRef names both the instance and the snapshot: set it alone",
            instance(), wrap(json!({"snapshotRef": {"name": "snap"}, "snapshotId": UUID})), wrap(json!({"snapshotRef": {"name": "snap"}}))));
    }
    all
}

/// (kind, plural, node, rule, message, is a transition rule) of every rule in the CRDs.
fn rules() -> Vec<(String, String, String, String, String, bool)> {
    fn walk(node: &Value, path: &str, found: &mut Vec<(String, String, String, bool)>) {
        for rule in node["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let text = rule["rule"].as_str().unwrap().to_string();
            let message = rule["message"].as_str().unwrap_or_default().to_string();
            let transition = text.contains("oldSelf");
            found.push((path.to_string(), text, message, transition));
        }
        for (key, child) in node["properties"].as_object().into_iter().flatten() {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            walk(child, &child_path, found);
        }
        if node["items"].is_object() {
            walk(&node["items"], &format!("{path}[]"), found);
        }
        if node["additionalProperties"].is_object() {
            walk(&node["additionalProperties"], &format!("{path}{{}}"), found);
        }
    }
    let mut all = Vec::new();
    for crd in crds() {
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap().to_string();
        for version in crd["spec"]["versions"].as_array().unwrap() {
            let mut found = Vec::new();
            walk(&version["schema"]["openAPIV3Schema"], "", &mut found);
            for (node, rule, message, transition) in found {
                all.push((
                    kind.clone(),
                    plural.clone(),
                    node,
                    rule,
                    message,
                    transition,
                ));
            }
        }
    }
    all
}

fn object(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "aura.neo4j.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

fn collection(kind: &str, plural: &str) -> String {
    if kind == "ClusterAuraCredential" {
        format!("/apis/aura.neo4j.io/v1alpha1/{plural}")
    } else {
        format!("/apis/aura.neo4j.io/v1alpha1/namespaces/rules/{plural}")
    }
}

/// The causes of a refusal, as `field: message`.
fn causes(body: &Value) -> Vec<String> {
    body["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}: {}",
                c["field"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn every_cel_rule_refuses_what_it_should_and_admits_the_rest() {
    let server = server_with_crds().await;
    let cases = cases();
    let mut problems = Vec::new();
    let rules = rules();
    assert!(
        rules.len() >= 50,
        "the CRDs have fewer rules than expected: {}",
        rules.len()
    );
    for (n, (kind, plural, node, rule, message, transition)) in rules.iter().enumerate() {
        let Some(case) = cases
            .iter()
            .find(|c| c.kind == kind && c.node == node && c.message == message)
        else {
            problems.push(format!(
                "no case for the rule of {kind} at {node}: {rule} ({message})"
            ));
            continue;
        };
        let url = collection(kind, plural);
        let expected = vec![format!("{node}: Invalid value: \"object\": {message}")];
        if *transition {
            let name = format!("t{n}");
            let (status, body, _) = call(
                &server,
                "POST",
                &url,
                &object(kind, &name, case.base.clone()),
            )
            .await;
            if status != 201 {
                problems.push(format!(
                    "{kind} {message}: the base object was refused: {body}"
                ));
                continue;
            }
            let item = format!("{url}/{name}");
            let (status, body, _) = call(&server, "PATCH", &item, &json!({"spec": case.bad})).await;
            if status != 422 || causes(&body) != expected {
                problems.push(format!(
                    "{kind} {message}: the bad update got {status} {:?}",
                    causes(&body)
                ));
            }
            let (status, body, _) =
                call(&server, "PATCH", &item, &json!({"spec": case.good})).await;
            if status != 200 {
                problems.push(format!(
                    "{kind} {message}: the good update got {status} {:?}",
                    causes(&body)
                ));
            }
        } else {
            let bad = with(case.base.clone(), case.bad.clone());
            let (status, body, _) =
                call(&server, "POST", &url, &object(kind, &format!("b{n}"), bad)).await;
            if status != 422 || causes(&body) != expected {
                problems.push(format!(
                    "{kind} {message}: the bad object got {status} {:?}",
                    causes(&body)
                ));
            }
            let good = with(case.base.clone(), case.good.clone());
            let (status, body, _) =
                call(&server, "POST", &url, &object(kind, &format!("g{n}"), good)).await;
            if status != 201 {
                problems.push(format!(
                    "{kind} {message}: the good object got {status} {:?}",
                    causes(&body)
                ));
            }
        }
    }
    for case in &cases {
        if !rules.iter().any(|(kind, _, node, _, message, _)| {
            kind == case.kind && node == case.node && message == case.message
        }) {
            problems.push(format!(
                "a case for a rule that no longer exists: {} {} {}",
                case.kind, case.node, case.message
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn allowed_namespaces_with_neither_names_nor_selector_get_the_rules_message() {
    // The rule once read `size(self.names) > 0 || has(self.selector)`: with neither field,
    // `size` of a missing field was an evaluation error, and a real server answered "no such
    // key: names evaluating rule: ..." instead of the message. It checks `has` first now.
    let server = server_with_crds().await;
    let url = collection("ClusterAuraCredential", "clusterauracredentials");
    let spec = |allowed: Value| json!({"secretRef": {"name": "aura-api"}, "allowedTenants": ["*"], "allowedNamespaces": allowed});
    let by_label = object(
        "ClusterAuraCredential",
        "by-label",
        spec(json!({"selector": {}})),
    );
    let (status, body, _) = call(&server, "POST", &url, &by_label).await;
    assert_eq!(status, 201, "{body}");
    let nobody = object("ClusterAuraCredential", "nobody", spec(json!({})));
    let (status, body, _) = call(&server, "POST", &url, &nobody).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        causes(&body),
        [
            "spec.allowedNamespaces: Invalid value: \"object\": name the allowed namespaces (names) or select them by label (selector)"
        ]
    );
}
