//! Request bodies in the Kubernetes protobuf encoding, as kubectl's typed clients send them
//! (`kubectl create namespace|secret|configmap|serviceaccount` in 1.32), turned into the JSON the
//! store keeps. Answers stay JSON: kubectl asks for `application/vnd.kubernetes.protobuf,
//! application/json` and decodes whichever the Content-Type of the answer names.
//!
//! On the wire such a body is the 4 bytes `k8s\0` followed by a `runtime.Unknown` message, whose
//! `raw` field holds the object's own message. Field numbers are those of the Kubernetes
//! `generated.proto` files (core/v1, meta/v1, runtime). Only the types below are understood, and
//! each only with the fields listed for it: a type this module does not know, or a field it does
//! not know that carries a value, gets 415 Unsupported Media Type rather than an object with
//! something silently missing. Empty fields (Go's zero values, which the typed clients send for
//! every unset string) are skipped, as Go's `omitempty` would leave them out of JSON.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::patch;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// The object in a create or update body, as JSON: decoded from protobuf when the Content-Type
/// says so, parsed as JSON otherwise.
pub fn request_object(body: &[u8], content_type: Option<&str>) -> ApiResult<Value> {
    if is_protobuf(content_type) {
        decode(body)
    } else {
        patch::parse_json(body)
    }
}

/// Whether the Content-Type (parameters aside) is Kubernetes protobuf.
fn is_protobuf(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// A protobuf body (magic and `runtime.Unknown` envelope) as the JSON object it encodes.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let envelope = body.strip_prefix(MAGIC).ok_or_else(|| {
        ApiError::bad_request(
            "error decoding request body: protobuf body does not start with the k8s magic prefix",
        )
    })?;
    let unknown = Unknown::parse(envelope)?;
    // `raw` in another encoding (never sent by kubectl: an empty contentType means protobuf).
    if !unknown.content_encoding.is_empty()
        || !(unknown.content_type.is_empty() || is_protobuf(Some(&unknown.content_type)))
    {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "protobuf envelope with contentEncoding {:?} and contentType {:?} is not \
                 supported here",
                unknown.content_encoding, unknown.content_type
            ),
        ));
    }
    let Some(schema) = TYPES
        .iter()
        .find(|t| t.api_version == unknown.api_version && t.kind == unknown.kind)
    else {
        return Err(unsupported_type(&unknown.api_version, &unknown.kind, None));
    };
    let mut object = Map::new();
    object.insert("apiVersion".into(), json!(unknown.api_version));
    object.insert("kind".into(), json!(unknown.kind));
    let fields = decode_message(schema.message, unknown.raw)
        .map_err(|err| err.into_api_error(&unknown.api_version, &unknown.kind))?;
    object.extend(fields);
    Ok(Value::Object(object))
}

/// 415, naming the type (and the field, when it was one field that was not understood) and
/// the way around it: the same object as YAML or JSON, which kubectl sends as JSON.
fn unsupported_type(api_version: &str, kind: &str, field: Option<&str>) -> ApiError {
    let what = match field {
        Some(field) => format!("field {field} of {kind} ({api_version})"),
        None => format!("{kind} ({api_version})"),
    };
    let known = TYPES.iter().map(|t| t.kind).collect::<Vec<_>>().join(", ");
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "this in-memory API server does not decode {what} from {MEDIA_TYPE} (it decodes {known}); \
             write the object as YAML and create it with `kubectl apply -f FILE`, which sends JSON \
             (e.g. `kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`)"
        ),
    )
}

/// A top-level type this module decodes.
struct TopLevel {
    api_version: &'static str,
    kind: &'static str,
    message: &'static Message,
}

const TYPES: &[TopLevel] = &[
    TopLevel {
        api_version: "v1",
        kind: "Namespace",
        message: &NAMESPACE,
    },
    TopLevel {
        api_version: "v1",
        kind: "Secret",
        message: &SECRET,
    },
    TopLevel {
        api_version: "v1",
        kind: "ConfigMap",
        message: &CONFIG_MAP,
    },
    TopLevel {
        api_version: "v1",
        kind: "ServiceAccount",
        message: &SERVICE_ACCOUNT,
    },
];

