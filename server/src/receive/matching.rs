//! The image and tag filters of a Docker webhook.
//!
//! A pattern is written as text:
//! - empty (or only spaces): matches anything;
//! - `re:<regex>` or `/<regex>/`: a regular expression (the `regex` crate's
//!   syntax). Like `grep`, it matches when it is found anywhere in the value;
//!   write `^…$` to match the whole value;
//! - `semver:<range>` (tags only): the tag read as a semantic version
//!   (`1.4.2`, `v1.4.2`, `2.0.0-rc.1`) is in the range: comparators
//!   separated by spaces all hold (`>=1.4.0 <2`), `^1.4` and `~1.4.2` as in
//!   npm and cargo, alternatives joined by `||`. A `v` before a version is
//!   accepted on both sides. A pre-release matches only a range that names
//!   a pre-release of the same version (`>=2.0.0-rc.1`), so `1.5.0-rc.10`
//!   never slips into `^1.4`; pre-releases order numerically (`rc.10` after
//!   `rc.9`). A tag that is not a full `x.y.z` version never matches;
//! - anything else: a glob matched against the whole value, where `*` is any
//!   run of characters (`/` included, so `*` alone or `acme/*` also match
//!   deeper paths) and `?` is any one character. Everything else is literal.
//!
//! Surrounding spaces are ignored (form fields collect them). Matching is
//! case-sensitive: image names are lower case, tags are not.

use std::fmt;

use regex::{Regex, RegexBuilder};
use semver::{Version, VersionReq};

use super::payload::{PushEvent, DOCKER_HUB_OFFICIAL_NAMESPACE};

/// Longest pattern text accepted; longer ones are mistakes or abuse.
const MAX_PATTERN_CHARS: usize = 1024;
/// Bound on a compiled regex, so a pattern from the API cannot make a huge
/// automaton (the `regex` crate matches in linear time once compiled).
const MAX_COMPILED_REGEX_BYTES: usize = 1 << 20;

/// A parsed image or tag filter; keeps the text it was written as.
#[derive(Clone, Debug)]
pub struct Pattern {
    text: String,
    kind: PatternKind,
}

#[derive(Clone, Debug)]
enum PatternKind {
    Any,
    /// A glob, compiled to an anchored regex (`*` → `.*`, `?` → `.`).
    Glob(Regex),
    Regex(Regex),
    /// Alternatives (`||`); a version in any of them matches.
    Semver(Vec<VersionReq>),
}

impl Pattern {
    /// The pattern that matches everything (an empty filter).
    pub fn any() -> Pattern {
        Pattern {
            text: String::new(),
            kind: PatternKind::Any,
        }
    }

