//! The flag a signal sets: work in flight finishes (or, for an update, rolls back), nothing
//! new starts. Shared by the prune executor, the update executor and the CLI; it depends on
//! nothing else in the engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Set by a signal handler: work in flight finishes or rolls back, nothing new starts.
/// Waits that must end at once (a pull, a lock) race [`Cancel::cancelled`].
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    set: AtomicBool,
    notify: Notify,
    /// Set with its parent: a child stops one part of the work (one host's run), the
    /// parent all of it.
    parent: Option<Cancel>,
}

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Sets the flag, and wakes everything waiting in [`Cancel::cancelled`].
    pub fn cancel(&self) {
        self.0.set.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// A flag set by itself or by this one: for one part of the work (a host's run, a
    /// daemon's batch), which something else (a lost lease) may stop alone.
    #[must_use]
    pub fn child(&self) -> Cancel {
        Cancel(Arc::new(Inner {
            parent: Some(self.clone()),
            ..Inner::default()
        }))
    }

    /// Whether it (or a parent) is set.
    pub fn is_cancelled(&self) -> bool {
        self.0.set.load(Ordering::SeqCst)
            || self.0.parent.as_ref().is_some_and(Cancel::is_cancelled)
    }

    /// Resolves once the flag is set (at once if it is).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            match &self.0.parent {
                Some(parent) => {
                    tokio::select! {
                        () = notified => {}
                        () = Box::pin(parent.cancelled()) => return,
                    }
                }
                None => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_ends_when_the_flag_is_set_and_at_once_when_it_was() {
        let cancel = Cancel::new();
        let waiting = tokio::spawn({
            let cancel = cancel.clone();
            async move { cancel.cancelled().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        cancel.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), cancel.cancelled())
            .await
            .expect("already set");
    }

    #[tokio::test]
    async fn a_child_is_set_by_its_parent_and_alone_by_itself() {
        let parent = Cancel::new();
        let (one, two) = (parent.child(), parent.child());
        one.cancel();
        assert!(one.is_cancelled() && !two.is_cancelled() && !parent.is_cancelled());
        let waiting = tokio::spawn({
            let two = two.clone();
            async move { two.cancelled().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        parent.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken by the parent")
            .unwrap();
        assert!(two.is_cancelled());
    }
}
