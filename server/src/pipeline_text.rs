//! Pipelines as text: the API takes a pipeline as JSON or as YAML and can
//! give it back as YAML. Kept on the server because serde_yaml has no place
//! in the browser's wasm; the shape itself is [`app::pipeline::PipelineSpec`].

use std::fmt;

use app::pipeline::PipelineSpec;
use serde::Serialize;

use crate::yaml_guard::{self, YamlLimits, YamlRefusal, MAX_PIPELINE_TEXT_BYTES};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFormat {
    Json,
    Yaml,
}

impl fmt::Display for TextFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            TextFormat::Json => "JSON",
            TextFormat::Yaml => "YAML",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Answered with 415.
    #[error(
        "unsupported content type `{0}`: send the pipeline as application/json or application/yaml"
    )]
    UnsupportedContentType(String),
    /// Answered with 400: past [`MAX_PIPELINE_TEXT_BYTES`].
    #[error("the pipeline text is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge { size: usize, limit: usize },
    /// Answered with 400; `line` and `column` count from 1 when known.
    #[error("{}", describe_invalid(*.format, *.line, *.column, .message))]
    Invalid {
        format: TextFormat,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
}

fn describe_invalid(
    format: TextFormat,
    line: Option<usize>,
    column: Option<usize>,
    message: &str,
) -> String {
    match (line, column) {
        (Some(line), Some(column)) => {
            format!("invalid pipeline {format} at line {line}, column {column}: {message}")
        }
        _ => format!("invalid pipeline {format}: {message}"),
    }
}

/// Reads a pipeline sent as JSON or YAML. The content type decides; without
/// one (or with `text/plain`, as `curl --data-binary` users often send) a
/// body starting with `{` is JSON and anything else YAML. Only the shape is
/// checked here: [`app::pipeline::validate`] checks the rules.
///
/// YAML is first read by [`yaml_guard::check`]: anchors, aliases, more than one
/// document and texts past [`MAX_PIPELINE_TEXT_BYTES`] are refused before
/// any value is built.
pub fn parse_pipeline(body: &str, content_type: Option<&str>) -> Result<PipelineSpec, ParseError> {
    let format = format_of(body, content_type)?;
    if body.len() > MAX_PIPELINE_TEXT_BYTES {
        return Err(ParseError::TooLarge {
            size: body.len(),
            limit: MAX_PIPELINE_TEXT_BYTES,
        });
    }
    if format == TextFormat::Yaml {
        yaml_guard::check(body, YamlLimits::PIPELINE).map_err(refused)?;
    }
    match format {
        TextFormat::Json => serde_json::from_str(body).map_err(|error| {
            invalid(
                TextFormat::Json,
                Some((error.line(), error.column())),
                error.to_string(),
            )
        }),
        TextFormat::Yaml => serde_yaml::from_str(body).map_err(|error| {
            let location = error
                .location()
                .map(|location| (location.line(), location.column()));
            invalid(TextFormat::Yaml, location, error.to_string())
        }),
    }
}

/// The guard's refusals in this module's words: places stay apart from the message.
fn refused(refusal: YamlRefusal) -> ParseError {
    let invalid = |line, column, message| ParseError::Invalid {
        format: TextFormat::Yaml,
        line,
        column,
        message,
    };
    match refusal {
        YamlRefusal::TooLarge { size, limit } => ParseError::TooLarge { size, limit },
        YamlRefusal::TooManyDocuments { .. } => invalid(None, None, refusal.to_string()),
        YamlRefusal::AnchorOrAlias { line, column, .. } => invalid(
            Some(line),
            Some(column),
            yaml_guard::ANCHORS_AND_ALIASES_REFUSED.to_string(),
        ),
        YamlRefusal::Syntax {
            line,
            column,
            message,
            ..
        } => invalid(Some(line), Some(column), message),
    }
}

