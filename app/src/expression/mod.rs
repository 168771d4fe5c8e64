//! The small expression language of Condition tasks, task preconditions and
//! Poll conditions, e.g. `${input.DOCKER_TAG} != 'latest' && $.status.readyReplicas >= 1`.
//!
//! It only reads values: literals (`'text'`, `"text"`, `12`, `-1.5`, `true`,
//! `false`, `null`), bindings (`${input.NAME}`, `${STAGE.TASK.output.KEY}`,
//! also inside quoted text: `'${input.IMAGE}:${input.TAG}'`), and in Poll
//! conditions `$.path[0].field` into the response body. Operators, from
//! loosest to tightest: `||`, `&&`, comparisons (`==`, `!=`, `<`, `<=`, `>`,
//! `>=`, `contains`, `startsWith`, `matches`; not chained), `!`, parentheses.
//!
//! Binding values are never parsed as expression text, so a value cannot
//! change what an expression means. Wasm-safe: no regex, no server crates.

use std::cmp::Ordering;

use serde_json::Value as Json;

mod lexer;
#[cfg(test)]
mod tests;

use crate::pipeline::{bindings_in, lookup_json, substitute, Binding};
use lexer::{tokenize, Operator, Spanned, Token};

/// Where an expression gets its values from.
pub trait ExpressionContext {
    /// The value of a binding; `None` makes the evaluation fail, naming it.
    fn resolve(&self, binding: &Binding) -> Option<String>;

    /// What `$` refers to: the response body of a Poll request, read as JSON.
    /// Other expressions have none.
    fn response(&self) -> Option<&Json> {
        None
    }
}

/// What went wrong, and where: `column` counts characters from 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ExpressionError {
    pub column: usize,
    pub message: String,
}

/// Parentheses and `!` may nest this deep; more is surely a mistake, and
/// the limit keeps the recursive parser and evaluator off the stack's end.
const MAX_NESTING: usize = 32;

/// Parses and evaluates in one go.
pub fn evaluate(expr: &str, ctx: &dyn ExpressionContext) -> Result<bool, ExpressionError> {
    Expression::parse(expr)?.evaluate(ctx)
}

/// Whether an expression is well-formed, without evaluating it.
pub fn check_syntax(expr: &str) -> Result<(), ExpressionError> {
    Expression::parse(expr).map(|_| ())
}

/// A parsed expression, to evaluate as often as needed (a Poll condition is
/// evaluated after every request).
#[derive(Clone, Debug, PartialEq)]
pub struct Expression {
    root: Node,
}

impl Expression {
    pub fn parse(text: &str) -> Result<Expression, ExpressionError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens,
            position: 0,
            end_column: text.chars().count() + 1,
            depth: 0,
        };
        let root = parser.parse_or()?;
        match parser.tokens.get(parser.position) {
            None => Ok(Expression { root }),
            Some(extra) => Err(extra.error(format!(
                "expected `&&`, `||` or the end, found {}",
                extra.token.describe()
            ))),
        }
    }

    pub fn evaluate(&self, ctx: &dyn ExpressionContext) -> Result<bool, ExpressionError> {
        let value = self.root.evaluate(ctx)?;
        truth(&value).map_err(|message| self.root.error(message))
    }

    /// Every binding the expression reads, in order, also those in quoted text.
    pub fn bindings(&self) -> Vec<Binding> {
        let mut bindings = Vec::new();
        self.root.visit(&mut |kind| match kind {
            NodeKind::Binding(binding) => bindings.push(binding.clone()),
            NodeKind::Template(text) => bindings.extend(bindings_in(text)),
            _ => {}
        });
        bindings
    }

    /// Whether it looks into a response with `$`, which only Poll conditions have.
    pub fn uses_response(&self) -> bool {
        let mut uses = false;
        self.root
            .visit(&mut |kind| uses |= matches!(kind, NodeKind::Path(_)));
        uses
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Clone, Debug, PartialEq)]
struct Node {
    column: usize,
    kind: NodeKind,
}

#[derive(Clone, Debug, PartialEq)]
enum NodeKind {
    Literal(Value),
    Template(String),
    Binding(Binding),
    Path(Vec<String>),
    Not(Box<Node>),
    /// `a && b && c`, kept flat so long chains do not nest.
    All(Vec<Node>),
    /// `a || b || c`
    Any(Vec<Node>),
    Compare(Operator, Box<Node>, Box<Node>),
}

