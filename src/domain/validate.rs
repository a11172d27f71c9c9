//! Kubernetes API validation primitives (apimachinery `pkg/util/validation`).
//!
//! Pure `std`; every function is total (never panics on any input).

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MAX_LENGTH: usize = 63;
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_LABEL_MAX_LENGTH: usize = 63;
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

/// apimachinery `EmptyError`.
fn empty_error() -> String {
    "must be non-empty".to_string()
}

/// apimachinery `MaxLenError`.
fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// apimachinery `RegexError`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = String::from(msg);
    out.push_str(" (e.g. ");
    for (i, ex) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(ex);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(fmt);
    out.push_str("')");
    out
}

/// Matches `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` (non-empty).
fn matches_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Matches `[a-z0-9]([-a-z0-9]*[a-z0-9])?` (non-empty).
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => alnum(f) && alnum(l) && b.iter().all(|c| alnum(c) || *c == b'-'),
        _ => false,
    }
}

/// Matches `label(\.label)*`, on the bytes (node names and label-key prefixes of every
/// synced node go through here): every byte is `[a-z0-9.-]`, the first and the last are
/// alphanumeric, and no dot touches another dot or a dash; that is, every label is
/// non-empty and starts and ends with an alphanumeric character.
fn matches_dns1123_subdomain(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            alnum(f)
                && alnum(l)
                && b.iter().all(|c| alnum(c) || matches!(c, b'-' | b'.'))
                && b.windows(2)
                    .all(|w| !matches!(w, [b'.', b'.' | b'-'] | [b'-', b'.']))
        }
        _ => false,
    }
}

/// apimachinery `IsQualifiedName`: a label key, `[prefix/]name`.
pub fn is_qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    // `[prefix/]name`: at most one '/'. Checked without collecting the parts, since this
    // runs for every label key of every synced node.
    let slash = s.bytes().position(|b| b == b'/');
    let name = match slash.map(|i| (&s[..i], &s[i + 1..])) {
        None => s,
        Some((prefix, name)) if !name.as_bytes().contains(&b'/') => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                for m in is_dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {m}"));
                }
            }
            name
        }
        Some(_) => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_ERR_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !matches_qualified_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// apimachinery `IsValidLabelValue`.
pub fn is_label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !s.is_empty() && !matches_qualified_name(s) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// apimachinery `IsDNS1123Subdomain`.
pub fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(s) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// apimachinery `IsDNS1123Label`.
pub fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(s) {
        if matches_dns1123_subdomain(s) {
            // A valid subdomain but not a label: length was checked, so dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// apimachinery `IsValidPercent`: `^[0-9]+%$` (format only; no range check).
pub fn is_valid_percent(s: &str) -> bool {
    s.strip_suffix('%')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// True when `s` is an unsigned base-10 integer or a `^[0-9]+%$` percentage
/// that fits in `u64` (see [`IntOrPercent::parse`]). The empty string is not.
pub fn is_int_or_percent(s: &str) -> bool {
    matches!(IntOrPercent::parse(s), Ok(Some(_)))
}

/// Message used by Kubernetes `ValidatePositiveIntOrPercent` for a malformed string.
const INT_OR_PERCENT_ERR_MSG: &str = "must be an integer or percentage (e.g '5%')";

/// An int-or-percent value (`intstr.IntOrString` restricted to what the
/// rolling-update fields accept: non-negative integers and `^[0-9]+%$`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntOrPercent {
    Int(u64),
    Percent(u64),
}

impl IntOrPercent {
    /// Parses `""` as `Ok(None)` (unset), `"5"` as `Int(5)`, `"5%"` as
    /// `Percent(5)`. Signs, spaces, decimals and values beyond `u64` are errors.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        if s.is_empty() {
            return Ok(None);
        }
        let (digits, percent) = match s.strip_suffix('%') {
            Some(d) => (d, true),
            None => (s, false),
        };
        let parsed = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse::<u64>().ok()
        } else {
            None
        };
        match parsed {
            Some(n) if percent => Ok(Some(Self::Percent(n))),
            Some(n) => Ok(Some(Self::Int(n))),
            None => Err(INT_OR_PERCENT_ERR_MSG.to_string()),
        }
    }

    /// Kubernetes `GetScaledValueFromIntOrPercent`: an int is returned as-is; a
    /// percentage of `total` is rounded up (`round_up`) or down. Never overflows.
    pub fn scaled(&self, total: u64, round_up: bool) -> u64 {
        match *self {
            Self::Int(n) => n,
            Self::Percent(p) => {
                let product = u128::from(p) * u128::from(total);
                let v = if round_up {
                    product.div_ceil(100)
                } else {
                    product / 100
                };
                u64::try_from(v).unwrap_or(u64::MAX)
            }
        }
    }

    /// `0` or `0%`.
    pub fn is_zero(&self) -> bool {
        matches!(*self, Self::Int(0) | Self::Percent(0))
    }
}

impl std::fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

// ---------------------------------------------------------------------------
// Field errors (apimachinery `pkg/util/validation/field`).
// ---------------------------------------------------------------------------

/// A path into a request in Kubernetes JSON form, e.g. `spec.taints[0].effect`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(String);

impl FieldPath {
    /// A root path, e.g. `spec`. May be empty.
    pub fn root(name: &str) -> Self {
        Self(name.to_string())
    }

