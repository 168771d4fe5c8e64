use super::*;
use serde_json::json;
use std::collections::HashMap;

struct TestContext {
    values: HashMap<String, String>,
    response: Option<Json>,
}

impl ExpressionContext for TestContext {
    fn resolve(&self, binding: &Binding) -> Option<String> {
        self.values.get(&binding.to_string()).cloned()
    }

    fn response(&self) -> Option<&Json> {
        self.response.as_ref()
    }
}

fn context() -> TestContext {
    let values = [
        ("${input.TAG}", "1.10"),
        ("${input.IMAGE}", "svendowideit/testhook"),
        ("${input.REPLICAS}", "3"),
        ("${input.FLAG}", "true"),
        ("${input.HOSTILE}", "' || true || '"),
        ("${deploy.web.output.objects.0.image}", "nginx:1.25"),
    ];
    TestContext {
        values: values
            .into_iter()
            .map(|(binding, value)| (binding.to_string(), value.to_string()))
            .collect(),
        response: Some(json!({
            "status": {"readyReplicas": 2, "phase": "Running"},
            "items": [{"status": "Ready", "name": "a"}, {"status": "Pending"}],
            "tags": ["latest", "1.0"],
            "labels": {"app": "web"},
            "weird key": 1,
            "ok": true
        })),
    }
}

fn eval(expr: &str) -> bool {
    evaluate(expr, &context()).unwrap_or_else(|error| panic!("{expr}: {error}"))
}

fn eval_error(expr: &str) -> ExpressionError {
    match evaluate(expr, &context()) {
        Ok(value) => panic!("{expr} evaluated to {value}, expected an error"),
        Err(error) => error,
    }
}

#[test]
fn boolean_operators_follow_their_truth_tables() {
    for a in [false, true] {
        for b in [false, true] {
            assert_eq!(eval(&format!("{a} && {b}")), a && b, "{a} && {b}");
            assert_eq!(eval(&format!("{a} || {b}")), a || b, "{a} || {b}");
            assert_eq!(eval(&format!("{a} == {b}")), a == b);
            assert_eq!(eval(&format!("{a} != {b}")), a != b);
        }
        assert_eq!(eval(&format!("!{a}")), !a);
    }
}

#[test]
fn precedence_is_not_then_comparison_then_and_then_or() {
    assert!(eval("true || false && false"));
    assert!(!eval("(true || false) && false"));
    assert!(eval("false && false || true"));
    assert!(eval("!false == true"));
    assert!(eval("!(1 == 2)"));
    assert!(eval("1 < 2 && 'a' == 'a' || false"));
    assert!(!eval("!!false"));
}

#[test]
fn comparisons_are_numeric_for_numbers_and_textual_for_texts() {
    assert!(eval("'10' > '9'"));
    assert!(eval("'abc' < 'abd'"));
    assert!(eval("${input.REPLICAS} == 3"));
    assert!(eval("${input.REPLICAS} >= 2.5"));
    assert!(eval("3 == '3.0'"));
    assert!(eval("-1 < 0"));
    assert!(!eval("${input.TAG} == '1.1'"), "two texts compare as texts");
    assert!(eval("${input.TAG} == \"1.10\""));
    assert!(eval("${input.FLAG} == true"));
    assert!(eval("${input.FLAG}"), "a bare binding reading true");
    assert!(eval("null == null"));
    assert!(!eval("'' == null"));
    assert!(!eval("3 == 'three'"));
}

#[test]
fn text_operators() {
    assert!(eval("${input.IMAGE} contains '/test'"));
    assert!(eval("${input.IMAGE} startsWith 'svendowideit/'"));
    assert!(!eval("${input.IMAGE} startsWith 'library/'"));
    assert!(eval("${input.TAG} matches '1.*'"));
    assert!(eval("'abc' matches 'a?c'"));
    assert!(!eval("'abc' matches 'a?'"));
    assert!(eval("'a*b' matches 'a\\\\*b'"));
    assert!(!eval("'axb' matches 'a\\\\*b'"));
    assert!(eval("'' matches '*'"));
    assert!(eval("'aaab' matches '*a*b'"));
    assert!(!eval("'aaaa' matches '*a*b'"));
    assert!(eval("$.tags contains 'latest'"));
    assert!(!eval("$.tags contains 'edge'"));
    assert!(eval("$.labels contains 'app'"));
    assert!(
        !eval("$.missing contains 'x'"),
        "missing fields contain nothing"
    );
}

#[test]
fn quoted_text_interpolates_bindings_as_values() {
    assert!(eval(
        "'${input.IMAGE}:${input.TAG}' == 'svendowideit/testhook:1.10'"
    ));
    // `$${` is a literal `${`, in quoted text as everywhere.
    assert!(eval("'$${input.TAG}' startsWith '$${input.'"));
    assert!(!eval("'$${input.TAG}' contains '1.10'"));
    // A value that looks like expression syntax stays a value.
    assert!(!eval("${input.HOSTILE} == 'x'"));
    assert!(!eval("'${input.HOSTILE}' == 'x'"));
    assert!(eval("'it\\'s' == \"it's\""));
}