    /// Reads a pattern; the error says what is wrong with it, on one line.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let trimmed = text.trim();
        if trimmed.chars().count() > MAX_PATTERN_CHARS {
            return Err(format!(
                "pattern is too long: at most {MAX_PATTERN_CHARS} characters"
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("pattern contains a control character (such as a newline)".to_string());
        }
        let kind = if trimmed.is_empty() {
            PatternKind::Any
        } else if let Some(range) = trimmed.strip_prefix(SEMVER_PREFIX) {
            PatternKind::Semver(semver_range(range)?)
        } else if let Some(expression) = regex_source(trimmed) {
            if expression.is_empty() {
                return Err(
                    "empty regular expression: leave the pattern empty to match anything"
                        .to_string(),
                );
            }
            PatternKind::Regex(compile(expression)?)
        } else {
            PatternKind::Glob(compile(&glob_to_regex(trimmed))?)
        };
        Ok(Pattern {
            text: trimmed.to_string(),
            kind,
        })
    }

    /// The pattern as written (trimmed); empty for [`Pattern::any`].
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this pattern matches everything.
    pub fn is_any(&self) -> bool {
        matches!(self.kind, PatternKind::Any)
    }

    /// Whether this is a `semver:` range (which only tags may use).
    pub fn is_semver(&self) -> bool {
        matches!(self.kind, PatternKind::Semver(_))
    }

    pub fn matches(&self, value: &str) -> bool {
        match &self.kind {
            PatternKind::Any => true,
            PatternKind::Glob(regex) | PatternKind::Regex(regex) => regex.is_match(value),
            PatternKind::Semver(ranges) => tag_version(value)
                .is_some_and(|version| ranges.iter().any(|range| range.matches(&version))),
        }
    }

    /// Why `value` does not match, in words for the Activity row; `None` when it matches.
    pub fn mismatch(&self, what: &str, value: &str) -> Option<String> {
        if self.matches(value) {
            return None;
        }
        Some(match &self.kind {
            PatternKind::Semver(_) if tag_version(value).is_none() => format!(
                "{what} '{value}' is not a version (x.y.z), so it is not in '{}'",
                self.text
            ),
            PatternKind::Semver(_) => {
                format!("{what} '{value}' is not in the range '{}'", self.text)
            }
            _ => format!("{what} '{value}' does not match '{}'", self.text),
        })
    }

    /// Whether an image pattern matches the event's image, written any way a
    /// user may write it: `demo/app`, with the registry host in front
    /// (`127.0.0.1:5000/demo/app`, `docker.io/library/ubuntu`), or, for
    /// Docker Hub official images, the short name (`ubuntu`).
    pub fn matches_image(&self, event: &PushEvent) -> bool {
        if self.matches(&event.image) {
            return true;
        }
        if let Some(registry) = &event.registry {
            if self.matches(&format!("{registry}/{}", event.image)) {
                return true;
            }
        }
        let is_docker_hub_official = event.registry.as_deref()
            == Some(super::payload::DOCKER_HUB_REGISTRY)
            && event.namespace == DOCKER_HUB_OFFICIAL_NAMESPACE;
        is_docker_hub_official && self.matches(&event.repo_name)
    }
}

impl Default for Pattern {
    fn default() -> Pattern {
        Pattern::any()
    }
}

impl PartialEq for Pattern {
    /// Same text, same pattern: the compiled form follows from the text.
    fn eq(&self, other: &Pattern) -> bool {
        self.text == other.text
    }
}

impl Eq for Pattern {}

impl fmt::Display for Pattern {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

impl std::str::FromStr for Pattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Pattern, String> {
        Pattern::parse(text)
    }
}

/// The regex inside `re:…` or `/…/`, when the text is written that way.
const SEMVER_PREFIX: &str = "semver:";

/// Reads an npm-style range (`>=1.4.0 <2`, `^1.4`, `1.x || >=3`) into the
/// `semver` crate's requirements, one per `||` alternative.
fn semver_range(range: &str) -> Result<Vec<VersionReq>, String> {
    if range.trim().is_empty() {
        return Err(
            "empty semver range: write one such as semver:^1.4 or semver:>=1.4.0 <2".into(),
        );
    }
    range
        .split("||")
        .map(|alternative| {
            let comparators = comparators_of(alternative);
            if comparators.is_empty() {
                return Err(format!(
                    "semver range '{}': an alternative of `||` is empty",
                    range.trim()
                ));
            }
            VersionReq::parse(&comparators.join(", "))
                .map_err(|error| format!("semver range '{}': {error}", range.trim()))
        })
        .collect()
}

/// The comparators of one alternative, spaces between an operator and its
/// version closed up and a `v` before the version dropped: `>= v1.4` → `>=1.4`.
fn comparators_of(alternative: &str) -> Vec<String> {
    let mut comparators: Vec<String> = Vec::new();
    let mut pending_operator = String::new();
    for token in alternative.split_whitespace() {
        if token
            .chars()
            .all(|c| matches!(c, '<' | '>' | '=' | '~' | '^'))
        {
            pending_operator.push_str(token);
            continue;
        }
        let operator_end = token
            .find(|c: char| !matches!(c, '<' | '>' | '=' | '~' | '^'))
            .unwrap_or(token.len());
        let (operator, version) = token.split_at(operator_end);
        let version = version.strip_prefix(['v', 'V']).unwrap_or(version);
        comparators.push(format!("{pending_operator}{operator}{version}"));
        pending_operator.clear();
    }
    if !pending_operator.is_empty() {
        comparators.push(pending_operator);
    }
    comparators
}

/// A tag read as a version: `1.4.2`, `v1.4.2`, `2.0.0-rc.1+build.5`.
pub fn tag_version(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix(['v', 'V']).unwrap_or(tag)).ok()
}

fn regex_source(text: &str) -> Option<&str> {
    if let Some(expression) = text.strip_prefix("re:") {
        return Some(expression);
    }
    // Image names and tags never start with `/`, so this form is unambiguous.
    text.strip_prefix('/')?.strip_suffix('/')
}

fn glob_to_regex(glob: &str) -> String {
    let mut expression = String::with_capacity(glob.len() + 8);
    expression.push_str(r"\A(?s:");
    let mut literal = [0u8; 4];
    for c in glob.chars() {
        match c {
            '*' => expression.push_str(".*"),
            '?' => expression.push('.'),
            _ => expression.push_str(&regex::escape(c.encode_utf8(&mut literal))),
        }
    }
    expression.push_str(r")\z");
    expression
}

