//! An operator under test: the real `Controller`s (AuraInstance, AuraSnapshot and GdsSession,
//! run together as `aura-operator run` does), an in-memory Kubernetes API server and an Aura
//! emulator, all in this process.

use std::time::Duration;

use aura_operator::aura::{PollBackoff, RateLimit, RetryPolicy};
use aura_operator::controllers::machinery::clock::Clock;
use aura_operator::controllers::{
    AuraClients, AuraSettings, Context, DefaultCredential, InstallationClass, NamespaceAllow,
    Timing,
};
use aura_operator::crd::{AuraInstance, AuraSnapshot, GdsSession};
use aura_operator::emulator::{EmulatorConfig, RunningEmulator, SnapshotProfile, SnapshotStatus};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use memory_apiserver::{ApiServer, Served};
use secrecy::SecretString;
use tokio::task::JoinHandle;

use super::writes::WriteLog;
use super::{CLIENT_ID, CLIENT_SECRET, fast_config, start};

pub const NS: &str = "default";
/// The operator's own namespace in these tests, apart from the resources' namespaces: where its
/// claims and the Secrets of ClusterAuraCredentials live.
pub const OPERATOR_NS: &str = "aura-system";

/// The field manager of the tests' own writes, as `kubectl` signs a user's: the operator's
/// writes must be told apart from the user's (see `every_write_of_the_operator_is_signed`).
pub const USER: &str = "kubectl";

pub fn user_post() -> PostParams {
    PostParams {
        field_manager: Some(USER.to_owned()),
        ..PostParams::default()
    }
}

pub fn user_patch() -> PatchParams {
    PatchParams {
        field_manager: Some(USER.to_owned()),
        ..PatchParams::default()
    }
}

pub fn timing() -> Timing {
    Timing {
        resync: Duration::from_secs(1),
        poll: PollBackoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(250),
            factor: 1.5,
        },
        spec_error_retry: Duration::from_secs(2),
        error_retry: Duration::from_millis(100),
        // Above the emulator's 2 s window of 404s after a create, well below the tests' waits.
        visibility_grace: Duration::from_secs(5),
        ..Timing::default()
    }
}

pub struct Operator {
    pub api: ApiServer,
    pub emu: RunningEmulator,
    pub timing: Timing,
    /// The controller's Aura budget (far above what tests send, unless a test sets it).
    pub budget: RateLimit,
    /// Namespaces that may use the default credential (all, unless a test narrows it).
    pub default_namespaces: NamespaceAllow,
    /// The client the controller uses: in-process, or over loopback HTTP.
    controller_kube: kube::Client,
    /// The namespaces the controllers watch; None: all (as `aura-operator run` without
    /// `--namespace`).
    scopes: Vec<Option<&'static str>>,
    /// The installation's class (see `--installation-class`): the default installation's
    /// unless a test starts another.
    pub class: InstallationClass,
    /// The installation's own namespace (claims, Secrets of ClusterAuraCredentials by default).
    pub operator_ns: &'static str,
    /// The controllers' writes, when a test asked for them (see [`Self::installation`]).
    pub writes: Option<WriteLog>,
    /// The Aura the controllers call, when not their own emulator (see
    /// [`Self::beside_sharing_aura`]).
    aura_url: Option<String>,
    /// The controllers' clock for schedules and expiry; it survives restarts, as real time does.
    pub clock: Clock,
    /// How the controllers log in to databases (verification off unless a test turns it on).
    pub database: aura_operator::database::DatabaseSettings,
    /// The running controllers' metrics, to count their passes.
    metrics: Option<std::sync::Arc<aura_operator::metrics::Metrics>>,
    /// The running controllers' context, to refresh the gauges as a scrape does.
    context: Option<std::sync::Arc<aura_operator::controllers::Context>>,
    _served: Option<Served>,
    task: Option<JoinHandle<()>>,
}

impl Operator {
    pub async fn start() -> Self {
        Self::start_with(fast_config(), timing()).await
    }

    pub async fn start_with(config: EmulatorConfig, timing: Timing) -> Self {
        let mut operator = Self::stopped(config, timing).await;
        operator.spawn();
        operator
    }

    /// Like [`start`](Self::start), with instances that answer Bolt (the emulator's CA trusted)
    /// and connection verification on (issue 22).
    pub async fn start_verifying() -> Self {
        Self::start_verifying_with(EmulatorConfig {
            bolt: true,
            ..fast_config()
        })
        .await
    }

