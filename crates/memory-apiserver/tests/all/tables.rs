//! `kubectl get` output: Tables as a real server prints them (compared with a recording of
//! kube-apiserver 1.32 for AuraInstances), for the project's CRDs, built-in types, single
//! objects and `kubectl get -w` watches.

use std::time::Duration;

use serde_json::{Value, json};

use crate::kubectl_replay::{
    JSON_ACCEPT, TABLE_ACCEPT, column_names, condition, get, post, project_crds, row_of, sample,
    send, server_with_crds, valid_spec, watch,
};

const INSTANCES: &str = "/apis/aura.neo4j.io/v1alpha1/namespaces/facts/aurainstances";

/// An AuraInstance as the recording's `ok2`: a spec, no status yet.
fn instance(name: &str) -> Value {
    json!({
        "apiVersion": "aura.neo4j.io/v1alpha1",
        "kind": "AuraInstance",
        "metadata": {"name": name, "namespace": "facts"},
        "spec": {
            "tenantId": "tenant", "cloudProvider": "gcp", "region": "europe-west1",
            "memory": "1GB", "type": "enterprise-db", "version": "5",
            "connectionSecret": {"name": name},
        },
    })
}

fn ago(seconds: i64) -> String {
    let then = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(seconds);
    then.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[tokio::test]
async fn aurainstances_print_as_the_real_server_prints_them() {
    let server = server_with_crds().await;
    let (code, _) = post(&server, INSTANCES, &instance("ok2")).await;
    assert_eq!(code, 201);

    let (code, table) = get(&server, &format!("{INSTANCES}?limit=500"), TABLE_ACCEPT).await;
    assert_eq!(code, 200, "{table}");
    let recorded = sample("kubectl-table-aurainstances.json");
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        table["columnDefinitions"], recorded["columnDefinitions"],
        "the same columns, descriptions and priorities as the real server"
    );
    assert_eq!(
        table["metadata"]["resourceVersion"],
        json!(server.resource_version().to_string())
    );
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let cells = rows[0]["cells"].as_array().unwrap();
    let recorded_cells = recorded["rows"][0]["cells"].as_array().unwrap();
    assert_eq!(cells.len(), recorded_cells.len());
    // Every cell but the age is the recording's (nulls where the status is missing).
    assert_eq!(cells[..10], recorded_cells[..10]);
    assert!(
        matches!(cells[10].as_str(), Some("0s" | "1s")),
        "age {}",
        cells[10]
    );

    // The row's object is PartialObjectMetadata, with the object's metadata (managedFields too).
    let object = &rows[0]["object"];
    let recorded_object = &recorded["rows"][0]["object"];
    assert_eq!(object["kind"], recorded_object["kind"]);
    assert_eq!(object["apiVersion"], recorded_object["apiVersion"]);
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v["metadata"].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(object), keys(recorded_object));
    assert!(object.get("spec").is_none());

    // `includeObject=Object`: the whole object.
    let (_, full) = get(
        &server,
        &format!("{INSTANCES}?includeObject=Object"),
        TABLE_ACCEPT,
    )
    .await;
    assert_eq!(full["rows"][0]["object"]["spec"]["region"], "europe-west1");
    assert_eq!(full["rows"][0]["object"]["kind"], "AuraInstance");
}

#[tokio::test]
async fn cells_follow_the_status_jsonpaths_and_dates_read_as_ages() {
    let server = server_with_crds().await;
    post(&server, INSTANCES, &instance("demo")).await;
    let status = json!({"status": {
        "status": "running",
        "memory": "8GB",
        "instanceId": "abc123",
        "conditions": [
            condition("Drifted", "False"),
            condition("Ready", "True"),
        ],
        "schedule": {"wants": "Running"},
        "expiry": {"expiresAt": ago(2 * 3600)},
    }});
    let (code, body) = send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/demo/status"),
        JSON_ACCEPT,
        Some("application/merge-patch+json"),
        Some(&status),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (_, table) = get(&server, INSTANCES, TABLE_ACCEPT).await;
    let cells = row_of(&table, "demo");
    assert_eq!(
        cells[..10],
        [
            json!("demo"),
            json!("True"),
            json!("running"),
            json!("8GB"),
            json!("europe-west1"),
            json!("abc123"),
            Value::Null,
            json!("False"),
            json!("Running"),
            json!("120m"),
        ]
    );
}

