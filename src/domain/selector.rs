//! Kubernetes label selectors: apimachinery `pkg/labels/selector.go`.
//!
//! * [`Selector::parse`] is a port of the lexer and recursive-descent parser behind
//!   `labels.Parse` (kubectl syntax such as `zone in (a,b),!gpu,tier!=db,num>5`).
//! * [`Requirement::new`] is `labels.NewRequirement` (same checks, same error wording).
//! * [`Requirement::matches`] is `Requirement.Matches`.
//!
//! The upstream operator set is folded onto the six node-selector operators: `=` and `==`
//! parse to [`Operator::In`] with one value, `!=` to [`Operator::NotIn`] with one value (they
//! match identically upstream). Values are kept sorted and unique, as the upstream parser's
//! `sets.String` keeps them; parsed selectors are stably sorted by key (`sort.Sort(ByKey)`).
//!
//! Deliberate differences from upstream, all on the error or rendering side:
//! * single-value `In` / `NotIn` render as `k=v` / `k!=v` (upstream keeps the spelling it
//!   parsed, `k in (v)` or `k=v`); both spellings parse back to the same requirement;
//! * a key rejected by the parser is reported under the field path `key` (upstream prints
//!   the nil path as `<nil>`), and every parse error ends with `(at position N)`, the 0-based
//!   byte offset of the offending token (or of the requirement's key for validation errors);
//! * upstream's lexer treats a NUL byte as end of input (silently ignoring the rest of the
//!   string after whitespace); here NUL is an ordinary identifier byte, which validation
//!   then rejects;
//! * quoted values in messages are clipped to [`MAX_QUOTED`] bytes and at most
//!   [`MAX_REPORTED_ERRORS`] distinct errors are listed, so hostile input cannot produce a
//!   message much larger than a few kilobytes.
//!
//! Everything here is total: no input makes it panic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;

use super::validate::{is_label_value, is_qualified_name};

/// Longest quoted key, value or token echoed in an error message (bytes, before `...`).
pub const MAX_QUOTED: usize = 256;
/// Most distinct field errors listed in one [`Requirement::new`] message.
pub const MAX_REPORTED_ERRORS: usize = 16;

/// A requirement's operator: the node-selector operator set (`core/v1`
/// `NodeSelectorOperator`), onto which the label-selector spellings fold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

impl Operator {
    /// Parses a `NodeSelectorOperator` exactly as the API spells it (case-sensitive).
    pub fn parse_node_selector(s: &str) -> Option<Self> {
        match s {
            "In" => Some(Operator::In),
            "NotIn" => Some(Operator::NotIn),
            "Exists" => Some(Operator::Exists),
            "DoesNotExist" => Some(Operator::DoesNotExist),
            "Gt" => Some(Operator::Gt),
            "Lt" => Some(Operator::Lt),
            _ => None,
        }
    }

    /// The `NodeSelectorOperator` spelling (`"In"`, `"NotIn"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
            Operator::Gt => "Gt",
            Operator::Lt => "Lt",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Anything that can look up a label value by key.
pub trait LabelSource {
    fn get(&self, key: &str) -> Option<&str>;
}

impl LabelSource for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
}

impl<S: BuildHasher> LabelSource for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
}

impl<T: LabelSource + ?Sized> LabelSource for &T {
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }
}

/// Go `strconv.ParseInt(s, 10, 64)`: an optional `+` or `-`, then one or more ASCII digits
/// (leading zeros allowed, no underscores, no whitespace), and the value must fit an `i64`.
pub fn parse_go_int64(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().split_first()? {
        (b'+', rest) => (false, rest),
        (b'-', rest) => (true, rest),
        _ => (false, s.as_bytes()),
    };
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if magnitude == i64::MIN.unsigned_abs() {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|m| -m)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// One clause of a selector: `key operator values`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted and unique when built by [`Requirement::new`] or [`Selector::parse`].
    pub values: Vec<String>,
}

impl Requirement {
    /// `labels.NewRequirement`: the key must be a qualified name; `In`/`NotIn` need at least
    /// one value, `Exists`/`DoesNotExist` none, `Gt`/`Lt` exactly one that parses as a base-10
    /// `i64` ([`parse_go_int64`]); every value must be a valid label value. The error is the
    /// upstream aggregate message, e.g. `values[0][zone]: Invalid value: "-x": a valid label
    /// must be ...`, or `[first, second]` when several checks fail.
    ///
    /// The stored values are sorted and deduplicated (after validation, so error indices
    /// refer to the caller's order).
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, String> {
        let errs = requirement_errors(key, operator, &values);
        if !errs.is_empty() {
            return Err(aggregate(errs));
        }
        let mut values = values;
        values.sort_unstable();
        values.dedup();
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    fn has_value(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }

    /// `Requirement.Matches`: `In` needs the key with a listed value; `NotIn` matches when the
    /// key is absent or its value is not listed; `Exists` / `DoesNotExist` test presence;
    /// `Gt` / `Lt` need the key, a label value that parses as an `i64` and exactly one
    /// requirement value that does, and a strict inequality. Anything else is no match.
    pub fn matches(&self, labels: &impl LabelSource) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.has_value(v)),
            Operator::NotIn => value.is_none_or(|v| !self.has_value(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt | Operator::Lt => {
                let Some(label) = value.and_then(parse_go_int64) else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Some(wanted) = parse_go_int64(wanted) else {
                    return false;
                };
                if self.operator == Operator::Gt {
                    label > wanted
                } else {
                    label < wanted
                }
            }
        }
    }
}

/// Renders as in a kubectl selector: `k`, `!k`, `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
/// `k>5`, `k<5`. Values are written sorted.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        let joined = values.join(",");
        match self.operator {
            Operator::Exists => f.write_str(&self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::In if values.len() == 1 => write!(f, "{}={joined}", self.key),
            Operator::NotIn if values.len() == 1 => write!(f, "{}!={joined}", self.key),
            Operator::In => write!(f, "{} in ({joined})", self.key),
            Operator::NotIn => write!(f, "{} notin ({joined})", self.key),
            Operator::Gt => write!(f, "{}>{joined}", self.key),
            Operator::Lt => write!(f, "{}<{joined}", self.key),
        }
    }
}

/// A label selector: the AND of its requirements. The empty selector matches everything.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Requirement>);

impl Selector {
    /// `labels.Parse`: parses kubectl selector syntax
    /// (`node-type=worker,zone in (a,b),!gpu,tier!=db,env==prod,key,k notin (x, y),num>5`).
    /// The requirements come back stably sorted by key.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Parser::new(s).parse().map_err(|e| SelectorError {
            message: format!("{} (at position {})", e.message, e.pos),
        })?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector(requirements))
    }

    /// True when every requirement matches (so the empty selector matches anything).
    pub fn matches(&self, labels: &impl LabelSource) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }

    /// True for the selector that does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The canonical kubectl string, requirements joined by `,` (`a=b,c in (x,y),!d`);
/// [`Selector::parse`] of it gives back an equal selector.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

/// Why a selector string did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorError {
    pub message: String,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SelectorError {}

// ---------------------------------------------------------------------------------------
// Error formatting (apimachinery `field.Error`, `ErrorList.ToAggregate`).
// ---------------------------------------------------------------------------------------

/// Cuts `s` to at most [`MAX_QUOTED`] bytes on a char boundary, marking the cut with `...`.
fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= MAX_QUOTED {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = MAX_QUOTED;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}...", s.get(..end).unwrap_or("")))
}