/// A message: its name (for errors) and the fields understood.
struct Message {
    name: &'static str,
    fields: &'static [Field],
}

struct Field {
    number: u32,
    json: &'static str,
    kind: FieldKind,
}

enum FieldKind {
    /// A string; empty ones are left out.
    Str,
    /// A list of strings.
    Strings,
    /// A `*bool`: present means set, `false` included.
    Bool,
    /// An integer; zero is left out.
    Int,
    /// A meta/v1 Time (seconds, nanos), as RFC 3339 in JSON; the empty one is left out.
    Time,
    /// A nested message; an empty one is left out.
    Message(&'static Message),
    /// A list of messages.
    Messages(&'static Message),
    /// `map<string, string>`.
    StringMap,
    /// `map<string, bytes>`, values as base64.
    BytesMap,
    /// Known but not kept (server-set fields such as selfLink and managedFields).
    Ignored,
}

const fn field(number: u32, json: &'static str, kind: FieldKind) -> Field {
    Field { number, json, kind }
}

// meta/v1 ObjectMeta. uid, resourceVersion and generation are kept so that an update carries
// the precondition it was sent with; the store decides what to do with the server-owned ones.
static OBJECT_META: Message = Message {
    name: "ObjectMeta",
    fields: &[
        field(1, "name", FieldKind::Str),
        field(2, "generateName", FieldKind::Str),
        field(3, "namespace", FieldKind::Str),
        field(4, "selfLink", FieldKind::Ignored),
        field(5, "uid", FieldKind::Str),
        field(6, "resourceVersion", FieldKind::Str),
        field(7, "generation", FieldKind::Int),
        field(8, "creationTimestamp", FieldKind::Time),
        field(9, "deletionTimestamp", FieldKind::Time),
        field(10, "deletionGracePeriodSeconds", FieldKind::Int),
        field(11, "labels", FieldKind::StringMap),
        field(12, "annotations", FieldKind::StringMap),
        field(13, "ownerReferences", FieldKind::Messages(&OWNER_REFERENCE)),
        field(14, "finalizers", FieldKind::Strings),
        field(17, "managedFields", FieldKind::Ignored),
    ],
};

static OWNER_REFERENCE: Message = Message {
    name: "OwnerReference",
    fields: &[
        field(1, "kind", FieldKind::Str),
        field(3, "name", FieldKind::Str),
        field(4, "uid", FieldKind::Str),
        field(5, "apiVersion", FieldKind::Str),
        field(6, "controller", FieldKind::Bool),
        field(7, "blockOwnerDeletion", FieldKind::Bool),
    ],
};

static NAMESPACE: Message = Message {
    name: "Namespace",
    fields: &[
        field(1, "metadata", FieldKind::Message(&OBJECT_META)),
        field(2, "spec", FieldKind::Message(&NAMESPACE_SPEC)),
        field(3, "status", FieldKind::Message(&NAMESPACE_STATUS)),
    ],
};

static NAMESPACE_SPEC: Message = Message {
    name: "NamespaceSpec",
    fields: &[field(1, "finalizers", FieldKind::Strings)],
};

// Conditions (field 2) are the namespace controller's; a client does not send them.
static NAMESPACE_STATUS: Message = Message {
    name: "NamespaceStatus",
    fields: &[field(1, "phase", FieldKind::Str)],
};

static SECRET: Message = Message {
    name: "Secret",
    fields: &[
        field(1, "metadata", FieldKind::Message(&OBJECT_META)),
        field(2, "data", FieldKind::BytesMap),
        field(3, "type", FieldKind::Str),
        field(4, "stringData", FieldKind::StringMap),
        field(5, "immutable", FieldKind::Bool),
    ],
};

static CONFIG_MAP: Message = Message {
    name: "ConfigMap",
    fields: &[
        field(1, "metadata", FieldKind::Message(&OBJECT_META)),
        field(2, "data", FieldKind::StringMap),
        field(3, "binaryData", FieldKind::BytesMap),
        field(4, "immutable", FieldKind::Bool),
    ],
};

static SERVICE_ACCOUNT: Message = Message {
    name: "ServiceAccount",
    fields: &[
        field(1, "metadata", FieldKind::Message(&OBJECT_META)),
        field(2, "secrets", FieldKind::Messages(&OBJECT_REFERENCE)),
        field(
            3,
            "imagePullSecrets",
            FieldKind::Messages(&LOCAL_OBJECT_REFERENCE),
        ),
        field(4, "automountServiceAccountToken", FieldKind::Bool),
    ],
};

static OBJECT_REFERENCE: Message = Message {
    name: "ObjectReference",
    fields: &[
        field(1, "kind", FieldKind::Str),
        field(2, "namespace", FieldKind::Str),
        field(3, "name", FieldKind::Str),
        field(4, "uid", FieldKind::Str),
        field(5, "apiVersion", FieldKind::Str),
        field(6, "resourceVersion", FieldKind::Str),
        field(7, "fieldPath", FieldKind::Str),
    ],
};

static LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "LocalObjectReference",
    fields: &[field(1, "name", FieldKind::Str)],
};

/// Why a message could not be decoded: malformed bytes (400), or a value this module does not
/// understand (415).
#[derive(Debug)]
enum DecodeError {
    Malformed(String),
    Unsupported(String),
}

impl DecodeError {
    fn into_api_error(self, api_version: &str, kind: &str) -> ApiError {
        match self {
            Self::Malformed(reason) => ApiError::bad_request(format!(
                "error decoding request body: {kind} ({api_version}) in {MEDIA_TYPE}: {reason}"
            )),
            Self::Unsupported(field) => unsupported_type(api_version, kind, Some(&field)),
        }
    }
}

type DecodeResult<T> = Result<T, DecodeError>;

fn malformed(reason: impl Into<String>) -> DecodeError {
    DecodeError::Malformed(reason.into())
}

/// One field as read off the wire.
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Fixed32,
    Bytes(&'a [u8]),
}

impl Wire<'_> {
    /// Whether the value is the zero of its type (what Go's typed clients send for unset
    /// fields).
    fn is_empty(&self) -> bool {
        match self {
            Wire::Varint(value) => *value == 0,
            Wire::Bytes(bytes) => bytes.is_empty(),
            Wire::Fixed64 | Wire::Fixed32 => false,
        }
    }
}