/// Every project CRD prints Name then its additionalPrinterColumns, with their types and
/// priorities, at its scope.
#[tokio::test]
async fn every_project_crd_prints_its_printer_columns() {
    let server = server_with_crds().await;
    server.create_namespace("facts");
    for crd in project_crds() {
        let group = crd["spec"]["group"].as_str().unwrap();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
        let version = &crd["spec"]["versions"][0];
        let namespaced = crd["spec"]["scope"] == "Namespaced";
        let collection = if namespaced {
            format!(
                "/apis/{group}/{}/namespaces/facts/{plural}",
                version["name"].as_str().unwrap()
            )
        } else {
            format!(
                "/apis/{group}/{}/{plural}",
                version["name"].as_str().unwrap()
            )
        };
        let object = json!({
            "apiVersion": format!("{group}/{}", version["name"].as_str().unwrap()),
            "kind": kind,
            "metadata": {"name": "one"},
            "spec": valid_spec(kind),
        });
        let (code, body) = post(&server, &collection, &object).await;
        assert_eq!(code, 201, "{kind}: {body}");
        let (code, table) = get(&server, &format!("{collection}?limit=500"), TABLE_ACCEPT).await;
        assert_eq!(code, 200, "{kind}: {table}");

        let declared = version["additionalPrinterColumns"].as_array().unwrap();
        let mut expected =
            vec![json!({"name": "Name", "type": "string", "format": "name", "priority": 0})];
        expected.extend(declared.iter().map(|c| {
            json!({
                "name": c["name"],
                "type": c["type"],
                "format": "",
                "priority": c.get("priority").cloned().unwrap_or(json!(0)),
            })
        }));
        let got: Vec<Value> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| json!({"name": c["name"], "type": c["type"], "format": c["format"], "priority": c["priority"]}))
            .collect();
        assert_eq!(got, expected, "{kind}");
        let cells = row_of(&table, "one");
        assert_eq!(cells.len(), expected.len(), "{kind}");
        assert_eq!(cells[0], "one");
        assert!(
            matches!(cells.last().unwrap().as_str(), Some("0s" | "1s")),
            "{kind}: the Age column comes last: {cells:?}"
        );
    }
}

