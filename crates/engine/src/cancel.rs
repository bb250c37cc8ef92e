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
    /// Why, when it was not a signal ([`Cancel::cancel_because`]).
    cause: std::sync::OnceLock<&'static str>,
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

    /// Sets the flag for another reason than a signal (a lost lock); reports say `why`.
    pub fn cancel_because(&self, why: &'static str) {
        let _ = self.0.cause.set(why);
        self.cancel();
    }

    /// Why work stopped, for reports: "interrupted by a signal" unless
    /// [`Cancel::cancel_because`] said otherwise (here or in a parent).
    pub fn why(&self) -> &'static str {
        if self.0.set.load(Ordering::SeqCst)
            && let Some(cause) = self.0.cause.get()
        {
            return cause;
        }
        match &self.0.parent {
            Some(parent) if parent.is_cancelled() => parent.why(),
            _ => "interrupted by a signal",
        }
    }

    /// Whether it was set for another reason than a signal.
    pub fn is_lost_lock(&self) -> bool {
        self.0.cause.get().is_some()
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
        assert_eq!(two.why(), "interrupted by a signal");
    }

    #[test]
    fn a_cause_other_than_a_signal_is_reported() {
        let parent = Cancel::new();
        let child = parent.child();
        child.cancel_because("the lock on the daemon was lost");
        assert_eq!(child.why(), "the lock on the daemon was lost");
        assert!(child.is_lost_lock() && !parent.is_cancelled());
    }
}