fn compile(expression: &str) -> Result<Regex, String> {
    RegexBuilder::new(expression)
        .size_limit(MAX_COMPILED_REGEX_BYTES)
        .build()
        .map_err(|error| describe_regex_error(expression, &error))
}

/// The `regex` crate's syntax errors span several lines (the pattern, a caret
/// line, then `error: …`); keep the `error:` line so the message is one line.
fn describe_regex_error(expression: &str, error: &regex::Error) -> String {
    let detail = match error {
        regex::Error::CompiledTooBig(_) => "it compiles too big; simplify it".to_string(),
        other => {
            let text = other.to_string();
            text.lines()
                .find_map(|line| line.trim().strip_prefix("error:").map(str::trim))
                .map(str::to_string)
                .unwrap_or_else(|| {
                    text.lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
        }
    };
    let mut excerpt: String = expression.chars().take(64).collect();
    if excerpt.len() < expression.len() {
        excerpt.push('…');
    }
    format!("invalid regular expression {excerpt:?}: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> Pattern {
        Pattern::parse(text).unwrap_or_else(|error| panic!("{text:?} should parse: {error}"))
    }

    fn event(registry: &str, namespace: &str, repo_name: &str, tag: &str) -> PushEvent {
        let image = if namespace.is_empty() {
            repo_name.to_string()
        } else {
            format!("{namespace}/{repo_name}")
        };
        PushEvent {
            owner: String::new(),
            namespace: namespace.to_string(),
            repo_name: repo_name.to_string(),
            image,
            tag: tag.to_string(),
            digest: None,
            registry: Some(registry.to_string()),
            pushed_at: None,
            event_id: None,
            callback_url: None,
            dedupe_key: String::new(),
        }
    }

    #[test]
    fn empty_matches_anything() {
        for text in ["", "   "] {
            let any = pattern(text);
            assert!(any.is_any());
            assert!(any.matches(""));
            assert!(any.matches("svendowideit/testhook"));
        }
        assert!(Pattern::default().is_any());
    }

    #[test]
    fn globs_match_the_whole_value() {
        let latest = pattern("latest");
        assert!(latest.matches("latest"));
        assert!(!latest.matches("latest-1"));
        assert!(!latest.matches("not-latest"));

        let versions = pattern("v1.*");
        assert!(versions.matches("v1.2.3"));
        assert!(versions.matches("v1."));
        assert!(!versions.matches("v1"));
        assert!(!versions.matches("v102"), "`.` is literal in a glob");

        let one_char = pattern("v?");
        assert!(one_char.matches("v2"));
        assert!(!one_char.matches("v22"));
        assert!(!one_char.matches("v"));

        let namespace = pattern("svendowideit/*");
        assert!(namespace.matches("svendowideit/testhook"));
        assert!(namespace.matches("svendowideit/a/b"));
        assert!(!namespace.matches("other/testhook"));

        assert!(pattern("*").matches("a/b/c"));
        assert!(
            pattern("a+b(c)[d]").matches("a+b(c)[d]"),
            "regex characters are literal"
        );
        assert!(pattern("  latest ").matches("latest"));
    }

    #[test]
    fn regexes_in_both_forms() {
        let semver = pattern(r"re:^v\d+\.\d+\.\d+$");
        assert!(semver.matches("v1.2.3"));
        assert!(!semver.matches("v1.2"));
        assert!(!semver.matches("latest"));

        let slashes = pattern(r"/^(main|release-\d+)$/");
        assert!(slashes.matches("main"));
        assert!(slashes.matches("release-7"));
        assert!(!slashes.matches("feature"));

        let unanchored = pattern("re:rc");
        assert!(
            unanchored.matches("v1-rc1"),
            "a regex is searched for, like grep"
        );
        assert_eq!(unanchored.as_str(), "re:rc");
    }

    #[test]
    fn invalid_patterns_say_why_on_one_line() {
        let error = Pattern::parse("re:(unclosed").expect_err("unclosed group");
        assert!(
            error.starts_with("invalid regular expression \"(unclosed\": "),
            "{error}"
        );
        assert!(error.contains("unclosed group"), "{error}");
        assert!(!error.contains('\n'), "{error}");

        let error = Pattern::parse("/[z-a]/").expect_err("bad class");
        assert!(
            error.starts_with("invalid regular expression \"[z-a]\""),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");

        assert!(Pattern::parse("re:")
            .expect_err("empty")
            .starts_with("empty regular expression"));
        assert!(Pattern::parse("//")
            .expect_err("empty")
            .starts_with("empty regular expression"));
        assert!(Pattern::parse("a\nb")
            .expect_err("newline")
            .contains("control character"));
        assert!(Pattern::parse(&"a".repeat(2000))
            .expect_err("long")
            .contains("too long"));
        let error = Pattern::parse(r"re:\w{1000}\w{1000}\w{1000}").expect_err("huge");
        assert!(error.contains("too big"), "{error}");
    }

    #[test]
    fn image_patterns_with_or_without_registry_host() {
        let hub = event("docker.io", "svendowideit", "testhook", "latest");
        assert!(pattern("svendowideit/testhook").matches_image(&hub));
        assert!(pattern("docker.io/svendowideit/testhook").matches_image(&hub));
        assert!(!pattern("testhook").matches_image(&hub));

        let official = event("docker.io", "library", "ubuntu", "24.04");
        assert!(pattern("ubuntu").matches_image(&official));
        assert!(pattern("library/ubuntu").matches_image(&official));
        assert!(pattern("docker.io/library/ubuntu").matches_image(&official));

        let registry = event("127.0.0.1:5000", "demo", "app", "v1");
        assert!(pattern("demo/app").matches_image(&registry));
        assert!(pattern("127.0.0.1:5000/demo/app").matches_image(&registry));
        assert!(pattern("127.0.0.1:*/demo/*").matches_image(&registry));
        assert!(!pattern("127.0.0.1:5001/demo/app").matches_image(&registry));
        assert!(
            !pattern("app").matches_image(&registry),
            "no short names off Docker Hub"
        );
        assert!(pattern("re:^demo/").matches_image(&registry));

        assert!(pattern("v*").matches(&registry.tag));
        assert!(!pattern("latest").matches(&registry.tag));
    }

    #[test]
    fn semver_ranges_match_versions_in_them() {
        let range = pattern("semver:>=1.4.0 <2");
        for tag in ["1.4.0", "v1.4.2", "1.99.0", "1.4.0+build.7"] {
            assert!(range.matches(tag), "{tag}");
        }
        for tag in ["1.3.9", "2.0.0", "latest", "1.4", "v", ""] {
            assert!(!range.matches(tag), "{tag}");
        }
        assert!(pattern("semver:^1.4").matches("1.9.3"));
        assert!(!pattern("semver:^1.4").matches("2.0.0"));
        assert!(pattern("semver:~1.4.2").matches("1.4.9"));
        assert!(!pattern("semver:~1.4.2").matches("1.5.0"));
        assert!(
            pattern("semver:>= v1.4").matches("v1.4.0"),
            "spaces and v in the range"
        );
        let either = pattern("semver:^1.4 || >=3");
        assert!(either.matches("1.5.0") && either.matches("3.1.0"));
        assert!(!either.matches("2.0.0"));
    }

    #[test]
    fn pre_releases_match_only_ranges_that_name_one_and_order_numerically() {
        assert!(!pattern("semver:^1.4").matches("1.5.0-rc.10"));
        let candidates = pattern("semver:>=1.5.0-rc.9");
        assert!(candidates.matches("1.5.0-rc.10"), "rc.10 comes after rc.9");
        assert!(!candidates.matches("1.5.0-rc.8"));
        assert!(candidates.matches("1.5.0"));
        assert!(
            !candidates.matches("1.6.0-rc.1"),
            "another version's pre-release"
        );
    }

    #[test]
    fn bad_semver_ranges_say_why() {
        for (text, says) in [
            ("semver:", "empty semver range"),
            ("semver:   ", "empty semver range"),
            ("semver:^1.4 ||", "alternative of `||` is empty"),
            ("semver:>=banana", "semver range '>=banana'"),
        ] {
            let error = Pattern::parse(text).expect_err(text);
            assert!(error.contains(says), "{text}: {error}");
        }
        assert!(pattern("semver:^1").is_semver());
        assert!(!pattern("1.*").is_semver());
    }

    #[test]
    fn a_mismatch_says_why_in_words() {
        let range = pattern("semver:^1.4");
        assert_eq!(range.mismatch("tag", "1.5.0"), None);
        assert_eq!(
            range.mismatch("tag", "latest").as_deref(),
            Some("tag 'latest' is not a version (x.y.z), so it is not in 'semver:^1.4'")
        );
        assert_eq!(
            range.mismatch("tag", "2.0.0").as_deref(),
            Some("tag '2.0.0' is not in the range 'semver:^1.4'")
        );
        assert_eq!(
            pattern("v*").mismatch("tag", "1.0").as_deref(),
            Some("tag '1.0' does not match 'v*'")
        );
    }
}