    /// `a.b`; the child of an empty path is just `name`.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_string())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// `a[3]`.
    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// `a[k]` (Kubernetes does not quote map keys).
    pub fn key(&self, k: &str) -> Self {
        Self(format!("{}[{k}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong at a [`FieldPath`]; mirrors apimachinery `field.ErrorType`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `invalid value "<value>": <detail>`
    Invalid { value: String, detail: String },
    /// `required value[: <detail>]`
    Required { detail: String },
    /// `unsupported value "<value>"[: supported values: "a", "b"]`
    NotSupported {
        value: String,
        supported: Vec<String>,
    },
    /// `duplicate value "<value>"`
    Duplicate { value: String },
    /// `forbidden[: <detail>]`
    Forbidden { detail: String },
    /// `too many[: <actual>]: must have at most <max> items` (or `has too many items`).
    TooMany {
        actual: Option<usize>,
        max: Option<usize>,
    },
    /// `too long: may not be more than <max> bytes`
    TooLong { max: usize },
    /// `not found "<value>"`
    NotFound { value: String },
    /// `internal error: <detail>`
    Internal { detail: String },
}

/// One validation error at one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: FieldPath,
    pub kind: ErrorKind,
}

impl FieldError {
    pub fn new(field: &FieldPath, kind: ErrorKind) -> Self {
        Self {
            field: field.clone(),
            kind,
        }
    }

    pub fn invalid(field: &FieldPath, value: &str, detail: impl Into<String>) -> Self {
        Self::new(
            field,
            ErrorKind::Invalid {
                value: value.to_string(),
                detail: detail.into(),
            },
        )
    }

    pub fn required(field: &FieldPath, detail: impl Into<String>) -> Self {
        Self::new(
            field,
            ErrorKind::Required {
                detail: detail.into(),
            },
        )
    }

    pub fn not_supported(field: &FieldPath, value: &str, supported: &[&str]) -> Self {
        Self::new(
            field,
            ErrorKind::NotSupported {
                value: value.to_string(),
                supported: supported.iter().map(|s| s.to_string()).collect(),
            },
        )
    }

    pub fn duplicate(field: &FieldPath, value: &str) -> Self {
        Self::new(
            field,
            ErrorKind::Duplicate {
                value: value.to_string(),
            },
        )
    }

    pub fn forbidden(field: &FieldPath, detail: impl Into<String>) -> Self {
        Self::new(
            field,
            ErrorKind::Forbidden {
                detail: detail.into(),
            },
        )
    }

    pub fn too_many(field: &FieldPath, actual: Option<usize>, max: Option<usize>) -> Self {
        Self::new(field, ErrorKind::TooMany { actual, max })
    }

    /// The part after `<field>: `, as apimachinery `Error.ErrorBody` words it
    /// (with the error-type words lowercased, per the project's API contract).
    pub fn body(&self) -> String {
        fn with_detail(mut s: String, detail: &str) -> String {
            if !detail.is_empty() {
                s.push_str(": ");
                s.push_str(detail);
            }
            s
        }
        match &self.kind {
            ErrorKind::Invalid { value, detail } => {
                with_detail(format!("invalid value {}", go_quote(value)), detail)
            }
            ErrorKind::Required { detail } => with_detail("required value".to_string(), detail),
            ErrorKind::NotSupported { value, supported } => {
                let detail = if supported.is_empty() {
                    String::new()
                } else {
                    let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
                    format!("supported values: {}", quoted.join(", "))
                };
                with_detail(format!("unsupported value {}", go_quote(value)), &detail)
            }
            ErrorKind::Duplicate { value } => format!("duplicate value {}", go_quote(value)),
            ErrorKind::Forbidden { detail } => with_detail("forbidden".to_string(), detail),
            ErrorKind::TooMany { actual, max } => {
                let head = match actual {
                    Some(n) => format!("too many: {n}"),
                    None => "too many".to_string(),
                };
                let detail = match max {
                    Some(1) => "must have at most 1 item".to_string(),
                    Some(m) => format!("must have at most {m} items"),
                    None => "has too many items".to_string(),
                };
                with_detail(head, &detail)
            }
            ErrorKind::TooLong { max } => {
                format!("too long: may not be more than {max} bytes")
            }
            ErrorKind::NotFound { value } => format!("not found {}", go_quote(value)),
            ErrorKind::Internal { detail } => with_detail("internal error".to_string(), detail),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.as_str().is_empty() {
            f.write_str(&self.body())
        } else {
            write!(f, "{}: {}", self.field, self.body())
        }
    }
}

impl std::error::Error for FieldError {}

/// Accumulates errors while walking a request.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[FieldError] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// Each error rendered with `Display`.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|e| e.to_string()).collect()
    }

    /// Pushes one `Invalid` error whose detail is `msgs` joined with `"; "`;
    /// pushes nothing when `msgs` is empty. Returns whether it pushed.
    pub fn invalid(&mut self, path: &FieldPath, value: &str, msgs: Vec<String>) -> bool {
        if msgs.is_empty() {
            return false;
        }
        self.push(FieldError::invalid(path, value, msgs.join("; ")));
        true
    }

    pub fn required(&mut self, path: &FieldPath, detail: &str) {
        self.push(FieldError::required(path, detail));
    }

    pub fn not_supported(&mut self, path: &FieldPath, value: &str, supported: &[&str]) {
        self.push(FieldError::not_supported(path, value, supported));
    }

    pub fn duplicate(&mut self, path: &FieldPath, value: &str) {
        self.push(FieldError::duplicate(path, value));
    }

    pub fn forbidden(&mut self, path: &FieldPath, detail: &str) {
        self.push(FieldError::forbidden(path, detail));
    }
}

impl Extend<FieldError> for FieldErrors {
    fn extend<T: IntoIterator<Item = FieldError>>(&mut self, iter: T) {
        self.0.extend(iter);
    }
}

impl From<Vec<FieldError>> for FieldErrors {
    fn from(v: Vec<FieldError>) -> Self {
        Self(v)
    }
}

impl IntoIterator for FieldErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a FieldErrors {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Quotes `s` like Go's `strconv.Quote` (`%q`): `"` and `\` escaped, printable
/// characters kept, `\a \b \f \n \r \t \v`, other control characters as
/// `\xNN`, other non-printable characters as `\uNNNN` / `\UNNNNNNNN`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0B}' => out.push_str("\\v"),
            c if go_is_print(c) => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7F}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Approximates Go `unicode.IsPrint`: letters, marks, numbers, punctuation,
/// symbols and the ASCII space; not controls, format characters, private
/// use, non-characters or non-ASCII spaces/separators.
fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(
        u,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xE000..=0xF8FF
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
            | 0xF0000..
    );
    let non_character = (0xFDD0..=0xFDEF).contains(&u) || (u & 0xFFFE) == 0xFFFE;
    !(format_or_private || non_character)
}

