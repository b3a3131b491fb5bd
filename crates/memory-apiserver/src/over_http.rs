//! The same store served over real HTTP/1.1 on a loopback port, for testing a program that
//! runs in another process (the operator binary) and reaches the API server through a kubeconfig.
//!
//! Every request goes through the same handler as the in-process `tower::Service`, so both faces
//! see one store, one set of counters and one set of injected faults. Watches stream: a watch
//! response is a chunked body that stays open until its timeout, the client going away, or the
//! server stopping. No TLS and no authentication: bind it to loopback only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::service::{self, ResponseBody};
use crate::store::Store;

/// A running HTTP face of an [`ApiServer`](crate::ApiServer). It stops, closing every open
/// connection and watch, on [`shutdown`](Self::shutdown) or when dropped.
#[derive(Debug)]
pub struct Served {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Served {
    /// The address actually bound (the port is the real one when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the `server` a kubeconfig should name.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (JSON, which is also YAML) for this server, with `namespace` as the
    /// context's default namespace.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        kubeconfig(&self.url(), namespace)
    }

    /// Writes [`kubeconfig`](Self::kubeconfig) to `path`, for a child process's `KUBECONFIG`.
    pub fn write_kubeconfig(&self, path: &Path, namespace: &str) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig(namespace))
    }

    /// A client that reaches this server over HTTP through a kubeconfig, exactly as another
    /// process would (unlike [`ApiServer::client`](crate::ApiServer::client), which skips the
    /// network).
    pub async fn client(&self, namespace: &str) -> Result<kube::Client, KubeconfigClientError> {
        client_from_kubeconfig(&self.kubeconfig(namespace)).await
    }

    /// Stops accepting, closes open connections (ending their watches) and waits for that.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A kubeconfig (as JSON) pointing at `server_url` with no credentials. `insecure-skip-tls-verify`
/// is set so that the same file also works for a test server behind self-signed TLS; it has no
/// effect on plain http.
pub fn kubeconfig(server_url: &str, namespace: &str) -> String {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": "memory-apiserver",
            "cluster": {"server": server_url, "insecure-skip-tls-verify": true},
        }],
        "users": [{"name": "memory-apiserver", "user": {}}],
        "contexts": [{
            "name": "memory-apiserver",
            "context": {"cluster": "memory-apiserver", "user": "memory-apiserver", "namespace": namespace},
        }],
        "current-context": "memory-apiserver",
        "preferences": {},
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// Why a client could not be built from a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigClientError {
    #[error("unusable kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error(transparent)]
    Client(#[from] kube::Error),
}

/// A kube client built from kubeconfig text, through kube's own loader.
pub async fn client_from_kubeconfig(text: &str) -> Result<kube::Client, KubeconfigClientError> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(text)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

pub(crate) async fn serve(store: Arc<Mutex<Store>>, addr: SocketAddr) -> std::io::Result<Served> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, store, stopped));
    Ok(Served {
        addr,
        stop,
        task: Some(task),
    })
}

async fn accept_loop(
    listener: TcpListener,
    store: Arc<Mutex<Store>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&store)));
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "memory-apiserver accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, store: Arc<Mutex<Store>>) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let store = Arc::clone(&store);
        async move { Ok::<_, Infallible>(answer(store, request).await) }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    if let Err(error) = connection.await {
        tracing::debug!(%error, "memory-apiserver connection ended with an error");
    }
}

/// Reads the whole request body (API requests are small) and hands the request to the same
/// handler the in-process service uses.
async fn answer(
    store: Arc<Mutex<Store>>,
    request: Request<hyper::body::Incoming>,
) -> Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let mut response = Response::new(
                Full::new(bytes::Bytes::from(format!(
                    "unreadable request body: {error}"
                )))
                .boxed_unsync(),
            );
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    let request = Request::from_parts(parts, kube::client::Body::from(bytes));
    service::handle(store, request).await
}
