//! One delivery to a receiver, from the secure token to the queued run:
//! token, source allow-list, delivery limit, content type, parse, Activity
//! row, dedupe, run.

use std::net::IpAddr;

use app::webhook::*;

use crate::clock::now_millis;
use crate::pinning::{self, PushedTag};
use crate::receive::cidr::AllowList;
use crate::receive::github_signature;
use crate::receive::matching::Pattern;
use crate::receive::payload::{
    self, NotAPush, PushEvent, RegistryDelivery, RegistryHeaders, MAX_PUSHES_PER_DELIVERY,
};
use crate::secrets;
use crate::service::push_order::{is_newer_push, stale_reason};
use crate::service::refusals::CountedRefusal;
use crate::service::{Refusal, Slipway};
use crate::store::{
    NewEvent, PushHead, PushOrder, PushRecorded, StoreError, SupersedingPush, WebhookRecord,
};

/// Deliveries of the same push within this window start one run: retries,
/// the one webhook per platform of a multi-arch push, the same POST reaching
/// several replicas.
const DEDUPE_WINDOW_MILLIS: i64 = 10 * 60 * 1000;

/// The Activity reason of an event whose run failed to start inside the
/// server: what failed is for the log, not for the page.
const RUN_FAILED_INSIDE: &str =
    "the run could not be started: internal error (the server log has the details)";

/// Where a delivery came from and what it carried.
pub struct Delivery<'a> {
    pub secure_token: Option<&'a str>,
    /// The receiver it was sent to: Docker Hub's, or the registry one, which
    /// detects the product from the headers and body.
    pub source: DeliverySource,
    pub peer: Option<IpAddr>,
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    /// GitHub's headers, when it sent them.
    pub github: GitHubHeaders<'a>,
}

/// What GitHub sends besides the body.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitHubHeaders<'a> {
    /// `X-GitHub-Event`: `package`, `ping`, ….
    pub event: Option<&'a str>,
    /// `X-GitHub-Delivery`: the delivery's id (the same on a redelivery).
    pub delivery: Option<&'a str>,
    /// `X-Hub-Signature-256`: `sha256=` and the HMAC-SHA256 of the body
    /// under the webhook's secret (its secure token).
    pub signature: Option<&'a str>,
}

impl GitHubHeaders<'_> {
    /// A delivery from GitHub (or claiming to be) must be signed.
    fn must_be_signed(&self) -> bool {
        self.event.is_some() || self.signature.is_some()
    }
}

/// Not-push events one delivery's Activity row names before it says "and N more".
const NOT_PUSHES_NAMED: usize = 3;

