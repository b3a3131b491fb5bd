//! The HTTP server: shared state, the request gate (request id, rate limit, faults, stats) and a
//! hand-written accept loop.
//!
//! Connections are served with hyper directly rather than `axum::serve` because the drop faults
//! must close one particular connection, before or after its handler ran, without answering.
//! Each connection gets a [`ConnectionKill`] in its request extensions; notifying it makes the
//! connection task drop the connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::clock::Clock;
use super::config::EmulatorConfig;
use super::error::errors_body;
use super::faults::{Fault, FaultAction, FaultSet};
use super::ratelimit::RateLimiter;
use super::state::State;
use super::stats::{Counters, DROPPED};

/// Everything the handlers and the handle share.
#[derive(Debug)]
pub struct Shared {
    /// The configuration the emulator started with; run-time changes live elsewhere (the store's
    /// timings and invisibility window, the limiter's limit).
    pub config: EmulatorConfig,
    pub clock: Clock,
    /// `http://127.0.0.1:PORT`, for URLs the emulator hands out (metrics endpoints).
    pub origin: String,
    state: Mutex<State>,
    pub faults: Mutex<FaultSet>,
    pub counters: Mutex<Counters>,
    limiter: Mutex<RateLimiter>,
    /// The Bolt listeners' TLS identity, when the emulator serves Bolt.
    pub bolt: Option<super::bolt::BoltHub>,
    /// Refused Bolt logins per instance and user, for Neo4j's auth rate limit.
    pub bolt_logins: Mutex<super::bolt::Lockouts>,
}

/// Locks a mutex even if a panicking thread poisoned it; every guarded value stays consistent
/// because no critical section leaves it half-updated across a panic point.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(
        config: EmulatorConfig,
        addr: SocketAddr,
        bolt: Option<super::bolt::BoltHub>,
    ) -> Self {
        let state = State::new(
            config.tenants.clone(),
            config.timings,
            config.invisible_after_create,
        );
        Self {
            origin: format!("http://{addr}"),
            state: Mutex::new(state),
            clock: Clock::default(),
            faults: Mutex::default(),
            counters: Mutex::default(),
            limiter: Mutex::new(RateLimiter::new(config.rate_limit_per_minute)),
            bolt,
            bolt_logins: Mutex::default(),
            config,
        }
    }

    /// Requests per credential per minute now in force; `None` when the limiter is off.
    pub fn rate_limit(&self) -> Option<u32> {
        lock(&self.limiter).limit()
    }

    /// Changes the limit for every later request; `None` or 0 turns the limiter off.
    pub fn set_rate_limit(&self, limit: Option<u32>) {
        lock(&self.limiter).set_limit(limit);
    }

    /// `Retry-After` seconds every 429 carries; `None` when it is the exact wait.
    pub fn fixed_retry_after(&self) -> Option<u64> {
        lock(&self.limiter).fixed_retry_after()
    }

    /// Makes every later 429 carry `seconds` instead of the exact wait; `None` goes back.
    pub fn set_fixed_retry_after(&self, seconds: Option<u64>) {
        lock(&self.limiter).set_fixed_retry_after(seconds);
    }

    /// The store, with every due transition applied.
    pub fn store(&self) -> MutexGuard<'_, State> {
        let mut state = lock(&self.state);
        state.settle(self.clock.now());
        state
    }
}

/// Lets the gate close the connection a request arrived on.
#[derive(Debug, Clone)]
pub struct ConnectionKill(Arc<Notify>);

/// Client id from a Basic header, without checking the secret.
pub fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, _) = text.split_once(':')?;
    Some(id.to_string())
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// Whom a request counts against for rate limiting.
fn rate_limit_key(shared: &Shared, path: &str, headers: &HeaderMap) -> String {
    let client = if path == "/oauth/token" {
        basic_client_id(headers)
    } else {
        bearer(headers).and_then(|token| {
            shared
                .store()
                .tokens
                .get(token)
                .map(|t| t.client_id.clone())
        })
    };
    client.unwrap_or_else(|| "anonymous".to_string())
}

/// Route templates for stats, most specific first (axum's `MatchedPath` needs a feature this
/// crate does not enable, and the list doubles as documentation of the emulated surface).
const ROUTES: &[&str] = &[
    "/oauth/token",
    "/v1/tenants",
    "/v1/tenants/{tenant_id}",
    "/v1/tenants/{tenant_id}/metrics-integration",
    "/v1/instances",
    "/v1/instances/sizing",
    "/v1/instances/{id}",
    "/v1/instances/{id}/pause",
    "/v1/instances/{id}/resume",
    "/v1/instances/{id}/upgrade",
    "/v1/instances/{id}/overwrite",
    "/v1/instances/{id}/snapshots",
    "/v1/instances/{id}/snapshots/{snapshot_id}",
    "/v1/instances/{id}/snapshots/{snapshot_id}/restore",
    "/v1/customer-managed-keys",
    "/v1/customer-managed-keys/{id}",
    "/v1/graph-analytics/sessions",
    "/v1/graph-analytics/sessions/sizing",
    "/v1/graph-analytics/sessions/{id}",
    "/api/v1/{tenant_id}/metrics",
    "/api/v1/{tenant_id}/{instance_id}/metrics",
];

