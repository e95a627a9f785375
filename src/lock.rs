//! Locking a mutex that a panicking holder may have poisoned.
//!
//! The state behind our mutexes (counters, request logs, cleanup lists, emulator state)
//! stays usable after a panic elsewhere: carrying on reports the first failure instead of
//! burying it under a second panic at every later lock.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the data over from a holder that panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_locks() {
        let mutex = Mutex::new(1);
        let poisoned = std::panic::catch_unwind(|| {
            let _guard = mutex.lock().expect("not yet poisoned");
            panic!("a holder panics");
        });
        assert!(poisoned.is_err() && mutex.is_poisoned());
        *lock(&mutex) += 1;
        assert_eq!(*lock(&mutex), 2);
    }
}
