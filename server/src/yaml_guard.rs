//! Checks YAML written by users before serde_yaml builds anything from it.
//!
//! serde_yaml expands every alias (`*name`) into a full copy of its anchor,
//! so a few kilobytes of nested aliases ("billion laughs") become gigabytes
//! of values. Slipway's YAML (pipelines, Kubernetes task definitions) never
//! needs them, so the text is read here as a stream of events first, which
//! builds nothing, and refused at its first anchor (`&name`) or alias, past
//! its size limit, or past its document limit. Anchors go too, though only
//! aliases expand: the two readers below end an anchor's name at different
//! characters, so `[&a:*b]` is an anchor `a:*b` to the guard and an anchor
//! `a` and an alias `*b` to serde_yaml.
//!
//! The guard reads YAML 1.2 (saphyr) and serde_yaml reads YAML 1.1
//! (libyaml), and the two disagree on four characters written raw: U+0085,
//! U+2028 and U+2029 end a line in YAML 1.1 and are text in YAML 1.2, and a
//! leading U+FEFF (byte order mark) shifts libyaml's columns on the first
//! line. After such a character they read different documents (an alias or
//! a `---` the guard takes for text is one to serde_yaml), so a text holding
//! one raw is refused too; escaped in a double-quoted string (`"\u2028"`) it
//! is fine. Likewise inside `[…]` and `{…}` a plain value starting with `?`
//! or `:` is text to YAML 1.2 and an indicator (an explicit key, a value) to
//! libyaml whatever follows it, so `[?*a]` would hide an alias: refused too,
//! quoted it is fine.

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

/// Largest pipeline text (JSON or YAML) the API and the YAML tab read.
pub const MAX_PIPELINE_TEXT_BYTES: usize = 1024 * 1024;
/// A pipeline is one YAML document.
pub const MAX_PIPELINE_DOCUMENTS: usize = 1;
/// Largest Kubernetes task definition, after `${…}` substitution.
pub const MAX_DEFINITION_BYTES: usize = 1024 * 1024;
/// Most YAML documents (Kubernetes objects) in one Kubernetes task.
pub const MAX_DEFINITION_DOCUMENTS: usize = 100;

/// What an anchor or an alias is refused with.
pub const ANCHORS_AND_ALIASES_REFUSED: &str =
    "YAML anchors (`&name`) and aliases (`*name`) are not accepted: write the repeated part out in full";

/// Characters the guard's reader and serde_yaml's read differently when
/// they stand raw in a text, and how.
const READ_TWO_WAYS: [(char, &str); 4] = [
    (
        '\u{85}',
        "U+0085 (next line) is a line break to YAML 1.1 and text to YAML 1.2",
    ),
    (
        '\u{2028}',
        "U+2028 (line separator) is a line break to YAML 1.1 and text to YAML 1.2",
    ),
    (
        '\u{2029}',
        "U+2029 (paragraph separator) is a line break to YAML 1.1 and text to YAML 1.2",
    ),
    (
        '\u{feff}',
        "U+FEFF (byte order mark) shifts the columns of YAML 1.1 and not those of YAML 1.2",
    ),
];

/// How much YAML one kind of text may hold.
#[derive(Clone, Copy, Debug)]
pub struct YamlLimits {
    pub max_bytes: usize,
    pub max_documents: usize,
}

impl YamlLimits {
    pub const PIPELINE: YamlLimits = YamlLimits {
        max_bytes: MAX_PIPELINE_TEXT_BYTES,
        max_documents: MAX_PIPELINE_DOCUMENTS,
    };
    pub const DEFINITION: YamlLimits = YamlLimits {
        max_bytes: MAX_DEFINITION_BYTES,
        max_documents: MAX_DEFINITION_DOCUMENTS,
    };
}

