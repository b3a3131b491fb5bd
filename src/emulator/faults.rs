//! Fault injection: rules that make the next N matching requests misbehave.
//!
//! A rule matches an optional method and a path pattern made of segments, where `*` matches exactly
//! one segment (`/v1/instances/*` matches `/v1/instances/abcd1234` but not `/v1/instances`). Rules
//! are checked in the order they were added; the first live match fires and uses up one of its
//! `times`. Rules can be added from Rust ([`Fault`]) or over HTTP (`POST /_emulator/faults`, body
//! [`FaultSpec`]).

use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};

/// What a fired fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer `status` with an `{"errors":[...]}` body without running the handler.
    Respond,
    /// Answer `status` with the gateway form `{"error":"..."}` without running the handler.
    Gateway,
    /// Wait, then handle the request normally.
    Delay(Duration),
    /// Close the connection without acting and without answering.
    DropBefore,
    /// Run the handler (the state changes), then close the connection without answering.
    DropAfter,
    /// Answer 200 with a truncated JSON body.
    MalformedBody,
    /// Answer 200 with a valid but very large JSON body.
    OversizedBody,
    /// Run the handler, then answer 200 with its `data` (or `null`) beside an `errors` array, as
    /// Aura's single-resource GETs sometimes do (§10).
    EmbeddedErrors,
}

/// One fault rule. Build it with [`Fault::on`] and the chained setters.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<Method>,
    pub path: String,
    pub times: u32,
    pub action: FaultAction,
    pub status: u16,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub retry_after: Option<u64>,
}

impl Fault {
    /// A rule for `method` (any when `None`) and `path`; by default it answers 500 once.
    pub fn on(method: Option<Method>, path: &str) -> Self {
        Self {
            method,
            path: path.to_string(),
            times: 1,
            action: FaultAction::Respond,
            status: 500,
            reason: None,
            message: None,
            retry_after: None,
        }
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    pub fn respond(mut self, status: u16) -> Self {
        self.action = FaultAction::Respond;
        self.status = status;
        self
    }

    pub fn gateway_error(mut self, status: u16) -> Self {
        self.action = FaultAction::Gateway;
        self.status = status;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.action = FaultAction::Delay(delay);
        self
    }

    pub fn drop_before(mut self) -> Self {
        self.action = FaultAction::DropBefore;
        self
    }

    pub fn drop_after(mut self) -> Self {
        self.action = FaultAction::DropAfter;
        self
    }

    pub fn malformed_body(mut self) -> Self {
        self.action = FaultAction::MalformedBody;
        self
    }

    pub fn oversized_body(mut self) -> Self {
        self.action = FaultAction::OversizedBody;
        self
    }

    pub fn embedded_errors(mut self) -> Self {
        self.action = FaultAction::EmbeddedErrors;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.to_string());
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let want: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let have: Vec<&str> = path.trim_matches('/').split('/').collect();
        want.len() == have.len() && want.iter().zip(&have).all(|(w, h)| *w == "*" || w == h)
    }
}

/// Wire form of a fault for `POST /_emulator/faults`.
///
/// `action` is one of `respond`, `gateway_error`, `delay`, `drop_before`, `drop_after`,
/// `malformed_body`, `oversized_body`, `embedded_errors`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(default)]
    pub method: Option<String>,
    pub path: String,
    #[serde(default = "one")]
    pub times: u32,
    pub action: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub retry_after: Option<u64>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

impl TryFrom<FaultSpec> for Fault {
    type Error = String;

    fn try_from(spec: FaultSpec) -> Result<Self, String> {
        let method = match spec.method {
            Some(m) => Some(
                Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("invalid method {m}"))?,
            ),
            None => None,
        };
        let base = Fault::on(method, &spec.path).times(spec.times);
        let status = spec.status.unwrap_or(500);
        let mut fault = match spec.action.as_str() {
            "respond" => base.respond(status),
            "gateway_error" => base.gateway_error(spec.status.unwrap_or(502)),
            "delay" => base.delay(Duration::from_millis(spec.delay_ms.unwrap_or(1000))),
            "drop_before" => base.drop_before(),
            "drop_after" => base.drop_after(),
            "malformed_body" => base.malformed_body(),
            "oversized_body" => base.oversized_body(),
            "embedded_errors" => base.embedded_errors(),
            other => return Err(format!("unknown fault action {other}")),
        };
        fault.reason = spec.reason;
        fault.message = spec.message;
        fault.retry_after = spec.retry_after;
        Ok(fault)
    }
}

/// The live rules.
#[derive(Debug, Default)]
pub struct FaultSet {
    rules: Vec<Fault>,
}

impl FaultSet {
    pub fn add(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.rules.push(fault);
        }
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Takes one use of the first rule matching this request, if any.
    pub fn take(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let index = self.rules.iter().position(|f| f.matches(method, path))?;
        let rule = &mut self.rules[index];
        rule.times -= 1;
        let fired = rule.clone();
        if rule.times == 0 {
            self.rules.remove(index);
        }
        Some(fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_exactly_one_segment() {
        let fault = Fault::on(None, "/v1/instances/*");
        assert!(fault.matches(&Method::GET, "/v1/instances/abcd1234"));
        assert!(!fault.matches(&Method::GET, "/v1/instances"));
        assert!(!fault.matches(&Method::GET, "/v1/instances/abcd1234/pause"));
    }

    #[test]
    fn a_rule_is_used_up_after_its_times() {
        let mut set = FaultSet::default();
        set.add(Fault::on(Some(Method::POST), "/v1/instances").times(2));
        assert!(set.take(&Method::GET, "/v1/instances").is_none());
        assert!(set.take(&Method::POST, "/v1/instances").is_some());
        assert!(set.take(&Method::POST, "/v1/instances").is_some());
        assert!(set.take(&Method::POST, "/v1/instances").is_none());
    }
}
