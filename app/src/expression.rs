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

use crate::pipeline::{bindings_in, lookup_json, pieces, substitute, Binding, Piece};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Contains,
    StartsWith,
    Matches,
}

impl Operator {
    fn symbol(self) -> &'static str {
        match self {
            Operator::Equal => "==",
            Operator::NotEqual => "!=",
            Operator::Less => "<",
            Operator::LessOrEqual => "<=",
            Operator::Greater => ">",
            Operator::GreaterOrEqual => ">=",
            Operator::Contains => "contains",
            Operator::StartsWith => "startsWith",
            Operator::Matches => "matches",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// Quoted text, unescaped; bindings in it are filled in at evaluation.
    Text(String),
    Literal(Value),
    Binding(Binding),
    /// `$.items[0].status` as `["items", "0", "status"]`.
    Path(Vec<String>),
    Compare(Operator),
    And,
    Or,
    Not,
    Open,
    Close,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Text(text) => format!("'{}'", shorten(text)),
            Token::Literal(value) => value.describe(),
            Token::Binding(binding) => binding.to_string(),
            Token::Path(path) => format!("$.{}", path.join(".")),
            Token::Compare(operator) => format!("`{}`", operator.symbol()),
            Token::And => "`&&`".to_string(),
            Token::Or => "`||`".to_string(),
            Token::Not => "`!`".to_string(),
            Token::Open => "`(`".to_string(),
            Token::Close => "`)`".to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Spanned {
    token: Token,
    column: usize,
}

impl Spanned {
    fn error(&self, message: String) -> ExpressionError {
        ExpressionError {
            column: self.column,
            message,
        }
    }
}

fn error_at(index: usize, message: impl Into<String>) -> ExpressionError {
    ExpressionError {
        column: index + 1,
        message: message.into(),
    }
}

/// Works on chars, not bytes, so columns are what people count and no
/// slice can land inside a character.
fn tokenize(text: &str) -> Result<Vec<Spanned>, ExpressionError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while let Some(&current) = chars.get(index) {
        if current.is_whitespace() {
            index += 1;
            continue;
        }
        let next = chars.get(index + 1).copied();
        let (token, length) = match (current, next) {
            ('=', Some('=')) => (Token::Compare(Operator::Equal), 2),
            ('!', Some('=')) => (Token::Compare(Operator::NotEqual), 2),
            ('<', Some('=')) => (Token::Compare(Operator::LessOrEqual), 2),
            ('>', Some('=')) => (Token::Compare(Operator::GreaterOrEqual), 2),
            ('<', _) => (Token::Compare(Operator::Less), 1),
            ('>', _) => (Token::Compare(Operator::Greater), 1),
            ('&', Some('&')) => (Token::And, 2),
            ('|', Some('|')) => (Token::Or, 2),
            ('!', _) => (Token::Not, 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            ('=', _) => return Err(error_at(index, "use `==` to compare")),
            ('&', _) => return Err(error_at(index, "use `&&` for “and”")),
            ('|', _) => return Err(error_at(index, "use `||` for “or”")),
            ('\'' | '"', _) => lex_text(&chars, index)?,
            ('$', Some('{')) => lex_binding(&chars, index)?,
            ('$', _) => lex_path(&chars, index)?,
            ('-', Some(digit)) if digit.is_ascii_digit() => lex_number(&chars, index)?,
            (digit, _) if digit.is_ascii_digit() => lex_number(&chars, index)?,
            (letter, _) if letter.is_alphabetic() || letter == '_' => lex_word(&chars, index)?,
            (other, _) => return Err(error_at(index, format!("unexpected `{other}`"))),
        };
        tokens.push(Spanned {
            token,
            column: index + 1,
        });
        index += length;
    }
    Ok(tokens)
}

/// Reads `'…'` or `"…"` starting at the quote; a backslash takes the next
/// character as it is (`\n` and `\t` excepted). Returns the text and how
/// many chars it spans.
fn read_quoted(chars: &[char], start: usize) -> Result<(String, usize), ExpressionError> {
    let quote = chars[start];
    let unclosed = || error_at(start, format!("this text is not closed with {quote}"));
    let mut text = String::new();
    let mut index = start + 1;
    loop {
        match chars.get(index) {
            None => return Err(unclosed()),
            Some('\\') => {
                let escaped = *chars.get(index + 1).ok_or_else(unclosed)?;
                text.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                index += 2;
            }
            Some(&closing) if closing == quote => return Ok((text, index + 1 - start)),
            Some(&other) => {
                text.push(other);
                index += 1;
            }
        }
    }
}

fn lex_text(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
    let (text, length) = read_quoted(chars, start)?;
    for piece in pieces(&text) {
        if let Piece::Malformed { written, reason } = piece {
            return Err(error_at(
                start,
                format!("`{written}` in this text is not a binding: {reason} (write $${{ for a literal ${{)"),
            ));
        }
    }
    Ok((Token::Text(text), length))
}

fn lex_binding(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
    let inner_start = start + 2;
    let Some(close) = chars[inner_start..].iter().position(|&c| c == '}') else {
        return Err(error_at(start, "this binding is not closed with `}`"));
    };
    let inner: String = chars[inner_start..inner_start + close].iter().collect();
    let binding = Binding::parse_inner(&inner)
        .map_err(|reason| error_at(start, format!("`${{{inner}}}` is not a binding: {reason}")))?;
    Ok((Token::Binding(binding), close + 3))
}

fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

fn lex_path(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
    let mut path = Vec::new();
    let mut index = start + 1;
    loop {
        match chars.get(index) {
            Some('.') => {
                let begin = index + 1;
                let length = chars[begin..]
                    .iter()
                    .take_while(|&&c| is_field_char(c))
                    .count();
                if length == 0 {
                    return Err(error_at(index, "expected a field name after `.`"));
                }
                path.push(chars[begin..begin + length].iter().collect());
                index = begin + length;
            }
            Some('[') => {
                let begin = index + 1;
                let (step, length) = match chars.get(begin) {
                    Some('\'' | '"') => read_quoted(chars, begin)?,
                    Some(digit) if digit.is_ascii_digit() => {
                        let length = chars[begin..]
                            .iter()
                            .take_while(|c| c.is_ascii_digit())
                            .count();
                        (chars[begin..begin + length].iter().collect(), length)
                    }
                    _ => {
                        return Err(error_at(
                            index,
                            "expected an index or a quoted name after `[`",
                        ))
                    }
                };
                if chars.get(begin + length) != Some(&']') {
                    return Err(error_at(begin + length, "expected `]`"));
                }
                path.push(step);
                index = begin + length + 1;
            }
            _ => return Ok((Token::Path(path), index - start)),
        }
    }
}

fn lex_number(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
    let digits_from = |from: usize| {
        chars[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut end = start + usize::from(chars[start] == '-');
    end += digits_from(end);
    if chars.get(end) == Some(&'.') && chars.get(end + 1).is_some_and(|c| c.is_ascii_digit()) {
        end += 1 + digits_from(end + 1);
    }
    // `1.2.3` or `3abc`: most likely text that lacks its quotes.
    let run = chars[end..]
        .iter()
        .take_while(|&&c| is_field_char(c) || c == '.')
        .count();
    if run > 0 {
        let written: String = chars[start..end + run].iter().collect();
        return Err(error_at(
            start,
            format!("`{written}` is not a number: write text in quotes ('{written}')"),
        ));
    }
    let written: String = chars[start..end].iter().collect();
    let number = written
        .parse::<f64>()
        .map_err(|_| error_at(start, format!("`{written}` is not a number")))?;
    Ok((Token::Literal(Value::Number(number)), end - start))
}

fn lex_word(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
    let length = chars[start..]
        .iter()
        .take_while(|&&c| c.is_alphanumeric() || c == '_')
        .count();
    let word: String = chars[start..start + length].iter().collect();
    let token = match word.as_str() {
        "true" => Token::Literal(Value::Bool(true)),
        "false" => Token::Literal(Value::Bool(false)),
        "null" => Token::Literal(Value::Null),
        "contains" => Token::Compare(Operator::Contains),
        "startsWith" => Token::Compare(Operator::StartsWith),
        "matches" => Token::Compare(Operator::Matches),
        "and" => return Err(error_at(start, "use `&&` for “and”")),
        "or" => return Err(error_at(start, "use `||` for “or”")),
        "not" => return Err(error_at(start, "use `!` for “not”")),
        _ => {
            return Err(error_at(
                start,
                format!("unknown word `{word}`: write text in quotes ('{word}') and inputs as ${{input.{word}}}"),
            ))
        }
    };
    Ok((token, length))
}

// ---------------------------------------------------------------- syntax tree

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

#[cfg(test)]
mod tests {
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
}
