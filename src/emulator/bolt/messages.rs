//! Bolt messages: chunked framing on the wire, the requests a 4.x client sends and the
//! responses a server sends back.

use std::collections::BTreeMap;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::packstream::{self, DecodeError, Value};

/// A request from the client. Fields the emulator does not act on are dropped at parsing.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Carries the credentials in Bolt 4.x. Never printed: `Debug` of the map is redacted below.
    Hello(Credentials),
    Goodbye,
    Reset,
    Run {
        query: String,
        params: Params,
        db: Option<String>,
    },
    Begin {
        db: Option<String>,
    },
    Commit,
    Rollback,
    Discard,
    Pull,
    /// A request the emulator does not implement, by its tag.
    Other(u8),
}

/// RUN parameters; `Debug` names the keys only, since passwords travel as parameters.
#[derive(Clone, PartialEq, Default)]
pub struct Params(pub BTreeMap<String, Value>);

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// The `basic` scheme's principal and credentials from HELLO; `Debug` hides the password.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub scheme: String,
    pub principal: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("scheme", &self.scheme)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// A message that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("the connection closed")]
    Closed,
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad PackStream: {0}")]
    Decode(#[from] DecodeError),
    #[error("a message is not a PackStream structure")]
    NotAStructure,
}

fn db(extra: &Value) -> Option<String> {
    extra
        .as_map()
        .and_then(|m| m.get("db"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn text(map: &BTreeMap<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Request {
    /// Interprets one decoded message structure.
    pub fn parse(value: Value) -> Result<Self, MessageError> {
        let Value::Struct { tag, mut fields } = value else {
            return Err(MessageError::NotAStructure);
        };
        let mut field = |i: usize| {
            fields
                .get_mut(i)
                .map(|v| std::mem::replace(v, Value::Null))
                .unwrap_or(Value::Null)
        };
        Ok(match tag {
            0x01 => {
                let extra = field(0);
                let extra = extra.as_map().cloned().unwrap_or_default();
                Self::Hello(Credentials {
                    scheme: text(&extra, "scheme"),
                    principal: text(&extra, "principal"),
                    password: text(&extra, "credentials"),
                })
            }
            0x02 => Self::Goodbye,
            0x0F => Self::Reset,
            0x10 => {
                let query = field(0).as_str().unwrap_or_default().to_string();
                let params = Params(field(1).as_map().cloned().unwrap_or_default());
                let db = db(&field(2));
                Self::Run { query, params, db }
            }
            0x11 => Self::Begin { db: db(&field(0)) },
            0x12 => Self::Commit,
            0x13 => Self::Rollback,
            0x2F => Self::Discard,
            0x3F => Self::Pull,
            other => Self::Other(other),
        })
    }
}

/// A response to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Success(Value),
    Record(Vec<Value>),
    Ignored,
    Failure { code: String, message: String },
}

impl Response {
    pub fn success<const N: usize>(pairs: [(&str, Value); N]) -> Self {
        Self::Success(packstream::map(pairs))
    }

    pub fn failure(code: &str, message: impl Into<String>) -> Self {
        Self::Failure {
            code: code.to_string(),
            message: message.into(),
        }
    }

    fn to_value(&self) -> Value {
        let (tag, fields) = match self {
            Self::Success(meta) => (0x70, vec![meta.clone()]),
            Self::Record(values) => (0x71, vec![Value::List(values.clone())]),
            Self::Ignored => (0x7E, vec![]),
            Self::Failure { code, message } => (
                0x7F,
                vec![packstream::map([
                    ("code", code.as_str().into()),
                    ("message", message.as_str().into()),
                ])],
            ),
        };
        Value::Struct { tag, fields }
    }
}

/// Reads one chunked message (chunks until a zero-size chunk; leading no-op chunks skipped).
pub async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Request, MessageError> {
    let mut body = Vec::new();
    loop {
        let size = match stream.read_u16().await {
            Ok(size) => size as usize,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(MessageError::Closed);
            }
            Err(e) => return Err(e.into()),
        };
        if size == 0 && body.is_empty() {
            continue;
        }
        if size == 0 {
            break;
        }
        let start = body.len();
        body.resize(start + size, 0);
        stream.read_exact(&mut body[start..]).await?;
    }
    Request::parse(packstream::decode(&body)?)
}

/// Writes responses, each as chunks of at most 65535 bytes plus the end marker, then flushes.
pub async fn write<S: AsyncWrite + Unpin>(
    stream: &mut S,
    responses: &[Response],
) -> std::io::Result<()> {
    let mut out = Vec::new();
    for response in responses {
        let mut body = Vec::new();
        packstream::encode(&response.to_value(), &mut body);
        for chunk in body.chunks(u16::MAX as usize) {
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(&[0, 0]);
    }
    stream.write_all(&out).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_run_split_over_two_chunks_reads_back() {
        let run = Value::Struct {
            tag: 0x10,
            fields: vec![
                "RETURN $x".into(),
                packstream::map([("x", Value::Int(1))]),
                packstream::map([]),
            ],
        };
        let mut body = Vec::new();
        packstream::encode(&run, &mut body);
        let (a, b) = body.split_at(3);
        let mut wire = Vec::new();
        for part in [a, b] {
            wire.extend_from_slice(&(part.len() as u16).to_be_bytes());
            wire.extend_from_slice(part);
        }
        wire.extend_from_slice(&[0, 0]);
        let request = read(&mut wire.as_slice()).await.expect("reads");
        let Request::Run { query, params, db } = request else {
            panic!("not a RUN: {request:?}");
        };
        assert_eq!(query, "RETURN $x");
        assert_eq!(params.0.get("x"), Some(&Value::Int(1)));
        assert_eq!(db, None);
    }

    #[test]
    fn hello_debug_hides_the_password() {
        let hello = Request::parse(Value::Struct {
            tag: 0x01,
            fields: vec![packstream::map([
                ("scheme", "basic".into()),
                ("principal", "neo4j".into()),
                ("credentials", "hunter2-secret".into()),
            ])],
        })
        .expect("parses");
        let printed = format!("{hello:?}");
        assert!(printed.contains("neo4j"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
