//! Kubernetes resource quantities (apimachinery `pkg/api/resource`).
//!
//! A [`Quantity`] holds an exact value in nano-units (`10^-9`) as an `i128`.
//! Parsing follows `resource.ParseQuantity`, including its rounding of
//! sub-nano precision up (away from zero). Pure `std`; nothing panics.

use std::fmt;
use std::str::FromStr;

/// apimachinery `ErrFormatWrong`.
pub const ERR_FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// apimachinery `ErrSuffix`: well-formed but unknown suffix, e.g. `1K`, `1ki`.
pub const ERR_SUFFIX: &str = "unable to parse quantity's suffix";
/// Beyond Kubernetes (which uses arbitrary precision): the value does not fit.
pub const ERR_TOO_LARGE: &str = "quantity is too large";

const NANOS_PER_UNIT: i128 = 1_000_000_000;
const NANOS_PER_MILLI: i128 = 1_000_000;

/// An exact resource quantity, stored in nano-units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

/// How a suffix scales the mantissa.
enum Scale {
    /// `10^exp`
    Decimal(i64),
    /// `2^exp`, exp in {10, 20, ..., 60}
    Binary(u32),
}

fn interpret_suffix(suffix: &str) -> Option<Scale> {
    let dec = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = dec {
        return Some(Scale::Decimal(e));
    }
    let bin = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(e) = bin {
        return Some(Scale::Binary(e));
    }
    // A decimal exponent: `e`/`E`, optional sign, at least one digit (Go ParseInt).
    let rest = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))?;
    let digits = rest.strip_prefix(['-', '+']).unwrap_or(rest);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust's i64 parser, like Go's ParseInt, accepts one leading sign.
    rest.parse::<i64>().ok().map(Scale::Decimal)
}

/// Multiplies a big-endian decimal digit vector by `m` (small) in place.
fn mul_small(digits: &mut Vec<u8>, m: u32) {
    let mut carry: u64 = 0;
    for d in digits.iter_mut().rev() {
        let v = u64::from(*d) * u64::from(m) + carry;
        *d = (v % 10) as u8;
        carry = v / 10;
    }
    while carry > 0 {
        digits.insert(0, (carry % 10) as u8);
        carry /= 10;
    }
}

/// Big-endian decimal digits (no leading zeros) to `u128`, `None` on overflow.
fn digits_to_u128(digits: &[u8]) -> Option<u128> {
    if digits.len() > 39 {
        return None;
    }
    digits.iter().try_fold(0u128, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u128::from(d))
    })
}

