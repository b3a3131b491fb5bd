//! Pause and resume on a schedule (`spec.schedule`): which of the two the schedule wants at a
//! given time, and when it next changes its mind. Pure: the pass reads the clock and acts.
//!
//! The schedule wants the instance paused when its last pause time is later than its last
//! resume time, both in the schedule's time zone, so the answer never depends on when the
//! operator happened to look: a pass after a restart, or hours late, gets it right. `spec.paused:
//! true` always wins; the schedule only decides while it is false.
//!
//! Cron expressions are parsed by croner (five fields, POSIX/Vixie semantics with `L`, `#` and
//! `W`, and correct across daylight-saving changes through jiff's time zones); IANA zone names
//! come from the time zone database bundled into the binary, so the image needs no tzdata.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Pass, Result};
use crate::controllers::machinery::error::Error;
use crate::controllers::reconciler::pass::News;
use crate::crd::AuraInstance;
use crate::crd::instance::{AuraInstanceStatus, PauseSchedule, ScheduleStatus, ScheduledState};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pause: Cron,
    resume: Cron,
    zone: TimeZone,
}

/// What the schedule says at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Whether the schedule wants the instance paused now.
    pub paused: bool,
    /// The next pause and resume times after now (None: the expression never fires again).
    pub next_pause: Option<Timestamp>,
    pub next_resume: Option<Timestamp>,
}

impl Window {
    /// The next time the schedule changes its mind: a resume while paused, a pause while not.
    pub fn next_change(&self) -> Option<Timestamp> {
        if self.paused {
            self.next_resume
        } else {
            self.next_pause
        }
    }
}

impl Schedule {
    /// Parses the spec's schedule; errors name the field (`schedule.pause`, `schedule.resume`,
    /// `schedule.timeZone`).
    pub fn parse(spec: &PauseSchedule) -> Result<Self, Error> {
        let zone_name = spec.time_zone.as_deref().unwrap_or("UTC");
        let zone = TimeZone::get(zone_name).map_err(|_| {
            Error::invalid(
                "schedule.timeZone",
                format!("{zone_name:?} is not a time zone name of the IANA database (for example Europe/Berlin, America/New_York or UTC)"),
            )
        })?;
        Ok(Self {
            pause: cron("schedule.pause", &spec.pause)?,
            resume: cron("schedule.resume", &spec.resume)?,
            zone,
        })
    }

    /// What the schedule says at `now`.
    pub fn at(&self, now: Timestamp) -> Window {
        let here = now.to_zoned(self.zone.clone());
        let last = |cron: &Cron| cron.find_previous_occurrence(&here, true).ok();
        let next = |cron: &Cron| {
            cron.find_next_occurrence(&here, false)
                .ok()
                .map(|z| z.timestamp())
        };
        let paused = match (last(&self.pause), last(&self.resume)) {
            (Some(pause), Some(resume)) => pause.timestamp() > resume.timestamp(),
            (Some(_), None) => true,
            _ => false,
        };
        Window {
            paused,
            next_pause: next(&self.pause),
            next_resume: next(&self.resume),
        }
    }
}

impl Pass<'_> {
    /// Reads the schedule at the controllers' clock: records what it asks for and its next
    /// times, sends an Event when it changed its mind since the last pass, and asks for a pass
    /// at the next change.
    pub(super) async fn follow_schedule(&mut self) -> Result<()> {
        let Some(spec) = &self.obj.spec.schedule else {
            self.status.schedule = None;
            return Ok(());
        };
        let window = Schedule::parse(spec)?.at(self.ctx.clock.now());
        let wants = if window.paused {
            ScheduledState::Paused
        } else {
            ScheduledState::Running
        };
        let was = self.written.schedule.as_ref().map(|s| s.wants);
        if was.is_some_and(|was| was != wants) {
            let (reason, note) = self.transition_note(wants, &window);
            self.announce(News::normal(reason, note));
        }
        if let Some(at) = window.next_change() {
            self.wake_by(at);
        }
        self.status.schedule = Some(ScheduleStatus {
            wants,
            next_pause: window.next_pause.map(Time),
            next_resume: window.next_resume.map(Time),
        });
        Ok(())
    }

    /// Whether the instance should be paused now: the spec says so, or its schedule does.
    pub(super) fn wants_paused(&self) -> bool {
        wants_paused(&self.obj, &self.status)
    }

    fn transition_note(&self, wants: ScheduledState, window: &Window) -> (&'static str, String) {
        let next = |at: Option<Timestamp>| at.map_or("never".to_owned(), |t| t.to_string());
        match wants {
            ScheduledState::Paused => (
                "SchedulePause",
                format!(
                    "the schedule pauses the instance now; it resumes it at {}",
                    next(window.next_resume)
                ),
            ),
            ScheduledState::Running if self.obj.spec.paused => (
                "ScheduleResume",
                "the schedule would resume the instance now, but spec.paused is true and wins"
                    .to_owned(),
            ),
            ScheduledState::Running => (
                "ScheduleResume",
                format!(
                    "the schedule resumes the instance now; it pauses it again at {}",
                    next(window.next_pause)
                ),
            ),
        }
    }
}

