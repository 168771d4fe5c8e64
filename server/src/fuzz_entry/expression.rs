//! The expression language of Condition tasks, preconditions and Poll
//! conditions ([`app::expression`]).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use app::expression::{check_syntax, evaluate, Expression, ExpressionContext, ExpressionError};
use app::pipeline::{bindings_in, Binding};
use serde_json::Value as Json;

use super::{fields, MAX_VALUES};

/// Input: the expression, then (after NUL bytes) a Poll response as JSON
/// (empty or not JSON: none) and binding values. Properties: parsing and
/// checking agree; a parsed expression evaluates without panicking, the same
/// way twice; every error points into the text; every binding it reads
/// writes back as itself. And with each value `v` bound (the first
/// [`MAX_VALUES`]), whatever text it
/// holds: `v == v`, `v startsWith v`, `'v' == v` and `v matches <v as a
/// literal glob>` are true: a value is never read as expression text.
pub fn expression(data: &[u8]) {
    let fields = fields(data);
    let text = fields[0].as_str();
    let response = fields
        .get(1)
        .and_then(|json| serde_json::from_str::<Json>(json).ok());
    let values = fields.get(2..).unwrap_or_default();
    let columns = text.chars().count() + 1;

    let parsed = Expression::parse(text);
    assert_eq!(parsed.is_ok(), check_syntax(text).is_ok());
    match parsed {
        Err(error) => assert_points_into(&error, columns),
        Ok(expression) => {
            let context = Values {
                values,
                response: response.as_ref(),
            };
            let first = expression.evaluate(&context);
            assert_eq!(
                first,
                expression.evaluate(&context),
                "evaluation is deterministic"
            );
            if let Err(error) = &first {
                assert_points_into(error, columns);
            }
            for binding in expression.bindings() {
                assert_eq!(bindings_in(&binding.to_string()), vec![binding]);
            }
        }
    }
    for value in values.iter().take(MAX_VALUES) {
        assert_value_is_only_a_value(value);
    }
}

fn assert_points_into(error: &ExpressionError, columns: usize) {
    assert!(
        (1..=columns).contains(&error.column),
        "column {} outside 1..={columns}: {}",
        error.column,
        error.message
    );
    assert!(!error.message.trim().is_empty());
}

fn assert_value_is_only_a_value(value: &str) {
    let literal_glob: String = value
        .chars()
        .flat_map(|c| match c {
            '*' | '?' | '\\' => vec!['\\', c],
            other => vec![other],
        })
        .collect();
    let context = Named([("V", value), ("GLOB", &literal_glob)]);
    for (expression, expected) in [
        ("${input.V} == ${input.V}", true),
        ("${input.V} != ${input.V}", false),
        ("${input.V} startsWith ${input.V}", true),
        ("'${input.V}' == ${input.V}", true),
        ("${input.V} matches ${input.GLOB}", true),
    ] {
        assert_eq!(
            evaluate(expression, &context),
            Ok(expected),
            "{expression} with V = {value:?}"
        );
    }
}

/// Binds every binding to one of the values (chosen by the binding's hash,
/// so the same binding reads the same value); none when there are none.
struct Values<'a> {
    values: &'a [String],
    response: Option<&'a Json>,
}

impl ExpressionContext for Values<'_> {
    fn resolve(&self, binding: &Binding) -> Option<String> {
        if self.values.is_empty() {
            return None;
        }
        let mut hasher = DefaultHasher::new();
        binding.hash(&mut hasher);
        let index = (hasher.finish() % self.values.len() as u64) as usize;
        Some(self.values[index].clone())
    }

    fn response(&self) -> Option<&Json> {
        self.response
    }
}

/// Binds `${input.NAME}` for the names given.
struct Named<'a, const N: usize>([(&'a str, &'a str); N]);

impl<const N: usize> ExpressionContext for Named<'_, N> {
    fn resolve(&self, binding: &Binding) -> Option<String> {
        let Binding::Input(name) = binding else {
            return None;
        };
        self.0
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.to_string())
    }
}
