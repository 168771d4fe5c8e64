//! A Kubernetes task's multi-document YAML, as the task reads it after
//! substitution ([`crate::deploy`]'s definition parser).

use super::yaml::assert_guard_agrees_with_serde_yaml;
use crate::deploy::definition::{parse, Definition};
use crate::pipeline_text::yaml_or_escaped_json;
use crate::yaml_guard::{YamlLimits, MAX_DEFINITION_BYTES};

/// Reads `body` as a Kubernetes task definition. Properties: the YAML guard
/// and serde_yaml read the text alike; an accepted definition holds 1 to
/// [`crate::yaml_guard::MAX_DEFINITION_DOCUMENTS`] objects in document
/// order, each with apiVersion, kind and metadata.name; written out again
/// (as the pipeline export writes), the objects read back the same.
pub fn kubernetes_yaml(body: &[u8]) {
    let Ok(text) = std::str::from_utf8(body) else {
        // Definitions are pipeline text, which is a Rust string throughout.
        return;
    };
    assert_guard_agrees_with_serde_yaml(text, YamlLimits::DEFINITION);
    match parse(text) {
        Ok(definitions) => assert_definitions_hold(&definitions),
        Err(error) => assert!(!error.to_string().trim().is_empty(), "{error:?}"),
    }
}

fn assert_definitions_hold(definitions: &[Definition]) {
    assert!(
        !definitions.is_empty(),
        "an accepted definition has objects"
    );
    assert!(definitions.len() <= crate::yaml_guard::MAX_DEFINITION_DOCUMENTS);
    for pair in definitions.windows(2) {
        assert!(pair[0].document < pair[1].document, "documents in order");
    }
    for definition in definitions {
        assert!(definition.document >= 1);
        assert!(!definition.api_version.trim().is_empty());
        assert!(!definition.kind.trim().is_empty());
        let name = definition.object.metadata.name.as_deref().unwrap_or("");
        assert!(!name.trim().is_empty(), "metadata.name of {definition:?}");
    }

    let written: Vec<String> = definitions
        .iter()
        .map(|definition| {
            let yaml = serde_yaml::to_string(&definition.object)
                .expect("an object read from YAML writes as YAML");
            yaml_or_escaped_json(yaml, &definition.object)
        })
        .collect();
    let again_text = written.join("---\n");
    if again_text.len() > MAX_DEFINITION_BYTES {
        return;
    }
    let again = parse(&again_text).unwrap_or_else(|error| {
        panic!("the objects written out do not read back: {error}\n{again_text}")
    });
    assert_eq!(again.len(), definitions.len(), "{again_text}");
    for (first, second) in definitions.iter().zip(&again) {
        assert_eq!(first.api_version, second.api_version);
        assert_eq!(first.kind, second.kind);
        assert_eq!(
            serde_json::to_value(&first.object).ok(),
            serde_json::to_value(&second.object).ok(),
            "the object written out reads back differently:\n{again_text}"
        );
    }
}