impl Node {
    fn error(&self, message: String) -> ExpressionError {
        ExpressionError {
            column: self.column,
            message,
        }
    }

    fn visit(&self, visitor: &mut impl FnMut(&NodeKind)) {
        visitor(&self.kind);
        match &self.kind {
            NodeKind::Not(operand) => operand.visit(visitor),
            NodeKind::All(operands) | NodeKind::Any(operands) => {
                operands.iter().for_each(|operand| operand.visit(visitor))
            }
            NodeKind::Compare(_, left, right) => {
                left.visit(visitor);
                right.visit(visitor);
            }
            NodeKind::Literal(_)
            | NodeKind::Template(_)
            | NodeKind::Binding(_)
            | NodeKind::Path(_) => {}
        }
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    position: usize,
    end_column: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position).map(|spanned| &spanned.token)
    }

    fn advance(&mut self) -> Option<Spanned> {
        let spanned = self.tokens.get(self.position).cloned();
        self.position += usize::from(spanned.is_some());
        spanned
    }

    /// `next (separator next)*`, gathered into one node when there are several.
    fn parse_chain(
        &mut self,
        separator: &Token,
        next: fn(&mut Parser) -> Result<Node, ExpressionError>,
        gather: fn(Vec<Node>) -> NodeKind,
    ) -> Result<Node, ExpressionError> {
        let mut operands = vec![next(self)?];
        while self.peek() == Some(separator) {
            self.position += 1;
            operands.push(next(self)?);
        }
        if operands.len() == 1 {
            return Ok(operands.remove(0));
        }
        Ok(Node {
            column: operands[0].column,
            kind: gather(operands),
        })
    }

    fn parse_or(&mut self) -> Result<Node, ExpressionError> {
        self.parse_chain(&Token::Or, Parser::parse_and, NodeKind::Any)
    }

    fn parse_and(&mut self) -> Result<Node, ExpressionError> {
        self.parse_chain(&Token::And, Parser::parse_comparison, NodeKind::All)
    }

    fn parse_comparison(&mut self) -> Result<Node, ExpressionError> {
        let left = self.parse_unary()?;
        let Some(&Token::Compare(operator)) = self.peek() else {
            return Ok(left);
        };
        let column = self.tokens[self.position].column;
        self.position += 1;
        let right = self.parse_unary()?;
        Ok(Node {
            column,
            kind: NodeKind::Compare(operator, Box::new(left), Box::new(right)),
        })
    }

    fn parse_unary(&mut self) -> Result<Node, ExpressionError> {
        if self.peek() != Some(&Token::Not) {
            return self.parse_primary();
        }
        let column = self.tokens[self.position].column;
        self.position += 1;
        let operand = self.nested(column, Parser::parse_unary)?;
        Ok(Node {
            column,
            kind: NodeKind::Not(Box::new(operand)),
        })
    }

    fn nested(
        &mut self,
        column: usize,
        parse: fn(&mut Parser) -> Result<Node, ExpressionError>,
    ) -> Result<Node, ExpressionError> {
        if self.depth >= MAX_NESTING {
            return Err(ExpressionError {
                column,
                message: format!("nested too deeply (more than {MAX_NESTING} levels)"),
            });
        }
        self.depth += 1;
        let node = parse(self);
        self.depth -= 1;
        node
    }

    fn parse_primary(&mut self) -> Result<Node, ExpressionError> {
        let Some(Spanned { token, column }) = self.advance() else {
            return Err(ExpressionError {
                column: self.end_column,
                message: if self.tokens.is_empty() {
                    "the expression is empty".to_string()
                } else {
                    "expected a value, but the expression ends here".to_string()
                },
            });
        };
        let kind = match token {
            Token::Literal(value) => NodeKind::Literal(value),
            Token::Text(text) => NodeKind::Template(text),
            Token::Binding(binding) => NodeKind::Binding(binding),
            Token::Path(path) => NodeKind::Path(path),
            Token::Open => {
                let inner = self.nested(column, Parser::parse_or)?;
                return match self.advance() {
                    Some(Spanned {
                        token: Token::Close,
                        ..
                    }) => Ok(inner),
                    Some(other) => Err(other.error(format!(
                        "expected `)` to close the `(` at column {column}, found {}",
                        other.token.describe()
                    ))),
                    None => Err(ExpressionError {
                        column: self.end_column,
                        message: format!("expected `)` to close the `(` at column {column}"),
                    }),
                };
            }
            other => {
                return Err(ExpressionError {
                    column,
                    message: format!("expected a value, found {}", other.describe()),
                })
            }
        };
        Ok(Node { column, kind })
    }
}