// ---------------------------------------------------------------------------
// Higher-level validators (plain strings in, errors pushed at a path).
// ---------------------------------------------------------------------------

/// Kubernetes `ValidateLabels`: keys must be qualified names, values label
/// values. Errors are reported at `path` itself (e.g. `metadata.labels`) with
/// the offending key or value as the invalid value.
pub fn labels<'a>(
    map: impl IntoIterator<Item = (&'a str, &'a str)>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    for (k, v) in map {
        errs.invalid(path, k, is_qualified_name(k));
        errs.invalid(path, v, is_label_value(v));
    }
}

/// A node name: required, lowercase RFC 1123 subdomain (`ValidateNodeName`).
pub fn node_name(name: &str, path: &FieldPath, errs: &mut FieldErrors) {
    if name.is_empty() {
        errs.required(path, "");
    } else {
        errs.invalid(path, name, is_dns1123_subdomain(name));
    }
}

/// `core.TaintEffect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub const ALL: [TaintEffect; 3] = [
        TaintEffect::NoSchedule,
        TaintEffect::PreferNoSchedule,
        TaintEffect::NoExecute,
    ];
    /// The supported values, in Kubernetes' order (for `NotSupported`).
    pub const NAMES: [&'static str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

    /// Whether an untolerated taint of this effect can keep a DaemonSet pod off a node
    /// (semantics §2): `NoSchedule` and `NoExecute`; `PreferNoSchedule` only scores.
    pub fn affects_placement(self) -> bool {
        self != TaintEffect::PreferNoSchedule
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }

    /// Exact, case-sensitive match.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for TaintEffect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A taint effect (`validateTaintEffect` with `allowEmpty = false`): required,
/// one of `NoSchedule`, `PreferNoSchedule`, `NoExecute`.
pub fn taint_effect(effect: &str, path: &FieldPath, errs: &mut FieldErrors) -> Option<TaintEffect> {
    if effect.is_empty() {
        errs.required(path, "");
        return None;
    }
    let parsed = TaintEffect::parse(effect);
    if parsed.is_none() {
        errs.not_supported(path, effect, &TaintEffect::NAMES);
    }
    parsed
}

/// Node taints as `(key, value, effect)` (`validateNodeTaints`): key required
/// and a qualified name, value a label value, effect required and supported,
/// and unique by `(key, effect)` (a repeat is a duplicate at `path[i]`,
/// shown as `key:effect`).
pub fn taints(items: &[(&str, &str, &str)], path: &FieldPath, errs: &mut FieldErrors) {
    let mut seen: Vec<(&str, &str)> = Vec::with_capacity(items.len());
    for (i, &(key, value, effect)) in items.iter().enumerate() {
        // The paths below are built only for a taint with something to report.
        let valid = !key.is_empty()
            && is_qualified_name(key).is_empty()
            && is_label_value(value).is_empty()
            && TaintEffect::parse(effect).is_some()
            && !seen.contains(&(key, effect));
        if valid {
            seen.push((key, effect));
            continue;
        }
        let idx = path.index(i);
        let key_path = idx.child("key");
        if key.is_empty() {
            errs.required(&key_path, "");
        } else {
            errs.invalid(&key_path, key, is_qualified_name(key));
        }
        errs.invalid(&idx.child("value"), value, is_label_value(value));
        taint_effect(effect, &idx.child("effect"), errs);
        if seen.contains(&(key, effect)) {
            errs.duplicate(&idx, &format!("{key}:{effect}"));
        } else {
            seen.push((key, effect));
        }
    }
}

/// One toleration at `path` (e.g. `tolerations[0]`), per Kubernetes
/// `ValidateTolerations`. Error paths follow Kubernetes, which reports value
/// problems at `operator`. The alpha `Lt`/`Gt` operators are not supported.
pub fn toleration(
    key: &str,
    operator: &str,
    value: &str,
    effect: &str,
    toleration_seconds: Option<i64>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    let op_path = path.child("operator");
    let effect_path = path.child("effect");
    if !key.is_empty() {
        errs.invalid(&path.child("key"), key, is_qualified_name(key));
    }
    if key.is_empty() && operator != "Exists" {
        errs.push(FieldError::invalid(
            &op_path,
            operator,
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        ));
    }
    if toleration_seconds.is_some() && effect != "NoExecute" {
        errs.push(FieldError::invalid(
            &effect_path,
            effect,
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
    match operator {
        "" | "Equal" => {
            errs.invalid(&op_path, value, is_label_value(value));
        }
        "Exists" => {
            if !value.is_empty() {
                errs.push(FieldError::invalid(
                    &op_path,
                    value,
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
        }
        _ => errs.not_supported(&op_path, operator, &["Equal", "Exists"]),
    }
    if !effect.is_empty() && TaintEffect::parse(effect).is_none() {
        errs.not_supported(&effect_path, effect, &TaintEffect::NAMES);
    }
}

/// A resource list such as requests or allocatable: keys qualified names,
/// values non-negative quantities. Errors are at `path[key]`, as Kubernetes
/// reports them. `Q` is the quantity type (`quantity::Quantity`): anything
/// parsed by `FromStr` whose `Default` is zero.
pub fn resource_quantity_map<'a, Q>(
    map: impl IntoIterator<Item = (&'a str, &'a str)>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) where
    Q: std::str::FromStr<Err = String> + Ord + Default,
{
    for (k, v) in map {
        let key_errs = is_qualified_name(k);
        let value_err = match v.parse::<Q>() {
            Ok(q) if q < Q::default() => Some("must be greater than or equal to 0".to_string()),
            Ok(_) => None,
            Err(e) => Some(e),
        };
        if key_errs.is_empty() && value_err.is_none() {
            // The common case builds no path.
            continue;
        }
        let p = path.key(k);
        errs.invalid(&p, k, key_errs);
        if let Some(e) = value_err {
            errs.push(FieldError::invalid(&p, v, e));
        }
    }
}

/// An int-or-percent field (e.g. `maxUnavailable`): `""` is unset (`None`, no
/// error); otherwise it must be an unsigned integer or `^[0-9]+%$`.
pub fn int_or_percent(s: &str, path: &FieldPath, errs: &mut FieldErrors) -> Option<IntOrPercent> {
    match IntOrPercent::parse(s) {
        Ok(v) => v,
        Err(e) => {
            errs.push(FieldError::invalid(path, s, e));
            None
        }
    }
}

/// Kubernetes `ValidateRollingUpdateDaemonSet` on already-defaulted values
/// (`""` counts as zero): each non-zero value must be an int or a percentage
/// of at most 100%, and exactly one of the two must be non-zero. A malformed
/// value gets only its format error (the either/or rule is then skipped).
pub fn rolling_update(
    max_unavailable: &str,
    max_surge: &str,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    // Some(non_zero) when well formed, None when malformed (already reported).
    let mut check = |s: &str, name: &str| -> Option<bool> {
        let p = path.child(name);
        match IntOrPercent::parse(s) {
            Ok(None) => Some(false),
            Ok(Some(v)) => {
                if matches!(v, IntOrPercent::Percent(n) if n > 100) {
                    errs.push(FieldError::invalid(&p, s, "must not be greater than 100%"));
                }
                Some(!v.is_zero())
            }
            Err(e) => {
                errs.push(FieldError::invalid(&p, s, e));
                None
            }
        }
    };
    let unavailable = check(max_unavailable, "maxUnavailable");
    let surge = check(max_surge, "maxSurge");
    match (unavailable, surge) {
        (Some(true), Some(true)) => errs.push(FieldError::invalid(
            &path.child("maxSurge"),
            max_surge,
            "may not be set when maxUnavailable is non-zero",
        )),
        (Some(false), Some(false)) => errs.required(
            &path.child("maxUnavailable"),
            "cannot be 0 when maxSurge is 0",
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const QUALIFIED_NAME_MSG: &str = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
    const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

    /// (row name, input, want).
    type ParseRow<'a> = (&'a str, &'a str, Result<Option<IntOrPercent>, String>);
    /// (row name, map entries, want error strings).
    type MapRow<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<String>);

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Rows whose exact message lists are pinned.
    fn check_msgs(func: &str, f: fn(&str) -> Vec<String>, rows: &[(&str, &str, Vec<String>)]) {
        for (name, input, want) in rows {
            let got = f(input);
            assert_eq!(
                &got, want,
                "{func}/{name}: input {input:?}: want {want:?}, got {got:?}"
            );
        }
    }

    /// Rows that only pin validity.
    fn check_valid(func: &str, f: fn(&str) -> Vec<String>, rows: &[(&str, &str, bool)]) {
        for (name, input, want) in rows {
            let got = f(input);
            assert_eq!(
                got.is_empty(),
                *want,
                "{func}/{name}: input {input:?}: want valid={want}, got {got:?}"
            );
        }
    }

    #[test]
    fn qualified_name_validity() {
        let a63 = "a".repeat(63);
        let a64 = "a".repeat(64);
        let p253 = format!("{}/a", "a".repeat(253));
        let p254 = format!("{}/a", "a".repeat(254));
        let long_label_prefix = format!("{}.com/a", "a".repeat(100));
        let rows: Vec<(&str, &str, bool)> = vec![
            ("simple", "simple", true),
            ("dashes", "now-with-dashes", true),
            ("starts with digit", "1-starts-with-num", true),
            ("digits", "1234", true),
            ("prefixed", "simple/simple", true),
            ("prefixed dashes", "now-with-dashes/simple", true),
            ("prefixed dots", "now-with.dashes-and.dots/simple", true),
            ("numeric labels", "1-num.2-num/3-num", true),
            ("uppercase name", "example.com/Uppercase_Is_OK_123", true),
            ("dotted name", "requests.storage-foo", true),
            ("63 chars", &a63, true),
            ("64 chars", &a64, false),
            ("prefix 253", &p253, true),
            ("prefix 254", &p254, false),
            ("long label in prefix", &long_label_prefix, true),
            ("empty", "", false),
            ("trailing dash", "cantendwithadash-", false),
            ("leading dot", ".name", false),
            ("empty name", "example.com/", false),
            ("empty prefix", "/name", false),
            ("underscore prefix", "example_com/abc", false),
            ("uppercase prefix", "Example.com/abc", false),
            ("three parts", "only/one/slash", false),
            ("space", "a b", false),
            ("non-ascii", "ünïcode", false),
            ("emoji", "a😀a", false),
            ("lone slash", "/", false),
        ];
        check_valid("is_qualified_name", is_qualified_name, &rows);
    }

    #[test]
    fn qualified_name_messages() {
        let a64 = "a".repeat(64);
        let rows = vec![
            ("valid", "a/b", vec![]),
            (
                "empty",
                "",
                strs(&["name part must be non-empty", NAME_PART_MSG]),
            ),
            (
                "too long",
                &a64,
                strs(&["name part must be no more than 63 characters"]),
            ),
            ("bad name", "a-", strs(&[NAME_PART_MSG])),
            (
                "empty prefix",
                "/a",
                strs(&["prefix part must be non-empty"]),
            ),
            (
                "bad prefix",
                "A/a",
                vec![format!("prefix part {SUBDOMAIN_MSG}")],
            ),
            ("three parts", "a/b/c", strs(&[QUALIFIED_NAME_MSG])),
        ];
        check_msgs("is_qualified_name", is_qualified_name, &rows);
    }

    #[test]
    fn label_value() {
        let a63 = "a".repeat(63);
        let a64 = "a".repeat(64);
        let rows: Vec<(&str, &str, bool)> = vec![
            ("empty", "", true),
            ("simple", "simple", true),
            ("leading zeros", "007", true),
            ("exponent-like", "1e3", true),
            ("uppercase", "MyValue", true),
            ("underscore", "my_value", true),
            ("63 chars", &a63, true),
            ("64 chars", &a64, false),
            ("negative", "-1", false),
            ("plus", "+1", false),
            ("trailing dot", "1.", false),
            ("leading dot", ".starts.with.dot", false),
            ("special chars", "nospecialchars%^=@", false),
            ("slash", "a/b", false),
            ("space", "a b", false),
            ("non-ascii", "é", false),
        ];
        check_valid("is_label_value", is_label_value, &rows);
        let msg_rows = vec![
            ("bad", "-x", strs(&[LABEL_VALUE_MSG])),
            (
                "too long",
                &a64,
                strs(&["must be no more than 63 characters"]),
            ),
        ];
        check_msgs("is_label_value", is_label_value, &msg_rows);
    }

    #[test]
    fn dns1123_subdomain() {
        let a253 = "a".repeat(253);
        let a254 = "a".repeat(254);
        let rows: Vec<(&str, &str, bool)> = vec![
            ("single", "a", true),
            ("dotted", "a.b.c.d.e", true),
            ("digits", "0.a", true),
            ("double dash", "a--1--2--b", true),
            ("253", &a253, true),
            ("254", &a254, false),
            ("empty", "", false),
            ("trailing dot", "a.", false),
            ("leading dot", ".a", false),
            ("double dot", "a..b", false),
            ("uppercase", "aBc", false),
            ("underscore", "_", false),
            ("trailing dash", "1-", false),
            ("leading dash", "-1", false),
            ("space", " ", false),
            ("comma", "a,b", false),
            ("non-ascii", "ä.com", false),
        ];
        check_valid("is_dns1123_subdomain", is_dns1123_subdomain, &rows);
        let msg_rows = vec![
            ("bad", "A", strs(&[SUBDOMAIN_MSG])),
            (
                "too long and bad",
                &a254,
                strs(&["must be no more than 253 characters"]),
            ),
        ];
        check_msgs("is_dns1123_subdomain", is_dns1123_subdomain, &msg_rows);
    }

    #[test]
    fn dns1123_label() {
        let a63 = "a".repeat(63);
        let a64 = "a".repeat(64);
        let rows: Vec<(&str, &str, bool)> = vec![
            ("single", "a", true),
            ("dash", "a-1", true),
            ("63", &a63, true),
            ("64", &a64, false),
            ("dot", "a.b", false),
            ("uppercase", "A", false),
            ("empty", "", false),
        ];
        check_valid("is_dns1123_label", is_dns1123_label, &rows);
        let msg_rows = vec![
            ("bad", "A", strs(&[LABEL_MSG])),
            ("dots", "a.b", strs(&["must not contain dots"])),
            (
                "too long",
                &a64,
                strs(&["must be no more than 63 characters"]),
            ),
        ];
        check_msgs("is_dns1123_label", is_dns1123_label, &msg_rows);
    }

    #[test]
    fn percent_and_int_or_percent() {
        let rows = [
            ("zero padded", "00000%", true, true),
            ("one", "1%", true, true),
            ("over 100", "101%", true, true),
            ("plain int", "100", false, true),
            ("zero", "0", false, true),
            ("negative", "-1%", false, false),
            ("plus", "+1%", false, false),
            ("decimal", "1.5%", false, false),
            ("leading space", " 1%", false, false),
            ("bare percent", "%", false, false),
            ("double percent", "1%%", false, false),
            ("word", "hundred", false, false),
            ("empty", "", false, false),
            ("plus int", "+5", false, false),
            ("overflow int", "99999999999999999999999", false, false),
            ("non-ascii digit", "١%", false, false),
        ];
        for (name, input, want_pct, want_iop) in rows {
            let got = is_valid_percent(input);
            assert_eq!(
                got, want_pct,
                "is_valid_percent/{name}: input {input:?}: want {want_pct}, got {got}"
            );
            let got = is_int_or_percent(input);
            assert_eq!(
                got, want_iop,
                "is_int_or_percent/{name}: input {input:?}: want {want_iop}, got {got}"
            );
        }
    }

    #[test]
    fn int_or_percent_parse() {
        let err = Err(INT_OR_PERCENT_ERR_MSG.to_string());
        let rows: Vec<ParseRow> = vec![
            ("unset", "", Ok(None)),
            ("int", "5", Ok(Some(IntOrPercent::Int(5)))),
            ("zero", "0", Ok(Some(IntOrPercent::Int(0)))),
            ("percent", "25%", Ok(Some(IntOrPercent::Percent(25)))),
            ("padded percent", "007%", Ok(Some(IntOrPercent::Percent(7)))),
            (
                "max u64",
                "18446744073709551615",
                Ok(Some(IntOrPercent::Int(u64::MAX))),
            ),
            ("u64 overflow", "18446744073709551616", err.clone()),
            ("negative", "-1", err.clone()),
            ("plus", "+1", err.clone()),
            ("bare percent", "%", err.clone()),
            ("hash percent", "#%", err.clone()),
            ("decimal", "1.5", err.clone()),
            ("space", " 1", err.clone()),
            ("non-ascii", "五", err.clone()),
        ];
        for (name, input, want) in rows {
            let got = IntOrPercent::parse(input);
            assert_eq!(
                got, want,
                "parse/{name}: input {input:?}: want {want:?}, got {got:?}"
            );
        }
    }

    #[test]
    fn int_or_percent_scaled() {
        use IntOrPercent::{Int, Percent};
        let rows = [
            ("int as is", Int(5), 2, true, 5),
            ("zero percent", Percent(0), 10, true, 0),
            ("ceil", Percent(10), 95, true, 10),
            ("floor", Percent(90), 95, false, 85),
            ("ceil exact", Percent(50), 10, true, 5),
            ("floor half", Percent(50), 5, false, 2),
            ("ceil half", Percent(50), 5, true, 3),
            ("of zero", Percent(25), 0, true, 0),
            ("over 100", Percent(150), 10, false, 15),
            ("no overflow", Percent(u64::MAX), u64::MAX, true, u64::MAX),
            ("huge total", Percent(100), u64::MAX, false, u64::MAX),
        ];
        for (name, v, total, up, want) in rows {
            let got = v.scaled(total, up);
            assert_eq!(
                got, want,
                "scaled/{name}: {v:?} of {total} (round_up={up}): want {want}, got {got}"
            );
        }
        assert!(Int(0).is_zero() && Percent(0).is_zero() && !Int(1).is_zero());
    }

    #[test]
    fn field_path() {
        let spec = FieldPath::root("spec");
        let rows = [
            ("root", FieldPath::root("spec"), "spec"),
            ("child", spec.child("taints"), "spec.taints"),
            (
                "index",
                spec.child("taints").index(0).child("effect"),
                "spec.taints[0].effect",
            ),
            ("key", spec.child("limits").key("cpu"), "spec.limits[cpu]"),
            (
                "empty root child",
                FieldPath::root("").child("labels"),
                "labels",
            ),
            ("default", FieldPath::default().child("a"), "a"),
        ];
        for (name, got, want) in rows {
            assert_eq!(
                got.as_str(),
                want,
                "field_path/{name}: want {want:?}, got {:?}",
                got.as_str()
            );
        }
    }

    #[test]
    fn field_error_display() {
        let op = FieldPath::root("placement")
            .child("affinity")
            .child("nodeAffinity")
            .child("requiredDuringSchedulingIgnoredDuringExecution")
            .child("nodeSelectorTerms")
            .index(0)
            .child("matchExpressions")
            .index(1)
            .child("operator");
        let taints = FieldPath::root("taints");
        let labels = FieldPath::root("labels");
        let rows = [
            (
                "not supported",
                FieldError::not_supported(&op, "Equals", &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
                "placement.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].operator: unsupported value \"Equals\": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\", \"Gt\", \"Lt\"".to_string(),
            ),
            (
                "not supported without list",
                FieldError::not_supported(&op, "X", &[]),
                format!("{}: unsupported value \"X\"", op.as_str()),
            ),
            (
                "required",
                FieldError::required(&taints.index(0).child("effect"), ""),
                "taints[0].effect: required value".to_string(),
            ),
            (
                "required with detail",
                FieldError::required(&taints, "must have one"),
                "taints: required value: must have one".to_string(),
            ),
            (
                "invalid",
                FieldError::invalid(&labels, "-x", LABEL_VALUE_MSG),
                format!("labels: invalid value \"-x\": {LABEL_VALUE_MSG}"),
            ),
            (
                "invalid quoting",
                FieldError::invalid(&labels, "a\"b\\c\n\u{1}\u{7f}é\u{a0}😀", "bad"),
                "labels: invalid value \"a\\\"b\\\\c\\n\\x01\\x7fé\\u00a0😀\": bad".to_string(),
            ),
            (
                "duplicate",
                FieldError::duplicate(&taints.index(1), "dedicated:NoSchedule"),
                "taints[1]: duplicate value \"dedicated:NoSchedule\"".to_string(),
            ),
            ("forbidden", FieldError::forbidden(&taints, ""), "taints: forbidden".to_string()),
            (
                "forbidden detail",
                FieldError::forbidden(&taints, "not here"),
                "taints: forbidden: not here".to_string(),
            ),
            (
                "too many",
                FieldError::too_many(&taints, Some(5), Some(3)),
                "taints: too many: 5: must have at most 3 items".to_string(),
            ),
            (
                "too many unknown",
                FieldError::too_many(&taints, None, None),
                "taints: too many: has too many items".to_string(),
            ),
            (
                "too long",
                FieldError::new(&taints, ErrorKind::TooLong { max: 10 }),
                "taints: too long: may not be more than 10 bytes".to_string(),
            ),
            (
                "not found",
                FieldError::new(&taints, ErrorKind::NotFound { value: "x".into() }),
                "taints: not found \"x\"".to_string(),
            ),
            (
                "internal",
                FieldError::new(&taints, ErrorKind::Internal { detail: "boom".into() }),
                "taints: internal error: boom".to_string(),
            ),
            (
                "empty path",
                FieldError::required(&FieldPath::default(), ""),
                "required value".to_string(),
            ),
        ];
        for (name, e, want) in rows {
            let got = e.to_string();
            assert_eq!(got, want, "display/{name}: want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn field_errors_accumulate() {
        let p = FieldPath::root("labels");
        let mut errs = FieldErrors::new();
        assert!(
            !errs.invalid(&p, "ok", vec![]),
            "no messages must push nothing"
        );
        assert!(errs.is_empty());
        assert!(errs.invalid(&p, "x", strs(&["one", "two"])));
        let mut other = FieldErrors::default();
        other.required(&p, "");
        errs.extend(other);
        let got = errs.to_strings();
        let want = strs(&[
            "labels: invalid value \"x\": one; two",
            "labels: required value",
        ]);
        assert_eq!(got, want, "want {want:?}, got {got:?}");
        assert_eq!(errs.iter().count(), 2);
        assert_eq!(errs.len(), 2);
        assert_eq!(errs.into_vec().len(), 2);
    }

    fn run(f: impl FnOnce(&FieldPath, &mut FieldErrors), root: &str) -> Vec<String> {
        let mut errs = FieldErrors::default();
        f(&FieldPath::root(root), &mut errs);
        errs.to_strings()
    }

    #[test]
    fn labels_map() {
        let rows: Vec<MapRow> = vec![
            (
                "valid",
                vec![("app", "web"), ("example.com/tier", "")],
                vec![],
            ),
            (
                "bad value",
                vec![("app", "-x")],
                vec![format!(
                    "metadata.labels: invalid value \"-x\": {LABEL_VALUE_MSG}"
                )],
            ),
            (
                "bad key",
                vec![("a/b/c", "v")],
                vec![format!(
                    "metadata.labels: invalid value \"a/b/c\": {QUALIFIED_NAME_MSG}"
                )],
            ),
            (
                "empty key",
                vec![("", "v")],
                vec![format!(
                    "metadata.labels: invalid value \"\": name part must be non-empty; {NAME_PART_MSG}"
                )],
            ),
        ];
        for (name, map, want) in rows {
            let got = run(|p, e| labels(map.iter().copied(), p, e), "metadata.labels");
            assert_eq!(got, want, "labels/{name}: want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn node_name_rows() {
        let rows = [
            ("valid", "node-1", vec![]),
            ("dotted", "node-1.example.com", vec![]),
            ("empty", "", strs(&["nodeName: required value"])),
            (
                "underscore",
                "node_1",
                vec![format!(
                    "nodeName: invalid value \"node_1\": {SUBDOMAIN_MSG}"
                )],
            ),
        ];
        for (name, input, want) in rows {
            let got = run(|p, e| node_name(input, p, e), "nodeName");
            assert_eq!(got, want, "node_name/{name}: want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn taint_effect_rows() {
        let unsupported = "effect: unsupported value \"NoScheduleX\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"";
        let rows = [
            (
                "no schedule",
                "NoSchedule",
                Some(TaintEffect::NoSchedule),
                vec![],
            ),
            (
                "prefer",
                "PreferNoSchedule",
                Some(TaintEffect::PreferNoSchedule),
                vec![],
            ),
            (
                "no execute",
                "NoExecute",
                Some(TaintEffect::NoExecute),
                vec![],
            ),
            ("empty", "", None, strs(&["effect: required value"])),
            ("unknown", "NoScheduleX", None, strs(&[unsupported])),
        ];
        for (name, input, want_effect, want) in rows {
            let mut got_effect = None;
            let got = run(|p, e| got_effect = taint_effect(input, p, e), "effect");
            assert_eq!(got, want, "taint_effect/{name}: want {want:?}, got {got:?}");
            assert_eq!(
                got_effect, want_effect,
                "taint_effect/{name}: want {want_effect:?}, got {got_effect:?}"
            );
        }
        for e in TaintEffect::ALL {
            assert_eq!(TaintEffect::parse(e.as_str()), Some(e), "round trip {e}");
        }
        assert_eq!(TaintEffect::parse("noschedule"), None, "case-sensitive");
    }

    #[test]
    fn taints_rows() {
        type Rows<'a> = Vec<(&'a str, Vec<(&'a str, &'a str, &'a str)>, Vec<String>)>;
        let rows: Rows = vec![
            ("valid", vec![("dedicated", "user1", "NoSchedule")], vec![]),
            (
                "same key other effect",
                vec![
                    ("dedicated", "a", "NoSchedule"),
                    ("dedicated", "a", "NoExecute"),
                ],
                vec![],
            ),
            (
                "duplicate",
                vec![
                    ("dedicated", "a", "NoSchedule"),
                    ("dedicated", "b", "NoSchedule"),
                ],
                strs(&["taints[1]: duplicate value \"dedicated:NoSchedule\""]),
            ),
            (
                "missing key and effect",
                vec![("", "", "")],
                strs(&[
                    "taints[0].key: required value",
                    "taints[0].effect: required value",
                ]),
            ),
            (
                "bad value",
                vec![("dedicated", "-bad", "NoSchedule")],
                vec![format!(
                    "taints[0].value: invalid value \"-bad\": {LABEL_VALUE_MSG}"
                )],
            ),
            (
                "bad key",
                vec![("a-", "", "NoExecute")],
                vec![format!(
                    "taints[0].key: invalid value \"a-\": {NAME_PART_MSG}"
                )],
            ),
        ];
        for (name, items, want) in rows {
            let got = run(|p, e| taints(&items, p, e), "taints");
            assert_eq!(got, want, "taints/{name}: want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn toleration_rows() {
        let match_all = "tolerations[0].operator: invalid value \"\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"";
        let seconds = "tolerations[0].effect: invalid value \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set";
        type Row<'a> = (
            &'a str,
            (&'a str, &'a str, &'a str, &'a str, Option<i64>),
            Vec<String>,
        );
        let rows: Vec<Row> = vec![
            ("match everything", ("", "Exists", "", "", None), vec![]),
            (
                "empty operator means equal",
                ("foo", "", "bar", "", None),
                vec![],
            ),
            ("equal", ("foo", "Equal", "bar", "NoSchedule", None), vec![]),
            (
                "exists with key",
                ("foo", "Exists", "", "NoExecute", Some(30)),
                vec![],
            ),
            (
                "negative seconds allowed",
                ("foo", "Exists", "", "NoExecute", Some(-1)),
                vec![],
            ),
            (
                "empty key empty operator",
                ("", "", "", "", None),
                strs(&[match_all]),
            ),
            (
                "seconds without NoExecute",
                ("foo", "Equal", "bar", "NoSchedule", Some(30)),
                strs(&[seconds]),
            ),
            (
                "unsupported operator",
                ("foo", "In", "bar", "", None),
                strs(&[
                    "tolerations[0].operator: unsupported value \"In\": supported values: \"Equal\", \"Exists\"",
                ]),
            ),
            (
                "alpha Gt rejected",
                ("foo", "Gt", "1", "", None),
                strs(&[
                    "tolerations[0].operator: unsupported value \"Gt\": supported values: \"Equal\", \"Exists\"",
                ]),
            ),
            (
                "exists with value",
                ("foo", "Exists", "bar", "", None),
                strs(&[
                    "tolerations[0].operator: invalid value \"bar\": value must be empty when `operator` is 'Exists'",
                ]),
            ),
            (
                "bad value",
                ("foo", "Equal", "-bar", "", None),
                vec![format!(
                    "tolerations[0].operator: invalid value \"-bar\": {LABEL_VALUE_MSG}"
                )],
            ),
            (
                "bad key",
                ("a/b/c", "Exists", "", "", None),
                vec![format!(
                    "tolerations[0].key: invalid value \"a/b/c\": {QUALIFIED_NAME_MSG}"
                )],
            ),
            (
                "bad effect",
                ("foo", "Exists", "", "Never", None),
                strs(&[
                    "tolerations[0].effect: unsupported value \"Never\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                ]),
            ),
        ];
        for (name, (key, op, value, effect, secs), want) in rows {
            let got = run(
                |p, e| toleration(key, op, value, effect, secs, &p.index(0), e),
                "tolerations",
            );
            assert_eq!(got, want, "toleration/{name}: want {want:?}, got {got:?}");
        }
    }

    /// A stand-in quantity type (integers only) so these tests do not depend
    /// on the sibling `quantity` module.
    #[derive(PartialEq, Eq, PartialOrd, Ord, Default)]
    struct Q(i64);
    impl std::str::FromStr for Q {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            s.parse().map(Q).map_err(|_| "bad quantity".to_string())
        }
    }

    #[test]
    fn resource_quantity_map_rows() {
        let rows: Vec<MapRow> = vec![
            (
                "valid",
                vec![("cpu", "1"), ("example.com/gpu", "0")],
                vec![],
            ),
            (
                "negative",
                vec![("memory", "-1")],
                strs(&[
                    "requests[memory]: invalid value \"-1\": must be greater than or equal to 0",
                ]),
            ),
            (
                "unparsable",
                vec![("cpu", "x")],
                strs(&["requests[cpu]: invalid value \"x\": bad quantity"]),
            ),
            (
                "bad key",
                vec![("a/b/c", "1")],
                vec![format!(
                    "requests[a/b/c]: invalid value \"a/b/c\": {QUALIFIED_NAME_MSG}"
                )],
            ),
        ];
        for (name, map, want) in rows {
            let got = run(
                |p, e| resource_quantity_map::<Q>(map.iter().copied(), p, e),
                "requests",
            );
            assert_eq!(
                got, want,
                "resource_quantity_map/{name}: want {want:?}, got {got:?}"
            );
        }
    }

    #[test]
    fn rolling_update_rows() {
        let rows = [
            ("unavailable only", "1", "0", vec![]),
            ("surge only", "0", "1", vec![]),
            ("surge percent", "0", "20%", vec![]),
            ("unset surge", "100%", "", vec![]),
            (
                "both zero",
                "0",
                "0",
                strs(&["ru.maxUnavailable: required value: cannot be 0 when maxSurge is 0"]),
            ),
            (
                "both zero percent",
                "0%",
                "0%",
                strs(&["ru.maxUnavailable: required value: cannot be 0 when maxSurge is 0"]),
            ),
            (
                "both set",
                "1",
                "1",
                strs(&[
                    "ru.maxSurge: invalid value \"1\": may not be set when maxUnavailable is non-zero",
                ]),
            ),
            (
                "over 100",
                "0",
                "150%",
                strs(&["ru.maxSurge: invalid value \"150%\": must not be greater than 100%"]),
            ),
            (
                "malformed",
                "1.5",
                "0",
                strs(&[
                    "ru.maxUnavailable: invalid value \"1.5\": must be an integer or percentage (e.g '5%')",
                ]),
            ),
        ];
        for (name, mu, ms, want) in rows {
            let got = run(|p, e| rolling_update(mu, ms, p, e), "ru");
            assert_eq!(
                got, want,
                "rolling_update/{name}: want {want:?}, got {got:?}"
            );
        }
        let got = run(
            |p, e| {
                let _ = int_or_percent("x", p, e);
            },
            "f",
        );
        assert_eq!(
            got,
            strs(&["f: invalid value \"x\": must be an integer or percentage (e.g '5%')"])
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        let huge = "a".repeat(1 << 20);
        let inputs = [
            "",
            "/",
            "//",
            "%",
            ".",
            "-",
            "\0",
            "é",
            "😀/😀",
            "a/😀",
            "\u{10FFFF}",
            &huge,
        ];
        for s in inputs {
            let _ = is_qualified_name(s);
            let _ = is_label_value(s);
            let _ = is_dns1123_subdomain(s);
            let _ = is_dns1123_label(s);
            let _ = is_valid_percent(s);
            let _ = IntOrPercent::parse(s);
            let _ = go_quote(s);
            let mut errs = FieldErrors::default();
            let p = FieldPath::root(s);
            toleration(s, s, s, s, Some(i64::MIN), &p, &mut errs);
            taints(&[(s, s, s), (s, s, s)], &p, &mut errs);
            labels([(s, s)], &p, &mut errs);
            resource_quantity_map::<Q>([(s, s)], &p, &mut errs);
            rolling_update(s, s, &p, &mut errs);
            let _ = errs.to_strings();
        }
    }
}