/// The route template a path belongs to, or `unmatched`.
pub fn route_template(path: &str) -> String {
    let have: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES
        .iter()
        .find(|template| {
            let want: Vec<&str> = template.split('/').collect();
            want.len() == have.len()
                && want
                    .iter()
                    .zip(&have)
                    .all(|(w, h)| w == h || (w.starts_with('{') && !h.is_empty()))
        })
        .map_or_else(|| "unmatched".to_string(), |t| (*t).to_string())
}

fn with_request_id(mut response: Response) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Runs before every handler: rate limit, faults, then the handler; records stats; adds the id.
pub async fn gate(
    AxumState(shared): AxumState<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/_emulator") {
        return with_request_id(next.run(request).await);
    }
    let method = request.method().clone();
    let route = route_template(&path);
    let kill = request.extensions().get::<ConnectionKill>().cloned();

    let key = rate_limit_key(&shared, &path, request.headers());
    let verdict = lock(&shared.limiter).check(&key, shared.clock.now());
    if let Err(wait) = verdict {
        let response = too_many_requests(wait);
        let mut counters = lock(&shared.counters);
        counters.record(method.as_str(), &route, 429);
        counters.journal(method.as_str(), &path, 429);
        drop(counters);
        return with_request_id(response);
    }

    let fault = lock(&shared.faults).take(&method, &path);
    if fault.is_some() {
        lock(&shared.counters).faults_fired += 1;
    }
    let response = match fault {
        None => next.run(request).await,
        Some(fault) => match fault.action {
            FaultAction::Respond => {
                let status =
                    StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let reason = fault.reason.as_deref().unwrap_or("injected-fault");
                let message = fault
                    .message
                    .as_deref()
                    .unwrap_or("Fault injected by the Aura emulator");
                let mut response =
                    (status, axum::Json(errors_body(message, reason, None))).into_response();
                add_retry_after(&mut response, fault.retry_after);
                response
            }
            FaultAction::Gateway => {
                let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_GATEWAY);
                let message = fault.message.as_deref().unwrap_or("Bad Gateway");
                let body = serde_json::json!({ "error": message });
                let mut response = (status, axum::Json(body)).into_response();
                add_retry_after(&mut response, fault.retry_after);
                response
            }
            FaultAction::Delay(delay) => {
                tokio::time::sleep(delay).await;
                next.run(request).await
            }
            FaultAction::DropBefore => {
                return drop_connection(&shared, kill, &method, &route).await;
            }
            FaultAction::DropAfter => {
                let _acted = next.run(request).await;
                return drop_connection(&shared, kill, &method, &route).await;
            }
            FaultAction::MalformedBody => json_response(r#"{"data": {"id": "trunc"#.to_string()),
            FaultAction::OversizedBody => {
                let padding = "x".repeat(shared.config.oversized_body_bytes);
                json_response(format!(r#"{{"data":{{"padding":"{padding}"}}}}"#))
            }
            FaultAction::EmbeddedErrors => {
                with_embedded_errors(next.run(request).await, &fault).await
            }
        },
    };
    let mut counters = lock(&shared.counters);
    counters.record(method.as_str(), &route, response.status().as_u16());
    counters.journal(method.as_str(), &path, response.status().as_u16());
    drop(counters);
    with_request_id(response)
}

fn json_response(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

/// The handler's answer turned into 200 `{"data": <its data or null>, "errors": [...]}`.
async fn with_embedded_errors(response: Response, fault: &Fault) -> Response {
    let succeeded = response.status().is_success();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let data = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .filter(|_| succeeded)
        .and_then(|mut body| body.get_mut("data").map(serde_json::Value::take))
        .unwrap_or(serde_json::Value::Null);
    let reason = fault.reason.as_deref().unwrap_or("not-found");
    let message = fault
        .message
        .as_deref()
        .unwrap_or("Fault injected by the Aura emulator: errors beside data");
    let mut body = errors_body(message, reason, None);
    body["data"] = data;
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn add_retry_after(response: &mut Response, seconds: Option<u64>) {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
}

fn too_many_requests(wait_seconds: u64) -> Response {
    let body = errors_body(
        "Too many requests; slow down and retry after the Retry-After delay",
        "rate-limit-exceeded",
        None,
    );
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    add_retry_after(&mut response, Some(wait_seconds));
    response
}

/// Closes the request's connection and never answers.
async fn drop_connection(
    shared: &Shared,
    kill: Option<ConnectionKill>,
    method: &http::Method,
    route: &str,
) -> Response {
    lock(&shared.counters).record(method.as_str(), route, DROPPED);
    match kill {
        Some(ConnectionKill(notify)) => {
            notify.notify_one();
            std::future::pending().await
        }
        // Only reachable if the router is served by something other than `serve_connection`.
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Accepts connections until `shutdown` flips, then aborts the open ones.
pub async fn accept_loop(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, router.clone(), shutdown.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "emulator accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, router: Router, mut shutdown: watch::Receiver<bool>) {
    let kill = Arc::new(Notify::new());
    let tag = ConnectionKill(kill.clone());
    let service =
        hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(tag.clone());
            router.clone().oneshot(request)
        });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                tracing::debug!(%error, "emulator connection ended with an error");
            }
        }
        _ = kill.notified() => tracing::debug!("emulator dropped a connection on purpose"),
        _ = shutdown.changed() => {}
    }
}