// ---------------------------------------------------------------- evaluation

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    /// A JSON list or object from a response.
    Structure(Json),
}

impl Value {
    fn from_json(json: &Json) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(flag) => Value::Bool(*flag),
            Json::Number(number) => number.as_f64().map_or(Value::Null, Value::Number),
            Json::String(text) => Value::Text(text.clone()),
            Json::Array(_) | Json::Object(_) => Value::Structure(json.clone()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Value::Null => "null".to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Number(number) => number.to_string(),
            Value::Text(text) => format!("'{}'", shorten(text)),
            Value::Structure(Json::Array(_)) => "a list".to_string(),
            Value::Structure(_) => "an object".to_string(),
        }
    }

    /// Numbers, and text that reads as a (finite) number: binding values
    /// are always text, and `${input.REPLICAS} > 2` should compare numbers.
    fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(number) => Some(*number),
            Value::Text(text) => text.parse::<f64>().ok().filter(|n| n.is_finite()),
            _ => None,
        }
    }

    fn as_flag(&self) -> Option<bool> {
        match self {
            Value::Bool(flag) => Some(*flag),
            Value::Text(text) if text.eq_ignore_ascii_case("true") => Some(true),
            Value::Text(text) if text.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// The text of a single value (`3`, `true`, `abc`); lists, objects and
    /// null have none.
    fn as_text(&self) -> Option<String> {
        match self {
            Value::Text(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Null | Value::Structure(_) => None,
        }
    }
}

fn shorten(text: &str) -> String {
    const LONGEST: usize = 40;
    if text.chars().count() <= LONGEST {
        text.to_string()
    } else {
        text.chars().take(LONGEST).chain(['…']).collect()
    }
}

fn truth(value: &Value) -> Result<bool, String> {
    value
        .as_flag()
        .ok_or_else(|| format!("expected true or false, found {}", value.describe()))
}

impl Node {
    fn evaluate(&self, ctx: &dyn ExpressionContext) -> Result<Value, ExpressionError> {
        let operand_truth = |operand: &Node| -> Result<bool, ExpressionError> {
            let value = operand.evaluate(ctx)?;
            truth(&value).map_err(|message| operand.error(message))
        };
        match &self.kind {
            NodeKind::Literal(value) => Ok(value.clone()),
            NodeKind::Template(text) => substitute(text, |binding| ctx.resolve(binding))
                .map(Value::Text)
                .map_err(|error| self.error(error.to_string())),
            NodeKind::Binding(binding) => ctx
                .resolve(binding)
                .map(Value::Text)
                .ok_or_else(|| self.error(format!("unknown binding {binding}"))),
            NodeKind::Path(path) => {
                let response = ctx.response().ok_or_else(|| {
                    self.error(
                        "`$` refers to a response, and only Poll conditions have one".to_string(),
                    )
                })?;
                // A missing field reads as null, so a poll can wait for it to appear.
                Ok(lookup_json(response, path).map_or(Value::Null, Value::from_json))
            }
            NodeKind::Not(operand) => Ok(Value::Bool(!operand_truth(operand)?)),
            // Short-circuit, so `$.items[0] != null && $.items[0].ready` is safe.
            NodeKind::All(operands) => {
                for operand in operands {
                    if !operand_truth(operand)? {
                        return Ok(Value::Bool(false));
                    }
                }
                Ok(Value::Bool(true))
            }
            NodeKind::Any(operands) => {
                for operand in operands {
                    if operand_truth(operand)? {
                        return Ok(Value::Bool(true));
                    }
                }
                Ok(Value::Bool(false))
            }
            NodeKind::Compare(operator, left, right) => {
                let left = left.evaluate(ctx)?;
                let right = right.evaluate(ctx)?;
                compare(*operator, &left, &right)
                    .map(Value::Bool)
                    .map_err(|message| self.error(message))
            }
        }
    }
}

/// Equality is numeric when either side is a number (`${input.N} == 3`), but
/// two texts compare as texts: tags `1.10` and `1.1` differ.
fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            matches!((left.as_number(), right.as_number()), (Some(a), Some(b)) if a == b)
        }
        (Value::Bool(flag), other) | (other, Value::Bool(flag)) => other.as_flag() == Some(*flag),
        (Value::Text(a), Value::Text(b)) => a == b,
        (Value::Null, Value::Null) => true,
        (Value::Structure(a), Value::Structure(b)) => a == b,
        _ => false,
    }
}