/// Why a YAML text is refused. Places count from 1; `document` counts the
/// text's documents from 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum YamlRefusal {
    #[error("the text is {size} bytes, more than the {limit} bytes accepted: make it smaller")]
    TooLarge { size: usize, limit: usize },
    #[error(
        "the text holds more than {limit} YAML document(s): split it, or remove the extra `---` separators"
    )]
    TooManyDocuments { limit: usize },
    #[error("{ANCHORS_AND_ALIASES_REFUSED} (line {line}, column {column})")]
    AnchorOrAlias {
        document: usize,
        line: usize,
        column: usize,
    },
    #[error("{message} (line {line}, column {column})")]
    Syntax {
        document: usize,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Reads `text` as YAML events, without building values, and refuses it when
/// it breaks `limits` or holds an anchor or an alias.
pub fn check(text: &str, limits: YamlLimits) -> Result<(), YamlRefusal> {
    if text.len() > limits.max_bytes {
        return Err(YamlRefusal::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    let ambiguous = text
        .chars()
        .enumerate()
        .find(|(_, c)| READ_TWO_WAYS.iter().any(|(known, _)| known == c));
    let mut documents = 0;
    let mut characters = Characters::new(text);
    // For each collection open, whether it is a flow one (`[…]`, `{…}`).
    let mut in_flow: Vec<bool> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| YamlRefusal::Syntax {
            document: documents.max(1),
            line: error.marker().line(),
            column: error.marker().col() + 1,
            message: error.info().to_string(),
        })?;
        // Refused where the guard has read up to it, so the document is known.
        if let Some((index, character)) = ambiguous {
            if span.start.index() > index {
                return Err(read_two_ways(text, index, character, documents.max(1)));
            }
        }
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > limits.max_documents {
                    return Err(YamlRefusal::TooManyDocuments {
                        limit: limits.max_documents,
                    });
                }
            }
            Event::Alias(_) => return Err(anchor_or_alias(documents, span.start)),
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if anchor != 0 =>
            {
                return Err(anchor_or_alias(documents, span.start))
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                // Flow collections open with their bracket; a place the
                // reader cannot look at any more counts as one.
                let opening = characters.at(span.start.index());
                in_flow.push(opening.is_none_or(|opening| matches!(opening, '[' | '{')));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                in_flow.pop();
            }
            Event::Scalar(value, ScalarStyle::Plain, ..)
                if in_flow.last() == Some(&true) && value.starts_with(['?', ':']) =>
            {
                return Err(indicator_read_two_ways(documents.max(1), span.start));
            }
            _ => {}
        }
    }
    match ambiguous {
        Some((index, character)) => Err(read_two_ways(text, index, character, documents.max(1))),
        None => Ok(()),
    }
}

/// The span of an anchored node starts at its `&`.
fn anchor_or_alias(document: usize, place: Marker) -> YamlRefusal {
    YamlRefusal::AnchorOrAlias {
        document,
        line: place.line(),
        column: place.col() + 1,
    }
}

/// The characters of a text by their index (saphyr's markers count
/// characters, not bytes), read in one pass: places are asked for in the
/// order the events come, so the text is walked once, not once per place.
struct Characters<'a> {
    rest: std::str::Chars<'a>,
    next: usize,
}

impl<'a> Characters<'a> {
    fn new(text: &'a str) -> Self {
        Characters {
            rest: text.chars(),
            next: 0,
        }
    }

    /// The character at `index`; `None` past the end, or behind a place
    /// asked for before.
    fn at(&mut self, index: usize) -> Option<char> {
        let skip = index.checked_sub(self.next)?;
        self.next = index + 1;
        self.rest.nth(skip)
    }
}

/// The refusal of a plain value starting with `?` or `:` inside `[…]` or
/// `{…}`, at `place`.
fn indicator_read_two_ways(document: usize, place: Marker) -> YamlRefusal {
    YamlRefusal::Syntax {
        document,
        line: place.line(),
        column: place.col() + 1,
        message: "inside [ ] or { }, a value starting with `?` or `:` is text to YAML 1.2 and \
                  a key or value indicator to YAML 1.1, so the YAML readers here would read \
                  this text differently: put the value in quotes"
            .to_string(),
    }
}

