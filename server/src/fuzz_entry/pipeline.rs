//! Pipeline definitions as text: [`parse_pipeline`] (the API's and the YAML
//! tab's reader, with the YAML guard in front), then
//! [`app::pipeline::validate`] and [`to_yaml`] on what it reads.

use app::pipeline::{validate, PipelineSpec};

use super::yaml::assert_guard_agrees_with_serde_yaml;
use crate::pipeline_text::{parse_pipeline, to_yaml};
use crate::yaml_guard::{YamlLimits, MAX_PIPELINE_TEXT_BYTES};

/// Reads `body` as a JSON and as a YAML pipeline. Properties: the YAML guard
/// and serde_yaml read the text alike; a pipeline that is read validates
/// without panicking (every mistake with a message), and its YAML export
/// and its JSON form read back as the same pipeline, the export unchanged.
pub fn pipeline_text(body: &[u8]) {
    let Ok(body) = std::str::from_utf8(body) else {
        // The API reads the body as a `String` and answers 400 before this.
        return;
    };
    assert_guard_agrees_with_serde_yaml(body, YamlLimits::PIPELINE);
    for content_type in ["application/json", "application/yaml"] {
        if let Ok(spec) = parse_pipeline(body, Some(content_type)) {
            assert_read_pipeline_holds(&spec);
        }
    }
}

fn assert_read_pipeline_holds(spec: &PipelineSpec) {
    if let Err(errors) = validate(spec) {
        for error in errors {
            assert!(!error.message.trim().is_empty(), "{error:?}");
        }
    }

    let yaml = to_yaml(spec);
    // The export of a pipeline near the size limit may pass it; the API
    // gives it out, and only reading it back in would be refused.
    if yaml.len() <= MAX_PIPELINE_TEXT_BYTES {
        match parse_pipeline(&yaml, Some("application/yaml")) {
            Ok(again) => {
                assert_eq!(
                    &again, spec,
                    "the YAML export reads back differently:\n{yaml}"
                );
                assert_eq!(to_yaml(&again), yaml, "the YAML export is not stable");
            }
            Err(error) => panic!("the YAML export does not read back: {error}\n{yaml}"),
        }
    }

    let json = serde_json::to_string(spec).expect("a PipelineSpec has a JSON form");
    if json.len() <= MAX_PIPELINE_TEXT_BYTES {
        match parse_pipeline(&json, Some("application/json")) {
            Ok(again) => assert_eq!(&again, spec, "the JSON form reads back differently"),
            Err(error) => panic!("the JSON form does not read back: {error}\n{json}"),
        }
    }
}
