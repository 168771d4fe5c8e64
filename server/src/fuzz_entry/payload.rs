//! Webhook payloads: [`crate::receive::payload::parse`] for every
//! [`DeliverySource`], and [`parse_registry_delivery`] with the header sets
//! that change how a body is read.
//!
//! The grammars are written again here as regexes, independently of the
//! hand-written checks in `receive/payload/grammar.rs`, so a slip in either
//! shows up: these values end up inside Kubernetes YAML.

use std::sync::LazyLock;

use app::pipeline::Placement;
use app::webhook::DeliverySource;
use regex::Regex;

use super::assert_one_line;
use crate::receive::payload::{
    parse, parse_registry_delivery, NotAPush, PushEvent, RegistryHeaders,
};

fn grammar(expression: &str) -> Regex {
    Regex::new(expression).unwrap_or_else(|error| panic!("grammar {expression}: {error}"))
}

const COMPONENT: &str = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
static TAG: LazyLock<Regex> = LazyLock::new(|| grammar(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z"));
static PATH_COMPONENT: LazyLock<Regex> = LazyLock::new(|| grammar(&format!(r"\A{COMPONENT}\z")));
static REPOSITORY_PATH: LazyLock<Regex> =
    LazyLock::new(|| grammar(&format!(r"\A{COMPONENT}(?:/{COMPONENT})*\z")));
static DIGEST: LazyLock<Regex> =
    LazyLock::new(|| grammar(r"\A[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\z"));
static HOST: LazyLock<Regex> = LazyLock::new(|| {
    grammar(
        r"\A[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?\z",
    )
});
static OWNER: LazyLock<Regex> =
    LazyLock::new(|| grammar(r"\A(?:[A-Za-z0-9_][A-Za-z0-9_.@+-]*)?\z"));
static EVENT_ID: LazyLock<Regex> = LazyLock::new(|| grammar(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]*\z"));
static UTC_TIME: LazyLock<Regex> = LazyLock::new(|| {
    grammar(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3}|\.[0-9]{6}|\.[0-9]{9})?Z\z",
    )
});
/// What any `DOCKER_*` input may consist of: nothing YAML treats specially at
/// the start of a plain scalar, no space (so no `: ` or ` #`), no quote, no
/// line break.
static SAFE_INPUT: LazyLock<Regex> =
    LazyLock::new(|| grammar(r"\A(?:[A-Za-z0-9_][A-Za-z0-9_.:/@+=-]*)?\z"));

/// The header sets a registry delivery is read with: none, a GitHub
/// `package` delivery, a `registry_package` one with an odd delivery id,
/// a ping, and another GitHub event.
const HEADER_SETS: [RegistryHeaders<'static>; 5] = [
    RegistryHeaders {
        github_event: None,
        github_delivery: None,
    },
    RegistryHeaders {
        github_event: Some("package"),
        github_delivery: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    },
    RegistryHeaders {
        github_event: Some("registry_package"),
        github_delivery: Some("id: x"),
    },
    RegistryHeaders {
        github_event: Some("ping"),
        github_delivery: None,
    },
    RegistryHeaders {
        github_event: Some("push\n#x"),
        github_delivery: None,
    },
];

/// Reads `body` as every delivery source's format, and as a registry
/// delivery with each of [`HEADER_SETS`]. Properties: an event keeps every
/// field to its grammar ([`assert_event_is_safe`]), a registry delivery's
/// dedupe keys start with its source's name, a not-a-push is one safe line
/// ([`assert_not_push_is_safe`]); a refusal is a one-line message.
pub fn payload(body: &[u8]) {
    for source in DeliverySource::ALL {
        match parse(source, body) {
            Ok(events) => events.iter().for_each(assert_event_is_safe),
            Err(error) => assert_one_line(source.as_str(), &error.to_string()),
        }
    }
    for headers in &HEADER_SETS {
        match parse_registry_delivery(headers, body) {
            Ok(delivery) => {
                let prefix = format!("{}|", delivery.source.as_str());
                for event in &delivery.pushes {
                    assert_event_is_safe(event);
                    assert!(
                        event.dedupe_key.starts_with(&prefix),
                        "{} key {:?}",
                        delivery.source.as_str(),
                        event.dedupe_key
                    );
                }
                delivery.not_pushes.iter().for_each(assert_not_push_is_safe);
            }
            Err(error) => assert_one_line("registry delivery", &error.to_string()),
        }
    }
}

/// A not-a-push says what it was in one line without control characters,
/// and names only a valid repository and tag (or none).
pub fn assert_not_push_is_safe(entry: &NotAPush) {
    assert_one_line("not a push", &entry.what);
    assert!(
        !entry.what.chars().any(char::is_control),
        "what {:?}",
        entry.what
    );
    assert!(
        entry.repository.is_empty()
            || (REPOSITORY_PATH.is_match(&entry.repository) && entry.repository.len() <= 255),
        "repository {:?}",
        entry.repository
    );
    assert!(
        entry.tag.is_empty() || TAG.is_match(&entry.tag),
        "tag {:?}",
        entry.tag
    );
}

/// Every field of a parsed event keeps to its grammar, and every `DOCKER_*`
/// input it gives can be bound into a Kubernetes task's YAML (a push that
/// is accepted never makes the deploy it starts fail on its own values).
pub fn assert_event_is_safe(event: &PushEvent) {
    assert!(TAG.is_match(&event.tag), "tag {:?}", event.tag);
    assert!(
        REPOSITORY_PATH.is_match(&event.image) && event.image.len() <= 255,
        "image {:?}",
        event.image
    );
    assert!(
        PATH_COMPONENT.is_match(&event.repo_name),
        "repo_name {:?}",
        event.repo_name
    );
    assert!(
        event.namespace.is_empty() || REPOSITORY_PATH.is_match(&event.namespace),
        "namespace {:?}",
        event.namespace
    );
    let joined = if event.namespace.is_empty() {
        event.repo_name.clone()
    } else {
        format!("{}/{}", event.namespace, event.repo_name)
    };
    assert_eq!(event.image, joined);
    assert!(OWNER.is_match(&event.owner), "owner {:?}", event.owner);
    if let Some(digest) = &event.digest {
        assert!(DIGEST.is_match(digest), "digest {digest:?}");
    }
    if let Some(registry) = &event.registry {
        assert!(HOST.is_match(registry), "registry {registry:?}");
    }
    if let Some(pushed_at) = &event.pushed_at {
        assert!(UTC_TIME.is_match(pushed_at), "pushed_at {pushed_at:?}");
    }
    if let Some(id) = &event.event_id {
        assert!(EVENT_ID.is_match(id), "event id {id:?}");
    }
    if let Some(url) = &event.callback_url {
        assert!(
            url.chars().all(|c| c.is_ascii_graphic())
                && (url.to_ascii_lowercase().starts_with("http://")
                    || url.to_ascii_lowercase().starts_with("https://")),
            "callback_url {url:?}"
        );
    }
    let prefixes = DeliverySource::ALL.map(|source| match source {
        DeliverySource::DockerHub => "hub|",
        DeliverySource::Registry => "registry|",
        DeliverySource::Harbor => "harbor|",
        DeliverySource::Ghcr => "ghcr|",
        DeliverySource::Quay => "quay|",
        DeliverySource::Acr => "acr|",
        DeliverySource::Ecr => "ecr|",
        DeliverySource::Gar => "gar|",
        DeliverySource::Gitlab => "gitlab|",
        DeliverySource::Jfrog => "jfrog|",
    });
    assert!(
        prefixes
            .iter()
            .any(|prefix| event.dedupe_key.starts_with(prefix)),
        "dedupe key {:?}",
        event.dedupe_key
    );
    assert!(!event.dedupe_key.chars().any(char::is_control));
    for (name, value) in event.docker_inputs() {
        assert!(name.starts_with("DOCKER_"), "{name}");
        assert!(SAFE_INPUT.is_match(&value), "{name} = {value:?}");
        if let Err(reason) = Placement::Yaml.place(&value, "") {
            panic!("{name} = {value:?} cannot be bound into YAML: {reason}");
        }
    }
}