    /// Like [`start_verifying`](Self::start_verifying) with an emulator of `config` (which
    /// must have `bolt` on), e.g. a short auth lock.
    pub async fn start_verifying_with(config: EmulatorConfig) -> Self {
        let mut operator = Self::stopped(config, timing()).await;
        operator.database = aura_operator::database::DatabaseSettings {
            verify: true,
            extra_ca_file: operator.emu.bolt_ca_file().map(|p| p.to_path_buf()),
            timeout: Duration::from_secs(5),
            // Above the short locks the tests give the emulator, below their waits.
            lock_wait: Duration::from_secs(2),
            ..Default::default()
        };
        operator.spawn();
        operator
    }

    /// Like [`start`](Self::start), but the controller reaches the API server over loopback
    /// HTTP, where a watch event can arrive after the response to the write that caused it (as
    /// on a real cluster); in-process, the two are all but simultaneous.
    pub async fn start_over_http() -> Self {
        let mut operator = Self::stopped(fast_config(), timing()).await;
        let served = operator
            .api
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .expect("served on loopback");
        operator.controller_kube = served.client(NS).await.expect("client over HTTP");
        operator._served = Some(served);
        operator.spawn();
        operator
    }

    /// Like [`start`](Self::start), but the controllers watch every namespace.
    pub async fn start_cluster_wide() -> Self {
        let mut operator = Self::stopped(fast_config(), timing()).await;
        operator.scopes = vec![None];
        operator.spawn();
        operator
    }

