//! One delivery to a receiver, from the secure token to the queued run:
//! token, source allow-list, delivery limit, content type, parse, Activity
//! row, dedupe, run.

use std::net::IpAddr;

use app::webhook::*;

use crate::clock::now_millis;
use crate::pinning::{self, PushedTag};
use crate::receive::github_signature;
use crate::receive::matching::Pattern;
use crate::receive::payload::{
    self, NotAPush, PushEvent, RegistryDelivery, RegistryHeaders, MAX_PUSHES_PER_DELIVERY,
};
use crate::secrets;
use crate::service::activity::EventRun;
use crate::service::push_order::{is_newer_push, stale_reason};
use crate::service::refusals::CountedRefusal;
use crate::service::webhook_tokens::ReadWebhook;
use crate::service::{Refusal, Slipway};
use crate::store::{
    DeliveryRecorded, DeliveryWrite, NewEvent, NewerThan, PushHead, PushOrder, PushRecorded,
    PushRun, PushWrite, StoreError, WebhookRecord,
};

/// Deliveries of the same push within this window start one run: retries,
/// the one webhook per platform of a multi-arch push, the same POST reaching
/// several replicas.
pub const DEDUPE_WINDOW_MILLIS: i64 = 10 * 60 * 1000;

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
        let started = std::time::Instant::now();
        let mut source = delivery.source;
        let answer = self.check_and_record(delivery, &mut source).await;
        let outcome = match &answer {
            Ok(answer) => crate::metrics::delivery_outcome(answer.status),
            Err(DeliveryRefusal::Unauthorized) => "unauthorized",
            Err(DeliveryRefusal::Rejected { .. }) => "rejected",
            Err(DeliveryRefusal::Counted(CountedRefusal::OffAllowList)) => "off_allow_list",
            Err(DeliveryRefusal::Counted(CountedRefusal::OverLimit { .. })) => "rate_limited",
            Err(DeliveryRefusal::Internal) => "error",
        };
        self.metrics
            .delivery_handled(source, outcome, started.elapsed());
        answer
    }

    /// [`Self::receive`] but for the counting; `source` becomes the format
    /// the body was read as, once it is.
    async fn check_and_record(
        &self,
        delivery: Delivery<'_>,
        source: &mut DeliverySource,
    ) -> Result<DeliveryAnswer, DeliveryRefusal> {
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
                let row = activity_row(
                    &webhook,
                    delivery.source,
                    received_at,
                    None,
                    EventStatus::Rejected,
                    reason.clone(),
                );
                self.record_planned(&webhook, vec![Planned::Row(row)])
                    .await?;
                return Err(DeliveryRefusal::Rejected { status, reason });
            }
            Err(refusal) => return Err(refusal),
        };
        *source = parsed.source;
        // Layer pushes and untagged manifest pushes carry nothing to deploy
        // and say nothing: no Activity row. Other events that are not pushes
        // (pulls, deletes, a ping) are one IGNORED row saying what they were.
        let mut planned = Vec::with_capacity(parsed.pushes.len().max(1));
        if parsed.pushes.is_empty() {
            planned.extend(
                not_pushes_row(&webhook, parsed.source, received_at, &parsed.not_pushes)
                    .map(Planned::Row),
            );
        }
        for event in &parsed.pushes {
            planned.push(
                self.plan_push(&webhook, parsed.source, received_at, event)
                    .await?,
            );
        }
        let answers = self.record_planned(&webhook, planned).await?;
        Ok(answers.into_iter().next().unwrap_or(DeliveryAnswer {
            event_id: None,
            status: EventStatus::Ignored,
            execution_id: None,
        }))
    }

    /// Why the webhook takes no delivery from this sender now, if it does
    /// not: the sender is off its source allow-list, or it is over its
    /// limit. The allow-list comes first, so senders it refuses do not use
    /// up the allowance of those it lets in. An allow-list that cannot be
    /// read is [`DeliveryRefusal::Internal`]: it is never taken for an
    /// empty (open) one.
    fn refused_before_reading(
        &self,
        webhook: &ReadWebhook,
        peer: Option<IpAddr>,
    ) -> Result<Option<CountedRefusal>, DeliveryRefusal> {
        let allow_list = webhook.allow_list.as_ref().map_err(|problem| {
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
    ) -> Result<std::sync::Arc<ReadWebhook>, DeliveryRefusal> {
        let token = secure_token
            .filter(|token| !token.is_empty())
            .ok_or(DeliveryRefusal::Unauthorized)?;
        // Looked up by hash: the stored value reveals nothing, and the lookup
        // time does not depend on how much of a guessed token is right.
        self.webhook_tokens
            .webhook(&self.store, &secrets::token_hash(token))
            .await?
            .ok_or(DeliveryRefusal::Unauthorized)
    }

    /// What one push to one webhook writes: an IGNORED row when the webhook
    /// filters it out, else the push with its run (or why it cannot run),
    /// deduped and ordered when it is recorded. Reads and asks the registry;
    /// writes nothing.
    async fn plan_push(
        &self,
        webhook: &ReadWebhook,
        source: DeliverySource,
        received_at: i64,
        event: &PushEvent,
    ) -> Result<Planned, DeliveryRefusal> {
        if let Some(reason) = why_ignored(webhook, event) {
            return Ok(Planned::Row(activity_row(
                webhook,
                source,
                received_at,
                Some(event),
                EventStatus::Ignored,
                reason,
            )));
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
        let run = self
            .event_run(
                webhook,
                inputs,
                &event.image,
                &event.tag,
                event.callback_url.as_deref(),
            )
            .await;
        let refused_inside = matches!(run, Err(Refusal::Internal));
        let run = match run {
            Ok(run) => Ok(push_run(webhook, run, event)?),
            Err(Refusal::Reason(reason)) => Err(reason),
            Err(Refusal::Internal) => Err(RUN_FAILED_INSIDE.to_string()),
        };
        let tag = event.tag.clone();
        let stale_tag = event.tag.clone();
        Ok(Planned::Push {
            write: PushWrite {
                event: NewEvent {
                    webhook_id: webhook.id,
                    received_at,
                    source,
                    repository: event.image.clone(),
                    tag: event.tag.clone(),
                    owner: event.owner.clone(),
                    status: EventStatus::Triggered,
                    reason: String::new(),
                    dedupe_key: Some(dedupe_key),
                    inputs: Some(inputs_json),
                    pushed_at: Some(pushed_at),
                    digest,
                },
                order: PushOrder {
                    window_start: received_at - DEDUPE_WINDOW_MILLIS,
                    duplicate_reason: Box::new(|first| {
                        format!("the same push already started a run (event {first})")
                    }),
                    newer_than: webhook.newer_only.then(|| {
                        Box::new(move |head: &PushHead| is_newer_push(&tag, pushed_at, head))
                            as NewerThan
                    }),
                    stale_reason: Box::new(move |head, scope| {
                        stale_reason(&stale_tag, pushed_at, head, scope)
                    }),
                },
                run,
            },
            refused_inside,
        })
    }

    /// Records a delivery's planned writes through the delivery writer (one
    /// commit shared with whatever other deliveries wait), then tells open
    /// pages and the engine, and answers each write.
    async fn record_planned(
        &self,
        webhook: &WebhookRecord,
        planned: Vec<Planned>,
    ) -> Result<Vec<DeliveryAnswer>, DeliveryRefusal> {
        let mut refused_inside = Vec::with_capacity(planned.len());
        let mut row_statuses = Vec::with_capacity(planned.len());
        let writes = planned
            .into_iter()
            .map(|planned| match planned {
                Planned::Row(event) => {
                    refused_inside.push(false);
                    row_statuses.push(event.status);
                    DeliveryWrite::Row(event)
                }
                Planned::Push {
                    write,
                    refused_inside: inside,
                } => {
                    refused_inside.push(inside);
                    row_statuses.push(EventStatus::Triggered);
                    DeliveryWrite::Push(write)
                }
            })
            .collect();
        let recorded = self
            .delivery_writer
            .record(writes)
            .await
            .ok_or(DeliveryRefusal::Internal)?;
        let mut answers = Vec::with_capacity(recorded.len());
        for ((recorded, inside), row_status) in
            recorded.into_iter().zip(refused_inside).zip(row_statuses)
        {
            answers.push(
                self.after_recorded(webhook, recorded?, inside, row_status)
                    .await?,
            );
        }
        Ok(answers)
    }

    /// What a committed write is announced as and answered with.
    async fn after_recorded(
        &self,
        webhook: &WebhookRecord,
        recorded: DeliveryRecorded,
        refused_inside: bool,
        row_status: EventStatus,
    ) -> Result<DeliveryAnswer, DeliveryRefusal> {
        let (event_id, status, run) = match recorded {
            DeliveryRecorded::Row(event_id) => (event_id, row_status, None),
            DeliveryRecorded::Push { recorded, run } => match recorded {
                PushRecorded::Duplicate { event_id, .. } => {
                    (event_id, EventStatus::Duplicate, None)
                }
                PushRecorded::Stale { event_id, .. } => (event_id, EventStatus::Ignored, None),
                // The first delivery of a push that could not run: its row
                // says why; an internal failure is the log's and a 500.
                PushRecorded::First(event_id) if run.is_none() => {
                    if refused_inside {
                        self.announce_activity(webhook, event_id);
                        return Err(DeliveryRefusal::Internal);
                    }
                    (event_id, EventStatus::Rejected, None)
                }
                PushRecorded::First(event_id) => (event_id, EventStatus::Triggered, run),
            },
        };
        self.announce_activity(webhook, event_id);
        let execution_id = match run {
            Some(run) => {
                self.signals.run_queued();
                self.live.publish(app::live::LiveEvent::Execution {
                    id: run.execution_id,
                    project_id: webhook.project_id,
                    pipeline_id: webhook.pipeline_id,
                    status: app::execution::ExecutionStatus::Queued,
                });
                tracing::info!(execution = run.execution_id, pipeline = %webhook.pipeline_name, event = event_id, "run queued");
                for canceled in run.superseded {
                    self.announce_canceled(canceled).await;
                }
                Some(run.execution_id)
            }
            None => None,
        };
        Ok(DeliveryAnswer {
            event_id: Some(event_id),
            status,
            execution_id,
        })
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
}

/// What one event of a delivery will write, planned before the delivery
/// waits for the writer.
enum Planned {
    Row(NewEvent),
    Push {
        write: PushWrite,
        /// Its run cannot start for an internal reason: the delivery is
        /// answered 500 once its row says so.
        refused_inside: bool,
    },
}

/// The run a push starts, ready to be written with its Activity row.
fn push_run(
    webhook: &WebhookRecord,
    run: EventRun,
    event: &PushEvent,
) -> Result<PushRun, DeliveryRefusal> {
    let trigger = serde_json::to_value(&run.trigger).map_err(|_| DeliveryRefusal::Internal)?;
    let superseding = format!("a newer push of {}:{}", event.image, event.tag);
    Ok(PushRun {
        pipeline_id: run.pipeline.id,
        project_id: run.pipeline.project_id,
        inputs: serde_json::to_string(&run.inputs).map_err(|_| DeliveryRefusal::Internal)?,
        spec: run.pipeline.spec,
        created_by: Some(webhook.run_as_user_id),
        now: now_millis(),
        trigger: Box::new(move |event_id| {
            let mut trigger = trigger.clone();
            trigger["event_id"] = event_id.into();
            trigger.to_string()
        }),
        superseding_reason: Box::new(move |event_id| {
            format!("superseded by event {event_id}, {superseding}")
        }),
    })
}

/// An Activity row of a delivery or of one of its events, as given.
fn activity_row(
    webhook: &WebhookRecord,
    source: DeliverySource,
    received_at: i64,
    event: Option<&PushEvent>,
    status: EventStatus,
    reason: String,
) -> NewEvent {
    NewEvent {
        webhook_id: webhook.id,
        received_at,
        source,
        repository: event.map(|event| event.image.clone()).unwrap_or_default(),
        tag: event.map(|event| event.tag.clone()).unwrap_or_default(),
        owner: event.map(|event| event.owner.clone()).unwrap_or_default(),
        status,
        reason,
        dedupe_key: event.map(|event| event.dedupe_key.clone()),
        inputs: None,
        pushed_at: event.and_then(PushEvent::pushed_at_millis),
        digest: event.and_then(|event| event.digest.clone()),
    }
}

/// One IGNORED row for the events of a delivery that are not pushes, when
/// it has any.
fn not_pushes_row(
    webhook: &WebhookRecord,
    source: DeliverySource,
    received_at: i64,
    not_pushes: &[NotAPush],
) -> Option<NewEvent> {
    let first = not_pushes.first()?;
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
    Some(NewEvent {
        webhook_id: webhook.id,
        received_at,
        source,
        repository: first.repository.clone(),
        tag: first.tag.clone(),
        owner: String::new(),
        status: EventStatus::Ignored,
        reason: format!("not a push: {reason}"),
        dedupe_key: None,
        inputs: None,
        pushed_at: None,
        digest: None,
    })
}

/// Why the webhook does not take this push, if it does not: disabled, or
/// its image or tag pattern does not match.
fn why_ignored(webhook: &ReadWebhook, event: &PushEvent) -> Option<String> {
    if !webhook.enabled {
        return Some("disabled".into());
    }
    compiled_filter_mismatch(&webhook.filters, event)
}

/// Why the image and tag patterns do not take this push, if they do not.
pub(crate) fn filter_mismatch(
    image_pattern: &str,
    tag_pattern: &str,
    event: &PushEvent,
) -> Option<String> {
    let filters =
        Pattern::parse(image_pattern).and_then(|image| Ok((image, Pattern::parse(tag_pattern)?)));
    compiled_filter_mismatch(&filters, event)
}

/// [`filter_mismatch`] with the patterns compiled already.
fn compiled_filter_mismatch(
    filters: &Result<(Pattern, Pattern), String>,
    event: &PushEvent,
) -> Option<String> {
    // Patterns were checked on save; should a stored one not parse, fail
    // closed: a broken filter must not let every push through.
    let (image, tag) = match filters {
        Ok(filters) => filters,
        Err(problem) => return Some(format!("the webhook's pattern is invalid: {problem}")),
    };
    if !image.matches_image(event) {
        return Some(format!("image '{}' does not match '{image}'", event.image));
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