/// Both parsers append " at line L column C" to their messages; the place is
/// kept apart instead so every message reads the same way.
fn invalid(format: TextFormat, location: Option<(usize, usize)>, message: String) -> ParseError {
    let (line, column) = match location {
        // serde_json reports line 0 for errors that have no place, like a missing field at the end.
        Some((line, column)) if line > 0 => (Some(line), Some(column)),
        _ => (None, None),
    };
    let message = match (line, column) {
        (Some(line), Some(column)) => {
            message.replacen(&format!(" at line {line} column {column}"), "", 1)
        }
        _ => message,
    };
    ParseError::Invalid {
        format,
        line,
        column,
        message,
    }
}

fn format_of(body: &str, content_type: Option<&str>) -> Result<TextFormat, ParseError> {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media_type.as_str() {
        "" | "text/plain" => Ok(if body.trim_start().starts_with('{') {
            TextFormat::Json
        } else {
            TextFormat::Yaml
        }),
        "application/json" => Ok(TextFormat::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
            Ok(TextFormat::Yaml)
        }
        other if other.ends_with("+json") => Ok(TextFormat::Json),
        other if other.ends_with("+yaml") => Ok(TextFormat::Yaml),
        _ => Err(ParseError::UnsupportedContentType(
            content_type.unwrap_or_default().to_string(),
        )),
    }
}

/// The pipeline as YAML, for people to read and edit; reading it back with
/// [`parse_pipeline`] gives the same pipeline.
pub fn to_yaml(spec: &PipelineSpec) -> String {
    let yaml = serde_yaml::to_string(spec).expect(
        "a PipelineSpec always has a YAML form: its maps have text keys and it holds no floats",
    );
    yaml_or_escaped_json(yaml, spec)
}