/// The refusal of `character`, the `index`th character of `text`.
fn read_two_ways(text: &str, index: usize, character: char, document: usize) -> YamlRefusal {
    let before: String = text.chars().take(index).collect();
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let how = READ_TWO_WAYS
        .iter()
        .find(|(known, _)| *known == character)
        .map_or("this character is read two ways", |(_, how)| how);
    YamlRefusal::Syntax {
        document,
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        message: format!(
            "{how}, so the YAML readers here would read this text differently: \
             write it as \\u{:04X} inside double quotes, or remove it",
            u32::from(character)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: YamlLimits = YamlLimits {
        max_bytes: 200,
        max_documents: 2,
    };

    #[test]
    fn a_plain_value_starting_with_an_indicator_inside_brackets_is_refused() {
        for (text, column) in [
            ("a: [1, ?204]\n", 8),
            ("a: [?*b]\n", 5),
            ("a: {?x: 1}\n", 5),
            ("a: [:x]\n", 5),
            ("a: [{b: [?c]}]\n", 10),
        ] {
            let refusal = check(text, SMALL);
            assert!(
                matches!(&refusal, Err(YamlRefusal::Syntax { line: 1, column: found, message, .. })
                    if *found == column && message.contains("put the value in quotes")),
                "{text:?}: {refusal:?}"
            );
        }
        // Quoted, or outside brackets, both readers read it as text.
        for text in [
            "a: ['?204', \":x\"]\n",
            "a: ?204\nb: :x\n",
            "a:\n  - ?204\n",
            "a: [x?, y:z]\n",
        ] {
            assert_eq!(check(text, SMALL), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn plain_yaml_passes() {
        assert_eq!(check("a: 1\nb: [x, y]\n", SMALL), Ok(()));
        assert_eq!(check("a: 1\n---\nb: 2\n", SMALL), Ok(()));
        assert_eq!(check("", SMALL), Ok(()));
        // A star or an ampersand inside a string is neither.
        assert_eq!(check("glob: '*.yaml'\nb: a*b\nc: x&y\n", SMALL), Ok(()));
    }

    #[test]
    fn the_first_anchor_or_alias_is_refused_with_its_place() {
        let refusal = check("a: &x [1, 2]\nb:\n  - *x\n", SMALL).unwrap_err();
        assert_eq!(
            refusal,
            YamlRefusal::AnchorOrAlias {
                document: 1,
                line: 1,
                column: 4
            }
        );
        assert!(refusal.to_string().contains("aliases"), "{refusal}");
        assert!(matches!(
            check("a: 1\nb: &lone\n  c: 2\n", SMALL),
            Err(YamlRefusal::AnchorOrAlias {
                line: 2,
                column: 4,
                ..
            })
        ));
        let merge = check("base: &b {x: 1}\nother:\n  <<: *b\n", SMALL).unwrap_err();
        assert!(
            matches!(merge, YamlRefusal::AnchorOrAlias { line: 1, .. }),
            "{merge:?}"
        );
        let second = check("a: 1\n---\nb: &x 1\nc: *x\n", SMALL).unwrap_err();
        assert!(
            matches!(second, YamlRefusal::AnchorOrAlias { document: 2, .. }),
            "{second:?}"
        );
    }

    /// Found by the `kubernetes_yaml` and `pipeline_text` property runs: the
    /// guard read `&y:*x` as an anchor named `y:*x`, serde_yaml as an anchor
    /// `y` and an alias `*x`, which it expanded.
    #[test]
    fn anchors_whose_names_the_readers_end_differently_are_refused() {
        let hidden_aliases = "a: [1, 2]\nb: [&y:*x, &z:*x]\n";
        assert!(
            matches!(
                check(hidden_aliases, SMALL),
                Err(YamlRefusal::AnchorOrAlias {
                    line: 2,
                    column: 5,
                    ..
                })
            ),
            "{:?}",
            check(hidden_aliases, SMALL)
        );
    }

    #[test]
    fn size_and_document_limits_are_named() {
        let big = format!("a: '{}'\n", "x".repeat(300));
        assert_eq!(
            check(&big, SMALL),
            Err(YamlRefusal::TooLarge {
                size: big.len(),
                limit: 200
            })
        );
        assert_eq!(
            check("a: 1\n---\nb: 2\n---\nc: 3\n", SMALL),
            Err(YamlRefusal::TooManyDocuments { limit: 2 })
        );
    }

    /// Found by the `pipeline_text` and `kubernetes_yaml` property runs
    /// (`labels:\u{85}` is a mapping to serde_yaml, a string to the guard);
    /// behind such a line break serde_yaml reads `- *x` as an alias the
    /// guard took for text.
    #[test]
    fn characters_the_two_readers_read_differently_are_refused_with_their_place() {
        let hidden_alias = "a: 1\nl:\n- b\u{2028}- *x\n";
        let refusal = check(hidden_alias, SMALL).unwrap_err();
        assert_eq!(
            refusal,
            YamlRefusal::Syntax {
                document: 1,
                line: 3,
                column: 4,
                message: "U+2028 (line separator) is a line break to YAML 1.1 and text to \
                          YAML 1.2, so the YAML readers here would read this text differently: \
                          write it as \\u2028 inside double quotes, or remove it"
                    .to_string(),
            }
        );
        let hidden_document = "a: 1\n---\nb: x\u{2029}---\u{2029}c\n";
        assert!(
            matches!(
                check(hidden_document, SMALL),
                Err(YamlRefusal::Syntax {
                    document: 2,
                    line: 3,
                    column: 5,
                    ..
                })
            ),
            "{:?}",
            check(hidden_document, SMALL)
        );
        assert!(matches!(
            check("labels:\u{85}", SMALL),
            Err(YamlRefusal::Syntax {
                line: 1,
                column: 8,
                ..
            })
        ));
        // Found by the `kubernetes_yaml` fuzz target: after a byte order mark
        // serde_yaml read `---` as text, the guard as a document start.
        assert!(matches!(
            check("\u{feff}---\n:x\n", SMALL),
            Err(YamlRefusal::Syntax {
                line: 1,
                column: 1,
                ..
            })
        ));
        // Escaped, the same characters are only text to both readers.
        assert_eq!(check("a: \"x\\u2028- *y\\N\\uFEFF\"\n", SMALL), Ok(()));
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let refusal = check("a: [unclosed\n", SMALL).unwrap_err();
        assert!(
            matches!(
                refusal,
                YamlRefusal::Syntax { line: 2, .. } | YamlRefusal::Syntax { line: 1, .. }
            ),
            "{refusal:?}"
        );
    }
}
