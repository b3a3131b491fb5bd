//! A background pass gives way to a change someone made meanwhile, unless it has learned
//! something it must record first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::engine::Engine;

/// Set once a pass holds news: from then on it runs to its end (the status write and the
/// Event), even when a change would otherwise supersede it; otherwise the change (a deletion,
/// say) could leave what the pass learned unrecorded for good.
#[derive(Debug, Clone, Default)]
pub struct Committed(Arc<AtomicBool>);

impl Committed {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs a pass's `work`; when it `may` be superseded (a background pass whose work is safe to
/// cut short and redo), only until the resource changes. A change someone made should not wait
/// behind a poll still queued for the Aura budget with an older copy of the resource: on a change
/// this gives up (None) and the caller requeues at once, so the Controller runs the newer copy.
/// Unless the pass is `committed` by then: it has learned something it must record, which the
/// newer copy's pass may never learn again (a deletion's does not look), so it runs to its end
/// first.
pub async fn unless_superseded<T>(
    engine: &Engine,
    key: &str,
    may: bool,
    committed: &Committed,
    work: impl Future<Output = T>,
) -> Option<T> {
    if !may {
        return Some(work.await);
    }
    let superseded = engine.memory.superseded(key);
    let mut work = std::pin::pin!(work);
    let result = tokio::select! {
        biased;
        done = &mut work => Some(done),
        () = superseded => {
            if committed.is_set() {
                tracing::debug!(uid = key, "a change came after the pass learned news; it ends first");
                Some(work.await)
            } else {
                tracing::debug!(uid = key, "background pass superseded by a change");
                None
            }
        }
        () = engine.stopping.wait() => {
            if committed.is_set() {
                Some(work.await)
            } else {
                tracing::debug!(uid = key, "background pass given up: the operator is stopping");
                None
            }
        }
    };
    engine.memory.pass_ended(key);
    result
}
