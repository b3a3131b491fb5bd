//! The operator's own HTTP port: `/metrics`, `/healthz` (the process serves) and `/readyz`
//! (connected to Kubernetes and running its controllers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// Shared with the handlers.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    /// Called before each scrape to refresh gauges that are read, not counted.
    pub refresh: Option<Arc<dyn Fn() + Send + Sync>>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    if let Some(refresh) = &state.refresh {
        refresh();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

/// Binds `addr` and serves until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %err, "HTTP server stopped");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probes_and_metrics_answer_over_http() {
        let ready = Arc::new(AtomicBool::new(false));
        let metrics = Metrics::new();
        metrics.reconciled("AuraInstance", "ok");
        let state = HttpState {
            metrics,
            ready: Arc::clone(&ready),
            refresh: None,
        };
        let (addr, _task) = serve(
            "127.0.0.1:0".parse().unwrap(),
            state,
            std::future::pending(),
        )
        .await
        .unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().build().unwrap();
        let get = |path: &'static str| {
            let http = http.clone();
            async move {
                http.get(format!("http://{addr}{path}"))
                    .send()
                    .await
                    .unwrap()
            }
        };
        assert_eq!(get("/healthz").await.status(), 200);
        assert_eq!(get("/readyz").await.status(), 503);
        ready.store(true, Ordering::Relaxed);
        assert_eq!(get("/readyz").await.status(), 200);
        let body = get("/metrics").await.text().await.unwrap();
        assert!(body.contains("aura_operator_reconciles_total"), "{body}");
    }
}