/// Parses a quantity like apimachinery `resource.ParseQuantity`.
///
/// Grammar: `[+-]? digits [. digits] suffix` where the number has at least
/// one digit and `suffix` is empty, a decimal SI suffix (`n u m k M G T P E`),
/// a binary suffix (`Ki Mi Gi Ti Pi Ei`) or a decimal exponent (`e3`, `E-2`).
pub fn parse(s: &str) -> Result<Quantity, String> {
    let format_err = || ERR_FORMAT_WRONG.to_string();
    let bytes = s.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            pos = 1;
            true
        }
        Some(b'+') => {
            pos = 1;
            false
        }
        _ => false,
    };
    // Numerator and optional denominator.
    let int_start = pos;
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_part = &bytes[int_start..pos];
    let mut frac_part: &[u8] = &[];
    if pos < bytes.len() && bytes[pos] == b'.' {
        pos += 1;
        let frac_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        frac_part = &bytes[frac_start..pos];
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(format_err());
    }
    // Suffix: `[eEinumkKMGTP]*[-+]?[0-9]*` to the end.
    let suffix_start = pos;
    while pos < bytes.len() && b"eEinumkKMGTP".contains(&bytes[pos]) {
        pos += 1;
    }
    if pos < bytes.len() && (bytes[pos] == b'-' || bytes[pos] == b'+') {
        pos += 1;
    }
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != bytes.len() {
        return Err(format_err());
    }
    // Everything consumed so far is ASCII, so this slice is on a char boundary.
    let suffix = s.get(suffix_start..).ok_or_else(format_err)?;
    let scale = interpret_suffix(suffix).ok_or_else(|| ERR_SUFFIX.to_string())?;

    // value = digits * 10^(-frac_len) * scale, in nanos.
    let mut digits: Vec<u8> = int_part
        .iter()
        .chain(frac_part.iter())
        .map(|b| b - b'0')
        .skip_while(|&d| d == 0)
        .collect();
    let mut exp10: i128 = 9 - frac_part.len() as i128;
    // Trailing zeros move into the exponent.
    while digits.last() == Some(&0) {
        digits.pop();
        exp10 += 1;
    }
    if digits.is_empty() {
        return Ok(Quantity::zero());
    }
    match scale {
        Scale::Decimal(e) => exp10 += i128::from(e),
        Scale::Binary(e) => {
            // Cheap overflow guard before the exact multiplication.
            if exp10 >= 0 && digits.len() as i128 + exp10 > 60 {
                return Err(ERR_TOO_LARGE.to_string());
            }
            for _ in 0..e / 10 {
                mul_small(&mut digits, 1024);
            }
            while digits.last() == Some(&0) {
                digits.pop();
                exp10 += 1;
            }
        }
    }
    let magnitude = if exp10 >= 0 {
        let base = digits_to_u128(&digits).ok_or_else(|| ERR_TOO_LARGE.to_string())?;
        let factor = u32::try_from(exp10)
            .ok()
            .and_then(|e| 10u128.checked_pow(e))
            .ok_or_else(|| ERR_TOO_LARGE.to_string())?;
        base.checked_mul(factor)
            .ok_or_else(|| ERR_TOO_LARGE.to_string())?
    } else {
        // Drop the last `-exp10` digits, rounding up (away from zero) when any
        // dropped digit is non-zero, as Kubernetes does at nano precision.
        let drop = usize::try_from(-exp10).unwrap_or(usize::MAX);
        if drop >= digits.len() {
            1 // digits is non-zero and entirely fractional
        } else {
            let keep = digits.len() - drop;
            let (whole, dropped) = digits.split_at(keep);
            let base = digits_to_u128(whole).ok_or_else(|| ERR_TOO_LARGE.to_string())?;
            let round = u128::from(dropped.iter().any(|&d| d != 0));
            base.checked_add(round)
                .ok_or_else(|| ERR_TOO_LARGE.to_string())?
        }
    };
    let magnitude = i128::try_from(magnitude).map_err(|_| ERR_TOO_LARGE.to_string())?;
    Ok(Quantity {
        nanos: if negative { -magnitude } else { magnitude },
    })
}

impl Quantity {
    pub const fn zero() -> Self {
        Self { nanos: 0 }
    }

    pub const fn from_nanos(nanos: i128) -> Self {
        Self { nanos }
    }

    /// `n` thousandths, e.g. `from_millis(250)` is `250m`.
    pub const fn from_millis(millis: i64) -> Self {
        Self {
            nanos: millis as i128 * NANOS_PER_MILLI,
        }
    }

    /// `n` whole units (bytes, cores, pods, ...).
    pub const fn from_units(units: i64) -> Self {
        Self {
            nanos: units as i128 * NANOS_PER_UNIT,
        }
    }

    pub const fn as_nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in thousandths, rounded toward positive infinity (like
    /// Kubernetes `MilliValue` for non-negative quantities).
    pub fn as_millis_ceil(&self) -> i128 {
        ceil_div(self.nanos, NANOS_PER_MILLI)
    }

    /// The value in whole units, rounded toward positive infinity (like
    /// Kubernetes `Value` for non-negative quantities).
    pub fn as_units_ceil(&self) -> i128 {
        ceil_div(self.nanos, NANOS_PER_UNIT)
    }

    pub const fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub const fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.nanos.checked_add(other.nanos).map(Self::from_nanos)
    }

    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.nanos.checked_sub(other.nanos).map(Self::from_nanos)
    }

    pub fn saturating_add(self, other: Self) -> Self {
        Self::from_nanos(self.nanos.saturating_add(other.nanos))
    }

    pub fn saturating_sub(self, other: Self) -> Self {
        Self::from_nanos(self.nanos.saturating_sub(other.nanos))
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    // b > 0 here; the result of `/` truncates toward zero.
    let q = a / b;
    if a % b > 0 { q + 1 } else { q }
}

