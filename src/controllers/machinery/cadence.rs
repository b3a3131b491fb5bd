//! How often settled resources are really looked at, against how often the operator was asked
//! to (`--resync-seconds`).
//!
//! Every look at a settled resource costs one Aura read on its credential's budget (125 a minute
//! by Aura's default), so one credential checks at most that many resources a minute: past about
//! `budget x resync` resources the looks queue behind the budget and come around less often than
//! configured. Nothing is wrong then, but the user should know: the gap between two looks at the
//! same resource goes to a histogram, the median of the recent gaps to a gauge, and when that
//! median is well above the configured interval a log line says what interval is achieved.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::metrics::Metrics;

/// Recent gaps kept for the median.
const WINDOW: usize = 256;
/// Gaps needed before the median is trusted.
const ENOUGH: usize = 32;
/// How far above the configured interval the median may be before a warning: the spread of
/// looks over the interval (see `pass::spread`) alone moves single gaps by up to half of it.
const SLACK: f64 = 1.25;
/// At most one warning in this long.
const WARN_EVERY: Duration = Duration::from_secs(600);

/// The achieved interval between looks at settled resources.
pub struct Cadence {
    configured: Duration,
    recent: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    gaps: VecDeque<f64>,
    warned_at: Option<Instant>,
}

/// What one observation concluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Too few gaps yet, or the configured interval is met.
    Met,
    /// The median gap is this many seconds, well above the configured interval.
    Behind(f64),
}

impl Cadence {
    pub fn new(configured: Duration) -> Self {
        Self {
            configured,
            recent: Mutex::new(Recent::default()),
        }
    }

    /// Records the gap between two looks at one settled resource; sets the metrics and warns
    /// (at most every ten minutes) when the configured interval is not met.
    pub fn looked(&self, gap: Duration, metrics: &Metrics) -> Verdict {
        metrics.drift_check_gap(gap);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.gaps.len() == WINDOW {
            recent.gaps.pop_front();
        }
        recent.gaps.push_back(gap.as_secs_f64());
        if recent.gaps.len() < ENOUGH {
            return Verdict::Met;
        }
        let median = median(&recent.gaps);
        metrics.drift_check_interval(median);
        let configured = self.configured.as_secs_f64();
        if median <= configured * SLACK {
            return Verdict::Met;
        }
        let due = recent.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if due {
            recent.warned_at = Some(Instant::now());
            tracing::warn!(
                configured_seconds = configured,
                achieved_seconds = median.round(),
                "the resync interval is not met: settled resources are looked at about every \
                 {median:.0} s instead of {configured:.0} s, because each look costs one Aura \
                 request of its credential's rate budget. Changes still go first. To look more \
                 often, spread resources over more credentials (each has its own budget); or \
                 set --resync-seconds to what is achieved"
            );
        }
        Verdict::Behind(median)
    }
}

fn median(values: &VecDeque<f64>) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_near_the_interval_meet_it() {
        let cadence = Cadence::new(Duration::from_secs(60));
        let metrics = Metrics::default();
        let mut verdict = Verdict::Met;
        for i in 0..100 {
            // Looks spread over the interval: gaps between 45 s and 75 s.
            verdict = cadence.looked(Duration::from_secs(45 + (i % 31)), &metrics);
        }
        assert_eq!(verdict, Verdict::Met);
        let text = metrics.encode();
        let achieved: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("aura_operator_drift_check_interval_seconds "))
            .and_then(|v| v.parse().ok())
            .expect("the gauge is set");
        assert!((55.0..=65.0).contains(&achieved), "{achieved}");
    }

    #[test]
    fn a_saturated_budget_is_reported_with_the_achieved_interval() {
        let cadence = Cadence::new(Duration::from_secs(60));
        let metrics = Metrics::default();
        // 1,000 resources on 125 requests a minute: a look every 8 minutes.
        let mut verdict = Verdict::Met;
        for _ in 0..ENOUGH {
            verdict = cadence.looked(Duration::from_secs(480), &metrics);
        }
        assert_eq!(verdict, Verdict::Behind(480.0));
        let text = metrics.encode();
        assert!(
            text.contains("aura_operator_drift_check_interval_seconds 480"),
            "{text}"
        );
        assert!(
            text.contains("aura_operator_drift_check_gap_seconds_count 32"),
            "{text}"
        );
    }

    #[test]
    fn too_few_gaps_say_nothing() {
        let cadence = Cadence::new(Duration::from_secs(60));
        let metrics = Metrics::default();
        assert_eq!(
            cadence.looked(Duration::from_secs(3_600), &metrics),
            Verdict::Met
        );
    }
}