/// Reads `(field number, value)` pairs from a message's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn varint(&mut self) -> DecodeResult<u64> {
        let mut value = 0u64;
        for (i, byte) in self.bytes.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return Ok(value);
            }
        }
        Err(malformed("truncated or overlong varint"))
    }

    fn take(&mut self, len: usize) -> DecodeResult<&'a [u8]> {
        if len > self.bytes.len() {
            return Err(malformed(format!(
                "a field claims {len} bytes where {} are left",
                self.bytes.len()
            )));
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    fn next_field(&mut self) -> DecodeResult<Option<(u32, Wire<'a>)>> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|n| *n != 0)
            .ok_or_else(|| malformed(format!("invalid field number in key {key}")))?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| malformed("length does not fit in memory"))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            other => return Err(malformed(format!("unsupported wire type {other}"))),
        };
        Ok(Some((number, wire)))
    }
}

/// The `runtime.Unknown` envelope: typeMeta {apiVersion = 1, kind = 2}, raw = 2,
/// contentEncoding = 3, contentType = 4.
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Unknown<'a> {
    fn parse(bytes: &'a [u8]) -> ApiResult<Self> {
        let bad = |err: DecodeError| {
            let (DecodeError::Malformed(reason) | DecodeError::Unsupported(reason)) = err;
            ApiError::bad_request(format!(
                "error decoding request body: protobuf envelope: {reason}"
            ))
        };
        let mut unknown = Unknown {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut reader = Reader::new(bytes);
        while let Some((number, wire)) = reader.next_field().map_err(bad)? {
            match (number, wire) {
                (1, Wire::Bytes(type_meta)) => {
                    let mut inner = Reader::new(type_meta);
                    while let Some((number, wire)) = inner.next_field().map_err(bad)? {
                        match (number, wire) {
                            (1, Wire::Bytes(v)) => unknown.api_version = utf8(v).map_err(bad)?,
                            (2, Wire::Bytes(v)) => unknown.kind = utf8(v).map_err(bad)?,
                            _ => {}
                        }
                    }
                }
                (2, Wire::Bytes(raw)) => unknown.raw = raw,
                (3, Wire::Bytes(v)) => unknown.content_encoding = utf8(v).map_err(bad)?,
                (4, Wire::Bytes(v)) => unknown.content_type = utf8(v).map_err(bad)?,
                _ => {}
            }
        }
        if unknown.kind.is_empty() {
            return Err(ApiError::bad_request(
                "error decoding request body: protobuf envelope names no kind",
            ));
        }
        Ok(unknown)
    }
}

