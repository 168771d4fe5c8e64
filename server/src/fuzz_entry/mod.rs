//! The parsers' fuzzing entry points: one function per parser that takes
//! input as a sender or an author could write it, runs the parser the server
//! runs on it, and panics when a property that must hold for every input
//! fails. Two callers share them: the cargo-fuzz targets in `server/fuzz/`
//! (nightly, `scripts/fuzz`) and the stable proptest runs in
//! `server/tests/parser_props.rs` and `server/tests/payload_props.rs` (the
//! short run every `cargo test` does). Nothing here runs in the server.
//!
//! Every entry takes bytes, so a crash the fuzzer saves is replayed as it is
//! and seeds are plain files. Entries that need more than one text split
//! their input at NUL bytes ([`fields`]): the first field is the text under
//! test, the rest are values (binding values, texts to match).
//!
//! The properties each entry checks are told on it. Shared by all: no panic
//! (a panic is a crash to the fuzzer), and the time and memory bounds the
//! fuzzer's `-timeout` and `-rss_limit_mb` set.

mod bindings;
mod expression;
mod kubernetes;
mod payload;
mod pipeline;
mod tag_pattern;
mod yaml;

pub use bindings::bindings;
pub use expression::expression;
pub use kubernetes::kubernetes_yaml;
pub use payload::{assert_event_is_safe, assert_not_push_is_safe, payload};
pub use pipeline::pipeline_text;
pub use tag_pattern::tag_pattern;

/// Most values an entry checks one by one: each costs several parses, and
/// more of them in one input slow the fuzzer down without reaching new code.
const MAX_VALUES: usize = 8;

/// The input split at NUL bytes, each part read as UTF-8 (lossily: the
/// server's parsers take text, and a byte that is not UTF-8 never reaches
/// them past the HTTP layer).
pub fn fields(data: &[u8]) -> Vec<String> {
    data.split(|byte| *byte == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

/// How many cases a stable property run tries: `PROPTEST_CASES` when set
/// (a long run), else `default` (the short run every `cargo test` does).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// An error message safe to show and log: not empty, one line.
fn assert_one_line(what: &str, message: &str) {
    assert!(!message.trim().is_empty(), "{what}: empty error message");
    assert!(
        !message.contains(['\n', '\r']),
        "{what}: error message spans lines: {message:?}"
    );
}
