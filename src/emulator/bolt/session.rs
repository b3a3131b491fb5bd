//! One Bolt connection: authentication, statements, results and the FAILED state, following
//! the Bolt 4.x server state machine closely enough for a real driver.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use super::lockout::Verdict;
use super::messages::{self, Credentials, Request, Response};
use super::packstream::Value;
use super::statements::{self, StatementError};
use super::users::{self, Rows};
use super::{handshake, instance_is_up};
use crate::emulator::server::{Shared, lock};

const UNAUTHORIZED: &str = "Neo.ClientError.Security.Unauthorized";
const RATE_LIMITED: &str = "Neo.ClientError.Security.AuthenticationRateLimit";
const INVALID_REQUEST: &str = "Neo.ClientError.Request.Invalid";
const ADMINISTRATION: &str = "Neo.ClientError.Statement.UnsupportedAdministrationCommand";

/// What the server does after answering.
enum Next {
    Continue,
    Close,
}

struct Session {
    shared: Arc<Shared>,
    instance_id: String,
    /// The authenticated user; `None` until HELLO succeeds.
    user: Option<String>,
    failed: bool,
    /// Database named by BEGIN, for the statements of an explicit transaction.
    transaction_db: Option<String>,
    /// A result waiting for PULL or DISCARD.
    pending: Option<Rows>,
}

/// Serves one connection until the client leaves, fails authentication or the instance stops.
pub async fn serve<S>(mut stream: S, shared: Arc<Shared>, instance_id: String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if handshake::negotiate(&mut stream).await.is_err() {
        return;
    }
    let mut session = Session {
        shared,
        instance_id,
        user: None,
        failed: false,
        transaction_db: None,
        pending: None,
    };
    loop {
        let Ok(request) = messages::read(&mut stream).await else {
            return;
        };
        let (responses, next) = session.handle(request);
        if messages::write(&mut stream, &responses).await.is_err() {
            return;
        }
        if matches!(next, Next::Close) {
            return;
        }
    }
}

fn one(response: Response) -> (Vec<Response>, Next) {
    (vec![response], Next::Continue)
}

impl Session {
    fn handle(&mut self, request: Request) -> (Vec<Response>, Next) {
        if matches!(request, Request::Goodbye) {
            return (vec![], Next::Close);
        }
        if self.user.is_none() {
            return self.authenticate(request);
        }
        if !instance_is_up(&self.shared, &self.instance_id) {
            return (vec![], Next::Close);
        }
        if matches!(request, Request::Reset) {
            self.failed = false;
            self.pending = None;
            self.transaction_db = None;
            return one(Response::success([]));
        }
        if self.failed {
            return one(Response::Ignored);
        }
        let response = self.respond(request);
        let responses = response.unwrap_or_else(|e| {
            self.failed = true;
            self.pending = None;
            vec![Response::failure(e.code, e.message)]
        });
        (responses, Next::Continue)
    }

    fn authenticate(&mut self, request: Request) -> (Vec<Response>, Next) {
        let Request::Hello(credentials) = request else {
            let refused = Response::failure(INVALID_REQUEST, "HELLO must come first");
            return (vec![refused], Next::Close);
        };
        let refused = match self.login(&credentials) {
            Verdict::LoggedIn => None,
            Verdict::Refused => Some(Response::failure(
                UNAUTHORIZED,
                "The client is unauthorized due to authentication failure.",
            )),
            Verdict::Locked => Some(Response::failure(
                RATE_LIMITED,
                "The client has provided incorrect authentication details too many times in a \
                 row.",
            )),
        };
        if let Some(refused) = refused {
            return (vec![refused], Next::Close);
        }
        self.user = Some(credentials.principal);
        one(Response::success([
            ("server", "Neo4j/5.27.0".into()),
            ("connection_id", "bolt-emulator".into()),
        ]))
    }

    /// Checks the password, under Neo4j's auth rate limit for the user.
    fn login(&self, credentials: &Credentials) -> Verdict {
        if credentials.scheme != "basic" {
            return Verdict::Refused;
        }
        let correct = self
            .shared
            .store()
            .instance(&self.instance_id)
            .is_some_and(|i| users::login(&i.users, &credentials.principal, &credentials.password));
        let policy = self.shared.config.bolt_auth_lock;
        lock(&self.shared.bolt_logins).attempt(
            policy,
            &self.instance_id,
            &credentials.principal,
            correct,
            std::time::Instant::now(),
        )
    }

    fn respond(&mut self, request: Request) -> Result<Vec<Response>, StatementError> {
        match request {
            Request::Run { query, params, db } => {
                let db = db.or_else(|| self.transaction_db.clone());
                let rows = self.run(&query, &params.0, db.as_deref())?;
                let fields = rows.0.iter().map(|f| Value::String(f.clone())).collect();
                self.pending = Some(rows);
                Ok(vec![Response::success([
                    ("fields", Value::List(fields)),
                    ("t_first", 0.into()),
                ])])
            }
            Request::Pull => self.pull(true),
            Request::Discard => self.pull(false),
            Request::Begin { db } => {
                self.transaction_db = db;
                Ok(vec![Response::success([])])
            }
            Request::Commit => {
                self.transaction_db = None;
                Ok(vec![Response::success([("bookmark", "emulator:1".into())])])
            }
            Request::Rollback => {
                self.transaction_db = None;
                Ok(vec![Response::success([])])
            }
            other => Err(StatementError {
                code: INVALID_REQUEST,
                message: format!("the emulator does not handle {other:?} here"),
            }),
        }
    }

    fn run(
        &self,
        query: &str,
        params: &std::collections::BTreeMap<String, Value>,
        db: Option<&str>,
    ) -> Result<Rows, StatementError> {
        let statement = statements::parse(query, params)?;
        if statement.is_administration() && db != Some("system") {
            return Err(StatementError {
                code: ADMINISTRATION,
                message: "This is an administration command and it should be executed against \
                          the system database"
                    .into(),
            });
        }
        let user = self.user.clone().unwrap_or_default();
        let mut store = self.shared.store();
        let Some(instance) = store.instance_mut(&self.instance_id) else {
            return Err(StatementError {
                code: "Neo.ClientError.Database.DatabaseNotFound",
                message: "the instance no longer exists".into(),
            });
        };
        users::execute(&mut instance.users, &user, statement)
    }

    /// PULL sends the records, DISCARD drops them; both end with the summary.
    fn pull(&mut self, send: bool) -> Result<Vec<Response>, StatementError> {
        let Some((_, rows)) = self.pending.take() else {
            return Err(StatementError {
                code: INVALID_REQUEST,
                message: "there is no result to pull or discard".into(),
            });
        };
        let kind = if rows.is_empty() { "s" } else { "r" };
        let mut out: Vec<Response> = if send {
            rows.into_iter().map(Response::Record).collect()
        } else {
            vec![]
        };
        out.push(Response::success([
            ("has_more", false.into()),
            ("t_last", 0.into()),
            ("type", kind.into()),
        ]));
        Ok(out)
    }
}
