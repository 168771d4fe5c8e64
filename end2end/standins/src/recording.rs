//! A shared, append-only log of what a stand-in received, readable while it runs.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Entries in arrival order. Cloned out on read so callers never hold the lock.
pub(crate) struct RecordLog<T> {
    entries: Mutex<Vec<T>>,
}

impl<T: Clone> RecordLog<T> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn push(&self, entry: T) {
        self.lock().push(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.lock().clone()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        // A panic elsewhere must not hide what was recorded before it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Microseconds since the Unix epoch, the time unit of every recorded entry.
pub fn unix_micros_now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Best-effort decoding of a request body for the record: JSON first, then YAML
/// (server-side apply bodies may be YAML). Anything else is kept as a string so
/// the record still shows what arrived.
pub(crate) fn body_for_record(bytes: &[u8]) -> Option<serde_json::Value> {
    if bytes.is_empty() {
        return None;
    }
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Some(value);
    }
    if let Ok(value) = serde_yaml::from_slice::<serde_json::Value>(bytes) {
        return Some(value);
    }
    Some(serde_json::Value::String(
        String::from_utf8_lossy(bytes).into_owned(),
    ))
}