#[test]
fn json_paths_look_into_the_response() {
    assert!(eval("$.items[0].status == 'Ready'"));
    assert!(eval("$.items.1.status == 'Pending'"));
    assert!(eval("$.status.readyReplicas >= 2"));
    assert!(eval("$['weird key'] == 1"));
    assert!(eval("$.ok"));
    assert!(eval("$.missing == null"));
    assert!(eval("$.items[9].status == null"));
    assert!(eval("$.items[0] != null && $.items[0].name == 'a'"));
    assert!(eval("$.status.phase != 'Failed'"));
    assert!(eval(
        "${deploy.web.output.objects.0.image} startsWith 'nginx:'"
    ));
}

#[test]
fn evaluation_errors_say_where_and_what() {
    let error = eval_error("${input.NOPE} == 'x'");
    assert_eq!(
        (error.column, error.message.as_str()),
        (1, "unknown binding ${input.NOPE}")
    );
    let error = eval_error("true && '${input.NOPE}' == 'x'");
    assert_eq!(error.column, 9);
    assert!(error.message.contains("${input.NOPE}"));
    let error = eval_error("'abc' < 3");
    assert_eq!(error.column, 7);
    assert!(error.message.contains("cannot use `<`"), "{error}");
    let error = eval_error("'maybe' && true");
    assert_eq!(
        error.to_string(),
        "column 1: expected true or false, found 'maybe'"
    );
    assert!(eval_error("$.labels contains $.tags")
        .message
        .contains("cannot use"));

    let without_response = TestContext {
        values: HashMap::new(),
        response: None,
    };
    let error = evaluate("$.ready == true", &without_response).unwrap_err();
    assert!(error.message.contains("only Poll conditions"));
    // Short-circuit: the right side is not evaluated.
    assert_eq!(
        evaluate("false && ${input.NOPE} == 1", &without_response),
        Ok(false)
    );
}

#[test]
fn syntax_errors_say_where_and_what() {
    let cases = [
        ("", 1, "empty"),
        ("1 = 2", 3, "use `==`"),
        ("a & b", 1, "unknown word `a`"),
        ("true & false", 6, "use `&&`"),
        ("'abc", 1, "not closed with '"),
        ("${input.X} == 'a' &&", 21, "ends here"),
        ("(true", 6, "close the `(` at column 1"),
        ("(true false)", 7, "expected `)`"),
        ("1 < 2 < 3", 7, "expected `&&`, `||` or the end"),
        ("tag == latest", 1, "unknown word `tag`"),
        ("${input.TAG} == 1.2.3", 17, "write text in quotes"),
        ("${input.TAG", 1, "not closed with `}`"),
        ("${foo} == 1", 1, "is not a binding"),
        ("'${bad}' == 'x'", 1, "is not a binding"),
        ("$. == 1", 2, "field name"),
        ("$.a[x] == 1", 4, "index or a quoted name"),
        ("$.a[0 == 1", 6, "expected `]`"),
        ("true and false", 6, "use `&&`"),
        ("== 1", 1, "expected a value, found `==`"),
        ("true )", 6, "found `)`"),
        ("日本 == 1", 1, "unknown word"),
        ("'日本' == 1 @", 11, "unexpected `@`"),
    ];
    for (expr, column, needle) in cases {
        let error = check_syntax(expr).expect_err(expr);
        assert_eq!(error.column, column, "{expr}: {error}");
        assert!(error.message.contains(needle), "{expr}: {error}");
    }
}

#[test]
fn bindings_and_response_use_are_reported() {
    let expression =
        Expression::parse("${input.A} == '${input.B}-${s.t.output.k}' && $.x == 1").unwrap();
    let shown: Vec<String> = expression
        .bindings()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["${input.A}", "${input.B}", "${s.t.output.k}"]);
    assert!(expression.uses_response());
    assert!(!Expression::parse("true").unwrap().uses_response());
}

#[test]
fn deep_nesting_is_refused_instead_of_overflowing() {
    for opening in ["(", "!", "!("] {
        let expr = format!("{}true", opening.repeat(10_000));
        let error = check_syntax(&expr).unwrap_err();
        assert!(error.message.contains("nested too deeply"), "{error}");
    }
    let nested_ok = format!("{}true{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    assert!(eval(&nested_ok));
    let long_chain = vec!["true"; 20_000].join(" && ");
    assert!(eval(&long_chain));
}

#[test]
fn garbage_never_panics() {
    let fragments = [
        "$",
        "{",
        "}",
        "${",
        "$${",
        "input.",
        "x.y.output.z",
        ".",
        "[",
        "]",
        "[0]",
        "['",
        "'",
        "\"",
        "\\",
        "(",
        ")",
        "!",
        "=",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        "&",
        "&&",
        "|",
        "||",
        " ",
        "0",
        "9",
        "-",
        "-1",
        "1.5",
        "1.",
        "e",
        "true",
        "null",
        "contains",
        "startsWith",
        "matches",
        "*",
        "?",
        "a",
        "é",
        "日本",
        "\u{0}",
        "\u{10FFFF}",
        "$.",
        "$.a",
        "output",
        "\n",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let ctx = context();
    for round in 0..30_000 {
        let length = random() % 16;
        let mut expr = String::new();
        for _ in 0..length {
            if round % 3 == 0 {
                // Any character at all, not only the interesting ones.
                expr.push(char::from_u32((random() % 0x11_0000) as u32).unwrap_or('?'));
            } else {
                expr.push_str(fragments[(random() % fragments.len() as u64) as usize]);
            }
        }
        let _ = check_syntax(&expr);
        let _ = evaluate(&expr, &ctx);
    }
}
