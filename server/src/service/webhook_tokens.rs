//! Webhooks by the hash of their secure token, kept for a moment with their
//! filters and allow-list compiled: a burst of deliveries to one webhook reads
//! and compiles them once, not once per delivery.
//!
//! A change made through this server forgets every entry at once. A change
//! made on another replica (or past the server, in the database) reaches this
//! one within the time entries stay fresh (`--webhook-cache-ms`): for that
//! long, a delivery may still be taken (or refused) by the webhook as it was.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::receive::cidr::AllowList;
use crate::receive::matching::Pattern;
use crate::store::{SharedStore, StoreResult, WebhookRecord};

/// A webhook as deliveries use it: its record, and what its stored texts
/// compile to. A stored text that no longer compiles is kept as the problem:
/// deliveries fail closed on it, as they did reading it each time.
pub struct ReadWebhook {
    pub record: WebhookRecord,
    /// The image and tag patterns, or why one does not parse.
    pub filters: Result<(Pattern, Pattern), String>,
    pub allow_list: Result<AllowList, String>,
}

impl ReadWebhook {
    pub fn new(record: WebhookRecord) -> Self {
        let filters = Pattern::parse(&record.image_pattern)
            .and_then(|image| Ok((image, Pattern::parse(&record.tag_pattern)?)));
        let allow_list = AllowList::from_stored(&record.source_cidrs);
        ReadWebhook {
            record,
            filters,
            allow_list,
        }
    }
}

impl std::ops::Deref for ReadWebhook {
    type Target = WebhookRecord;

    fn deref(&self) -> &WebhookRecord {
        &self.record
    }
}

/// Webhooks kept at most; beyond it the cache starts over. Only tokens that
/// name a webhook are kept, so guessing tokens does not fill it.
const MAX_KEPT: usize = 4096;

pub struct WebhookTokenCache {
    kept: Mutex<HashMap<String, (Arc<ReadWebhook>, Instant)>>,
    /// How long a webhook read answers for the next deliveries; zero keeps none.
    fresh_for: Duration,
}

impl WebhookTokenCache {
    pub fn new(fresh_for: Duration) -> Self {
        WebhookTokenCache {
            kept: Mutex::default(),
            fresh_for,
        }
    }

    /// The webhook whose secure token has this hash, read from the store
    /// unless read within the time entries stay fresh.
    pub async fn webhook(
        &self,
        store: &SharedStore,
        token_hash: &str,
    ) -> StoreResult<Option<Arc<ReadWebhook>>> {
        if let Some(webhook) = self.fresh(token_hash) {
            return Ok(Some(webhook));
        }
        let Some(webhook) = store.webhook_by_token_hash(token_hash).await? else {
            return Ok(None);
        };
        let webhook = Arc::new(ReadWebhook::new(webhook));
        if self.fresh_for.is_zero() {
            return Ok(Some(webhook));
        }
        let mut kept = self.lock();
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(token_hash.to_string(), (webhook.clone(), Instant::now()));
        Ok(Some(webhook))
    }

    /// Forgets every webhook: one was changed or deleted here.
    pub fn forget_all(&self) {
        self.lock().clear();
    }

    fn fresh(&self, token_hash: &str) -> Option<Arc<ReadWebhook>> {
        let kept = self.lock();
        let (webhook, read_at) = kept.get(token_hash)?;
        (read_at.elapsed() < self.fresh_for).then(|| webhook.clone())
    }

    /// The map, also after a panic elsewhere left the lock poisoned: it
    /// holds only copies of stored rows.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<ReadWebhook>, Instant)>> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