/// Go's `%q` of a string (printable characters kept, the rest escaped).
fn go_quote(s: &str) -> String {
    let s = clip(s);
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`.
fn go_string_slice(values: &[String]) -> String {
    let mut out = String::from("[]string{");
    for (i, v) in values.iter().enumerate() {
        if out.len() > MAX_QUOTED {
            out.push_str(", ...");
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&go_quote(v));
    }
    out.push('}');
    out
}

/// `field.Invalid(path, value, detail).Error()`, the value already rendered.
fn invalid(field: &str, rendered_value: &str, detail: &str) -> String {
    format!("{field}: Invalid value: {rendered_value}: {detail}")
}

/// `validateLabelKey`.
fn key_error(key: &str) -> Option<String> {
    let errs = is_qualified_name(key);
    (!errs.is_empty()).then(|| invalid("key", &go_quote(key), &errs.join("; ")))
}

/// The checks of `labels.NewRequirement`, in upstream order.
fn requirement_errors(key: &str, operator: Operator, values: &[String]) -> Vec<String> {
    let mut errs = Vec::new();
    errs.extend(key_error(key));
    match operator {
        Operator::In | Operator::NotIn => {
            if values.is_empty() {
                errs.push(invalid(
                    "values",
                    &go_string_slice(values),
                    "for 'in', 'notin' operators, values set can't be empty",
                ));
            }
        }
        Operator::Exists | Operator::DoesNotExist => {
            if !values.is_empty() {
                errs.push(invalid(
                    "values",
                    &go_string_slice(values),
                    "values set must be empty for exists and does not exist",
                ));
            }
        }
        Operator::Gt | Operator::Lt => {
            if values.len() != 1 {
                errs.push(invalid(
                    "values",
                    &go_string_slice(values),
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if parse_go_int64(v).is_none() {
                    errs.push(invalid(
                        &format!("values[{i}]"),
                        &go_quote(v),
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
    }
    for (i, v) in values.iter().enumerate() {
        let problems = is_label_value(v);
        if !problems.is_empty() {
            errs.push(invalid(
                &format!("values[{i}][{}]", clip(key)),
                &go_quote(v),
                &problems.join("; "),
            ));
        }
    }
    errs
}

/// `ErrorList.ToAggregate().Error()`: duplicates dropped, one message bare, several as
/// `[a, b]` (capped at [`MAX_REPORTED_ERRORS`]).
fn aggregate(errs: Vec<String>) -> String {
    let mut seen = HashSet::new();
    let mut unique: Vec<String> = Vec::new();
    let mut more = 0usize;
    for e in errs {
        if seen.contains(&e) {
            continue;
        }
        if unique.len() < MAX_REPORTED_ERRORS {
            seen.insert(e.clone());
            unique.push(e);
        } else {
            seen.insert(e);
            more += 1;
        }
    }
    if unique.len() == 1 {
        return unique.swap_remove(0);
    }
    let mut out = format!("[{}", unique.join(", "));
    if more > 0 {
        out.push_str(&format!(", and {more} more errors"));
    }
    out.push(']');
    out
}

// ---------------------------------------------------------------------------------------
// Lexer (`Lexer.Lex`).
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// Unreachable with upstream's token table (every special symbol is a token); kept for
    /// fidelity.
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// A scanned token, its text and the byte offset where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item<'a> {
    tok: Token,
    lit: &'a str,
    pos: usize,
}

/// `isWhitespace`.
fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// `isSpecialSymbol`.
fn is_special_symbol(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// `string2token`.
fn literal_token(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

/// Works on bytes like upstream; tokens only ever end at ASCII bytes, so every slice taken
/// is on a char boundary (and `get` makes a mistake harmless rather than a panic).
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str) -> Self {
        Lexer { s, pos: 0 }
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.s.as_bytes().get(i).copied()
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        let s: &'a str = self.s;
        s.get(start..end).unwrap_or("")
    }

    /// `Lex`: skips whitespace, then scans a special-symbol token or an identifier/keyword.
    fn lex(&mut self) -> Item<'a> {
        while self.byte(self.pos).is_some_and(is_whitespace) {
            self.pos += 1;
        }
        match self.byte(self.pos) {
            None => Item {
                tok: Token::EndOfString,
                lit: "",
                pos: self.pos,
            },
            Some(c) if is_special_symbol(c) => self.scan_special_symbol(),
            Some(_) => self.scan_id_or_keyword(),
        }
    }

    /// `scanIDOrKeyword`: the longest run of bytes that are neither whitespace nor special.
    fn scan_id_or_keyword(&mut self) -> Item<'a> {
        let start = self.pos;
        while self
            .byte(self.pos)
            .is_some_and(|c| !is_special_symbol(c) && !is_whitespace(c))
        {
            self.pos += 1;
        }
        let lit = self.slice(start, self.pos);
        Item {
            tok: literal_token(lit).unwrap_or(Token::Identifier),
            lit,
            pos: start,
        }
    }

    /// `scanSpecialSymbol`: the longest run of special symbols that is a token (`!=`, `==`),
    /// stopping at the first extension that is not.
    fn scan_special_symbol(&mut self) -> Item<'a> {
        let start = self.pos;
        let mut end = start;
        let mut last: Option<(Token, usize)> = None;
        while let Some(c) = self.byte(end) {
            if !is_special_symbol(c) {
                break;
            }
            end += 1;
            if let Some(tok) = literal_token(self.slice(start, end)) {
                last = Some((tok, end));
            } else if last.is_some() {
                break;
            }
        }
        match last {
            Some((tok, tok_end)) => {
                self.pos = tok_end;
                Item {
                    tok,
                    lit: self.slice(start, tok_end),
                    pos: start,
                }
            }
            None => {
                self.pos = end;
                Item {
                    tok: Token::Error,
                    lit: self.slice(start, end),
                    pos: start,
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parser (`Parser.parse` and friends).
// ---------------------------------------------------------------------------------------

/// `ParserContext`: in `Values`, the keywords `in` / `notin` read as identifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// The upstream binary operators before folding (`=`, `==` and `!=` are kept apart only to
/// pick the value parser, as upstream does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BinaryOp {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Gt,
    Lt,
}

#[derive(Debug)]
struct ParseError {
    message: String,
    pos: usize,
}

impl ParseError {
    fn found(item: Item<'_>, expected: &str) -> Self {
        ParseError {
            message: format!("found '{}', expected: {expected}", clip(item.lit)),
            pos: item.pos,
        }
    }
}

/// Upstream scans every token first; one token of lookahead is all the grammar needs, so
/// this lexes lazily (same tokens, constant memory).
struct Parser<'a> {
    lexer: Lexer<'a>,
    current: Item<'a>,
}

fn in_context(mut item: Item<'_>, context: Context) -> Item<'_> {
    if context == Context::Values && matches!(item.tok, Token::In | Token::NotIn) {
        item.tok = Token::Identifier;
    }
    item
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        let mut lexer = Lexer::new(s);
        let current = lexer.lex();
        Parser { lexer, current }
    }

    fn lookahead(&self, context: Context) -> Item<'a> {
        in_context(self.current, context)
    }

    /// Returns the current token and advances; at the end it keeps returning end-of-string.
    fn consume(&mut self, context: Context) -> Item<'a> {
        let item = self.current;
        if item.tok != Token::EndOfString {
            self.current = self.lexer.lex();
        }
        in_context(item, context)
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, ParseError> {
        let mut requirements = Vec::new();
        loop {
            let item = self.lookahead(Context::Values);
            match item.tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self.parse_requirement().map_err(|e| ParseError {
                        message: format!("unable to parse requirement: {}", e.message),
                        pos: e.pos,
                    })?;
                    requirements.push(r);
                    let next = self.consume(Context::Values);
                    match next.tok {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let after = self.lookahead(Context::Values);
                            if after.tok != Token::Identifier && after.tok != Token::DoesNotExist {
                                return Err(ParseError::found(after, "identifier after ','"));
                            }
                        }
                        _ => return Err(ParseError::found(next, "',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(ParseError::found(item, "!, identifier, or 'end of string'"));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, ParseError> {
        let (key, inferred, key_pos) = self.parse_key_and_infer_operator()?;
        let to_error = |message: String| ParseError {
            message,
            pos: key_pos,
        };
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = inferred {
            return Requirement::new(key, op, Vec::new()).map_err(to_error);
        }
        let op = self.parse_operator()?;
        let values = match op {
            BinaryOp::In | BinaryOp::NotIn => self.parse_values()?,
            BinaryOp::Equals
            | BinaryOp::DoubleEquals
            | BinaryOp::NotEquals
            | BinaryOp::Gt
            | BinaryOp::Lt => self.parse_exact_value()?,
        };
        let operator = match op {
            BinaryOp::In | BinaryOp::Equals | BinaryOp::DoubleEquals => Operator::In,
            BinaryOp::NotIn | BinaryOp::NotEquals => Operator::NotIn,
            BinaryOp::Gt => Operator::Gt,
            BinaryOp::Lt => Operator::Lt,
        };
        // Upstream collects the values in a `sets.String` and passes `List()`: sorted and
        // unique, so `values[i]` in an error counts in that order.
        let mut values = values;
        values.sort_unstable();
        values.dedup();
        let values = values.into_iter().map(str::to_string).collect();
        Requirement::new(key, operator, values).map_err(to_error)
    }

    /// `parseKeyAndInferOperator`: `[!] KEY`, inferring `Exists` when the key stands alone.
    /// Returns `None` for the operator when one must follow.
    fn parse_key_and_infer_operator(
        &mut self,
    ) -> Result<(&'a str, Option<Operator>, usize), ParseError> {
        let mut operator = None;
        let mut item = self.consume(Context::Values);
        if item.tok == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            item = self.consume(Context::Values);
        }
        if item.tok != Token::Identifier {
            return Err(ParseError::found(item, "identifier"));
        }
        if let Some(message) = key_error(item.lit) {
            return Err(ParseError {
                message,
                pos: item.pos,
            });
        }
        let next = self.lookahead(Context::Values).tok;
        if (next == Token::EndOfString || next == Token::Comma)
            && operator != Some(Operator::DoesNotExist)
        {
            operator = Some(Operator::Exists);
        }
        Ok((item.lit, operator, item.pos))
    }

    /// `parseOperator`.
    fn parse_operator(&mut self) -> Result<BinaryOp, ParseError> {
        let item = self.consume(Context::KeyAndOperator);
        Ok(match item.tok {
            Token::In => BinaryOp::In,
            Token::Equals => BinaryOp::Equals,
            Token::DoubleEquals => BinaryOp::DoubleEquals,
            Token::GreaterThan => BinaryOp::Gt,
            Token::LessThan => BinaryOp::Lt,
            Token::NotIn => BinaryOp::NotIn,
            Token::NotEquals => BinaryOp::NotEquals,
            _ => {
                return Err(ParseError::found(item, "in, notin, =, ==, !=, gt, lt"));
            }
        })
    }

    /// `parseValues`: `( [values] )`; `()` is the set holding the empty string.
    fn parse_values(&mut self) -> Result<Vec<&'a str>, ParseError> {
        let open = self.consume(Context::Values);
        if open.tok != Token::OpenPar {
            return Err(ParseError {
                message: format!("found '{}' expected: '('", clip(open.lit)),
                pos: open.pos,
            });
        }
        let item = self.lookahead(Context::Values);
        match item.tok {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                let close = self.consume(Context::Values);
                if close.tok != Token::ClosedPar {
                    return Err(ParseError::found(close, "')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![""])
            }
            _ => Err(ParseError::found(item, "',', ')' or identifier")),
        }
    }

    /// `parseIdentifiersList`: comma-separated, possibly empty, identifiers up to (not
    /// including) the `)`.
    fn parse_identifiers_list(&mut self) -> Result<Vec<&'a str>, ParseError> {
        let mut values: Vec<&'a str> = Vec::new();
        loop {
            let item = self.consume(Context::Values);
            match item.tok {
                Token::Identifier => {
                    values.push(item.lit);
                    let next = self.lookahead(Context::Values);
                    match next.tok {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(ParseError::found(next, "',' or ')'")),
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push(""); // "(,"
                    }
                    let next = self.lookahead(Context::Values);
                    if next.tok == Token::ClosedPar {
                        values.push(""); // ",)"
                        return Ok(values);
                    }
                    if next.tok == Token::Comma {
                        self.consume(Context::Values);
                        values.push(""); // ",,"
                    }
                }
                _ => return Err(ParseError::found(item, "',', or identifier")),
            }
        }
    }

    /// `parseExactValue`: one identifier, or the empty value before `,` / end of string.
    fn parse_exact_value(&mut self) -> Result<Vec<&'a str>, ParseError> {
        let next = self.lookahead(Context::Values);
        if next.tok == Token::EndOfString || next.tok == Token::Comma {
            return Ok(vec![""]);
        }
        let item = self.consume(Context::Values);
        if item.tok == Token::Identifier {
            Ok(vec![item.lit])
        } else {
            Err(ParseError::found(item, "identifier"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::seq::IndexedRandom;
    use rand::{Rng, SeedableRng};

    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: Operator, values: &[&str]) -> Requirement {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        match Requirement::new(key, op, values.clone()) {
            Ok(r) => r,
            Err(e) => panic!("Requirement::new({key:?}, {op:?}, {values:?}) failed: {e}"),
        }
    }

    fn parse_ok(s: &str) -> Selector {
        match Selector::parse(s) {
            Ok(sel) => sel,
            Err(e) => panic!("Selector::parse({s:?}) failed: {e}"),
        }
    }

    fn lex_all(s: &str) -> Vec<(Token, String)> {
        let mut lexer = Lexer::new(s);
        let mut out = Vec::new();
        loop {
            let item = lexer.lex();
            out.push((item.tok, item.lit.to_string()));
            if item.tok == Token::EndOfString || out.len() > s.len() + 1 {
                return out;
            }
        }
    }

    use Operator::{DoesNotExist, Exists, Gt, In, Lt, NotIn};

    // ---- upstream TestLexer -------------------------------------------------------------

    #[test]
    fn lexer_single_tokens() {
        use Token::*;
        let cases: &[(&str, &str, Token)] = &[
            ("empty", "", EndOfString),
            ("comma", ",", Comma),
            ("notin", "notin", NotIn),
            ("in", "in", In),
            ("equals", "=", Equals),
            ("double equals", "==", DoubleEquals),
            ("greater", ">", GreaterThan),
            ("less", "<", LessThan),
            ("bang", "!", DoesNotExist),
            ("not equals", "!=", NotEquals),
            ("open par", "(", OpenPar),
            ("closed par", ")", ClosedPar),
            ("tilde is identifier", "~", Identifier),
            ("pipes are identifier", "||", Identifier),
            ("non-ascii identifier", "żółw", Identifier),
            ("nul is identifier here", "\0", Identifier),
        ];
        for (name, input, want) in cases {
            let item = Lexer::new(input).lex();
            assert_eq!(item.tok, *want, "{name}: Lex({input:?}) token");
            assert_eq!(item.lit, *input, "{name}: Lex({input:?}) literal");
        }
    }

    // ---- upstream TestLexerSequence / TestParserLookahead -------------------------------

    #[test]
    fn lexer_sequences() {
        use Token::*;
        let cases: &[(&str, &str, &[Token])] = &[
            (
                "in",
                "key in ( value )",
                &[Identifier, In, OpenPar, Identifier, ClosedPar],
            ),
            (
                "notin",
                "key notin ( value )",
                &[Identifier, NotIn, OpenPar, Identifier, ClosedPar],
            ),
            (
                "in two values",
                "key in ( value1, value2 )",
                &[
                    Identifier, In, OpenPar, Identifier, Comma, Identifier, ClosedPar,
                ],
            ),
            ("key", "key", &[Identifier]),
            ("not key", "!key", &[DoesNotExist, Identifier]),
            ("parens", "()", &[OpenPar, ClosedPar]),
            (
                "empty in then key",
                "x in (),y",
                &[Identifier, In, OpenPar, ClosedPar, Comma, Identifier],
            ),
            (
                "operators",
                "== != (), = notin",
                &[
                    DoubleEquals,
                    NotEquals,
                    OpenPar,
                    ClosedPar,
                    Comma,
                    Equals,
                    NotIn,
                ],
            ),
            ("gt", "key>2", &[Identifier, GreaterThan, Identifier]),
            ("lt", "key<1", &[Identifier, LessThan, Identifier]),
            // Longest-token rule of scanSpecialSymbol.
            ("triple equals", "===", &[DoubleEquals, Equals]),
            ("not double equals", "!==", &[NotEquals, Equals]),
            ("bang paren", "!(", &[DoesNotExist, OpenPar]),
            ("gt eq", ">=", &[GreaterThan, Equals]),
            (
                "bang bang",
                "!!x",
                &[DoesNotExist, DoesNotExist, Identifier],
            ),
            (
                "only four whitespace bytes",
                " \t\r\na\u{b}b\u{a0}c d",
                &[Identifier, Identifier],
            ),
        ];
        for (name, input, want) in cases {
            let got = lex_all(input);
            let (last, body) = match got.split_last() {
                Some(split) => split,
                None => panic!("{name}: no tokens"),
            };
            assert_eq!(last.0, EndOfString, "{name}: last token of {input:?}");
            let got_tokens: Vec<Token> = body.iter().map(|(t, _)| *t).collect();
            assert_eq!(&got_tokens, want, "{name}: Lex sequence of {input:?}");
        }
    }

    #[test]
    fn lexer_literals_and_positions() {
        let mut lexer = Lexer::new("  ab\t!=  (c)");
        let got: Vec<(Token, &str, usize)> = std::iter::from_fn(|| {
            let it = lexer.lex();
            (it.tok != Token::EndOfString).then_some((it.tok, it.lit, it.pos))
        })
        .collect();
        assert_eq!(
            got,
            vec![
                (Token::Identifier, "ab", 2),
                (Token::NotEquals, "!=", 5),
                (Token::OpenPar, "(", 9),
                (Token::Identifier, "c", 10),
                (Token::ClosedPar, ")", 11),
            ]
        );
    }

    #[test]
    fn parser_lookahead_and_consume_agree() {
        let inputs = [
            "key in ( value )",
            "key notin ( value )",
            "",
            "== != (), = notin",
            "key<1",
        ];
        for input in inputs {
            let mut p = Parser::new(input);
            for _ in 0..64 {
                let look = p.lookahead(Context::KeyAndOperator);
                let took = p.consume(Context::KeyAndOperator);
                assert_eq!(look, took, "lookahead vs consume on {input:?}");
                if took.tok == Token::EndOfString {
                    // Consuming past the end is harmless and stays at the end.
                    assert_eq!(p.consume(Context::Values).tok, Token::EndOfString);
                    break;
                }
            }
        }
        let mut p = Parser::new("in notin");
        assert_eq!(p.lookahead(Context::Values).tok, Token::Identifier);
        assert_eq!(p.lookahead(Context::KeyAndOperator).tok, Token::In);
        assert_eq!(p.consume(Context::Values).tok, Token::Identifier);
        assert_eq!(p.consume(Context::KeyAndOperator).tok, Token::NotIn);
    }

    // ---- upstream TestSelectorParse ------------------------------------------------------

    #[test]
    fn selector_parse_good_strings_restring() {
        // Upstream checks String() equals the input with spaces removed.
        let cases = [
            ("exacts", "x=a,y=b,z=c"),
            ("empty", ""),
            ("not equals", "x!=a,y=b"),
            ("empty value", "x="),
            ("empty value space", "x= "),
            ("two empty values", "x=,z= "),
            ("two empty values spaced", "x= ,z= "),
            ("does not exist", "!x"),
            ("gt", "x>1"),
            ("gt lt", "x>1,z<5"),
        ];
        for (name, input) in cases {
            let got = parse_ok(input).to_string();
            let want = input.replace(' ', "");
            assert_eq!(got, want, "{name}: Parse({input:?}).String()");
        }
    }

    #[test]
    fn selector_parse_bad_strings() {
        let cases = [
            ("double pipe", "x=a||y=b"),
            ("chained equals", "x==a==b"),
            ("not key with value", "!x=a"),
            ("lt not integer", "x<a"),
        ];
        for (name, input) in cases {
            let got = Selector::parse(input);
            assert!(
                got.is_err(),
                "{name}: Parse({input:?}) want error, got {got:?}"
            );
        }
    }

    #[test]
    fn deterministic_parse() {
        let a = parse_ok("x=a,a=x");
        let b = parse_ok("a=x,x=a");
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "a=x,x=a");
    }

    // ---- upstream TestSelectorMatches ----------------------------------------------------

    #[test]
    fn selector_matches() {
        let foo_baz = &[("foo", "bar"), ("baz", "blah")][..];
        let cases: &[(&str, &str, Pairs, bool)] = &[
            ("empty selector", "", &[("x", "y")], true),
            ("equals", "x=y", &[("x", "y")], true),
            ("two equals", "x=y,z=w", &[("x", "y"), ("z", "w")], true),
            (
                "two not equals",
                "x!=y,z!=w",
                &[("x", "z"), ("z", "a")],
                true,
            ),
            (
                "keywords as key and value",
                "notin=in",
                &[("notin", "in")],
                true,
            ),
            ("exists", "x", &[("x", "z")], true),
            ("does not exist", "!x", &[("y", "z")], true),
            ("gt", "x>1", &[("x", "2")], true),
            ("lt", "x<1", &[("x", "0")], true),
            ("equals on empty set", "x=z", &[], false),
            ("equals other value", "x=y", &[("x", "z")], false),
            (
                "one of two equals",
                "x=y,z=w",
                &[("x", "w"), ("z", "w")],
                false,
            ),
            (
                "one of two not equals",
                "x!=y,z!=w",
                &[("x", "z"), ("z", "w")],
                false,
            ),
            ("exists missing", "x", &[("y", "z")], false),
            ("does not exist present", "!x", &[("x", "z")], false),
            ("gt fails", "x>1", &[("x", "0")], false),
            ("lt fails", "x<1", &[("x", "2")], false),
            ("foo=bar", "foo=bar", foo_baz, true),
            ("baz=blah", "baz=blah", foo_baz, true),
            ("both", "foo=bar,baz=blah", foo_baz, true),
            ("foo=blah", "foo=blah", foo_baz, false),
            ("baz=bar", "baz=bar", foo_baz, false),
            (
                "missing middle",
                "foo=bar,foobar=bar,baz=blah",
                foo_baz,
                false,
            ),
            // Beyond upstream's table.
            ("not equals absent key", "x!=y", &[], true),
            ("notin absent key", "x notin (a,b)", &[], true),
            ("in needs key", "x in (a,)", &[], false),
            ("in empty value", "x in (a,)", &[("x", "")], true),
            ("gt absent", "x>1", &[], false),
            ("gt non-integer label", "x>1", &[("x", "v2")], false),
            ("gt leading zeros", "x>007", &[("x", "+8")], true),
            ("lt negative label", "x<0", &[("x", "-1")], true),
            (
                "gt overflowing label",
                "x>0",
                &[("x", "9223372036854775808")],
                false,
            ),
            ("gt i64 max", "x>0", &[("x", "9223372036854775807")], true),
            ("gt equal is false", "x>5", &[("x", "5")], false),
            ("lt equal is false", "x<5", &[("x", "05")], false),
        ];
        for (name, selector, set, want) in cases {
            let sel = parse_ok(selector);
            let got = sel.matches(&labels(set));
            assert_eq!(got, *want, "{name}: Parse({selector:?}).Matches({set:?})");
            let hashed: HashMap<String, String> = labels(set).into_iter().collect();
            assert_eq!(sel.matches(&hashed), *want, "{name}: HashMap source");
        }
    }

    // ---- upstream TestRequirementConstructor ---------------------------------------------

    #[test]
    fn requirement_constructor() {
        let long_key = "a".repeat(254);
        let cases: &[(&str, &str, Operator, &[&str], bool)] = &[
            ("in nil", "x", In, &[], false),
            ("notin empty", "x", NotIn, &[], false),
            ("in one", "x", In, &["foo"], true),
            ("notin one", "x", NotIn, &["foo"], true),
            ("exists", "x", Exists, &[], true),
            ("does not exist", "x", DoesNotExist, &[], true),
            ("digit-leading key", "1foo", In, &["bar"], true),
            ("numeric key", "1234", In, &["bar"], true),
            ("gt", "y", Gt, &["1"], true),
            ("lt", "z", Lt, &["6"], true),
            ("gt not integer", "foo", Gt, &["bar"], false),
            ("lt not integer", "barz", Lt, &["blah"], false),
            ("key too long", long_key.as_str(), Exists, &[], false),
            // Beyond upstream's table.
            ("exists with value", "x", Exists, &["a"], false),
            (
                "does not exist with value",
                "x",
                DoesNotExist,
                &["a"],
                false,
            ),
            ("gt two values", "x", Gt, &["1", "2"], false),
            ("gt no value", "x", Lt, &[], false),
            ("gt negative is not a label value", "x", Gt, &["-1"], false),
            ("gt leading zeros", "x", Gt, &["0010"], true),
            ("gt overflow", "x", Gt, &["9223372036854775808"], false),
            ("prefixed key", "example.com/gpu", In, &["a", ""], true),
            ("bad prefix", "Example.com/gpu", Exists, &[], false),
            ("empty key", "", Exists, &[], false),
            ("two slashes", "a/b/c", Exists, &[], false),
            ("bad value", "x", In, &["-x"], false),
            ("value too long", "x", In, &["v".repeat(64).leak()], false),
            ("non-ascii value", "x", In, &["żółw"], false),
        ];
        for (name, key, op, values, want_ok) in cases {
            let vals: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            let got = Requirement::new(key, *op, vals);
            assert_eq!(
                got.is_ok(),
                *want_ok,
                "{name}: NewRequirement({key:?}, {op:?}, {values:?}) = {got:?}"
            );
        }
    }

    #[test]
    fn requirement_constructor_messages() {
        let label_err = |v: &str| is_label_value(v).join("; ");
        let key_err = |k: &str| is_qualified_name(k).join("; ");
        let cases: Vec<(&str, &str, Operator, Vec<&str>, String)> = vec![
            (
                "in empty",
                "x",
                In,
                vec![],
                "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty".into(),
            ),
            (
                "exists with values",
                "x",
                Exists,
                vec!["a", "b"],
                "values: Invalid value: []string{\"a\", \"b\"}: values set must be empty for exists and does not exist".into(),
            ),
            (
                "gt not integer",
                "foo",
                Gt,
                vec!["bar"],
                "values[0]: Invalid value: \"bar\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
            ),
            (
                "lt two values",
                "x",
                Lt,
                vec!["1", "2"],
                "values: Invalid value: []string{\"1\", \"2\"}: for 'Gt', 'Lt' operators, exactly one value is required".into(),
            ),
            (
                "bad value",
                "zone",
                In,
                vec!["ok", "-x"],
                format!("values[1][zone]: Invalid value: \"-x\": {}", label_err("-x")),
            ),
            (
                "bad key",
                "-k",
                Exists,
                vec![],
                format!("key: Invalid value: \"-k\": {}", key_err("-k")),
            ),
            (
                "bad key and bad values aggregate",
                "-k",
                Gt,
                vec!["a!"],
                format!(
                    "[key: Invalid value: \"-k\": {}, values[0]: Invalid value: \"a!\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][-k]: Invalid value: \"a!\": {}]",
                    key_err("-k"),
                    label_err("a!")
                ),
            ),
            (
                "duplicate messages collapse",
                "x",
                In,
                vec!["-x", "-x"],
                format!(
                    "[values[0][x]: Invalid value: \"-x\": {e}, values[1][x]: Invalid value: \"-x\": {e}]",
                    e = label_err("-x")
                ),
            ),
            (
                "control characters quoted like Go",
                "x",
                In,
                vec!["a\"\n\u{1}"],
                format!(
                    "values[0][x]: Invalid value: \"a\\\"\\n\\x01\": {}",
                    label_err("a\"\n\u{1}")
                ),
            ),
        ];
        for (name, key, op, values, want) in cases {
            let vals: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            match Requirement::new(key, op, vals) {
                Ok(r) => panic!("{name}: want error {want:?}, got {r:?}"),
                Err(got) => assert_eq!(got, want, "{name}"),
            }
        }
    }

    #[test]
    fn requirement_messages_are_bounded() {
        let huge = "-".repeat(1 << 20);
        let mut values: Vec<String> = (0..1000).map(|i| format!("-{i}")).collect();
        values.push(huge.clone());
        let err = match Requirement::new(&huge, Exists, values) {
            Ok(r) => panic!("want error, got {} values", r.values.len()),
            Err(e) => e,
        };
        let head: String = err.chars().take(300).collect();
        assert!(
            err.len() < 64 * 1024,
            "message is {} bytes: {head}",
            err.len()
        );
        assert!(err.contains(", and 987 more errors]"), "{head}");
    }

    #[test]
    fn requirement_values_sorted_unique() {
        let r = req("x", In, &["b", "a", "b", ""]);
        assert_eq!(r.values, vec!["", "a", "b"]);
        assert_eq!(r.to_string(), "x in (,a,b)");
    }

    // ---- upstream TestToString (adapted rendering of single values) ----------------------

    #[test]
    fn to_string() {
        let cases: Vec<(&str, Vec<Requirement>, &str)> = vec![
            (
                "in notin exists",
                vec![
                    req("x", In, &["abc", "def"]),
                    req("y", NotIn, &["jkl"]),
                    req("z", Exists, &[]),
                ],
                "x in (abc,def),y!=jkl,z", // upstream: y notin (jkl)
            ),
            (
                "notin notequals doesnotexist",
                vec![
                    req("x", NotIn, &["abc", "def"]),
                    req("y", NotIn, &["jkl"]),
                    req("z", DoesNotExist, &[]),
                ],
                "x notin (abc,def),y!=jkl,!z",
            ),
            (
                "empty value sets",
                vec![
                    req("x", NotIn, &["abc"]),
                    req("y", In, &["jkl", "mno"]),
                    req("z", NotIn, &[""]),
                ],
                "x!=abc,y in (jkl,mno),z!=", // upstream: x notin (abc), z notin ()
            ),
            (
                "exact matches",
                vec![
                    req("x", In, &["abc"]),
                    req("y", In, &["jkl"]),
                    req("z", NotIn, &["a"]),
                    req("z", Exists, &[]),
                ],
                "x=abc,y=jkl,z!=a,z", // upstream: y==jkl
            ),
            (
                "gt lt",
                vec![
                    req("x", Gt, &["2"]),
                    req("y", Lt, &["8"]),
                    req("z", Exists, &[]),
                ],
                "x>2,y<8,z",
            ),
            ("empty", vec![], ""),
            (
                "unsorted hand-built values render sorted",
                vec![Requirement {
                    key: "k".into(),
                    operator: In,
                    values: vec!["b".into(), "a".into()],
                }],
                "k in (a,b)",
            ),
        ];
        for (name, reqs, want) in cases {
            let got = Selector(reqs).to_string();
            assert_eq!(got, want, "{name}");
            let reparsed = parse_ok(&got).to_string();
            assert_eq!(reparsed, got, "{name}: re-parse of {got:?}");
        }
    }

    // ---- upstream TestRequirementSelectorMatching ----------------------------------------

    #[test]
    fn requirement_selector_matching() {
        let cases: Vec<(&str, Pairs, Vec<Requirement>, bool)> = vec![
            (
                "in and notin",
                &[("x", "foo"), ("y", "baz")],
                vec![req("x", In, &["foo"]), req("y", NotIn, &["alpha"])],
                true,
            ),
            (
                "in and in",
                &[("x", "foo"), ("y", "baz")],
                vec![req("x", In, &["foo"]), req("y", In, &["alpha"])],
                false,
            ),
            (
                "notin empty absent, exists",
                &[("y", "")],
                vec![req("x", NotIn, &[""]), req("y", Exists, &[])],
                true,
            ),
            (
                "doesnotexist, exists",
                &[("y", "")],
                vec![req("x", DoesNotExist, &[]), req("y", Exists, &[])],
                true,
            ),
            (
                "notin, doesnotexist present",
                &[("y", "")],
                vec![req("x", NotIn, &[""]), req("y", DoesNotExist, &[])],
                false,
            ),
            (
                "in empty value absent",
                &[("y", "baz")],
                vec![req("x", In, &[""])],
                false,
            ),
            ("gt", &[("z", "2")], vec![req("z", Gt, &["1"])], true),
            (
                "gt non-int",
                &[("z", "v2")],
                vec![req("z", Gt, &["1"])],
                false,
            ),
            (
                "hand-built gt with two values",
                &[("z", "9")],
                vec![Requirement {
                    key: "z".into(),
                    operator: Gt,
                    values: vec!["1".into(), "2".into()],
                }],
                false,
            ),
            (
                "hand-built gt with bad value",
                &[("z", "9")],
                vec![Requirement {
                    key: "z".into(),
                    operator: Lt,
                    values: vec!["x".into()],
                }],
                false,
            ),
        ];
        for (name, set, reqs, want) in cases {
            let got = Selector(reqs).matches(&labels(set));
            assert_eq!(got, want, "{name}");
        }
    }

    // ---- upstream TestSetSelectorParser --------------------------------------------------

    #[test]
    fn set_selector_parser() {
        type Want = Option<Vec<Requirement>>;
        let cases: Vec<(&str, &str, Want)> = vec![
            ("empty", "", Some(vec![])),
            ("carriage return", "\rx", Some(vec![req("x", Exists, &[])])),
            (
                "dns key",
                "this-is-a-dns.domain.com/key-with-dash",
                Some(vec![req(
                    "this-is-a-dns.domain.com/key-with-dash",
                    Exists,
                    &[],
                )]),
            ),
            (
                "dns key in",
                "this-is-another-dns.domain.com/key-with-dash in (so,what)",
                Some(vec![req(
                    "this-is-another-dns.domain.com/key-with-dash",
                    In,
                    &["so", "what"],
                )]),
            ),
            (
                "numeric prefix notin",
                "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
                Some(vec![req(
                    "0.1.2.domain/99",
                    NotIn,
                    &["10.10.100.1", "tick.tack.clock"],
                )]),
            ),
            (
                "spaces and tab",
                "foo  in\t (abc)",
                Some(vec![req("foo", In, &["abc"])]),
            ),
            (
                "newline",
                "x notin\n (abc)",
                Some(vec![req("x", NotIn, &["abc"])]),
            ),
            (
                "tabs",
                "x  notin\t\t\t(abc,def)",
                Some(vec![req("x", NotIn, &["abc", "def"])]),
            ),
            (
                "in two",
                "x in (abc,def)",
                Some(vec![req("x", In, &["abc", "def"])]),
            ),
            (
                "trailing comma",
                "x in (abc,)",
                Some(vec![req("x", In, &["abc", ""])]),
            ),
            ("empty parens", "x in ()", Some(vec![req("x", In, &[""])])),
            (
                "mixed, sorted by key",
                "x notin (abc,,def),bar,z in (),w",
                Some(vec![
                    req("bar", Exists, &[]),
                    req("w", Exists, &[]),
                    req("x", NotIn, &["abc", "", "def"]),
                    req("z", In, &[""]),
                ]),
            ),
            (
                "exists and in",
                "x,y in (a)",
                Some(vec![req("x", Exists, &[]), req("y", In, &["a"])]),
            ),
            ("equals", "x=a", Some(vec![req("x", In, &["a"])])),
            ("gt", "x>1", Some(vec![req("x", Gt, &["1"])])),
            ("lt", "x<7", Some(vec![req("x", Lt, &["7"])])),
            (
                "equals not equals",
                "x=a,y!=b",
                Some(vec![req("x", In, &["a"]), req("y", NotIn, &["b"])]),
            ),
            (
                "equals not equals in",
                "x=a,y!=b,z in (h,i,j)",
                Some(vec![
                    req("x", In, &["a"]),
                    req("y", NotIn, &["b"]),
                    req("z", In, &["h", "i", "j"]),
                ]),
            ),
            ("double pipe", "x=a||y=b", None),
            ("double comma", "x,,y", None),
            ("leading comma", ",x,y", None),
            ("bad operator", "x nott in (y)", None),
            (
                "notin space",
                "x notin ( )",
                Some(vec![req("x", NotIn, &[""])]),
            ),
            (
                "notin leading comma",
                "x notin (, a)",
                Some(vec![req("x", NotIn, &["", "a"])]),
            ),
            ("trailing comma after set", "a in (xyz),", None),
            ("missing comma after set", "a in (xyz)b notin ()", None),
            ("trailing space", "a ", Some(vec![req("a", Exists, &[])])),
            (
                "keywords as values",
                "a in (x,y,notin, z,in)",
                Some(vec![req("a", In, &["in", "notin", "x", "y", "z"])]),
            ),
            ("no comma in set", "a in (xyz abc)", None),
            ("unclosed", "a notin(", None),
            ("key then paren", "a (", None),
            ("open paren", "(", None),
            // Beyond upstream's table.
            (
                "double equals",
                "env==prod",
                Some(vec![req("env", In, &["prod"])]),
            ),
            (
                "brief example",
                "node-type=worker,zone in (a,b),!gpu,tier!=db,env==prod,key,k notin (x, y),num>5,num<10",
                Some(vec![
                    req("env", In, &["prod"]),
                    req("gpu", DoesNotExist, &[]),
                    req("k", NotIn, &["x", "y"]),
                    req("key", Exists, &[]),
                    req("node-type", In, &["worker"]),
                    req("num", Gt, &["5"]),
                    req("num", Lt, &["10"]),
                    req("tier", NotIn, &["db"]),
                    req("zone", In, &["a", "b"]),
                ]),
            ),
            (
                "equal keys keep input order",
                "k!=a,k,!j,k=b",
                Some(vec![
                    req("j", DoesNotExist, &[]),
                    req("k", NotIn, &["a"]),
                    req("k", Exists, &[]),
                    req("k", In, &["b"]),
                ]),
            ),
            (
                "not equals empty",
                "a!=",
                Some(vec![req("a", NotIn, &[""])]),
            ),
            (
                "keyword keys",
                "in,notin",
                Some(vec![req("in", Exists, &[]), req("notin", Exists, &[])]),
            ),
            (
                "keyword key with in",
                "in in (in)",
                Some(vec![req("in", In, &["in"])]),
            ),
            (
                "not keyword key",
                "!in",
                Some(vec![req("in", DoesNotExist, &[])]),
            ),
            ("double empty then close", "x in (a,,)", None),
            ("one comma", "x in (,)", Some(vec![req("x", In, &[""])])),
            ("two commas", "x in (,,)", None),
            (
                "three commas",
                "x in (,,,)",
                Some(vec![req("x", In, &[""])]),
            ),
            (
                "empty between",
                "x in (a,,b)",
                Some(vec![req("x", In, &["", "a", "b"])]),
            ),
            ("whitespace only", " \t\r\n ", Some(vec![])),
            (
                "gt leading zeros",
                "x>007",
                Some(vec![req("x", Gt, &["007"])]),
            ),
            ("gt negative", "x>-1", None),
            ("gt empty", "x>", None),
            ("bare bang", "!", None),
            ("bang comma", "!,x", None),
            ("trailing comma", "x,", None),
            ("only comma", ",", None),
            ("unbalanced close", "x in a)", None),
            ("nested parens", "x in ((a))", None),
            ("close paren first", ")", None),
            ("in without set", "x in", None),
            ("in set eos", "x in (a", None),
            ("in set comma eos", "x in (a,", None),
            ("exact value paren", "x=(a)", None),
            ("non-ascii key", "żółw", None),
            ("non-ascii value", "x=żółw", None),
            ("nul in key", "a\0b", None),
            ("nul after value", "a=b \0 ((", None),
            ("bad key", "-x=1", None),
            ("bad prefix", "Example.com/x", None),
        ];
        for (name, input, want) in cases {
            let got = Selector::parse(input);
            match (want, got) {
                (Some(reqs), Ok(sel)) => {
                    assert_eq!(sel, Selector(reqs), "{name}: Parse({input:?})")
                }
                (None, Err(_)) => {}
                (Some(reqs), Err(e)) => {
                    panic!("{name}: Parse({input:?}) want {reqs:?}, got error {e}")
                }
                (None, Ok(sel)) => panic!("{name}: Parse({input:?}) want error, got {sel:?}"),
            }
        }
    }

    #[test]
    fn parse_error_messages() {
        let label_err = |v: &str| is_label_value(v).join("; ");
        let key_err = |k: &str| is_qualified_name(k).join("; ");
        let cases: Vec<(&str, &str, String)> = vec![
            (
                "leading comma",
                ",x",
                "found ',', expected: !, identifier, or 'end of string' (at position 0)".into(),
            ),
            (
                "double comma",
                "x,,y",
                "found ',', expected: identifier after ',' (at position 2)".into(),
            ),
            (
                "trailing comma",
                "x,",
                "found '', expected: identifier after ',' (at position 2)".into(),
            ),
            (
                "bang then close",
                "!)",
                "unable to parse requirement: found ')', expected: identifier (at position 1)"
                    .into(),
            ),
            (
                "not key with value",
                "!x=a",
                "found '=', expected: ',' or 'end of string' (at position 2)".into(),
            ),
            (
                "bad operator",
                "x nott in (y)",
                "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt (at position 2)".into(),
            ),
            (
                "missing open paren",
                "x in in (a)",
                "unable to parse requirement: found 'in' expected: '(' (at position 5)".into(),
            ),
            (
                "bad token in set",
                "x in (=)",
                "unable to parse requirement: found '=', expected: ',', ')' or identifier (at position 6)".into(),
            ),
            (
                "no comma in set",
                "a in (xyz abc)",
                "unable to parse requirement: found 'abc', expected: ',' or ')' (at position 10)"
                    .into(),
            ),
            (
                "double empty then close",
                "x in (a,,)",
                "unable to parse requirement: found ')', expected: ',', or identifier (at position 9)".into(),
            ),
            (
                "unclosed",
                "a notin(",
                "unable to parse requirement: found '', expected: ',', ')' or identifier (at position 8)".into(),
            ),
            (
                "exact value paren",
                "x=(a)",
                "unable to parse requirement: found '(', expected: identifier (at position 2)"
                    .into(),
            ),
            (
                "chained equals",
                "x==a==b",
                "found '==', expected: ',' or 'end of string' (at position 4)".into(),
            ),
            (
                "bad key",
                "a, -x=1",
                format!(
                    "unable to parse requirement: key: Invalid value: \"-x\": {} (at position 3)",
                    key_err("-x")
                ),
            ),
            (
                "bad value",
                "zone in (a, -x)",
                format!(
                    "unable to parse requirement: values[0][zone]: Invalid value: \"-x\": {} (at position 0)",
                    label_err("-x")
                ),
            ),
            (
                "lt not integer",
                "x<a",
                "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer (at position 0)".into(),
            ),
        ];
        for (name, input, want) in cases {
            match Selector::parse(input) {
                Ok(sel) => panic!("{name}: Parse({input:?}) want error {want:?}, got {sel:?}"),
                Err(e) => {
                    assert_eq!(e.message, want, "{name}: Parse({input:?})");
                    assert_eq!(e.to_string(), want, "{name}: Display");
                }
            }
        }
    }

    #[test]
    fn parse_error_messages_are_bounded() {
        let long = format!("x in (a {})", "y".repeat(1 << 20));
        match Selector::parse(&long) {
            Ok(sel) => panic!("want error, got {} requirements", sel.0.len()),
            Err(e) => assert!(e.message.len() < 1024, "{} bytes", e.message.len()),
        }
    }

    // ---- operators and integers ----------------------------------------------------------

    #[test]
    fn operator_node_selector_spelling() {
        for op in [In, NotIn, Exists, DoesNotExist, Gt, Lt] {
            assert_eq!(Operator::parse_node_selector(op.as_str()), Some(op), "{op}");
        }
        for bad in ["in", "IN", "", "Equals", "Gt ", "notin", "=", "exists"] {
            assert_eq!(Operator::parse_node_selector(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn go_parse_int() {
        let cases: &[(&str, &str, Option<i64>)] = &[
            ("zero", "0", Some(0)),
            ("plus", "+5", Some(5)),
            ("minus", "-5", Some(-5)),
            ("minus zero", "-0", Some(0)),
            ("leading zeros", "0007", Some(7)),
            ("negative leading zeros", "-007", Some(-7)),
            ("max", "9223372036854775807", Some(i64::MAX)),
            ("min", "-9223372036854775808", Some(i64::MIN)),
            ("max plus one", "9223372036854775808", None),
            ("min minus one", "-9223372036854775809", None),
            ("huge", "99999999999999999999999", None),
            ("empty", "", None),
            ("plus only", "+", None),
            ("minus only", "-", None),
            ("double sign", "+-1", None),
            ("underscore", "1_000", None),
            ("space", " 1", None),
            ("trailing space", "1 ", None),
            ("hex", "0x10", None),
            ("float", "1.0", None),
            ("non-ascii digit", "١", None),
            ("letters", "abc", None),
        ];
        for (name, input, want) in cases {
            assert_eq!(parse_go_int64(input), *want, "{name}: ParseInt({input:?})");
        }
    }

    // ---- randomized ----------------------------------------------------------------------

    const KEYS: &[&str] = &["a", "b", "zone", "example.com/gpu", "in", "notin", "k-1"];
    const VALUES: &[&str] = &["", "a", "b", "in", "notin", "v-1", "x.y", "7"];
    const NUMBERS: &[&str] = &["0", "5", "007", "10", "9223372036854775807"];
    const LABEL_VALUES: &[&str] = &["", "a", "b", "in", "v-1", "x.y", "7", "5", "-3", "+5", "v2"];

    fn random_requirement(rng: &mut SmallRng) -> Requirement {
        let key = KEYS.choose(rng).copied().unwrap_or("a");
        let op = [In, NotIn, Exists, DoesNotExist, Gt, Lt]
            .choose(rng)
            .copied()
            .unwrap_or(Exists);
        let values: Vec<String> = match op {
            In | NotIn => (0..rng.random_range(1..4))
                .map(|_| VALUES.choose(rng).copied().unwrap_or("").to_string())
                .collect(),
            Exists | DoesNotExist => Vec::new(),
            Gt | Lt => vec![NUMBERS.choose(rng).copied().unwrap_or("0").to_string()],
        };
        req(
            key,
            op,
            &values.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    }

    /// An independent reading of the matching rules.
    fn reference_matches(r: &Requirement, set: &BTreeMap<String, String>) -> bool {
        let v = set.get(&r.key);
        match r.operator {
            In => matches!(v, Some(v) if r.values.contains(v)),
            NotIn => !matches!(v, Some(v) if r.values.contains(v)),
            Exists => v.is_some(),
            DoesNotExist => v.is_none(),
            Gt | Lt => {
                let label = v.and_then(|v| v.parse::<i64>().ok());
                let wanted = r.values.first().and_then(|w| w.parse::<i64>().ok());
                match (label, wanted) {
                    (Some(l), Some(w)) if r.values.len() == 1 => {
                        if r.operator == Gt {
                            l > w
                        } else {
                            l < w
                        }
                    }
                    _ => false,
                }
            }
        }
    }

    #[test]
    fn random_round_trip_and_matching() {
        let mut rng = SmallRng::seed_from_u64(0x5e1ec7);
        for case in 0..3000 {
            let mut reqs: Vec<Requirement> = (0..rng.random_range(0..6))
                .map(|_| random_requirement(&mut rng))
                .collect();
            reqs.sort_by(|a, b| a.key.cmp(&b.key));
            let sel = Selector(reqs);
            let text = sel.to_string();
            let reparsed = match Selector::parse(&text) {
                Ok(s) => s,
                Err(e) => panic!("case {case}: Parse({text:?}) of {sel:?} failed: {e}"),
            };
            assert_eq!(reparsed, sel, "case {case}: round trip of {text:?}");

            for _ in 0..8 {
                let mut set = BTreeMap::new();
                for k in KEYS {
                    if rng.random_bool(0.5) {
                        let v = LABEL_VALUES.choose(&mut rng).copied().unwrap_or("");
                        set.insert(k.to_string(), v.to_string());
                    }
                }
                let want = sel.0.iter().all(|r| reference_matches(r, &set));
                assert_eq!(
                    sel.matches(&set),
                    want,
                    "case {case}: {text:?} against {set:?}"
                );
            }
        }
    }

    #[test]
    fn random_spaced_spelling_parses_the_same() {
        // Render with upstream's alternative spellings and random whitespace; parse must
        // give the same selector as the canonical rendering.
        let mut rng = SmallRng::seed_from_u64(42);
        fn p(rng: &mut SmallRng) -> String {
            const WS: [&str; 5] = [" ", "\t", "\n", "\r", "  "];
            if rng.random_bool(0.4) {
                WS.choose(rng).copied().unwrap_or(" ").to_string()
            } else {
                String::new()
            }
        }
        for case in 0..2000 {
            let mut reqs: Vec<Requirement> = (0..rng.random_range(1..5))
                .map(|_| random_requirement(&mut rng))
                .collect();
            reqs.sort_by(|a, b| a.key.cmp(&b.key));
            let sel = Selector(reqs);
            let mut parts = Vec::new();
            for r in &sel.0 {
                let mut s = p(&mut rng);
                let first = r.values.first().cloned().unwrap_or_default();
                match r.operator {
                    Exists => s.push_str(&r.key),
                    DoesNotExist => {
                        s.push('!');
                        s.push_str(&p(&mut rng));
                        s.push_str(&r.key);
                    }
                    In | NotIn => {
                        if r.values.len() == 1 && rng.random_bool(0.5) {
                            let op = match (r.operator, rng.random_bool(0.5)) {
                                (In, true) => "=",
                                (In, false) => "==",
                                _ => "!=",
                            };
                            let (a, b) = (p(&mut rng), p(&mut rng));
                            s.push_str(&format!("{}{a}{op}{b}{first}", r.key));
                        } else {
                            let kw = if r.operator == In { "in" } else { "notin" };
                            // Order inside the set does not matter.
                            let mut vals = r.values.clone();
                            vals.reverse();
                            let sep = format!("{},{}", p(&mut rng), p(&mut rng));
                            let (a, b, c) = (p(&mut rng), p(&mut rng), p(&mut rng));
                            s.push_str(&format!("{} {kw}{a}({b}{}{c})", r.key, vals.join(&sep)));
                        }
                    }
                    Gt | Lt => {
                        let op = if r.operator == Gt { ">" } else { "<" };
                        let (a, b) = (p(&mut rng), p(&mut rng));
                        s.push_str(&format!("{}{a}{op}{b}{first}", r.key));
                    }
                }
                s.push_str(&p(&mut rng));
                parts.push(s);
            }
            let text = parts.join(",");
            match Selector::parse(&text) {
                Ok(got) => assert_eq!(got, sel, "case {case}: Parse({text:?})"),
                Err(e) => panic!("case {case}: Parse({text:?}) failed: {e}"),
            }
        }
    }

    #[test]
    fn random_garbage_never_panics_and_round_trips_when_valid() {
        let mut rng = SmallRng::seed_from_u64(7);
        let alphabet = [
            "a", "b", "in", "notin", "=", "==", "!", "!=", ",", "(", ")", "<", ">", " ", "\t",
            "\n", "-", "7", "/", ".", "ż", "\0", "é", "\u{a0}", "x.y", "z",
        ];
        let mut valid = 0;
        for _ in 0..20_000 {
            let len = rng.random_range(0..16);
            let s: String = (0..len)
                .map(|_| alphabet.choose(&mut rng).copied().unwrap_or("a"))
                .collect();
            if let Ok(sel) = Selector::parse(&s) {
                valid += 1;
                let text = sel.to_string();
                match Selector::parse(&text) {
                    Ok(again) => assert_eq!(again, sel, "Parse({s:?}) -> {text:?}"),
                    Err(e) => panic!("Parse({s:?}) -> {text:?} does not re-parse: {e}"),
                }
                let _ = sel.matches(&BTreeMap::new());
            }
        }
        assert!(valid > 100, "only {valid} random strings parsed");
    }

    #[test]
    fn huge_inputs() {
        // Inputs are never echoed in assertion messages here: they are megabytes long.
        let parsed = |s: &str| Selector::parse(s).map_err(|e| clip(&e.message).into_owned());
        let many = vec!["a=b"; 100_000].join(",");
        assert_eq!(parsed(&many).map(|s| s.0.len()), Ok(100_000));
        let deep = "(".repeat(1 << 20);
        assert!(parsed(&deep).is_err());
        let closes = format!("x in ({}", ")".repeat(1 << 20));
        assert!(parsed(&closes).is_err());
        // Upstream quirk: an odd run of commas closes fine, an even one does not.
        let odd = format!("x in ({})", ",".repeat((1 << 20) + 1));
        assert_eq!(parsed(&odd), Ok(Selector(vec![req("x", In, &[""])])));
        let even = format!("x in ({})", ",".repeat(1 << 20));
        assert!(parsed(&even).is_err());
        let spaces = " ".repeat(1 << 20);
        assert_eq!(parsed(&spaces), Ok(Selector::default()));
        let key = "k".repeat(1 << 20);
        let err = match parsed(&key) {
            Ok(_) => String::from("parsed"),
            Err(e) => e,
        };
        assert!(
            err.starts_with("unable to parse requirement: key: Invalid value: \"kkk"),
            "{err}"
        );
    }

    #[test]
    fn label_source_impls() {
        let b = labels(&[("k", "v")]);
        let h: HashMap<String, String> = b.clone().into_iter().collect();
        let sel = parse_ok("k=v");
        assert!(sel.matches(&b));
        assert!(sel.matches(&h));
        assert!(sel.matches(&&b));
        assert_eq!(LabelSource::get(&b, "k"), Some("v"));
        assert_eq!(LabelSource::get(&h, "missing"), None);
        assert!(Selector::default().matches(&BTreeMap::new()));
        assert!(Selector::default().is_empty());
        let from_str: Selector = match "k=v".parse() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(from_str, sel);
    }
}
