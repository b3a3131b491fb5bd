//! Expiry for preview environments (`spec.expireAfter`): the resource deletes itself that long
//! after its creation, and `deletionPolicy` then decides what happens in Aura.
//!
//! The time is `metadata.creationTimestamp` plus the duration, so it survives restarts and is the
//! same whichever operator replica looks; changing the duration moves it (to extend a preview),
//! removing it cancels it. A Warning Event `ExpiresSoon` comes once per expiry time, an hour
//! before (a quarter of the duration for shorter ones). The deletion is guarded by the resource's
//! UID, so a resource recreated under the same name meanwhile is never the one deleted.

use std::time::Duration;

use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{DeleteParams, Preconditions};

use super::{Pass, Result};
use crate::controllers::machinery::error::Error;
use crate::controllers::machinery::error::Wait;
use crate::controllers::machinery::events;
use crate::controllers::machinery::reasons::Reason;
use crate::controllers::reconciler::pass::News;
use crate::crd::instance::ExpiryStatus;

/// The longest lead of the ExpiresSoon warning.
const WARNING_LEAD: SignedDuration = SignedDuration::from_hours(1);

/// Parses `spec.expireAfter` (`72h`, `7d`, `1d12h`; a day is 24 hours).
pub fn parse(after: &str) -> Result<SignedDuration, Error> {
    parse_duration("expireAfter", after)
}

/// Parses a positive duration written in `field` (`72h`, `7d`, `1d12h`; a day is 24 hours).
pub fn parse_duration(field: &str, after: &str) -> Result<SignedDuration, Error> {
    let invalid = |why: &str| {
        Error::invalid(
            field,
            format!(
                "{after:?} {why}; write a duration such as 72h, 7d or 1d12h (units w, d, h, m, s)"
            ),
        )
    };
    let span: Span = after.parse().map_err(|_| invalid("is not a duration"))?;
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| invalid("is not a duration in weeks, days, hours, minutes and seconds"))?;
    if duration <= SignedDuration::ZERO {
        return Err(invalid("is not longer than zero"));
    }
    Ok(duration)
}

/// How long before expiry the warning comes.
fn warning_lead(after: SignedDuration) -> SignedDuration {
    (after / 4).min(WARNING_LEAD)
}

impl Pass<'_> {
    /// Records when the resource expires, warns once shortly before, and deletes the resource
    /// once the time has come (the pass then waits for its cleanup pass).
    pub(super) async fn check_expiry(&mut self) -> Result<()> {
        let Some(after) = self.obj.spec.expire_after.as_deref() else {
            self.status.expiry = None;
            return Ok(());
        };
        let after = parse(after)?;
        let Some(created) = self.obj.metadata.creation_timestamp.as_ref().map(|t| t.0) else {
            return Ok(());
        };
        let expires_at = created.checked_add(after).unwrap_or(Timestamp::MAX);
        let warn_at = expires_at
            .checked_sub(warning_lead(after))
            .unwrap_or(expires_at);
        let now = self.ctx.clock.now();
        if now >= expires_at {
            return Err(self.expire(created, expires_at).await?.into());
        }
        let warned = self
            .written
            .expiry
            .as_ref()
            .is_some_and(|e| e.warned && e.expires_at.0 == expires_at);
        if now >= warn_at && !warned {
            let note = format!(
                "this resource expires at {expires_at} (expireAfter {}) and the operator will \
                 delete it then; deletionPolicy is {:?}. Change or remove expireAfter to keep it",
                self.obj.spec.expire_after.as_deref().unwrap_or_default(),
                self.obj.spec.deletion_policy,
            );
            self.announce(News::warning("ExpiresSoon", note));
        }
        self.status.expiry = Some(ExpiryStatus {
            expires_at: Time(expires_at),
            warned: warned || now >= warn_at,
        });
        self.wake_by(if now >= warn_at { expires_at } else { warn_at });
        Ok(())
    }

    /// Deletes the expired resource (its finalizer keeps it for the cleanup) and says so.
    async fn expire(&self, created: Timestamp, expires_at: Timestamp) -> Result<Wait> {
        let message = format!(
            "expired at {expires_at} (created {created}, expireAfter {}): the operator deleted \
             this resource; deletionPolicy {:?} applies to the Aura instance",
            self.obj.spec.expire_after.as_deref().unwrap_or_default(),
            self.obj.spec.deletion_policy,
        );
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: self.obj.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.api.delete(&self.obj.name_any(), &params).await {
            Ok(_) => {}
            // Gone already, or another resource under the same name: nothing of ours to delete.
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(Error::Kube(e).into()),
        }
        events::warning(
            self.ctx,
            &*self.obj,
            Reason::Expired.as_str(),
            message.clone(),
        )
        .await;
        Ok(Wait {
            reason: Reason::Expired,
            message,
            retry: Duration::from_secs(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_weeks_days_hours_minutes_and_seconds() {
        assert_eq!(parse("72h").unwrap(), SignedDuration::from_hours(72));
        assert_eq!(parse("7d").unwrap(), SignedDuration::from_hours(168));
        assert_eq!(parse("1d12h").unwrap(), SignedDuration::from_hours(36));
        assert_eq!(parse("1w").unwrap(), SignedDuration::from_hours(168));
        assert_eq!(parse("90m").unwrap(), SignedDuration::from_mins(90));
    }

    #[test]
    fn nonsense_and_zero_name_the_field() {
        for bad in ["", "soon", "0h", "1y", "1mo"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("spec.expireAfter: "), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_warning_comes_an_hour_before_or_a_quarter_of_a_short_duration() {
        assert_eq!(warning_lead(parse("72h").unwrap()), WARNING_LEAD);
        assert_eq!(
            warning_lead(parse("2h").unwrap()),
            SignedDuration::from_mins(30)
        );
    }
}