impl FromStr for Quantity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Canonical form. Fractions use `m`, `u` or `n` (`250m`, `1500n`). Whole
/// numbers use the largest binary suffix that divides them (`2Ki`, `1536Mi`)
/// or the largest decimal suffix that does (`2k`, `9E`), whichever mantissa
/// is shorter, binary on a tie (`1000Ki` rather than `1024k`); plain digits
/// when neither applies (`1500`). Zero is `0`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return f.write_str("0");
        }
        let sign = if n < 0 { "-" } else { "" };
        let mag = n.unsigned_abs();
        let per_unit = NANOS_PER_UNIT as u128;
        if !mag.is_multiple_of(per_unit) {
            for (div, suffix) in [(1_000_000u128, "m"), (1_000, "u"), (1, "n")] {
                if mag.is_multiple_of(div) {
                    return write!(f, "{sign}{}{suffix}", mag / div);
                }
            }
        }
        let units = mag / per_unit;
        let binary = [
            (60u32, "Ei"),
            (50, "Pi"),
            (40, "Ti"),
            (30, "Gi"),
            (20, "Mi"),
            (10, "Ki"),
        ]
        .into_iter()
        .map(|(shift, suffix)| (1u128 << shift, suffix))
        .find(|(div, _)| units.is_multiple_of(*div))
        .map(|(div, suffix)| (units / div, suffix));
        let decimal = [
            (18u32, "E"),
            (15, "P"),
            (12, "T"),
            (9, "G"),
            (6, "M"),
            (3, "k"),
        ]
        .into_iter()
        .map(|(pow, suffix)| (10u128.pow(pow), suffix))
        .find(|(div, _)| units.is_multiple_of(*div))
        .map(|(div, suffix)| (units / div, suffix));
        // Mantissas here are >= 1, so ilog10 cannot panic.
        let shorter = |d: u128, b: u128| d.max(1).ilog10() < b.max(1).ilog10();
        let (mantissa, suffix) = match (binary, decimal) {
            (Some(b), Some(d)) if shorter(d.0, b.0) => d,
            (Some(b), _) => b,
            (None, Some(d)) => d,
            (None, None) => (units, ""),
        };
        write!(f, "{sign}{mantissa}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KI: i128 = 1024 * NANOS_PER_UNIT;
    const MI: i128 = 1024 * KI;
    const GI: i128 = 1024 * MI;

    #[test]
    fn parse_values() {
        let ei = (1i128 << 60) * NANOS_PER_UNIT;
        let rows: Vec<(&str, &str, i128)> = vec![
            ("zero", "0", 0),
            ("negative zero", "-0", 0),
            ("zero millis", "0m", 0),
            ("zero with fraction", "0.000", 0),
            ("one", "1", NANOS_PER_UNIT),
            ("plus sign", "+1", NANOS_PER_UNIT),
            ("negative", "-1", -NANOS_PER_UNIT),
            ("leading zeros", "007", 7 * NANOS_PER_UNIT),
            ("leading dot", ".5", 500_000_000),
            ("trailing dot", "5.", 5 * NANOS_PER_UNIT),
            (
                "trailing dot with suffix",
                "1.G",
                NANOS_PER_UNIT * 1_000_000_000,
            ),
            ("millis", "100m", 100_000_000),
            ("micros", "5u", 5_000),
            ("nanos", "1n", 1),
            ("sub-nano rounds up", "0.1n", 1),
            ("sub-nano rounds away from zero", "-0.1n", -1),
            ("fractional millis", "0.1m", 100_000),
            ("fraction", "1.5", 1_500_000_000),
            ("kilo", "1k", 1_000 * NANOS_PER_UNIT),
            ("mega", "2M", 2_000_000 * NANOS_PER_UNIT),
            ("giga", "3G", 3 * 10i128.pow(18)),
            ("tera", "1T", 10i128.pow(21)),
            ("peta", "1P", 10i128.pow(24)),
            ("exa", "9E", 9 * 10i128.pow(27)),
            ("kibi", "1Ki", KI),
            ("mebi", "128Mi", 128 * MI),
            ("gibi fraction", "1.5Gi", 3 * GI / 2),
            ("half kibi", "0.5Ki", 512 * NANOS_PER_UNIT),
            ("tebi", "1Ti", 1024 * GI),
            ("pebi", "1Pi", 1024 * 1024 * GI),
            ("exbi", "1Ei", ei),
            ("kibi sub-nano", "0.000000000001Ki", 2),
            ("exponent", "1e3", 1_000 * NANOS_PER_UNIT),
            ("exponent plus", "1e+3", 1_000 * NANOS_PER_UNIT),
            ("exponent upper negative", "12E-2", 120_000_000),
            ("exponent negative", "1e-3", 1_000_000),
            ("exponent zero", "5e0", 5 * NANOS_PER_UNIT),
            ("tiny exponent", "1e-100", 1),
            ("tiny negative exponent", "-1e-100", -1),
            ("huge negative exponent", "1e-9223372036854775808", 1),
            (
                "big number small exponent",
                "123456789012345678901234567890e-20",
                1_234_567_890_123_456_790,
            ),
            ("long fraction", "0.1234567891234", 123_456_790),
        ];
        for (name, input, want) in rows {
            let got = parse(input).map(|q| q.as_nanos());
            assert_eq!(
                got,
                Ok(want),
                "parse/{name}: input {input:?}: want Ok({want}) nanos, got {got:?}"
            );
        }
    }

    #[test]
    fn parse_errors() {
        let long_digits = "9".repeat(100_000);
        let long_fraction = format!("0.{}", "0".repeat(100_000));
        let long_fraction_then_bad = format!("{long_fraction}x");
        let ok_long_fraction = parse(&long_fraction).map(|q| q.as_nanos());
        assert_eq!(
            ok_long_fraction,
            Ok(0),
            "long zero fraction: want Ok(0), got {ok_long_fraction:?}"
        );
        let rows: Vec<(&str, &str, &str)> = vec![
            ("empty", "", ERR_FORMAT_WRONG),
            ("space", " ", ERR_FORMAT_WRONG),
            ("leading space", " 1", ERR_FORMAT_WRONG),
            ("trailing space", "1 ", ERR_FORMAT_WRONG),
            ("space before suffix", "1 Gi", ERR_FORMAT_WRONG),
            ("lone suffix", "Gi", ERR_FORMAT_WRONG),
            ("lone m", "m", ERR_FORMAT_WRONG),
            ("lone sign", "-", ERR_FORMAT_WRONG),
            ("lone dot", ".", ERR_FORMAT_WRONG),
            ("sign dot", "+.", ERR_FORMAT_WRONG),
            ("double sign", "--1", ERR_FORMAT_WRONG),
            ("multiple dots", "1.1.1", ERR_FORMAT_WRONG),
            ("dots with suffix", "1.1.M", ERR_FORMAT_WRONG),
            ("KB", "1KB", ERR_FORMAT_WRONG),
            ("kb", "1kb", ERR_FORMAT_WRONG),
            ("word", "aoeu", ERR_FORMAT_WRONG),
            ("plus in middle", "1+1.0M", ERR_FORMAT_WRONG),
            ("exponent then suffix", "1e3i", ERR_FORMAT_WRONG),
            ("non-ascii", "1µ", ERR_FORMAT_WRONG),
            ("non-ascii digits", "١", ERR_FORMAT_WRONG),
            ("long bad tail", &long_fraction_then_bad, ERR_FORMAT_WRONG),
            ("unknown K", "1K", ERR_SUFFIX),
            ("lowercase ki", "1ki", ERR_SUFFIX),
            ("milli-ibi", "0.1mi", ERR_SUFFIX),
            ("bare i", "1i", ERR_SUFFIX),
            ("fraction i", ".5i", ERR_SUFFIX),
            ("lone e", "1e", ERR_SUFFIX),
            ("dangling exponent sign", "-3.01e-", ERR_SUFFIX),
            ("double e", "1ee3", ERR_SUFFIX),
            ("suffix then digits", "1m3", ERR_SUFFIX),
            (
                "exponent overflows i64",
                "1e99999999999999999999",
                ERR_SUFFIX,
            ),
            ("too large", "1e40", ERR_TOO_LARGE),
            ("too large exa", "1000000000000000000000E", ERR_TOO_LARGE),
            (
                "too large binary",
                "1000000000000000000000Ei",
                ERR_TOO_LARGE,
            ),
            ("huge exponent", "1e9223372036854775807", ERR_TOO_LARGE),
            ("absurdly long digits", &long_digits, ERR_TOO_LARGE),
        ];
        for (name, input, want) in rows {
            let got = parse(input);
            let shown: String = input.chars().take(40).collect();
            assert_eq!(
                got,
                Err(want.to_string()),
                "parse/{name}: input {shown:?}: want Err({want:?}), got {got:?}"
            );
        }
    }

    #[test]
    fn display() {
        let rows: Vec<(&str, &str, &str)> = vec![
            ("zero", "0", "0"),
            ("zero millis", "0m", "0"),
            ("one", "1", "1"),
            ("negative", "-1", "-1"),
            ("millis", "100m", "100m"),
            ("quarter", "0.25", "250m"),
            ("fraction above one", "1.5", "1500m"),
            ("micros", "1.5m", "1500u"),
            ("nanos", "1n", "1n"),
            ("sub-nano", "0.1n", "1n"),
            ("plain whole", "1500", "1500"),
            ("kilo", "1000", "1k"),
            ("exponent", "1e3", "1k"),
            ("mega", "5M", "5M"),
            ("exa", "9E", "9E"),
            ("beyond exa", "1e21", "1000E"),
            ("kibi", "1024", "1Ki"),
            ("kibi stays", "1Ki", "1Ki"),
            ("mebi", "1048576", "1Mi"),
            ("gibi", "1Gi", "1Gi"),
            ("fractional gibi", "1.5Gi", "1536Mi"),
            ("half kibi", "0.5Ki", "512"),
            ("binary over decimal", "1024000", "1000Ki"),
            ("exbi", "1Ei", "1Ei"),
            ("negative gibi", "-2Gi", "-2Gi"),
            ("negative millis", "-250m", "-250m"),
        ];
        for (name, input, want) in rows {
            let got = parse(input).map(|q| q.to_string());
            assert_eq!(
                got,
                Ok(want.to_string()),
                "display/{name}: input {input:?}: want {want:?}, got {got:?}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        let inputs = [
            "0",
            "1n",
            "250m",
            "1.5",
            "1536Mi",
            "1e21",
            "-7u",
            "12345",
            "3Ki",
            "999999999999n",
        ];
        for input in inputs {
            let first = parse(input);
            let again = first
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|q| parse(&q.to_string()));
            assert_eq!(
                again, first,
                "round trip {input:?}: want {first:?}, got {again:?}"
            );
        }
        let extremes = [
            Quantity::from_nanos(i128::MAX),
            Quantity::from_nanos(i128::MIN + 1),
        ];
        for q in extremes {
            let got = parse(&q.to_string());
            assert_eq!(got, Ok(q), "round trip {q:?}: want Ok, got {got:?}");
        }
        // i128::MIN has no positive counterpart; it must still print without panicking.
        assert!(!Quantity::from_nanos(i128::MIN).to_string().is_empty());
    }

    #[test]
    fn arithmetic_and_helpers() {
        let m = Quantity::from_millis;
        let rows = [
            (
                "add",
                m(250).checked_add(m(750)),
                Some(Quantity::from_units(1)),
            ),
            ("sub", m(250).checked_sub(m(750)), Some(m(-500))),
            (
                "add overflow",
                Quantity::from_nanos(i128::MAX).checked_add(m(1)),
                None,
            ),
            (
                "sub overflow",
                Quantity::from_nanos(i128::MIN).checked_sub(m(1)),
                None,
            ),
        ];
        for (name, got, want) in rows {
            assert_eq!(got, want, "{name}: want {want:?}, got {got:?}");
        }
        let sat = Quantity::from_nanos(i128::MAX).saturating_add(m(1));
        assert_eq!(sat.as_nanos(), i128::MAX, "saturating_add");
        let sat = Quantity::from_nanos(i128::MIN).saturating_sub(m(1));
        assert_eq!(sat.as_nanos(), i128::MIN, "saturating_sub");

        let ceil_rows = [
            ("whole", "2", 2000, 2),
            ("millis", "250m", 250, 1),
            ("sub-milli", "1n", 1, 1),
            ("micro", "1500u", 2, 1),
            ("negative sub-milli", "-1n", 0, 0),
            ("negative", "-1.5", -1500, -1),
            ("zero", "0", 0, 0),
        ];
        for (name, input, want_millis, want_units) in ceil_rows {
            let q = parse(input);
            let got = q.map(|q| (q.as_millis_ceil(), q.as_units_ceil()));
            let want = Ok((want_millis, want_units));
            assert_eq!(
                got, want,
                "ceil/{name}: input {input:?}: want {want:?}, got {got:?}"
            );
        }
        assert!(
            parse("-1m").is_ok_and(|q| q.is_negative()),
            "-1m is negative"
        );
        assert!(
            parse("0").is_ok_and(|q| !q.is_negative() && q.is_zero()),
            "0 is zero"
        );
        assert_eq!(Quantity::zero(), Quantity::default(), "zero is default");
        assert_eq!(
            "1Ki".parse::<Quantity>(),
            Ok(Quantity::from_units(1024)),
            "FromStr"
        );
        assert!(Quantity::from_millis(1) > Quantity::zero(), "ordering");
        assert_eq!(
            Quantity::from_millis(i64::MIN).as_millis_ceil(),
            i128::from(i64::MIN)
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        let huge = "1".repeat(1 << 20);
        let huge_fraction = format!("1.{}Ei", "7".repeat(1 << 20));
        let inputs = [
            "",
            "\0",
            "é",
            "😀",
            "1😀",
            "1e",
            "1e-",
            "e1",
            "E",
            "Ei",
            "-.e",
            "+-1",
            "9".repeat(39).leak(),
            &huge,
            &huge_fraction,
        ];
        for s in inputs {
            let _ = parse(s).map(|q| q.to_string());
        }
    }
}