    /// An installation of class `class` (None: the default installation) with its own
    /// operator namespace, watching `scopes`, on a new API server; its writes are recorded.
    pub async fn installation(
        class: Option<&str>,
        operator_ns: &'static str,
        scopes: &[Option<&'static str>],
    ) -> Self {
        Self::installed(new_api_server(), class, operator_ns, scopes, None).await
    }

    /// Another installation like [`Self::installation`], on the API server of `first`, with an
    /// emulator (an Aura) of its own so that its Aura calls are its own.
    pub async fn beside(
        first: &Operator,
        class: Option<&str>,
        operator_ns: &'static str,
        scopes: &[Option<&'static str>],
    ) -> Self {
        Self::installed(first.api.clone(), class, operator_ns, scopes, None).await
    }

    /// Another installation like [`Self::beside`], calling the same Aura as `first` (as the
    /// old and the new installation of a blue/green upgrade do).
    pub async fn beside_sharing_aura(
        first: &Operator,
        class: Option<&str>,
        operator_ns: &'static str,
        scopes: &[Option<&'static str>],
    ) -> Self {
        let aura = Some(first.emu.base_url());
        Self::installed(first.api.clone(), class, operator_ns, scopes, aura).await
    }

    /// An installation like [`Self::beside`], on `api`, with its own `timing` (a resync long
    /// enough to tell a watch's trigger from the next resync).
    pub async fn installation_on(
        api: &ApiServer,
        class: Option<&str>,
        operator_ns: &'static str,
        scopes: &[Option<&'static str>],
        timing: Timing,
    ) -> Self {
        Self::installed_with(api.clone(), class, operator_ns, scopes, None, timing).await
    }

    async fn installed(
        api: ApiServer,
        class: Option<&str>,
        operator_ns: &'static str,
        scopes: &[Option<&'static str>],
        aura_url: Option<String>,
    ) -> Self {
        Self::installed_with(api, class, operator_ns, scopes, aura_url, timing()).await
    }

    async fn installed_with(
        api: ApiServer,
        class: Option<&str>,
        operator_ns: &'static str,
        scopes: &[Option<&'static str>],
        aura_url: Option<String>,
        timing: Timing,
    ) -> Self {
        let mut operator = Self::stopped_on(api, fast_config(), timing).await;
        operator.aura_url = aura_url;
        operator.class = match class {
            Some(name) => InstallationClass::named(name).expect("a valid class"),
            None => InstallationClass::default_installation(),
        };
        operator.operator_ns = operator_ns;
        operator.scopes = scopes.to_vec();
        let writes = WriteLog::default();
        operator.controller_kube = writes.client(&operator.api, NS);
        operator.writes = Some(writes);
        operator.spawn();
        operator
    }

    /// The API server and the emulator, without a controller (start it with `restart`).
    pub async fn stopped(config: EmulatorConfig, timing: Timing) -> Self {
        Self::stopped_on(new_api_server(), config, timing).await
    }

    async fn stopped_on(api: ApiServer, config: EmulatorConfig, timing: Timing) -> Self {
        let emu = start(config).await;
        Self {
            controller_kube: api.client(),
            api,
            emu,
            timing,
            budget: RateLimit {
                per_minute: 100_000,
                burst: 1_000,
            },
            default_namespaces: NamespaceAllow::all(),
            _served: None,
            scopes: vec![Some(NS)],
            class: InstallationClass::default_installation(),
            operator_ns: OPERATOR_NS,
            writes: None,
            aura_url: None,
            clock: Clock::default(),
            database: Default::default(),
            metrics: None,
            context: None,
            task: None,
        }
    }

    fn spawn(&mut self) {
        let settings = AuraSettings {
            base_url: self.aura_url.clone().unwrap_or_else(|| self.emu.base_url()),
            allow_insecure_http: true,
            rate_limit: self.budget,
            timeout: Duration::from_secs(5),
            retry: RetryPolicy {
                max_retries: 2,
                base_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(100),
                max_retry_after: Duration::from_secs(2),
            },
            observer: None,
        };
        let default = DefaultCredential::Fixed {
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::from(CLIENT_SECRET.to_owned()),
        };
        let metrics = aura_operator::metrics::Metrics::new();
        self.metrics = Some(std::sync::Arc::clone(&metrics));
        // As `run` does: the Aura calls and budget waits of every credential go to /metrics.
        let settings = AuraSettings {
            observer: Some(std::sync::Arc::new(
                aura_operator::metrics::AuraCallMetrics(std::sync::Arc::clone(&metrics)),
            )),
            ..settings
        };
        let clients = AuraClients::new(settings, default)
            .with_access(self.operator_ns, self.default_namespaces.clone())
            .with_class(self.class.clone());
        let ctx = Context::with_clock(
            self.controller_kube.clone(),
            clients,
            self.timing,
            metrics,
            self.operator_ns,
            self.clock.clone(),
            self.database.clone(),
        );
        self.context = Some(ctx.clone());
        let scopes = self.scopes.clone();
        self.task = Some(tokio::spawn(async move {
            let credentials = aura_operator::controllers::cluster_credential::run(
                ctx.clone(),
                std::future::pending(),
            );
            // One set of controllers per watched namespace, as `aura-operator run` starts them.
            let kinds = futures::future::join_all(scopes.into_iter().map(|scope| {
                aura_operator::controllers::run_all(ctx.clone(), scope, std::future::pending())
            }));
            tokio::join!(credentials, kinds);
        }));
    }

    /// Kills the controller mid-flight (as a crash would) and starts a new one with no memory.
    pub async fn crash_and_restart(&mut self) {
        self.crash().await;
        self.spawn();
    }

    /// Kills the controller.
    pub async fn crash(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn restart(&mut self) {
        self.spawn();
    }

    /// Starts a new controller that watches only `scope` (None: every namespace).
    pub fn restart_watching(&mut self, scope: Option<&'static str>) {
        self.scopes = vec![scope];
        self.spawn();
    }

    /// An instance made in Aura directly (as in the Aura console), once Aura shows it running:
    /// its id and password.
    pub async fn made_in_aura(&self, name: &str) -> (String, String) {
        use aura_operator::aura::{CloudProvider, CreateInstance, InstanceStatus, InstanceType};
        use secrecy::ExposeSecret;
        let client = super::client(&self.emu);
        let request = CreateInstance::new(
            name,
            aura_operator::aura::TenantId::new(aura_operator::emulator::DEFAULT_TENANT_ID).unwrap(),
            CloudProvider::Gcp,
            "europe-west1",
            InstanceType::ProfessionalDb,
            "2GB",
        );
        let created = client.instances().create(&request).await.unwrap();
        let id = created.id;
        let what = format!("Aura to show {id} running");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match client.instances().get(&id).await {
                Ok(found) if found.status == InstanceStatus::Running => break,
                _ if tokio::time::Instant::now() > deadline => {
                    panic!("timed out waiting for {what}")
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        (id.to_string(), created.password.expose_secret().to_owned())
    }

    /// A Completed snapshot that Aura's daily schedule took of instance `id` yesterday; its id.
    pub fn scheduled_snapshot_of(&self, id: &str) -> String {
        let yesterday = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24);
        self.emu
            .handle()
            .add_snapshot(
                id,
                SnapshotProfile::Scheduled,
                SnapshotStatus::Completed,
                yesterday,
            )
            .expect("a snapshot of a known instance")
    }

    pub fn instances(&self) -> Api<AuraInstance> {
        Api::namespaced(self.api.client(), NS)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.api.client(), NS)
    }

    pub async fn apply(&self, yaml: serde_json::Value) -> AuraInstance {
        let obj: AuraInstance = serde_json::from_value(yaml).expect("a valid AuraInstance");
        self.instances()
            .create(&user_post(), &obj)
            .await
            .expect("created")
    }

    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        let patch = serde_json::json!({ "spec": spec });
        self.instances()
            .patch(name, &user_patch(), &Patch::Merge(&patch))
            .await
            .expect("patched");
    }

    pub async fn delete(&self, name: &str) {
        self.instances()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete accepted");
    }

    /// Waits until `check` holds for the resource `name`, or fails with what was seen last.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&AuraInstance) -> bool,
    ) -> AuraInstance {
        self.wait_for_within(name, what, Duration::from_secs(15), check)
            .await
    }

    /// [`Self::wait_for`] with a deadline of `within`.
    pub async fn wait_for_within(
        &self,
        name: &str,
        what: &str,
        within: Duration,
        check: impl Fn(&AuraInstance) -> bool,
    ) -> AuraInstance {
        wait_object(&self.api, Some(NS), name, what, within, check).await
    }

    /// The operator's `/metrics` text with the gauges read from the caches first, as a
    /// scrape of `run`'s `/metrics` does.
    pub fn refreshed_metrics(&self) -> String {
        if let Some(ctx) = &self.context {
            ctx.refresh_gauges();
        }
        self.metrics_text()
    }

    /// The operator's `/metrics` text.
    pub fn metrics_text(&self) -> String {
        self.metrics
            .as_ref()
            .map(|m| m.encode())
            .unwrap_or_default()
    }

    /// Passes the controllers have finished, of `kind`, so far (from their metrics).
    pub fn passes(&self, kind: &str) -> u64 {
        let text = self
            .metrics
            .as_ref()
            .map(|m| m.encode())
            .unwrap_or_default();
        let prefix = format!("aura_operator_reconciles_total{{kind=\"{kind}\"");
        text.lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Waits until the controller of `kind` has finished `n` more passes: instead of sleeping
    /// through resync intervals, a test that checks that nothing happens waits for the passes
    /// in which it would have happened.
    pub async fn after_passes(&self, kind: &str, n: u64) {
        let start = self.passes(kind);
        let what = format!("{n} more {kind} passes");
        super::wait_for(&what, Duration::from_secs(15), || {
            let done = self.passes(kind) - start;
            if done >= n {
                Ok(())
            } else {
                Err(format!("{done} passes"))
            }
        })
        .await;
    }

    pub async fn wait_gone(&self, name: &str) {
        self.wait_gone_any::<AuraInstance>(name).await;
    }

    pub fn snapshots(&self) -> Api<AuraSnapshot> {
        Api::namespaced(self.api.client(), NS)
    }

    pub fn sessions(&self) -> Api<GdsSession> {
        Api::namespaced(self.api.client(), NS)
    }

    /// Creates any namespaced resource from its YAML (as JSON).
    pub async fn create<K>(&self, yaml: serde_json::Value) -> K
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let obj: K = serde_json::from_value(yaml).expect("a valid resource");
        Api::<K>::namespaced(self.api.client(), NS)
            .create(&user_post(), &obj)
            .await
            .expect("created")
    }

    /// Stores `yaml` as an object created before its CRD's CEL rules existed (an upgrade that
    /// added them), after checking that the API server refuses it now: so that the
    /// controller's own guard behind a rule can be tested. The CRD goes in without its rules
    /// for this one create, then back as it was.
    pub async fn create_past_cel<K>(&self, yaml: serde_json::Value) -> K
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let obj: K = serde_json::from_value(yaml).expect("a valid resource");
        let api = Api::<K>::namespaced(self.api.client(), NS);
        match api.create(&user_post(), &obj).await {
            Err(kube::Error::Api(status)) if status.code == 422 => {}
            other => panic!("the API server should refuse this by a CEL rule: {other:?}"),
        }
        let (_, crd) = aura_operator::cli::crd::all()
            .into_iter()
            .find(|(_, crd)| crd.spec.names.kind == K::kind(&()))
            .expect("a CRD of the kind");
        let crd = serde_json::to_value(crd).expect("CRD as JSON");
        let mut lenient = crd.clone();
        strip_key(&mut lenient, "x-kubernetes-validations");
        self.api.install_crd(lenient).expect("CRD without rules");
        let created = api.create(&user_post(), &obj).await.expect("created");
        self.api.install_crd(crd).expect("CRD restored");
        created
    }

    /// Deletes any namespaced resource.
    pub async fn delete_any<K>(&self, name: &str)
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Api::<K>::namespaced(self.api.client(), NS)
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete accepted");
    }

    /// Waits until `check` holds for the resource `name` of any kind.
    pub async fn wait_for_any<K>(&self, name: &str, what: &str, check: impl Fn(&K) -> bool) -> K
    where
        K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        wait_object(
            &self.api,
            Some(NS),
            name,
            what,
            Duration::from_secs(15),
            check,
        )
        .await
    }

    /// Waits until the resource `name` of any kind is gone.
    pub async fn wait_gone_any<K>(&self, name: &str)
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + 'static,
    {
        let what = format!("{name} to be removed");
        super::wait_for(&what, Duration::from_secs(15), || {
            match self.api.get_as::<K>(Some(NS), name) {
                None => Ok(()),
                Some(obj) => Err(format!("{:#?}", obj.meta())),
            }
        })
        .await;
    }

    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.api.get_as::<Secret>(Some(NS), name)
    }

    /// Reasons of the Events recorded about anything.
    pub fn event_reasons(&self) -> Vec<String> {
        self.api
            .list("events.k8s.io", "events", Some(NS))
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Waits until `check` holds for the object `name` of kind `K` in `namespace` (None:
/// cluster-scoped) on `api`, or fails with what was seen last.
pub async fn wait_object<K>(
    api: &ApiServer,
    namespace: Option<&str>,
    name: &str,
    what: &str,
    within: Duration,
    check: impl Fn(&K) -> bool,
) -> K
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let what = match namespace {
        Some(ns) if ns != NS => format!("{ns}/{name} to be {what}"),
        _ => format!("{name} to be {what}"),
    };
    super::wait_for(&what, within, || match api.get_as::<K>(namespace, name) {
        Some(obj) if check(&obj) => Ok(obj),
        other => Err(format!("{other:#?}")),
    })
    .await
}

/// An API server with the CRDs installed as objects, as on a cluster: every write, the
/// operator's status included, then goes through the schema, defaults and CEL rules a real
/// server applies.
pub fn new_api_server() -> ApiServer {
    let api = ApiServer::new();
    for (_, crd) in aura_operator::cli::crd::all() {
        api.install_crd(serde_json::to_value(crd).expect("CRD as JSON"))
            .expect("CRD installed");
    }
    api
}

type Condition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// The conditions of a resource of this operator.
pub trait HasConditions {
    fn conditions(&self) -> &[Condition];
}

impl HasConditions for AuraInstance {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

impl HasConditions for AuraSnapshot {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

impl HasConditions for GdsSession {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

impl HasConditions for aura_operator::crd::ClusterAuraCredential {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

pub fn condition<'a, K: HasConditions>(obj: &'a K, type_: &str) -> Option<&'a Condition> {
    obj.conditions().iter().find(|c| c.type_ == type_)
}

/// The Aura status word an AuraInstance reports (`running`, `paused`, ...).
pub fn aura_status(obj: &AuraInstance) -> Option<&str> {
    obj.status.as_ref()?.status.as_ref().map(|s| s.as_str())
}

pub fn is_ready<K: HasConditions>(obj: &K) -> bool {
    condition(obj, "Ready").is_some_and(|c| c.status == "True")
}

/// Whether the Ready condition has this reason.
pub fn ready_reason<K: HasConditions>(obj: &K, reason: &str) -> bool {
    condition(obj, "Ready").is_some_and(|c| c.reason == reason)
}

pub fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get(key)
        .map(|b| String::from_utf8(b.0.clone()).expect("utf-8"))
}

/// A resource of `kind` in the test namespace.
pub fn resource(kind: &str, name: &str, spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "aura.neo4j.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": name, "namespace": NS },
        "spec": spec
    })
}

/// An AuraInstance offered by the emulator's default tenant, with `extra` spec fields on top.
pub fn instance(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "tenantId": aura_operator::emulator::DEFAULT_TENANT_ID,
        "cloudProvider": "gcp",
        "region": "europe-west1",
        "type": "professional-db",
        "memory": "2GB"
    });
    if let (Some(base), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    resource("AuraInstance", name, spec)
}

/// Removes `key` wherever it appears in `value`.
fn strip_key(value: &mut serde_json::Value, key: &str) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove(key);
            map.values_mut().for_each(|v| strip_key(v, key));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| strip_key(v, key)),
        _ => {}
    }
}
