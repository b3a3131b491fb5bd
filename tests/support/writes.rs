//! Every write one client sends, recorded on its way to the in-memory API server: so that when
//! several operator installations share one server, each write can be put down to the
//! installation that sent it (they all sign with the same field manager). The watches it opens
//! are recorded too, with their label selectors: what the API server sends it.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use memory_apiserver::{ApiServer, ResponseBody};
use serde_json::Value;

/// One write: its method, its path, and its body as JSON (Null when it had none).
#[derive(Debug, Clone)]
pub struct Write {
    pub method: String,
    pub path: String,
    pub body: Value,
}

impl Write {
    /// The names this write is about: the object in its path (or, for a create, in its body),
    /// and for an Event the object the Event is about.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let segments: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        // .../{plural}/{name}[/{subresource}] after "namespaces/{ns}" or a group-version.
        let start = match segments.iter().position(|s| *s == "namespaces") {
            Some(i) if segments.len() > i + 2 => i + 2,
            _ => match segments.first() {
                Some(&"api") => 2,
                _ => 3,
            },
        };
        if let Some(name) = segments.get(start + 1) {
            names.push((*name).to_owned());
        }
        for pointer in [
            "/metadata/name",
            "/regarding/name",
            "/involvedObject/name",
            "/spec/holderIdentity",
        ] {
            if let Some(name) = self.body.pointer(pointer).and_then(Value::as_str) {
                names.push(name.to_owned());
            }
        }
        names
    }

    /// Whether the write is about an object whose name starts with `prefix` (a holder identity
    /// `namespace/name` counts by its name).
    pub fn touches(&self, prefix: &str) -> bool {
        self.names()
            .iter()
            .any(|n| n.rsplit('/').next().unwrap_or(n).starts_with(prefix))
    }
}

/// One watch a client opened: its path and label selector (None: every object there).
#[derive(Debug, Clone)]
pub struct Watch {
    pub path: String,
    pub label_selector: Option<String>,
    /// Whether it asked for metadata only (`PartialObjectMetadata`): no object's data is sent.
    pub metadata_only: bool,
}

/// The writes recorded so far, and the watches opened.
#[derive(Clone, Default)]
pub struct WriteLog {
    writes: Arc<Mutex<Vec<Write>>>,
    watches: Arc<Mutex<Vec<Watch>>>,
}

impl WriteLog {
    pub fn all(&self) -> Vec<Write> {
        self.writes.lock().unwrap().clone()
    }

    /// The watches opened on `path` (e.g. `/api/v1/namespaces/apps/secrets`).
    pub fn watches_of(&self, path: &str) -> Vec<Watch> {
        let watches = self.watches.lock().unwrap();
        watches.iter().filter(|w| w.path == path).cloned().collect()
    }

    /// The writes about objects whose names start with `prefix`.
    pub fn touching(&self, prefix: &str) -> Vec<Write> {
        self.all()
            .into_iter()
            .filter(|w| w.touches(prefix))
            .collect()
    }

    /// Fails, listing them, if any write was about an object whose name starts with `prefix`.
    pub fn assert_untouched(&self, prefix: &str) {
        let strays = self.touching(prefix);
        assert!(strays.is_empty(), "writes about {prefix}*: {strays:#?}");
    }

    /// Records `request` if it opens a watch.
    fn note_watch<B>(&self, request: &http::Request<B>) {
        let uri = request.uri();
        let accept = request.headers().get(http::header::ACCEPT);
        let metadata_only = accept
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
        let query = uri.query().unwrap_or_default();
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        if param("watch").is_none_or(|v| v == "false" || v == "0") {
            return;
        }
        self.watches.lock().unwrap().push(Watch {
            path: uri.path().to_owned(),
            label_selector: param("labelSelector").cloned(),
            metadata_only,
        });
    }

    /// A client of `api` whose writes go into this log.
    pub fn client(&self, api: &ApiServer, namespace: &str) -> kube::Client {
        let recording = Recording {
            inner: api.clone(),
            log: self.clone(),
        };
        kube::Client::new(recording, namespace)
    }
}

#[derive(Clone)]
struct Recording {
    inner: ApiServer,
    log: WriteLog,
}

type Answer = Result<http::Response<ResponseBody>, Box<dyn std::error::Error + Send + Sync>>;

impl tower::Service<http::Request<kube::client::Body>> for Recording {
    type Response = http::Response<ResponseBody>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let mut inner = self.inner.clone();
        let log = self.log.clone();
        Box::pin(async move {
            let request = match request.method() == http::Method::GET {
                true => {
                    log.note_watch(&request);
                    request
                }
                false => {
                    let (parts, body) = request.into_parts();
                    let bytes = body.collect_bytes().await?;
                    log.writes.lock().unwrap().push(Write {
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_owned(),
                        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    });
                    http::Request::from_parts(parts, kube::client::Body::from(bytes))
                }
            };
            let answer = tower::Service::call(&mut inner, request).await;
            Ok(answer.unwrap_or_else(|never| match never {}))
        })
    }
}
