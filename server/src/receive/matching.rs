//! The image and tag filters of a Docker webhook.
//!
//! A pattern is written as text:
//! - empty (or only spaces): matches anything;
//! - `re:<regex>` or `/<regex>/`: a regular expression (the `regex` crate's
//!   syntax). Like `grep`, it matches when it is found anywhere in the value;
//!   write `^…$` to match the whole value;
//! - anything else: a glob matched against the whole value, where `*` is any
//!   run of characters (`/` included, so `*` alone or `acme/*` also match
//!   deeper paths) and `?` is any one character. Everything else is literal.
//!
//! Surrounding spaces are ignored (form fields collect them). Matching is
//! case-sensitive: image names are lower case, tags are not.

use std::fmt;

use regex::{Regex, RegexBuilder};

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

    pub fn matches(&self, value: &str) -> bool {
        match &self.kind {
            PatternKind::Any => true,
            PatternKind::Glob(regex) | PatternKind::Regex(regex) => regex.is_match(value),
        }
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

    /// Whether a tag pattern matches the event's tag.
    pub fn matches_tag(&self, event: &PushEvent) -> bool {
        self.matches(&event.tag)
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

        assert!(pattern("v*").matches_tag(&registry));
        assert!(!pattern("latest").matches_tag(&registry));
    }
}
