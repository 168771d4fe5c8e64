//! One delivery to a receiver, from the secure token to the queued run:
//! token, source allow-list, content type, parse, Activity row, dedupe, run.

use std::collections::BTreeMap;
use std::net::IpAddr;

use app::webhook::*;

use super::cidr::Cidr;
use super::matching::Pattern;
use super::payload::PushEvent;
use crate::clock::now_millis;
use crate::secrets;
use crate::service::Slipway;
use crate::store::{NewEvent, StoreError, WebhookRecord};

/// A re-delivery of the same push within this window starts no second run.
const DEDUPE_WINDOW_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Where a delivery came from and what it carried.
pub struct Delivery<'a> {
    pub secure_token: Option<&'a str>,
    pub source: DeliverySource,
    pub peer: Option<IpAddr>,
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
}

/// How a receiver answers, besides the contract's 202.
#[derive(Debug)]
pub enum DeliveryRefusal {
    /// 401, the same whatever was wrong with the token.
    Unauthorized,
    /// A status with a one-line reason (400, 403, 415), recorded as REJECTED.
    Rejected {
        status: u16,
        reason: String,
    },
    Internal,
}

impl From<StoreError> for DeliveryRefusal {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "storing a delivery failed");
        DeliveryRefusal::Internal
    }
}

