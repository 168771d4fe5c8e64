//! The image and tag filters of a webhook ([`Pattern`]): globs, regexes and
//! `semver:` ranges.

use super::{assert_one_line, fields, MAX_VALUES};
use crate::receive::matching::Pattern;

/// Input: a pattern, then (after NUL bytes) values to match. Properties: a
/// refusal is a one-line message; an accepted pattern keeps its trimmed
/// text, reads again as itself, matches everything exactly when it is empty,
/// and a glob matches its own text (`*` and `?` match themselves too);
/// matching any value ends (the fuzzer's `-timeout` bounds how soon), and a
/// value matches exactly when there is no mismatch to explain, which is one
/// line for a one-line value.
pub fn tag_pattern(data: &[u8]) {
    let fields = fields(data);
    let text = fields[0].as_str();
    let pattern = match Pattern::parse(text) {
        Ok(pattern) => pattern,
        Err(message) => return assert_one_line("pattern", &message),
    };
    let trimmed = text.trim();
    assert_eq!(pattern.as_str(), trimmed);
    assert_eq!(pattern.to_string(), trimmed);
    assert_eq!(Pattern::parse(pattern.as_str()).as_ref(), Ok(&pattern));
    assert_eq!(pattern.is_any(), trimmed.is_empty());
    let is_regex = trimmed.starts_with("re:")
        || (trimmed.starts_with('/') && trimmed.ends_with('/') && trimmed.len() > 1);
    if !is_regex && !pattern.is_semver() {
        assert!(
            pattern.matches(trimmed),
            "the glob {trimmed:?} does not match itself"
        );
    }
    for value in fields[1..].iter().take(MAX_VALUES) {
        let matched = pattern.matches(value);
        if pattern.is_any() {
            assert!(matched);
        }
        let mismatch = pattern.mismatch("tag", value);
        assert_eq!(mismatch.is_none(), matched, "{value:?}");
        if let Some(why) = mismatch.filter(|_| !value.chars().any(char::is_control)) {
            assert_one_line("mismatch", &why);
        }
    }
}
