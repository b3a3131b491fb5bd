//! Single-resource GETs that answer 2xx with an `errors` array beside `data`.
//!
//! Aura's single-resource GETs can answer `200 {"data": ..., "errors": [...]}` (aura-api.md §10).
//! The client follows the Aura CLI: a non-empty `errors` array there means the object was not
//! found, whatever `data` holds. The call fails with [`Error::EmbeddedErrors`], whose
//! [`Error::is_not_found`] is true and whose message and reason come from the errors. Only an
//! array counts; an empty one is ignored. Lists are not read this way, and neither are GDS
//! sessions, whose `errors` describe problems of a session that exists (§4.7).

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{Call, Client};
use super::error::{Error, Result};
use super::redact::parse_error_body;

/// Sends a single-resource GET and opens its envelope; errors beside the data mean not found.
pub(crate) async fn get_one<T: DeserializeOwned>(client: &Client, call: Call) -> Result<T> {
    let route = call.route;
    let reply = client.send(call).await?;
    if let Some(err) = embedded_errors(route, reply.status, &reply.body, reply.request_id.clone()) {
        return Err(err);
    }
    reply.data()
}

/// The not-found error a 2xx `body` with a non-empty `errors` array stands for, if it has one.
fn embedded_errors(
    route: &'static str,
    status: StatusCode,
    body: &[u8],
    request_id: Option<String>,
) -> Option<Error> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let has_errors = value
        .get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errors| !errors.is_empty());
    if !has_errors {
        return None;
    }
    let parsed = parse_error_body(body);
    Some(Error::EmbeddedErrors {
        method: Method::GET,
        route,
        status,
        reason: parsed.reason,
        message: parsed
            .message
            .unwrap_or_else(|| "errors without a message".to_owned()),
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "/instances/{instanceId}";

    fn check(body: &str) -> Option<Error> {
        embedded_errors(ROUTE, StatusCode::OK, body.as_bytes(), Some("req-1".into()))
    }

    #[test]
    fn errors_beside_data_are_not_found_with_their_message() {
        let err = check(
            r#"{"data":{"id":"c9f0d13a"},"errors":[{"message":"Database c9f0d13a not found","reason":"db-not-found"}]}"#,
        )
        .expect("an error");
        assert!(err.is_not_found());
        assert_eq!(err.reason(), Some("db-not-found"));
        assert_eq!(err.status(), Some(StatusCode::OK));
        assert_eq!(err.request_id(), Some("req-1"));
        assert!(!err.request_may_have_acted());
        assert!(
            err.to_string().contains("Database c9f0d13a not found"),
            "{err}"
        );
    }

    #[test]
    fn no_errors_or_an_empty_array_leave_the_answer_alone() {
        assert!(check(r#"{"data":{"id":"c9f0d13a"}}"#).is_none());
        assert!(check(r#"{"data":{"id":"c9f0d13a"},"errors":[]}"#).is_none());
        assert!(check(r#"{"data":{"id":"c9f0d13a"},"errors":null}"#).is_none());
    }
}