fn utf8(bytes: &[u8]) -> DecodeResult<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed("a string field is not UTF-8"))
}

fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn expect_bytes<'a>(message: &Message, field: &Field, wire: Wire<'a>) -> DecodeResult<&'a [u8]> {
    match wire {
        Wire::Bytes(bytes) => Ok(bytes),
        _ => Err(malformed(format!(
            "{}.{} is not length-delimited",
            message.name, field.json
        ))),
    }
}

fn expect_varint(message: &Message, field: &Field, wire: Wire<'_>) -> DecodeResult<u64> {
    match wire {
        Wire::Varint(value) => Ok(value),
        _ => Err(malformed(format!(
            "{}.{} is not a varint",
            message.name, field.json
        ))),
    }
}

/// A map entry message: key = 1, value = 2.
fn map_entry(bytes: &[u8]) -> DecodeResult<(String, &[u8])> {
    let mut reader = Reader::new(bytes);
    let (mut key, mut value) = (String::new(), &[][..]);
    while let Some((number, wire)) = reader.next_field()? {
        match (number, wire) {
            (1, Wire::Bytes(k)) => key = utf8(k)?,
            (2, Wire::Bytes(v)) => value = v,
            (n, _) => return Err(malformed(format!("map entry with field {n}"))),
        }
    }
    Ok((key, value))
}

/// The JSON fields of one message. Repeated fields and map entries accumulate; a singular
/// field seen twice keeps the last value, as protobuf says.
fn decode_message(message: &Message, bytes: &[u8]) -> DecodeResult<Map<String, Value>> {
    let mut out = Map::new();
    let mut reader = Reader::new(bytes);
    while let Some((number, wire)) = reader.next_field()? {
        let Some(field) = message.fields.iter().find(|f| f.number == number) else {
            if wire.is_empty() {
                continue;
            }
            return Err(DecodeError::Unsupported(format!(
                "{} #{number}",
                message.name
            )));
        };
        let name = field.json.to_string();
        match &field.kind {
            FieldKind::Ignored => {}
            FieldKind::Str => {
                let text = utf8(expect_bytes(message, field, wire)?)?;
                if text.is_empty() {
                    out.remove(&name);
                } else {
                    out.insert(name, Value::String(text));
                }
            }
            FieldKind::Strings => {
                let text = utf8(expect_bytes(message, field, wire)?)?;
                push(&mut out, name, Value::String(text));
            }
            FieldKind::Bool => {
                let value = expect_varint(message, field, wire)?;
                out.insert(name, Value::Bool(value != 0));
            }
            FieldKind::Int => {
                // int32 and int64 alike: negative values are sign-extended to 64 bits.
                let value = expect_varint(message, field, wire)?.cast_signed();
                if value == 0 {
                    out.remove(&name);
                } else {
                    out.insert(name, json!(value));
                }
            }
            FieldKind::Time => match time(expect_bytes(message, field, wire)?)? {
                Some(stamp) => {
                    out.insert(name, Value::String(stamp));
                }
                None => {
                    out.remove(&name);
                }
            },
            FieldKind::Message(inner) => {
                let fields = decode_message(inner, expect_bytes(message, field, wire)?)?;
                if fields.is_empty() {
                    out.remove(&name);
                } else {
                    out.insert(name, Value::Object(fields));
                }
            }
            FieldKind::Messages(inner) => {
                let fields = decode_message(inner, expect_bytes(message, field, wire)?)?;
                push(&mut out, name, Value::Object(fields));
            }
            FieldKind::StringMap | FieldKind::BytesMap => {
                let (key, value) = map_entry(expect_bytes(message, field, wire)?)?;
                let value = if matches!(field.kind, FieldKind::BytesMap) {
                    base64(value)
                } else {
                    Value::String(utf8(value)?)
                };
                let entry = out.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = entry {
                    map.insert(key, value);
                }
            }
        }
    }
    Ok(out)
}