#[tokio::test]
async fn built_in_types_print_the_real_servers_columns() {
    let server = memory_apiserver::ApiServer::new();
    server.create_namespace("facts");
    let create = |uri: &'static str, object: Value| {
        let server = server.clone();
        async move {
            let (code, body) = post(&server, uri, &object).await;
            assert_eq!(code, 201, "{body}");
        }
    };
    create(
        "/api/v1/namespaces/facts/secrets",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "type": "Opaque", "data": {"a": "YQ==", "b": "Yg=="}}),
    )
    .await;
    create(
        "/api/v1/namespaces/facts/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
               "data": {"a": "1"}, "binaryData": {"b": "Yg=="}}),
    )
    .await;
    create(
        "/apis/apps/v1/namespaces/facts/deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                        "template": {"metadata": {"labels": {"app": "d"}},
                                     "spec": {"containers": [
                                         {"name": "op", "image": "aura-operator:1"},
                                         {"name": "side", "image": "busybox"}]}}}}),
    )
    .await;
    create(
        "/apis/coordination.k8s.io/v1/namespaces/facts/leases",
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
               "spec": {"holderIdentity": "pod-1"}}),
    )
    .await;
    create(
        "/api/v1/namespaces/facts/serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}}),
    )
    .await;
    create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/facts/roles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}}),
    )
    .await;

    let table = |uri: &'static str| {
        let server = server.clone();
        async move {
            let (code, table) = get(&server, &format!("{uri}?limit=500"), TABLE_ACCEPT).await;
            assert_eq!(code, 200, "{table}");
            table
        }
    };
    let namespaces = table("/api/v1/namespaces").await;
    assert_eq!(column_names(&namespaces), ["Name", "Status", "Age"]);
    assert_eq!(
        row_of(&namespaces, "facts")[..2],
        [json!("facts"), json!("Active")]
    );

    let secrets = table("/api/v1/namespaces/facts/secrets").await;
    assert_eq!(column_names(&secrets), ["Name", "Type", "Data", "Age"]);
    assert_eq!(
        row_of(&secrets, "s")[..3],
        [json!("s"), json!("Opaque"), json!(2)]
    );

    let configmaps = table("/api/v1/namespaces/facts/configmaps").await;
    assert_eq!(column_names(&configmaps), ["Name", "Data", "Age"]);
    assert_eq!(row_of(&configmaps, "c")[..2], [json!("c"), json!(2)]);

    let deployments = table("/apis/apps/v1/namespaces/facts/deployments").await;
    assert_eq!(
        column_names(&deployments),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let priorities: Vec<i64> = deployments["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(priorities, [0, 0, 0, 0, 0, 1, 1, 1]);
    let cells = row_of(&deployments, "d");
    assert_eq!(cells[..4], [json!("d"), json!("0/2"), json!(0), json!(0)]);
    assert_eq!(
        cells[5..],
        [
            json!("op,side"),
            json!("aura-operator:1,busybox"),
            json!("app=d")
        ]
    );

    let leases = table("/apis/coordination.k8s.io/v1/namespaces/facts/leases").await;
    assert_eq!(column_names(&leases), ["Name", "Holder", "Age"]);
    assert_eq!(row_of(&leases, "l")[..2], [json!("l"), json!("pod-1")]);

    let accounts = table("/api/v1/namespaces/facts/serviceaccounts").await;
    assert_eq!(column_names(&accounts), ["Name", "Secrets", "Age"]);
    assert_eq!(row_of(&accounts, "sa")[..2], [json!("sa"), json!(0)]);

    // Any other type: the real server's default, Name and Created At (RFC 3339).
    let roles = table("/apis/rbac.authorization.k8s.io/v1/namespaces/facts/roles").await;
    assert_eq!(column_names(&roles), ["Name", "Created At"]);
    assert_eq!(roles["columnDefinitions"][1]["type"], "date");
    let created = row_of(&roles, "r")[1].as_str().unwrap().to_string();
    assert!(created.parse::<jiff::Timestamp>().is_ok(), "{created}");

    // An empty list is a Table with no rows (kubectl: "No resources found").
    let empty = table("/api/v1/namespaces/elsewhere/secrets").await;
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(column_names(&empty), ["Name", "Type", "Data", "Age"]);
}

#[tokio::test]
async fn a_single_get_is_a_one_row_table_and_json_without_the_header() {
    let server = server_with_crds().await;
    post(&server, INSTANCES, &instance("demo")).await;
    let (code, table) = get(&server, &format!("{INSTANCES}/demo"), TABLE_ACCEPT).await;
    assert_eq!(code, 200);
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"].as_array().unwrap().len(), 1);
    let stored = server
        .get("aura.neo4j.io", "aurainstances", Some("facts"), "demo")
        .unwrap();
    assert_eq!(
        table["metadata"]["resourceVersion"],
        stored["metadata"]["resourceVersion"]
    );
    let (_, plain) = get(&server, &format!("{INSTANCES}/demo"), JSON_ACCEPT).await;
    assert_eq!(plain["kind"], "AuraInstance");
    // The v1beta1 Table when only that is asked for.
    let beta = "application/json;as=Table;v=v1beta1;g=meta.k8s.io";
    let (_, table) = send(
        &server,
        "GET",
        &format!("{INSTANCES}/demo"),
        beta,
        None,
        None,
    )
    .await;
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(
        table["rows"][0]["object"]["apiVersion"],
        "meta.k8s.io/v1beta1"
    );
    let (code, err) = get(
        &server,
        &format!("{INSTANCES}?includeObject=All"),
        TABLE_ACCEPT,
    )
    .await;
    assert_eq!(code, 400, "{err}");
}

/// `kubectl get -w`: a Table LIST, then a WATCH from its resourceVersion with the same Accept
/// header; each event's object is a one-row Table, and (as on the real server) only the first
/// event carries the column definitions.
#[tokio::test]
async fn watching_with_the_table_accept_header_sends_one_row_tables() {
    let server = server_with_crds().await;
    post(&server, INSTANCES, &instance("first")).await;
    let (_, list) = get(&server, &format!("{INSTANCES}?limit=500"), TABLE_ACCEPT).await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut events = watch(
        &server,
        &format!("{INSTANCES}?resourceVersion={rv}&watch=true"),
        TABLE_ACCEPT,
    )
    .await;

    post(&server, INSTANCES, &instance("second")).await;
    let added = events.next().await;
    assert_eq!(added["type"], "ADDED");
    assert_eq!(added["object"]["kind"], "Table");
    assert_eq!(
        added["object"]["columnDefinitions"],
        list["columnDefinitions"]
    );
    assert_eq!(added["object"]["rows"][0]["cells"][0], "second");
    assert_eq!(
        added["object"]["rows"][0]["object"]["kind"],
        "PartialObjectMetadata"
    );

    // The region is immutable (a CEL transition rule); the version is not, nor printed, so
    // the printed Region of a changed object is checked against the stored one.
    let patch = json!({"spec": {"memory": "4GB"}});
    send(
        &server,
        "PATCH",
        &format!("{INSTANCES}/second"),
        JSON_ACCEPT,
        Some("application/merge-patch+json"),
        Some(&patch),
    )
    .await;
    let modified = events.next().await;
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["columnDefinitions"], Value::Null);
    assert_eq!(modified["object"]["rows"][0]["cells"][4], "europe-west1");
    let stored = server
        .get("aura.neo4j.io", "aurainstances", Some("facts"), "second")
        .unwrap();
    assert_eq!(
        modified["object"]["metadata"]["resourceVersion"],
        stored["metadata"]["resourceVersion"]
    );

    send(
        &server,
        "DELETE",
        &format!("{INSTANCES}/second"),
        JSON_ACCEPT,
        None,
        None,
    )
    .await;
    let deleted = events.next().await;
    assert_eq!(deleted["type"], "DELETED");
    assert_eq!(deleted["object"]["rows"][0]["cells"][0], "second");
    assert!(
        events
            .next_within(Duration::from_millis(200))
            .await
            .is_none()
    );
}