/// Orders numbers (and number-like texts) numerically, other texts by their
/// characters; nothing else has an order.
fn order(left: &Value, right: &Value) -> Option<Ordering> {
    match (left.as_number(), right.as_number(), left, right) {
        (Some(a), Some(b), _, _) => a.partial_cmp(&b),
        (_, _, Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn compare(operator: Operator, left: &Value, right: &Value) -> Result<bool, String> {
    let cannot = || {
        format!(
            "cannot use `{}` on {} and {}",
            operator.symbol(),
            left.describe(),
            right.describe()
        )
    };
    let ordered = |accept: fn(Ordering) -> bool| order(left, right).map(accept).ok_or_else(cannot);
    // Text operators on a missing field (null) are simply false.
    let texts = || match (left, left.as_text(), right.as_text()) {
        (Value::Null, _, _) => Ok(None),
        (_, Some(a), Some(b)) => Ok(Some((a, b))),
        _ => Err(cannot()),
    };
    match operator {
        Operator::Equal => Ok(equal(left, right)),
        Operator::NotEqual => Ok(!equal(left, right)),
        Operator::Less => ordered(Ordering::is_lt),
        Operator::LessOrEqual => ordered(Ordering::is_le),
        Operator::Greater => ordered(Ordering::is_gt),
        Operator::GreaterOrEqual => ordered(Ordering::is_ge),
        Operator::Contains => match left {
            Value::Structure(Json::Array(items)) => Ok(items
                .iter()
                .any(|item| equal(&Value::from_json(item), right))),
            Value::Structure(Json::Object(fields)) => right
                .as_text()
                .map(|key| fields.contains_key(&key))
                .ok_or_else(cannot),
            _ => Ok(texts()?.is_some_and(|(text, part)| text.contains(&part))),
        },
        Operator::StartsWith => Ok(texts()?.is_some_and(|(text, start)| text.starts_with(&start))),
        Operator::Matches => {
            Ok(texts()?.is_some_and(|(text, pattern)| glob_matches(&pattern, &text)))
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum GlobItem {
    AnyRun,
    AnyOne,
    Exactly(char),
}

/// Whole-text glob match: `*` any run of characters, `?` one character,
/// `\` makes the next character literal. Backtracks only to the last `*`,
/// so it stays linear-ish on hostile patterns.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut items = Vec::new();
    let mut pattern_chars = pattern.chars();
    while let Some(c) = pattern_chars.next() {
        items.push(match c {
            '*' => GlobItem::AnyRun,
            '?' => GlobItem::AnyOne,
            '\\' => GlobItem::Exactly(pattern_chars.next().unwrap_or('\\')),
            other => GlobItem::Exactly(other),
        });
    }
    let text: Vec<char> = text.chars().collect();
    let (mut item, mut at) = (0, 0);
    // Where to resume after the last `*`: the item after it, and the text
    // position that `*` should swallow up to next.
    let mut last_star: Option<(usize, usize)> = None;
    while at < text.len() {
        match items.get(item) {
            Some(GlobItem::AnyRun) => {
                last_star = Some((item + 1, at));
                item += 1;
            }
            Some(GlobItem::AnyOne) => {
                item += 1;
                at += 1;
            }
            Some(GlobItem::Exactly(c)) if *c == text[at] => {
                item += 1;
                at += 1;
            }
            _ => match last_star {
                Some((after_star, swallowed_to)) => {
                    item = after_star;
                    at = swallowed_to + 1;
                    last_star = Some((after_star, swallowed_to + 1));
                }
                None => return false,
            },
        }
    }
    items[item..].iter().all(|rest| *rest == GlobItem::AnyRun)
}