fn push(out: &mut Map<String, Value>, name: String, value: Value) {
    let entry = out.entry(name).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = entry {
        items.push(value);
    }
}

/// A meta/v1 Time (seconds = 1, nanos = 2) as Go writes it in JSON (RFC 3339, whole seconds,
/// UTC); `None` for the zero time, which Go leaves out.
fn time(bytes: &[u8]) -> DecodeResult<Option<String>> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    let mut reader = Reader::new(bytes);
    while let Some((number, wire)) = reader.next_field()? {
        match (number, wire) {
            (1, Wire::Varint(v)) => seconds = v.cast_signed(),
            (2, Wire::Varint(v)) => nanos = i32::try_from(v.cast_signed()).unwrap_or_default(),
            (n, _) => return Err(malformed(format!("Time with field {n}"))),
        }
    }
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    let stamp = jiff::Timestamp::from_second(seconds)
        .map_err(|err| malformed(format!("Time out of range: {err}")))?;
    Ok(Some(stamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal encoder for building test bodies.
    fn varint(mut value: u64, out: &mut Vec<u8>) {
        while value >= 0x80 {
            out.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    fn bytes_field(number: u32, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(number) << 3 | 2, &mut out);
        varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
        out
    }

    fn varint_field(number: u32, value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(number) << 3, &mut out);
        varint(value, &mut out);
        out
    }

    fn entry(number: u32, key: &str, value: &[u8]) -> Vec<u8> {
        bytes_field(
            number,
            &[bytes_field(1, key.as_bytes()), bytes_field(2, value)].concat(),
        )
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [
            bytes_field(1, api_version.as_bytes()),
            bytes_field(2, kind.as_bytes()),
        ]
        .concat();
        [
            MAGIC.to_vec(),
            bytes_field(1, &type_meta),
            bytes_field(2, raw),
            bytes_field(3, b""),
            bytes_field(4, b""),
        ]
        .concat()
    }

    /// ObjectMeta with the empty fields kubectl sends for everything it does not set.
    fn meta(name: &str, extra: &[Vec<u8>]) -> Vec<u8> {
        let mut fields = vec![
            bytes_field(1, name.as_bytes()),
            bytes_field(2, b""),
            bytes_field(3, b""),
            bytes_field(4, b""),
            bytes_field(5, b""),
            bytes_field(6, b""),
            varint_field(7, 0),
            bytes_field(8, b""),
        ];
        fields.extend_from_slice(extra);
        bytes_field(1, &fields.concat())
    }

    fn decoded(body: &[u8]) -> Value {
        request_object(body, Some(MEDIA_TYPE)).unwrap()
    }

    /// What kubectl 1.32 sent for `kubectl create secret generic s --from-literal=k=v`.
    const KUBECTL_SECRET: &[u8] = &[
        0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0c, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x06, 0x53, 0x65, 0x63,
        0x72, 0x65, 0x74, 0x12, 0x1d, 0x0a, 0x11, 0x0a, 0x01, 0x73, 0x12, 0x00, 0x1a, 0x00, 0x22,
        0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12, 0x06, 0x0a, 0x01, 0x6b, 0x12,
        0x01, 0x76, 0x1a, 0x00, 0x1a, 0x00, 0x22, 0x00,
    ];

    /// What kubectl 1.32 sent for `kubectl create namespace x`.
    const KUBECTL_NAMESPACE: &[u8] = &[
        0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, 0x4e, 0x61, 0x6d,
        0x65, 0x73, 0x70, 0x61, 0x63, 0x65, 0x12, 0x19, 0x0a, 0x11, 0x0a, 0x01, 0x78, 0x12, 0x00,
        0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12, 0x00, 0x1a,
        0x02, 0x0a, 0x00, 0x1a, 0x00, 0x22, 0x00,
    ];

    #[test]
    fn kubectl_create_secret_body() {
        assert_eq!(
            decoded(KUBECTL_SECRET),
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s"},
                "data": {"k": "dg=="},
            })
        );
    }

    #[test]
    fn kubectl_create_namespace_body() {
        assert_eq!(
            decoded(KUBECTL_NAMESPACE),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
        );
    }

    #[test]
    fn secret_with_binary_data_string_data_type_and_immutable() {
        let raw = [
            meta("creds", &[entry(11, "app", b"aura")]),
            entry(2, "key", &[0x00, 0xff, 0x10, 0x80]),
            entry(2, "clientId", b"abc"),
            bytes_field(3, b"kubernetes.io/tls"),
            entry(4, "note", b"plain text"),
            varint_field(5, 1),
        ]
        .concat();
        assert_eq!(
            decoded(&envelope("v1", "Secret", &raw)),
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds", "labels": {"app": "aura"}},
                "data": {"key": "AP8QgA==", "clientId": "YWJj"},
                "type": "kubernetes.io/tls",
                "stringData": {"note": "plain text"},
                "immutable": true,
            })
        );
    }

    #[test]
    fn namespace_with_labels_annotations_and_finalizers() {
        let raw = [
            meta(
                "team-a",
                &[
                    entry(11, "env", b"dev"),
                    entry(11, "team", b"a"),
                    entry(12, "note", b"hello"),
                    bytes_field(14, b"example.com/hold"),
                ],
            ),
            bytes_field(2, &bytes_field(1, b"kubernetes")),
            bytes_field(3, &bytes_field(1, b"")),
        ]
        .concat();
        assert_eq!(
            decoded(&envelope("v1", "Namespace", &raw)),
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": "team-a",
                    "labels": {"env": "dev", "team": "a"},
                    "annotations": {"note": "hello"},
                    "finalizers": ["example.com/hold"],
                },
                "spec": {"finalizers": ["kubernetes"]},
            })
        );
    }

    #[test]
    fn config_map_with_data_binary_data_and_immutable_false() {
        let raw = [
            meta("settings", &[]),
            entry(2, "a", b"1"),
            entry(2, "b", b"two"),
            entry(3, "blob", &[0xde, 0xad, 0xbe, 0xef]),
            varint_field(4, 0),
        ]
        .concat();
        assert_eq!(
            decoded(&envelope("v1", "ConfigMap", &raw)),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings"},
                "data": {"a": "1", "b": "two"},
                "binaryData": {"blob": "3q2+7w=="},
                "immutable": false,
            })
        );
    }

    #[test]
    fn service_account_with_owner_references_and_generate_name() {
        let owner = [
            bytes_field(1, b"AuraInstance"),
            bytes_field(3, b"demo"),
            bytes_field(4, b"1234"),
            bytes_field(5, b"aura.neo4j.io/v1alpha1"),
            varint_field(6, 1),
            varint_field(7, 0),
        ]
        .concat();
        let raw = [
            bytes_field(
                1,
                &[
                    bytes_field(2, b"runner-"),
                    bytes_field(3, b"facts"),
                    bytes_field(6, b"42"),
                    bytes_field(13, &owner),
                    bytes_field(
                        8,
                        &[varint_field(1, 1_700_000_000), varint_field(2, 5)].concat(),
                    ),
                ]
                .concat(),
            ),
            bytes_field(
                2,
                &[bytes_field(1, b"Secret"), bytes_field(3, b"token")].concat(),
            ),
            bytes_field(3, &bytes_field(1, b"registry")),
            varint_field(4, 0),
        ]
        .concat();
        assert_eq!(
            decoded(&envelope("v1", "ServiceAccount", &raw)),
            json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "generateName": "runner-",
                    "namespace": "facts",
                    "resourceVersion": "42",
                    "creationTimestamp": "2023-11-14T22:13:20Z",
                    "ownerReferences": [{
                        "kind": "AuraInstance",
                        "name": "demo",
                        "uid": "1234",
                        "apiVersion": "aura.neo4j.io/v1alpha1",
                        "controller": true,
                        "blockOwnerDeletion": false,
                    }],
                },
                "secrets": [{"kind": "Secret", "name": "token"}],
                "imagePullSecrets": [{"name": "registry"}],
                "automountServiceAccountToken": false,
            })
        );
    }

    #[test]
    fn a_type_not_decoded_is_415_naming_it_and_apply() {
        let err = request_object(
            &envelope("apps/v1", "Deployment", &meta("web", &[])),
            Some(MEDIA_TYPE),
        )
        .unwrap_err();
        assert_eq!(err.code, 415);
        assert_eq!(err.reason, "UnsupportedMediaType");
        assert!(
            err.message.contains("Deployment (apps/v1)"),
            "{}",
            err.message
        );
        assert!(err.message.contains("kubectl apply -f"), "{}", err.message);
    }

    #[test]
    fn a_field_not_understood_with_a_value_is_415_not_dropped() {
        // NamespaceStatus.conditions (field 2) is not decoded.
        let raw = [
            meta("x", &[]),
            bytes_field(3, &bytes_field(2, &bytes_field(1, b"Ready"))),
        ]
        .concat();
        let err = decode(&envelope("v1", "Namespace", &raw)).unwrap_err();
        assert_eq!(err.code, 415, "{}", err.message);
        assert!(
            err.message.contains("NamespaceStatus #2"),
            "{}",
            err.message
        );
        // The same field left empty is what a typed client sends when unset: skipped.
        let raw = [meta("x", &[]), bytes_field(3, &bytes_field(2, b""))].concat();
        assert_eq!(
            decode(&envelope("v1", "Namespace", &raw)).unwrap()["metadata"]["name"],
            "x"
        );
    }

    #[test]
    fn raw_in_another_encoding_is_415() {
        let mut body = envelope("v1", "Secret", b"{}");
        body.truncate(body.len() - 2); // drop the empty contentType
        body.extend(bytes_field(4, b"application/json"));
        assert_eq!(decode(&body).unwrap_err().code, 415);
        let mut body = envelope("v1", "Secret", b"");
        body.extend(bytes_field(3, b"gzip"));
        assert_eq!(decode(&body).unwrap_err().code, 415);
    }

    #[test]
    fn malformed_bodies_are_400() {
        let no_magic = &KUBECTL_SECRET[4..];
        assert_eq!(decode(no_magic).unwrap_err().code, 400);
        let truncated = &KUBECTL_SECRET[..KUBECTL_SECRET.len() - 12];
        assert_eq!(decode(truncated).unwrap_err().code, 400);
        let mut wrong_wire = envelope("v1", "Secret", &varint_field(2, 7));
        assert_eq!(decode(&wrong_wire).unwrap_err().code, 400);
        wrong_wire.truncate(MAGIC.len());
        assert_eq!(decode(&wrong_wire).unwrap_err().code, 400);
    }

    #[test]
    fn content_type_picks_the_decoder() {
        let json_body = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}"#;
        assert_eq!(
            request_object(json_body, Some("application/json")).unwrap()["metadata"]["name"],
            "s"
        );
        assert_eq!(request_object(json_body, None).unwrap()["kind"], "Secret");
        let with_parameters = "Application/VND.Kubernetes.Protobuf; charset=binary";
        assert_eq!(
            request_object(KUBECTL_SECRET, Some(with_parameters)).unwrap()["data"]["k"],
            "dg=="
        );
        // A protobuf body labelled JSON is still a JSON parse error (400), as before.
        assert_eq!(
            request_object(KUBECTL_SECRET, Some("application/json"))
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn negative_and_multi_byte_varints() {
        let mut reader = Reader::new(&[0xac, 0x02]);
        assert_eq!(reader.varint().unwrap(), 300);
        let mut minus_one = Vec::new();
        varint(u64::MAX, &mut minus_one);
        assert_eq!(minus_one.len(), 10);
        let raw = [
            meta("x", &[[vec![0x50], minus_one].concat()]), // deletionGracePeriodSeconds = -1
        ]
        .concat();
        assert_eq!(
            decode(&envelope("v1", "ConfigMap", &raw)).unwrap()["metadata"]["deletionGracePeriodSeconds"],
            -1
        );
        assert!(Reader::new(&[0x80; 11]).varint().is_err());
    }
}
