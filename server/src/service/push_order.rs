//! The words and the comparison of push ordering: whether a push is newer
//! than a head (`newer_only`), and what an Activity row says of a push that
//! lost to a newer one. The ordering itself is the store's (`push_heads`).

use crate::receive::matching::tag_version;
use crate::store::{HeadScope, PushHead};

/// Whether a push (its tag, when it was pushed) is newer than the
/// repository's head for `newer_only`: by version when both tags are semver
/// versions, else by push time.
pub fn is_newer_push(tag: &str, pushed_at: i64, head: &PushHead) -> bool {
    match (tag_version(tag), tag_version(&head.tag)) {
        (Some(version), Some(head_version)) => version > head_version,
        _ => pushed_at > head.pushed_at,
    }
}

/// The Activity reason of a push that lost to a newer one.
pub fn stale_reason(tag: &str, pushed_at: i64, head: &PushHead, scope: HeadScope) -> String {
    match scope {
        HeadScope::Tag => format!(
            "an older push: event {} of the same tag, pushed at {}, already started a run (this one was pushed at {})",
            head.event_id,
            rfc3339(head.pushed_at),
            rfc3339(pushed_at)
        ),
        HeadScope::Repository => match (tag_version(tag), tag_version(&head.tag)) {
            (Some(_), Some(_)) => format!(
                "newer_only: version {tag} is not newer than {} (event {}, already TRIGGERED)",
                head.tag, head.event_id
            ),
            _ => format!(
                "newer_only: pushed at {}, not after the last TRIGGERED push of the repository (tag {}, event {}, pushed at {})",
                rfc3339(pushed_at),
                head.tag,
                head.event_id,
                rfc3339(head.pushed_at)
            ),
        },
    }
}

fn rfc3339(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| millis.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(tag: &str, pushed_at: i64) -> PushHead {
        PushHead {
            event_id: 7,
            tag: tag.to_string(),
            pushed_at,
        }
    }

    #[test]
    fn versions_decide_when_both_tags_are_versions_else_push_times() {
        assert!(is_newer_push("v1.5.0", 0, &head("1.4.9", 10)));
        assert!(!is_newer_push("1.4.9", 20, &head("1.5.0", 10)));
        assert!(!is_newer_push("1.5.0-rc.9", 20, &head("1.5.0-rc.10", 10)));
        assert!(is_newer_push("latest", 20, &head("1.5.0", 10)));
        assert!(!is_newer_push("latest", 10, &head("nightly", 10)));
    }

    #[test]
    fn a_stale_push_says_which_event_it_lost_to() {
        assert_eq!(
            stale_reason("1.3.9", 0, &head("1.4.0", 0), HeadScope::Repository),
            "newer_only: version 1.3.9 is not newer than 1.4.0 (event 7, already TRIGGERED)"
        );
        assert_eq!(
            stale_reason("v1", 1_000, &head("v1", 2_000), HeadScope::Tag),
            "an older push: event 7 of the same tag, pushed at 1970-01-01T00:00:02Z, already started a run (this one was pushed at 1970-01-01T00:00:01Z)"
        );
    }
}
