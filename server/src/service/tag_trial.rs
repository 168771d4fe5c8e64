//! The pattern tester: whether a push of a repository and tag would start a
//! run under a webhook's patterns as typed (before they are saved), and the
//! same words Activity would use when it would not.

use app::backend::Actor;
use app::error::AppError;
use app::model::ProjectRole;
use app::webhook::{TagTrial, TagTrialAnswer};

use crate::receive::matching::{tag_version, Pattern};
use crate::receive::payload::PushEvent;
use crate::service::delivery::filter_mismatch;
use crate::service::push_order::{is_newer_push, stale_reason};
use crate::service::Slipway;
use crate::store::HeadScope;

/// The longest repository or tag a trial takes (a Docker reference is at
/// most 255 characters).
const MAX_TRIAL_TEXT: usize = 255;

impl Slipway {
    pub(crate) async fn try_tag_as(
        &self,
        actor: &Actor,
        trial: TagTrial,
    ) -> Result<TagTrialAnswer, AppError> {
        let candidate_tag = trial.candidate_tag.trim();
        if candidate_tag.is_empty() {
            return Err(AppError::invalid(
                "candidate_tag",
                "is required: type the tag a push would name, e.g. v1.5.0",
            ));
        }
        let repository = trial.repository.trim();
        for (field, value) in [("candidate_tag", candidate_tag), ("repository", repository)] {
            if value.chars().count() > MAX_TRIAL_TEXT {
                return Err(AppError::invalid(
                    field,
                    &format!("is longer than {MAX_TRIAL_TEXT} characters"),
                ));
            }
        }
        let image =
            Pattern::parse(&trial.image).map_err(|message| AppError::invalid("image", &message))?;
        if image.is_semver() {
            return Err(AppError::invalid(
                "image",
                "a semver: range applies to tags only; write the image as a name or a glob",
            ));
        }
        let tag =
            Pattern::parse(&trial.tag).map_err(|message| AppError::invalid("tag", &message))?;
        let event = tried_push(repository, candidate_tag);
        if let Some(reason) = filter_mismatch(&trial.image, &trial.tag, &event) {
            return Ok(TagTrialAnswer {
                matches: false,
                reason,
            });
        }
        let mut reason = format!(
            "a push of {}:{candidate_tag} starts a run: {}, {}",
            display_repository(repository),
            describe_match("image", &image, repository),
            describe_match("tag", &tag, candidate_tag)
        );
        if trial.newer_only {
            match self.newer_only_verdict(actor, &trial, &event).await? {
                Some(refused) => {
                    return Ok(TagTrialAnswer {
                        matches: false,
                        reason: refused,
                    })
                }
                None => reason.push_str(&newer_only_note(&trial, candidate_tag)),
            }
        }
        Ok(TagTrialAnswer {
            matches: true,
            reason,
        })
    }

    /// With a saved webhook: why `newer_only` ignores the push, if it does.
    async fn newer_only_verdict(
        &self,
        actor: &Actor,
        trial: &TagTrial,
        event: &PushEvent,
    ) -> Result<Option<String>, AppError> {
        let Some(reference) = trial.webhook.as_deref().filter(|text| !text.is_empty()) else {
            return Ok(None);
        };
        let (webhook, role) = self.visible_webhook(actor, reference, None).await?;
        Self::require_role(actor, role, ProjectRole::Viewer, "trying tags")?;
        let Some(head) = self.store.repository_head(webhook.id, &event.image).await? else {
            return Ok(None);
        };
        // A trial has no push time: it is "now", which only a version can lose on.
        let now = crate::clock::now_millis();
        Ok((!is_newer_push(&event.tag, now, &head))
            .then(|| stale_reason(&event.tag, now, &head, HeadScope::Repository)))
    }
}

/// A push of `repository:tag` as a registry without a host would report it.
fn tried_push(repository: &str, tag: &str) -> PushEvent {
    let (namespace, repo_name) = repository.rsplit_once('/').unwrap_or(("", repository));
    PushEvent {
        owner: String::new(),
        namespace: namespace.to_string(),
        repo_name: repo_name.to_string(),
        image: repository.to_string(),
        tag: tag.to_string(),
        digest: None,
        registry: None,
        pushed_at: None,
        event_id: None,
        callback_url: None,
        dedupe_key: String::new(),
    }
}

fn display_repository(repository: &str) -> &str {
    if repository.is_empty() {
        "(any repository)"
    } else {
        repository
    }
}

/// Why a value matched, in words.
fn describe_match(what: &str, pattern: &Pattern, value: &str) -> String {
    if pattern.is_any() {
        format!("any {what} is taken")
    } else if pattern.is_semver() {
        format!("{what} '{value}' is in the range '{pattern}'")
    } else {
        format!("{what} '{value}' matches '{pattern}'")
    }
}

/// What `newer_only` will still check when the push arrives.
fn newer_only_note(trial: &TagTrial, candidate_tag: &str) -> String {
    let compared = if tag_version(candidate_tag).is_some() {
        "its version"
    } else {
        "its push time"
    };
    let saved = trial
        .webhook
        .as_deref()
        .is_some_and(|text| !text.is_empty());
    if saved {
        format!("; newer only: {compared} is newer than the last push this webhook deployed")
    } else {
        format!("; newer only: {compared} will be compared with the last push the webhook deploys")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tried_push_splits_its_repository_as_registries_do() {
        let event = tried_push("acme-prod/apps/shop-api", "v1");
        assert_eq!(
            (event.namespace.as_str(), event.repo_name.as_str()),
            ("acme-prod/apps", "shop-api")
        );
        let single = tried_push("nginx", "1.27");
        assert_eq!(
            (single.namespace.as_str(), single.image.as_str()),
            ("", "nginx")
        );
    }

    #[test]
    fn matches_are_explained_by_the_kind_of_pattern() {
        let range = Pattern::parse("semver:^1.4").unwrap();
        assert_eq!(
            describe_match("tag", &range, "v1.5.0"),
            "tag 'v1.5.0' is in the range 'semver:^1.4'"
        );
        assert_eq!(
            describe_match("image", &Pattern::any(), "a/b"),
            "any image is taken"
        );
    }
}
