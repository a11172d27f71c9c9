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
    let (negative, digits) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: i64 = digits.parse().ok()?;
    Some(Scale::Decimal(if negative {
        -magnitude
    } else {
        magnitude
    }))
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

/// Canonical form: whole multiples of 1024 use the largest binary suffix
/// (`2Ki`, `1Gi`); other whole numbers the largest decimal suffix that keeps
/// an integer mantissa (`1500`, `2k`, `3M`); fractions `m`, `u` or `n`
/// (`250m`, `1500n`). Zero is `0`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return f.write_str("0");
        }
        let sign = if n < 0 { "-" } else { "" };
        let mag = n.unsigned_abs();
        let per_unit = NANOS_PER_UNIT as u128;
        if mag % per_unit != 0 {
            for (div, suffix) in [(1_000_000u128, "m"), (1_000, "u"), (1, "n")] {
                if mag % div == 0 {
                    return write!(f, "{sign}{}{suffix}", mag / div);
                }
            }
        }
        let units = mag / per_unit;
        for (shift, suffix) in [
            (60u32, "Ei"),
            (50, "Pi"),
            (40, "Ti"),
            (30, "Gi"),
            (20, "Mi"),
            (10, "Ki"),
        ] {
            let div = 1u128 << shift;
            if units >= div && units % div == 0 {
                return write!(f, "{sign}{}{suffix}", units / div);
            }
        }
        for (pow, suffix) in [
            (18u32, "E"),
            (15, "P"),
            (12, "T"),
            (9, "G"),
            (6, "M"),
            (3, "k"),
        ] {
            let div = 10u128.pow(pow);
            if units >= div && units % div == 0 {
                return write!(f, "{sign}{}{suffix}", units / div);
            }
        }
        write!(f, "{sign}{units}")
    }
}
