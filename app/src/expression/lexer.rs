//! Expression text to tokens, each with the column it starts at.

use super::{shorten, ExpressionError, Value};
use crate::pipeline::{pieces, Binding, Piece};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operator {
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
    pub(super) fn symbol(self) -> &'static str {
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
pub(super) enum Token {
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
    pub(super) fn describe(&self) -> String {
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
pub(super) struct Spanned {
    pub(super) token: Token,
    pub(super) column: usize,
}

impl Spanned {
    pub(super) fn error(&self, message: String) -> ExpressionError {
        ExpressionError {
            column: self.column,
            message,
        }
    }
}

pub(super) fn error_at(index: usize, message: impl Into<String>) -> ExpressionError {
    ExpressionError {
        column: index + 1,
        message: message.into(),
    }
}

/// Works on chars, not bytes, so columns are what people count and no
/// slice can land inside a character.
pub(super) fn tokenize(text: &str) -> Result<Vec<Spanned>, ExpressionError> {
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
pub(super) fn read_quoted(
    chars: &[char],
    start: usize,
) -> Result<(String, usize), ExpressionError> {
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

pub(super) fn lex_text(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
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

pub(super) fn lex_binding(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
    let inner_start = start + 2;
    let Some(close) = chars[inner_start..].iter().position(|&c| c == '}') else {
        return Err(error_at(start, "this binding is not closed with `}`"));
    };
    let inner: String = chars[inner_start..inner_start + close].iter().collect();
    let binding = Binding::parse_inner(&inner)
        .map_err(|reason| error_at(start, format!("`${{{inner}}}` is not a binding: {reason}")))?;
    Ok((Token::Binding(binding), close + 3))
}

pub(super) fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

pub(super) fn lex_path(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
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

pub(super) fn lex_number(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
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

pub(super) fn lex_word(chars: &[char], start: usize) -> Result<(Token, usize), ExpressionError> {
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