/// How a receiver answers, besides the contract's 202.
#[derive(Debug)]
pub enum DeliveryRefusal {
    /// 401, the same whatever was wrong with the token.
    Unauthorized,
    /// A status with a one-line reason (400, 413, 415), recorded as REJECTED.
    Rejected {
        status: u16,
        reason: String,
    },
    /// Refused before the body was read (403 off the allow-list, 429 over
    /// the limit): counted in the webhook's one row for the window, not
    /// recorded one by one.
    Counted(CountedRefusal),
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
        let webhook = self.webhook_of_token(delivery.secure_token).await?;
        if delivery.github.must_be_signed()
            && !github_signature::signed_with(
                delivery.body,
                delivery.github.signature,
                delivery.secure_token,
            )
        {
            return Err(DeliveryRefusal::Unauthorized);
        }
        if let Some(refusal) = self.refused_before_reading(&webhook, delivery.peer)? {
            self.count_refusal(&webhook, delivery.source, refusal, delivery.peer)
                .await;
            return Err(DeliveryRefusal::Counted(refusal));
        }
        let received_at = now_millis();
        let parsed = match pushes_of(&delivery) {
            Ok(parsed) => parsed,
            Err(DeliveryRefusal::Rejected { status, reason }) => {
                self.record(
                    &webhook,
                    delivery.source,
                    received_at,
                    None,
                    EventStatus::Rejected,
                    &reason,
                )
                .await?;
                return Err(DeliveryRefusal::Rejected { status, reason });
            }
            Err(refusal) => return Err(refusal),
        };
        // Layer pushes and untagged manifest pushes carry nothing to deploy
        // and say nothing: no Activity row. Other events that are not pushes
        // (pulls, deletes, a ping) are one IGNORED row saying what they were.
        let mut answer = DeliveryAnswer {
            event_id: None,
            status: EventStatus::Ignored,
            execution_id: None,
        };
        if parsed.pushes.is_empty() && !parsed.not_pushes.is_empty() {
            let id = self
                .record_not_pushes(&webhook, parsed.source, received_at, &parsed.not_pushes)
                .await?;
            answer.event_id = Some(id);
        }
        for (index, event) in parsed.pushes.iter().enumerate() {
            let handled = self
                .handle_event(&webhook, parsed.source, received_at, event)
                .await?;
            if index == 0 {
                answer = handled;
            }
        }
        Ok(answer)
    }

    /// Why the webhook takes no delivery from this sender now, if it does
    /// not: the sender is off its source allow-list, or it is over its
    /// limit. The allow-list comes first, so senders it refuses do not use
    /// up the allowance of those it lets in. An allow-list that cannot be
    /// read is [`DeliveryRefusal::Internal`]: it is never taken for an
    /// empty (open) one.
    fn refused_before_reading(
        &self,
        webhook: &WebhookRecord,
        peer: Option<IpAddr>,
    ) -> Result<Option<CountedRefusal>, DeliveryRefusal> {
        let allow_list = AllowList::from_stored(&webhook.source_cidrs).map_err(|problem| {
            tracing::error!(webhook = webhook.id, %problem, "refusing deliveries: bad stored source allow-list");
            DeliveryRefusal::Internal
        })?;
        if !allow_list.allows(peer) {
            return Ok(Some(CountedRefusal::OffAllowList));
        }
        let per_minute = webhook.max_deliveries_per_minute;
        Ok(self
            .limiter
            .admit(webhook.id, per_minute)
            .err()
            .map(|retry_after| CountedRefusal::OverLimit {
                per_minute,
                retry_after,
            }))
    }

    /// The webhook whose secure token the delivery carries.
    async fn webhook_of_token(
        &self,
        secure_token: Option<&str>,
    ) -> Result<WebhookRecord, DeliveryRefusal> {
        let token = secure_token
            .filter(|token| !token.is_empty())
            .ok_or(DeliveryRefusal::Unauthorized)?;
        // Looked up by hash: the stored value reveals nothing, and the lookup
        // time does not depend on how much of a guessed token is right.
        self.store
            .webhook_by_token_hash(&secrets::token_hash(token))
            .await?
            .ok_or(DeliveryRefusal::Unauthorized)
    }

    /// One push to one webhook: IGNORED when the webhook filters it out,
    /// DUPLICATE when the same push already started a run, else TRIGGERED
    /// with its run queued.
    async fn handle_event(
        &self,
        webhook: &WebhookRecord,
        source: DeliverySource,
        received_at: i64,
        event: &PushEvent,
    ) -> Result<DeliveryAnswer, DeliveryRefusal> {
        if let Some(reason) = why_ignored(webhook, event) {
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
            return Ok(DeliveryAnswer {
                event_id: Some(id),
                status: EventStatus::Ignored,
                execution_id: None,
            });
        }
        let mut inputs = Slipway::stored_inputs(webhook).map_err(|_| DeliveryRefusal::Internal)?;
        inputs.extend(event.docker_inputs());
        let digest = self.pin_pushed_image(webhook, event, &mut inputs).await;
        let inputs_json = serde_json::to_string(&inputs).map_err(|_| DeliveryRefusal::Internal)?;
        // One push is one digest of one tag: whatever else differs between
        // its deliveries (each platform's own `pushed_at`), they start one run.
        let dedupe_key = match &digest {
            Some(digest) => format!(
                "push|{}|{}|{}|{digest}",
                event.registry.as_deref().unwrap_or_default(),
                event.image,
                event.tag
            ),
            None => event.dedupe_key.clone(),
        };
        let pushed_at = event.pushed_at_millis().unwrap_or(received_at);
        let newer_than = |head: &PushHead| is_newer_push(&event.tag, pushed_at, head);
        let recorded = self
            .store
            .record_push(
                NewEvent {
                    webhook_id: webhook.id,
                    received_at,
                    source,
                    repository: &event.image,
                    tag: &event.tag,
                    owner: &event.owner,
                    status: EventStatus::Triggered,
                    reason: "",
                    dedupe_key: Some(&dedupe_key),
                    inputs: Some(&inputs_json),
                    pushed_at: Some(pushed_at),
                    digest: digest.as_deref(),
                },
                &PushOrder {
                    window_start: received_at - DEDUPE_WINDOW_MILLIS,
                    duplicate_reason: &|first| {
                        format!("the same push already started a run (event {first})")
                    },
                    newer_than: webhook
                        .newer_only
                        .then_some(&newer_than as &(dyn Fn(&PushHead) -> bool + Sync)),
                    stale_reason: &|head, scope| stale_reason(&event.tag, pushed_at, head, scope),
                },
            )
            .await?;
        let event_id = match recorded {
            PushRecorded::First(event_id) => event_id,
            PushRecorded::Duplicate { event_id, .. } => {
                self.announce_activity(webhook, event_id);
                return Ok(DeliveryAnswer {
                    event_id: Some(event_id),
                    status: EventStatus::Duplicate,
                    execution_id: None,
                });
            }
            PushRecorded::Stale { event_id, .. } => {
                self.announce_activity(webhook, event_id);
                return Ok(DeliveryAnswer {
                    event_id: Some(event_id),
                    status: EventStatus::Ignored,
                    execution_id: None,
                });
            }
        };
        self.announce_activity(webhook, event_id);
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
            Ok(execution_id) => {
                self.supersede_older_runs(webhook, event, event_id, pushed_at)
                    .await;
                Ok(DeliveryAnswer {
                    event_id: Some(event_id),
                    status: EventStatus::Triggered,
                    execution_id: Some(execution_id),
                })
            }
            Err(refusal) => self.run_refused(webhook, event_id, refusal).await,
        }
    }

    /// The event is known; it just cannot run. Its row says why (disabled
    /// pipeline, revoked token…), or, for an internal failure, only that:
    /// the cause is in the log, the delivery answers 500, and a retry by the
    /// registry is not taken for a duplicate of a run that never started.
    async fn run_refused(
        &self,
        webhook: &WebhookRecord,
        event_id: i64,
        refusal: Refusal,
    ) -> Result<DeliveryAnswer, DeliveryRefusal> {
        let reason = match &refusal {
            Refusal::Reason(reason) => reason.as_str(),
            Refusal::Internal => RUN_FAILED_INSIDE,
        };
        self.store
            .mark_event(event_id, EventStatus::Rejected, reason)
            .await?;
        self.announce_activity(webhook, event_id);
        match refusal {
            Refusal::Reason(_) => Ok(DeliveryAnswer {
                event_id: Some(event_id),
                status: EventStatus::Rejected,
                execution_id: None,
            }),
            Refusal::Internal => Err(DeliveryRefusal::Internal),
        }
    }

    /// Pins the run's inputs to the pushed image (`DOCKER_DIGEST`,
    /// `DOCKER_IMAGE_REF`): the push's own digest, else the one its tag
    /// points at now. Answers the digest; `None` when the registry could not
    /// tell (the engine asks again before the run's first task).
    async fn pin_pushed_image(
        &self,
        webhook: &WebhookRecord,
        event: &PushEvent,
        inputs: &mut std::collections::BTreeMap<String, String>,
    ) -> Option<String> {
        let registry = event.registry.as_deref().unwrap_or_default();
        if let Some(digest) = &event.digest {
            let host = if registry.is_empty() {
                pinning::endpoint_host(&self.store, webhook.endpoint_id).await
            } else {
                registry.to_string()
            };
            pinning::pin(inputs, &host, &event.image, digest);
            return Some(digest.clone());
        }
        let pushed = PushedTag {
            registry,
            image: &event.image,
            tag: &event.tag,
        };
        match pinning::resolve(
            &self.store,
            &self.secret_box,
            &self.outbound,
            webhook.project_id,
            webhook.endpoint_id,
            &pushed,
        )
        .await
        {
            Ok(resolved) => {
                pinning::pin(
                    inputs,
                    &resolved.registry_host,
                    &event.image,
                    &resolved.digest,
                );
                Some(resolved.digest)
            }
            Err(answer) => {
                tracing::warn!(webhook = webhook.id, image = %event.image, tag = %event.tag, %answer,
                    "the pushed tag could not be resolved to a digest; the run asks again when it starts");
                None
            }
        }
    }

    /// A newer push wins: the runs of older pushes of the same tag that
    /// have not started are canceled. A failure here is logged, never the
    /// delivery's: its own run is queued already.
    async fn supersede_older_runs(
        &self,
        webhook: &WebhookRecord,
        event: &PushEvent,
        event_id: i64,
        pushed_at: i64,
    ) {
        let reason = format!(
            "superseded by event {event_id}, a newer push of {}:{}",
            event.image, event.tag
        );
        let superseded = self
            .store
            .supersede_queued_runs(&SupersedingPush {
                webhook_id: webhook.id,
                repository: &event.image,
                tag: &event.tag,
                event_id,
                pushed_at,
                reason: &reason,
                now: now_millis(),
            })
            .await;
        match superseded {
            Ok(canceled) => {
                for execution_id in canceled {
                    self.announce_canceled(execution_id).await;
                }
            }
            Err(error) => tracing::error!(%error, "canceling the runs of older pushes failed"),
        }
    }

    /// One IGNORED row for the events of a delivery that are not pushes.
    async fn record_not_pushes(
        &self,
        webhook: &WebhookRecord,
        source: DeliverySource,
        received_at: i64,
        not_pushes: &[NotAPush],
    ) -> Result<i64, DeliveryRefusal> {
        let mut reason = not_pushes
            .iter()
            .take(NOT_PUSHES_NAMED)
            .map(|event| event.what.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        if not_pushes.len() > NOT_PUSHES_NAMED {
            reason.push_str(&format!(
                " (and {} more)",
                not_pushes.len() - NOT_PUSHES_NAMED
            ));
        }
        let first = &not_pushes[0];
        Ok(self
            .record_activity(
                webhook,
                NewEvent {
                    webhook_id: webhook.id,
                    received_at,
                    source,
                    repository: &first.repository,
                    tag: &first.tag,
                    owner: "",
                    status: EventStatus::Ignored,
                    reason: &format!("not a push: {reason}"),
                    dedupe_key: None,
                    inputs: None,
                    pushed_at: None,
                    digest: None,
                },
            )
            .await?)
    }

    /// Tells open pages a run was canceled before it started.
    async fn announce_canceled(&self, execution_id: i64) {
        match self.store.execution_by_id(execution_id).await {
            Ok(Some(record)) => self.live.publish(crate::live::execution_event(
                &record,
                app::execution::ExecutionStatus::Canceled,
            )),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "reading a superseded run failed"),
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
                    source,
                    repository: event.map_or("", |event| event.image.as_str()),
                    tag: event.map_or("", |event| event.tag.as_str()),
                    owner: event.map_or("", |event| event.owner.as_str()),
                    status,
                    reason,
                    dedupe_key: event.map(|event| event.dedupe_key.as_str()),
                    inputs: None,
                    pushed_at: event.and_then(PushEvent::pushed_at_millis),
                    digest: event.and_then(|event| event.digest.as_deref()),
                },
            )
            .await?)
    }
}