/// A five-field cron expression (minute hour day-of-month month day-of-week).
fn cron(field: &str, expression: &str) -> Result<Cron, Error> {
    let fields = expression.split_whitespace().count();
    if fields != 5 && !expression.trim_start().starts_with('@') {
        return Err(Error::invalid(
            field,
            format!(
                "{expression:?} has {fields} fields; a schedule takes five: minute hour \
                 day-of-month month day-of-week, for example \"0 20 * * 1-5\""
            ),
        ));
    }
    // Seconds and years refused, so that "0 0 20 * * 1-5" is not read as seconds-first.
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    let parsed = parser.parse(expression).map_err(|e| {
        Error::invalid(
            field,
            format!("{expression:?} is not a cron expression: {e}"),
        )
    })?;
    Ok(parsed)
}

/// Whether the instance should be paused now: the spec says so, or its schedule does (as the
/// status records the schedule's last reading).
pub fn wants_paused(obj: &AuraInstance, status: &AuraInstanceStatus) -> bool {
    obj.spec.paused
        || status
            .schedule
            .as_ref()
            .is_some_and(|s| s.wants == ScheduledState::Paused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(pause: &str, resume: &str, zone: Option<&str>) -> Result<Schedule, Error> {
        Schedule::parse(&PauseSchedule {
            pause: pause.to_owned(),
            resume: resume.to_owned(),
            time_zone: zone.map(str::to_owned),
        })
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Nights and weekends in Berlin: pause at 20:00 on weekdays, resume at 07:00 on weekdays.
    fn office_hours() -> Schedule {
        schedule("0 20 * * 1-5", "0 7 * * 1-5", Some("Europe/Berlin")).unwrap()
    }

    #[test]
    fn nights_and_weekends_are_paused_in_the_schedules_time_zone() {
        let s = office_hours();
        // Wednesday 2 December 2026: Berlin is UTC+1.
        let day = s.at(at("2026-12-02T12:00:00Z"));
        assert!(!day.paused);
        assert_eq!(day.next_pause, Some(at("2026-12-02T19:00:00Z")));
        assert_eq!(day.next_change(), Some(at("2026-12-02T19:00:00Z")));
        let night = s.at(at("2026-12-02T19:00:00Z"));
        assert!(night.paused, "the pause time itself is paused");
        assert_eq!(night.next_resume, Some(at("2026-12-03T06:00:00Z")));
        assert!(!s.at(at("2026-12-03T06:00:00Z")).paused);
        // Friday night to Monday morning.
        let saturday = s.at(at("2026-12-05T12:00:00Z"));
        assert!(saturday.paused);
        assert_eq!(saturday.next_change(), Some(at("2026-12-07T06:00:00Z")));
    }

    #[test]
    fn summer_time_moves_the_utc_times_not_the_local_ones() {
        let s = office_hours();
        // Wednesday 1 July 2026: Berlin is UTC+2, so 07:00 there is 05:00 UTC.
        let morning = s.at(at("2026-07-01T04:30:00Z"));
        assert!(morning.paused);
        assert_eq!(morning.next_resume, Some(at("2026-07-01T05:00:00Z")));
        // The Monday after the clocks went forward (Sunday 29 March 2026).
        let monday = s.at(at("2026-03-30T04:00:00Z"));
        assert_eq!(monday.next_resume, Some(at("2026-03-30T05:00:00Z")));
    }

    #[test]
    fn utc_is_the_default_zone() {
        let s = schedule("0 20 * * *", "0 7 * * *", None).unwrap();
        assert!(s.at(at("2026-12-02T20:30:00Z")).paused);
        assert!(!s.at(at("2026-12-02T07:00:00Z")).paused);
    }

    #[test]
    fn a_schedule_that_never_paused_yet_wants_it_running() {
        // Pauses on 1 January only: any other day of the year it last resumed.
        let s = schedule("0 0 1 1 *", "0 8 1 1 *", None).unwrap();
        assert!(!s.at(at("2026-06-01T00:00:00Z")).paused);
        assert!(s.at(at("2027-01-01T03:00:00Z")).paused);
    }

    #[test]
    fn bad_expressions_and_zones_name_their_field() {
        let err = schedule("0 20 * *", "0 7 * * 1-5", None).unwrap_err();
        assert!(
            err.to_string().starts_with("spec.schedule.pause: ")
                && err.to_string().contains("five"),
            "{err}"
        );
        let err = schedule("0 20 * * 1-5", "0 7 * * mon-fry", None).unwrap_err();
        assert!(
            err.to_string().starts_with("spec.schedule.resume: "),
            "{err}"
        );
        let err = schedule("0 0 20 * * 1-5", "0 7 * * 1-5", None).unwrap_err();
        assert!(
            err.to_string().starts_with("spec.schedule.pause: "),
            "{err}"
        );
        let err = schedule("0 20 * * 1-5", "0 7 * * 1-5", Some("Europe/Berlinn")).unwrap_err();
        assert!(
            err.to_string().starts_with("spec.schedule.timeZone: "),
            "{err}"
        );
    }
}