/// `yaml` (serde_yaml's text of `value`) when the YAML guard accepts it.
/// serde_yaml writes U+2028 and U+2029 as they are, which the guard refuses
/// (see [`yaml_guard`]); then `value` as JSON instead, which YAML readers
/// read too, with every character that is not ASCII but in the Basic
/// Multilingual Plane (and DEL) escaped as `\uXXXX`, which both readers
/// decode alike. Characters past it stay as they are: JSON escapes them as
/// surrogate pairs, which YAML does not read, and both readers take them raw.
pub(crate) fn yaml_or_escaped_json<T: Serialize>(yaml: String, value: &T) -> String {
    let any_size = YamlLimits {
        max_bytes: usize::MAX,
        ..YamlLimits::PIPELINE
    };
    if yaml_guard::check(&yaml, any_size).is_ok() {
        return yaml;
    }
    let json = serde_json::to_string_pretty(value).expect("what serde_yaml wrote has a JSON form");
    let mut escaped = String::with_capacity(json.len());
    for c in json.chars() {
        let code = u32::from(c);
        // JSON is printable ASCII outside its strings, so `c` stands in one.
        if (0x7f..0x10000).contains(&code) {
            escaped.push_str(&format!("\\u{code:04x}"));
        } else {
            escaped.push(c);
        }
    }
    // Ends with a line break, as serde_yaml's text does.
    escaped.push('\n');
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::pipeline::{validate, Binding, KubernetesAction, TaskSpec};

    /// The seed's flow: a Docker push starts this pipeline with the Docker
    /// parameters injected, and its Kubernetes task deploys the pushed image.
    const SEED_PIPELINE: &str = r#"
project: demo
name: deploy testhook
description: Deploys every image pushed to svendowideit/testhook
inject_docker_parameters: true
inputs:
  - name: NAMESPACE
    default: development
    description: Namespace to deploy into
  - name: REPLICAS
    default: 2
stages:
  - name: deploy
    tasks:
      - name: web
        type: kubernetes
        endpoint: dev-cluster
        action: CREATE
        continue_on_conflict: true
        yaml: |
          apiVersion: apps/v1
          kind: Deployment
          metadata:
            name: testhook
            namespace: ${input.NAMESPACE}
          spec:
            replicas: ${input.REPLICAS}
            selector:
              matchLabels:
                app: testhook
            template:
              metadata:
                labels:
                  app: testhook
              spec:
                containers:
                  - name: testhook
                    image: ${input.DOCKER_IMAGE_REF}
                imagePullSecrets:
                  - name: dockerhub
  - name: verify
    tasks:
      - name: ready
        type: poll
        url: https://dev-cluster.example.test/apis/apps/v1/namespaces/${input.NAMESPACE}/deployments/testhook
        condition: $.status.readyReplicas >= ${input.REPLICAS}
        interval_seconds: 10
        timeout_seconds: 600
"#;

    #[test]
    fn the_seed_pipeline_reads_validates_and_round_trips() {
        let spec = parse_pipeline(SEED_PIPELINE, Some("application/yaml")).unwrap();
        assert_eq!(validate(&spec), Ok(()));
        assert!(spec.inject_docker_parameters);
        assert_eq!(spec.inputs[1].default.as_deref(), Some("2"));
        let inputs: Vec<String> = spec
            .effective_inputs()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert!(inputs.contains(&"DOCKER_IMAGE".to_string()));
        assert!(inputs.contains(&"DOCKER_TAG".to_string()));

        let TaskSpec::Kubernetes(deploy) = &spec.stages[0].tasks[0].spec else {
            panic!("the deploy task should be a kubernetes task");
        };
        assert_eq!(deploy.action, KubernetesAction::Create);
        assert!(deploy.yaml.contains("image: ${input.DOCKER_IMAGE_REF}\n"));
        let resolved = spec.stages[0].tasks[0]
            .spec
            .resolved(|binding| match binding {
                Binding::Input(name) if name == "DOCKER_IMAGE_REF" => {
                    Some("docker.io/svendowideit/testhook@sha256:0123".into())
                }
                Binding::Input(_) => Some("x".into()),
                Binding::Output { .. } => None,
            })
            .unwrap();
        let TaskSpec::Kubernetes(resolved) = resolved else {
            panic!("still kubernetes");
        };
        assert!(resolved
            .yaml
            .contains("image: docker.io/svendowideit/testhook@sha256:0123\n"));

        let yaml = to_yaml(&spec);
        let again = parse_pipeline(&yaml, None).unwrap();
        assert_eq!(again, spec);
        assert_eq!(to_yaml(&again), yaml);
        // The manifest stays a readable block, not one escaped line.
        assert!(yaml.contains("yaml: |"), "{yaml}");
    }

    /// serde_yaml writes U+2028 as it is (the `kubernetes_yaml` property run
    /// found it writing objects out), which the guard refuses: the export
    /// must still read back.
    #[test]
    fn a_pipeline_with_yaml_1_1_line_breaks_exports_as_escaped_json_and_reads_back() {
        let mut spec = parse_pipeline(SEED_PIPELINE, None).unwrap();
        spec.description = "first\u{2028}second\u{2029}é 🚀".to_string();
        // Alone in a text, serde_yaml would quote DEL and escape the rest.
        spec.inputs[0].description = "del\u{7f}".to_string();
        let exported = to_yaml(&spec);
        assert!(
            exported.contains(r#""description": "first\u2028second\u2029\u00e9 🚀""#)
                && exported.contains(r#""description": "del\u007f""#),
            "{exported}"
        );
        assert_eq!(
            parse_pipeline(&exported, Some("application/yaml")),
            Ok(spec.clone())
        );
        assert_eq!(parse_pipeline(&exported, None), Ok(spec.clone()));
        // Without those characters the export stays YAML.
        spec.description = "é 🚀".to_string();
        assert!(
            to_yaml(&spec).contains("description: é 🚀"),
            "{}",
            to_yaml(&spec)
        );
    }

    #[test]
    fn json_and_yaml_read_the_same_pipeline() {
        let from_yaml = parse_pipeline(SEED_PIPELINE, None).unwrap();
        let json = serde_json::to_string(&from_yaml).unwrap();
        assert_eq!(
            parse_pipeline(&json, Some("application/json")).unwrap(),
            from_yaml
        );
        assert_eq!(parse_pipeline(&json, None).unwrap(), from_yaml);
        // YAML is a superset of JSON, so a JSON body labelled YAML reads too.
        assert_eq!(
            parse_pipeline(&json, Some("text/yaml; charset=utf-8")).unwrap(),
            from_yaml
        );
    }

    #[test]
    fn the_content_type_decides_the_format() {
        let cases = [
            (None, "{", TextFormat::Json),
            (None, "project: x", TextFormat::Yaml),
            (Some("text/plain"), "  {", TextFormat::Json),
            (
                Some("Application/JSON; charset=utf-8"),
                "project: x",
                TextFormat::Json,
            ),
            (
                Some("application/vnd.slipway.pipeline+json"),
                "",
                TextFormat::Json,
            ),
            (Some("application/x-yaml"), "{", TextFormat::Yaml),
            (Some("application/yaml"), "", TextFormat::Yaml),
        ];
        for (content_type, body, expected) in cases {
            assert_eq!(
                format_of(body, content_type),
                Ok(expected),
                "{content_type:?}"
            );
        }
        let refused = parse_pipeline("project=x", Some("application/x-www-form-urlencoded"));
        assert_eq!(
            refused,
            Err(ParseError::UnsupportedContentType(
                "application/x-www-form-urlencoded".to_string()
            ))
        );
    }

    fn invalid_parts(error: ParseError) -> (TextFormat, Option<usize>, Option<usize>, String) {
        match error {
            ParseError::Invalid {
                format,
                line,
                column,
                message,
            } => (format, line, column, message),
            other => panic!("expected an invalid body, got {other:?}"),
        }
    }

    #[test]
    fn yaml_errors_name_the_line_and_column() {
        let body = "project: demo\nname: p\nstages:\n  - name: s\n    tasks:\n      - name: t\n        type: rest\n        url: https://x.test\n        metod: POST\n";
        let error = parse_pipeline(body, Some("application/yaml")).unwrap_err();
        let shown = error.to_string();
        let (format, line, column, message) = invalid_parts(error);
        assert_eq!(format, TextFormat::Yaml);
        assert!(message.contains("unknown field `metod`"), "{message}");
        assert!(line.is_some_and(|line| line >= 6), "{shown}");
        assert!(column.is_some());
        assert!(
            shown.starts_with("invalid pipeline YAML at line "),
            "{shown}"
        );
        assert!(
            !shown.contains(" at line 6 column"),
            "the place is said once: {shown}"
        );

        let (_, line, column, message) =
            invalid_parts(parse_pipeline("project: demo\n  name: p\n", None).unwrap_err());
        assert_eq!((line, column), (Some(2), Some(7)), "{message}");
        assert!(
            message.contains("mapping values are not allowed"),
            "{message}"
        );

        let (_, line, _, message) = invalid_parts(
            parse_pipeline("project: demo\nname: p\nconcurrency: many\n", None).unwrap_err(),
        );
        assert_eq!(line, Some(3), "{message}");
        assert!(message.contains("concurrency"), "{message}");
    }

    #[test]
    fn json_errors_name_the_line_and_column() {
        let body = "{\n  \"project\": \"demo\",\n  \"name\": \"p\",\n  \"stages\": [ 1 ]\n}";
        let error = parse_pipeline(body, Some("application/json")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid pipeline JSON at line 4, column 15: invalid type: integer `1`, expected struct Stage"
        );
        let (_, line, _, message) =
            invalid_parts(parse_pipeline("{\"project\": \"demo\"}", None).unwrap_err());
        assert_eq!(line, Some(1));
        assert!(message.contains("missing field `name`"), "{message}");
        let (format, ..) = invalid_parts(parse_pipeline("", Some("application/json")).unwrap_err());
        assert_eq!(format, TextFormat::Json);
    }

    #[test]
    fn unknown_actions_reach_validation_with_their_place() {
        let body = SEED_PIPELINE.replace("action: CREATE", "action: PATCH");
        let spec = parse_pipeline(&body, None).unwrap();
        let errors = validate(&spec).unwrap_err();
        assert_eq!(errors[0].path, "stages[0].tasks[0].action");
        assert!(errors[0].message.contains("PATCH"));
    }
}