impl Slipway {
    /// Handles one delivery to a receiver: checks, records, queues; answers
    /// before the run starts.
    #[tracing::instrument(skip_all, fields(source = delivery.source.as_str()))]
    pub async fn receive(&self, delivery: Delivery<'_>) -> Result<DeliveryAnswer, DeliveryRefusal> {
        let token = delivery
            .secure_token
            .filter(|token| !token.is_empty())
            .ok_or(DeliveryRefusal::Unauthorized)?;
        // Looked up by hash: the stored value reveals nothing, and the lookup
        // time does not depend on how much of a guessed token is right.
        let webhook = self
            .store
            .webhook_by_token_hash(&secrets::token_hash(token))
            .await?
            .ok_or(DeliveryRefusal::Unauthorized)?;
        let received_at = now_millis();
        let webhook = &webhook;
        let reject = |status: u16, reason: String| async move {
            self.record(
                webhook,
                delivery.source,
                received_at,
                None,
                EventStatus::Rejected,
                &reason,
            )
            .await?;
            Err::<DeliveryAnswer, _>(DeliveryRefusal::Rejected { status, reason })
        };

        let cidrs: Vec<String> = serde_json::from_str(&webhook.source_cidrs).unwrap_or_default();
        if !cidrs.is_empty() {
            let allowed = delivery.peer.is_some_and(|peer| {
                cidrs
                    .iter()
                    .filter_map(|cidr| Cidr::parse(cidr).ok())
                    .any(|cidr| cidr.contains(peer))
            });
            if !allowed {
                return reject(
                    403,
                    "the sender's address is not on the webhook's source allow-list".into(),
                )
                .await;
            }
        }
        if let Some(content_type) = delivery.content_type {
            let essence = content_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return reject(
                    415,
                    format!("content type '{essence}' is not JSON; send application/json"),
                )
                .await;
            }
        }
        let events = match super::payload::parse(delivery.source, delivery.body) {
            Ok(events) => events,
            Err(error) => return reject(400, error.to_string()).await,
        };
        // Layer pushes, pulls and untagged pushes carry nothing to deploy: no Activity row.
        let mut answer = DeliveryAnswer {
            event_id: None,
            status: EventStatus::Ignored,
            execution_id: None,
        };
        for (index, event) in events.iter().enumerate() {
            let handled = self
                .handle_event(webhook, delivery.source, received_at, event)
                .await?;
            if index == 0 {
                answer = handled;
            }
        }
        Ok(answer)
    }

    async fn handle_event(
        &self,
        webhook: &WebhookRecord,
        source: DeliverySource,
        received_at: i64,
        event: &PushEvent,
    ) -> Result<DeliveryAnswer, DeliveryRefusal> {
        let ignored = |reason: String| async move {
            let id = self
                .record(
                    webhook,
                    source,
                    received_at,
                    Some(event),
                    EventStatus::Ignored,
                    &reason,
                )
                .await?;
            Ok::<_, DeliveryRefusal>(DeliveryAnswer {
                event_id: Some(id),
                status: EventStatus::Ignored,
                execution_id: None,
            })
        };
        if !webhook.enabled {
            return ignored("disabled".into()).await;
        }
        // Patterns were checked on save; should a stored one not parse, fail
        // closed: a broken filter must not let every push through.
        let (image, tag) = match (
            Pattern::parse(&webhook.image_pattern),
            Pattern::parse(&webhook.tag_pattern),
        ) {
            (Ok(image), Ok(tag)) => (image, tag),
            (Err(problem), _) | (_, Err(problem)) => {
                return ignored(format!("the webhook's pattern is invalid: {problem}")).await
            }
        };
        if !image.matches_image(event) {
            return ignored(format!(
                "image '{}' does not match '{}'",
                event.image, webhook.image_pattern
            ))
            .await;
        }
        if !tag.matches_tag(event) {
            return ignored(format!(
                "tag '{}' does not match '{}'",
                event.tag, webhook.tag_pattern
            ))
            .await;
        }
        if let Some(first) = self
            .store
            .triggered_event_with_key(
                webhook.id,
                &event.dedupe_key,
                received_at - DEDUPE_WINDOW_MILLIS,
            )
            .await?
        {
            let id = self
                .record(
                    webhook,
                    source,
                    received_at,
                    Some(event),
                    EventStatus::Duplicate,
                    &format!("the same push already started a run (event {first})"),
                )
                .await?;
            return Ok(DeliveryAnswer {
                event_id: Some(id),
                status: EventStatus::Duplicate,
                execution_id: None,
            });
        }
        let mut inputs: BTreeMap<String, String> =
            serde_json::from_str(&webhook.inputs).unwrap_or_default();
        inputs.extend(event.docker_inputs());
        let inputs_json = serde_json::to_string(&inputs).map_err(|_| DeliveryRefusal::Internal)?;
        let event_id = self
            .record_activity(
                webhook,
                NewEvent {
                    webhook_id: webhook.id,
                    received_at,
                    source: source.as_str(),
                    repository: &event.image,
                    tag: &event.tag,
                    owner: &event.owner,
                    status: EventStatus::Triggered.as_str(),
                    reason: "",
                    dedupe_key: Some(&event.dedupe_key),
                    inputs: Some(&inputs_json),
                },
            )
            .await?;
        match self
            .start_event_run(
                webhook,
                event_id,
                inputs,
                &event.image,
                &event.tag,
                event.callback_url.as_deref(),
            )
            .await
        {
            Ok(execution_id) => Ok(DeliveryAnswer {
                event_id: Some(event_id),
                status: EventStatus::Triggered,
                execution_id: Some(execution_id),
            }),
            Err(reason) => {
                // The event is known; it just cannot run (disabled pipeline, revoked token…).
                self.store
                    .mark_event(event_id, EventStatus::Rejected.as_str(), &reason)
                    .await?;
                self.announce_activity(webhook, event_id);
                Ok(DeliveryAnswer {
                    event_id: Some(event_id),
                    status: EventStatus::Rejected,
                    execution_id: None,
                })
            }
        }
    }

    async fn record(
        &self,
        webhook: &WebhookRecord,
        source: DeliverySource,
        received_at: i64,
        event: Option<&PushEvent>,
        status: EventStatus,
        reason: &str,
    ) -> Result<i64, DeliveryRefusal> {
        Ok(self
            .record_activity(
                webhook,
                NewEvent {
                    webhook_id: webhook.id,
                    received_at,
                    source: source.as_str(),
                    repository: event.map_or("", |event| event.image.as_str()),
                    tag: event.map_or("", |event| event.tag.as_str()),
                    owner: event.map_or("", |event| event.owner.as_str()),
                    status: status.as_str(),
                    reason,
                    dedupe_key: event.map(|event| event.dedupe_key.as_str()),
                    inputs: None,
                },
            )
            .await?)
    }
}
