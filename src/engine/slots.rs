//! The bound on backend work: at most `--backend-concurrency` queries run at once, and at
//! most as many again wait for a slot. Past that a refresh is refused at once: a queue of
//! queries nobody will still be waiting for would only delay the ones that matter.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

pub struct Slots {
    free: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// How long a refresh waits for a slot, past which it is refused as busy.
    wait: Duration,
}

/// No slot: the backend is as busy as the service lets it be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl Slots {
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        Self {
            free: Semaphore::new(concurrency),
            waiting: AtomicUsize::new(0),
            max_waiting: concurrency,
            wait,
        }
    }

    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, Busy> {
        if let Ok(permit) = self.free.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let permit = tokio::time::timeout(self.wait, self.free.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(permit) => Ok(permit.expect("the semaphore is never closed")),
            Err(_) => Err(Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_are_bounded_and_time_out_as_busy() {
        let slots = Slots::new(1, Duration::from_millis(50));
        let held = slots.acquire().await.unwrap();
        let waiter = slots.acquire();
        let refused = slots.acquire();
        let (waited, refused) = tokio::join!(waiter, refused);
        assert_eq!(refused.err(), Some(Busy), "a second waiter is refused at once");
        assert_eq!(waited.err(), Some(Busy), "a waiter past its wait is busy");
        drop(held);
        assert!(slots.acquire().await.is_ok());
    }
}
