//! Checks YAML written by users before serde_yaml builds anything from it.
//!
//! serde_yaml expands every alias (`*name`) into a full copy of its anchor,
//! so a few kilobytes of nested aliases ("billion laughs") become gigabytes
//! of values. Slipway's YAML (pipelines, Kubernetes task definitions) never
//! needs them, so the text is read here as a stream of events first, which
//! builds nothing, and refused at its first alias, past its size limit, or
//! past its document limit.

use saphyr_parser::{Event, Parser};

/// Largest pipeline text (JSON or YAML) the API and the YAML tab read.
pub const MAX_PIPELINE_TEXT_BYTES: usize = 1024 * 1024;
/// A pipeline is one YAML document.
pub const MAX_PIPELINE_DOCUMENTS: usize = 1;
/// Largest Kubernetes task definition, after `${…}` substitution.
pub const MAX_DEFINITION_BYTES: usize = 1024 * 1024;
/// Most YAML documents (Kubernetes objects) in one Kubernetes task.
pub const MAX_DEFINITION_DOCUMENTS: usize = 100;

/// What an alias is refused with.
pub const ALIASES_REFUSED: &str =
    "YAML aliases (`*name`) are not accepted: write the repeated part out in full";

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
    #[error("{ALIASES_REFUSED} (line {line}, column {column})")]
    Alias {
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
/// it breaks `limits` or holds an alias.
pub fn check(text: &str, limits: YamlLimits) -> Result<(), YamlRefusal> {
    if text.len() > limits.max_bytes {
        return Err(YamlRefusal::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| YamlRefusal::Syntax {
            document: documents.max(1),
            line: error.marker().line(),
            column: error.marker().col() + 1,
            message: error.info().to_string(),
        })?;
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > limits.max_documents {
                    return Err(YamlRefusal::TooManyDocuments {
                        limit: limits.max_documents,
                    });
                }
            }
            Event::Alias(_) => {
                return Err(YamlRefusal::Alias {
                    document: documents,
                    line: span.start.line(),
                    column: span.start.col() + 1,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: YamlLimits = YamlLimits {
        max_bytes: 200,
        max_documents: 2,
    };

    #[test]
    fn plain_yaml_and_anchors_without_aliases_pass() {
        assert_eq!(check("a: 1\nb: [x, y]\n", SMALL), Ok(()));
        assert_eq!(check("a: &first 1\n", SMALL), Ok(()));
        assert_eq!(check("a: 1\n---\nb: 2\n", SMALL), Ok(()));
        assert_eq!(check("", SMALL), Ok(()));
        // A star inside a string is not an alias.
        assert_eq!(check("glob: '*.yaml'\nb: a*b\n", SMALL), Ok(()));
    }

    #[test]
    fn the_first_alias_is_refused_with_its_place() {
        let refusal = check("a: &x [1, 2]\nb:\n  - *x\n", SMALL).unwrap_err();
        assert_eq!(
            refusal,
            YamlRefusal::Alias {
                document: 1,
                line: 3,
                column: 5
            }
        );
        assert!(refusal.to_string().contains("aliases"), "{refusal}");
        let merge = check("base: &b {x: 1}\nother:\n  <<: *b\n", SMALL).unwrap_err();
        assert!(
            matches!(merge, YamlRefusal::Alias { line: 3, .. }),
            "{merge:?}"
        );
        let second = check("a: 1\n---\nb: &x 1\nc: *x\n", SMALL).unwrap_err();
        assert!(
            matches!(second, YamlRefusal::Alias { document: 2, .. }),
            "{second:?}"
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
