//! Grammars: what may reach a pipeline input. Every value a payload gives
//! is checked here against the Docker reference grammar (names, tags), OCI
//! digests, host names and user names; nothing that could break out of a
//! YAML scalar gets past these.

use super::json::invalid;
use super::PayloadError;

/// Longest repository path Docker accepts (distribution's `NameTotalLengthMax`).
const MAX_REPOSITORY_CHARS: usize = 255;
/// Longest owner name kept; longer ones are not user names.
const MAX_OWNER_CHARS: usize = 256;
/// Longest registry event id kept (distribution sends UUIDs, 36 chars).
const MAX_EVENT_ID_CHARS: usize = 128;
/// Longest digest kept: `sha512:` and 128 hex digits fit with room to spare.
const MAX_DIGEST_CHARS: usize = 255;
/// Longest `host[:port]` kept (a DNS name is at most 253 chars).
const MAX_HOST_CHARS: usize = 261;
/// Longest callback URL kept.
const MAX_URL_CHARS: usize = 2048;

/// A Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    tag.len() <= 128
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// One path component of the Docker reference grammar:
/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
pub fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alphanumeric = |byte: u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    let mut index = 0;
    loop {
        // A run of lower-case letters and digits…
        let run_start = index;
        while index < bytes.len() && is_alphanumeric(bytes[index]) {
            index += 1;
        }
        if index == run_start {
            return false;
        }
        if index == bytes.len() {
            return true;
        }
        // …then one separator: `.`, `_`, `__` or any number of `-`.
        match bytes[index] {
            b'.' => index += 1,
            b'_' => {
                index += 1;
                if bytes.get(index) == Some(&b'_') {
                    index += 1;
                }
            }
            b'-' => {
                while bytes.get(index) == Some(&b'-') {
                    index += 1;
                }
            }
            _ => return false,
        }
    }
}

/// A repository path: components joined by `/`, at most 255 characters.
pub fn is_valid_repository_path(path: &str) -> bool {
    path.len() <= MAX_REPOSITORY_CHARS && path.split('/').all(is_valid_path_component)
}

/// An OCI digest: `algorithm:encoded`, algorithm
/// `[a-z0-9]+([+._-][a-z0-9]+)*`, encoded `[a-zA-Z0-9=_-]+`; the registered
/// algorithms are held to their exact form (`sha256`: 64 lower-case hex
/// digits, `sha512`: 128), as the OCI image spec requires.
pub fn is_valid_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let registered_length = match algorithm {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    if let Some(length) = registered_length {
        return encoded.len() == length
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    }
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    digest.len() <= MAX_DIGEST_CHARS && algorithm_ok && encoded_ok
}

/// `host[:port]`: a DNS name or IPv4 address (labels of letters, digits and
/// inner `-`, joined by `.`) and an optional numeric port. Bracketed IPv6
/// literals are refused on purpose: a value starting with `[` would read as a
/// YAML flow sequence where a pipeline puts the registry unquoted.
pub fn is_valid_registry_host(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_CHARS {
        return false;
    }
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let name_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let port_ok = port.is_none_or(|port| {
        (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
    });
    name_ok && port_ok
}

/// A user name as registries report it: letters, digits, `_`, `.`, `@`, `+`,
/// `-`, not starting with punctuation other than `_`; or empty.
pub fn is_valid_owner(owner: &str) -> bool {
    let mut chars = owner.chars();
    match chars.next() {
        None => true,
        Some(first) => {
            owner.len() <= MAX_OWNER_CHARS
                && (first.is_ascii_alphanumeric() || first == '_')
                && chars
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '+' | '-'))
        }
    }
}

/// A registry event id: distribution sends a UUID; allow the characters of
/// ids in general (`A-Za-z0-9`, `-`, `_`, `.`, `:`), starting alphanumeric
/// and not ending with `:` (bound unquoted into a task's YAML, `id:` would
/// read as a key, so the run would fail on it).
pub fn is_valid_event_id(id: &str) -> bool {
    let mut chars = id.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    id.len() <= MAX_EVENT_ID_CHARS
        && first.is_ascii_alphanumeric()
        && !id.ends_with(':')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

pub(super) fn check_tag(tag: &str, place: &str) -> Result<(), PayloadError> {
    if is_valid_tag(tag) {
        Ok(())
    } else {
        Err(invalid(
            place,
            "is not a valid Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
            tag,
        ))
    }
}

pub(super) fn check_path_component(component: &str, place: &str) -> Result<(), PayloadError> {
    if is_valid_path_component(component) {
        Ok(())
    } else {
        Err(invalid(
            place,
            "is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__` or `-`)",
            component,
        ))
    }
}

pub(super) fn check_repository_path(path: &str, place: &str) -> Result<(), PayloadError> {
    if is_valid_repository_path(path) {
        Ok(())
    } else {
        Err(invalid(
            place,
            "is not a valid repository name (lower-case letters and digits, separated by `.`, `_`, `__`, `-` or `/`, at most 255 characters)",
            path,
        ))
    }
}

pub(super) fn check_digest<'a>(digest: &'a str, place: &str) -> Result<&'a str, PayloadError> {
    if is_valid_digest(digest) {
        Ok(digest)
    } else {
        Err(invalid(
            place,
            "is not a valid digest (algorithm:hex)",
            digest,
        ))
    }
}

/// Checks and lower-cases a registry host (host names are case-insensitive,
/// and webhook image patterns compare it as text).
pub(super) fn check_host(host: &str, place: &str) -> Result<String, PayloadError> {
    if is_valid_registry_host(host) {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(invalid(place, "is not a valid registry host[:port]", host))
    }
}

pub(super) fn check_owner(owner: &str, place: &str) -> Result<(), PayloadError> {
    if is_valid_owner(owner) {
        Ok(())
    } else {
        Err(invalid(
            place,
            "is not a valid user name (letters, digits, `_`, `.`, `@`, `+`, `-`)",
            owner,
        ))
    }
}

pub(super) fn check_event_id<'a>(id: &'a str, place: &str) -> Result<&'a str, PayloadError> {
    if is_valid_event_id(id) {
        Ok(id)
    } else {
        Err(invalid(
            place,
            "is not a valid event id (letters, digits, `-`, `_`, `.`, `:`, not ending with `:`)",
            id,
        ))
    }
}

/// The callback is only ever POSTed to allow-listed hosts (checked where it
/// is sent); here it must at least be a plain absolute http(s) URL.
pub(super) fn check_callback_url<'a>(url: &'a str, place: &str) -> Result<&'a str, PayloadError> {
    let plain = url.len() <= MAX_URL_CHARS
        && url.chars().all(|c| c.is_ascii_graphic())
        && url_authority(url).is_some_and(is_valid_registry_host);
    if plain {
        Ok(url)
    } else {
        Err(invalid(place, "is not an absolute http(s) URL", url))
    }
}

/// `host[:port]` of `scheme://[userinfo@]host[:port]/…`, without the userinfo.
pub(super) fn url_authority(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts() {
        for good in [
            "127.0.0.1:5000",
            "localhost",
            "registry.example.com",
            "a-b.c",
        ] {
            assert!(is_valid_registry_host(good), "{good}");
        }
        for bad in [
            "",
            ":5000",
            "a:",
            "a:123456",
            "a b",
            "a/b",
            "-a",
            "a..b",
            "[::1]:5000",
            "a:5000:1",
            "a-:1",
        ] {
            assert!(!is_valid_registry_host(bad), "{bad}");
        }
    }
}