/// Why the webhook does not take this push, if it does not: disabled, or
/// its image or tag pattern does not match.
fn why_ignored(webhook: &WebhookRecord, event: &PushEvent) -> Option<String> {
    if !webhook.enabled {
        return Some("disabled".into());
    }
    filter_mismatch(&webhook.image_pattern, &webhook.tag_pattern, event)
}

/// Why the image and tag patterns do not take this push, if they do not.
pub(crate) fn filter_mismatch(
    image_pattern: &str,
    tag_pattern: &str,
    event: &PushEvent,
) -> Option<String> {
    // Patterns were checked on save; should a stored one not parse, fail
    // closed: a broken filter must not let every push through.
    let (image, tag) = match (Pattern::parse(image_pattern), Pattern::parse(tag_pattern)) {
        (Ok(image), Ok(tag)) => (image, tag),
        (Err(problem), _) | (_, Err(problem)) => {
            return Some(format!("the webhook's pattern is invalid: {problem}"))
        }
    };
    if !image.matches_image(event) {
        return Some(format!(
            "image '{}' does not match '{image_pattern}'",
            event.image
        ));
    }
    tag.mismatch("tag", &event.tag)
}

/// The checks of a delivery's body, in order — it is JSON, it is in a
/// format the receiver knows, it reports at most [`MAX_PUSHES_PER_DELIVERY`]
/// pushes — and what it holds. A failed check is [`DeliveryRefusal::Rejected`].
///
/// Too many pushes is a 413 (the content is larger than the server takes,
/// as for the body limit): the envelope is well-formed, and the same pushes
/// in smaller deliveries are taken.
fn pushes_of(delivery: &Delivery<'_>) -> Result<RegistryDelivery, DeliveryRefusal> {
    let rejected = |status: u16, reason: String| DeliveryRefusal::Rejected { status, reason };
    if let Some(essence) = delivery.content_type.and_then(not_json) {
        return Err(rejected(
            415,
            format!("content type '{essence}' is not JSON; send application/json"),
        ));
    }
    let parsed =
        match delivery.source {
            DeliverySource::DockerHub => payload::parse(DeliverySource::DockerHub, delivery.body)
                .map(|pushes| RegistryDelivery {
                    source: DeliverySource::DockerHub,
                    pushes,
                    not_pushes: Vec::new(),
                }),
            _ => payload::parse_registry_delivery(
                &RegistryHeaders {
                    github_event: delivery.github.event,
                    github_delivery: delivery.github.delivery,
                },
                delivery.body,
            ),
        }
        .map_err(|error| rejected(400, error.to_string()))?;
    if parsed.pushes.len() > MAX_PUSHES_PER_DELIVERY {
        return Err(rejected(
            413,
            format!(
                "the delivery reports {} tag pushes; at most {MAX_PUSHES_PER_DELIVERY} are taken in one delivery: send them in smaller batches",
                parsed.pushes.len()
            ),
        ));
    }
    Ok(parsed)
}

/// The essence of a content type (lower case, without parameters) when it is
/// not JSON: `application/json` or any `…+json`.
fn not_json(content_type: &str) -> Option<String> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    (!(essence == "application/json" || essence.ends_with("+json"))).then_some(essence)
}
