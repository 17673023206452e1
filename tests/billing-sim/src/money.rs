//! Exact money: `Decimal` throughout, printed the way Maxio (Ruby's BigDecimal) prints it.

use rust_decimal::{Decimal, RoundingStrategy};

/// `"149.0"`, `"600.9"`, `"11.026"`, `"0.0"`: no trailing zeros, but always a fractional part.
pub(crate) fn fmt(d: Decimal) -> String {
    let n = d.normalize();
    // -0 must not leak out as "-0.0".
    let n = if n.is_zero() { Decimal::ZERO } else { n };
    let s = n.to_string();
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Cents, half away from zero (Ruby's ROUND_HALF_UP).
pub(crate) fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Whole cents as an integer, for `*_in_cents` fields.
pub(crate) fn in_cents(d: Decimal) -> i64 {
    let c = cents(d) * Decimal::ONE_HUNDRED;
    i64::try_from(c.trunc()).unwrap_or(i64::MAX)
}

/// A quantity as webhook payloads print it: an integer when whole.
pub(crate) fn quantity_text(q: Decimal) -> String {
    let n = q.normalize();
    if n.fract().is_zero() {
        n.trunc().to_string()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn prints_like_bigdecimal() {
        assert_eq!(fmt(d("149")), "149.0");
        assert_eq!(fmt(d("149.00")), "149.0");
        assert_eq!(fmt(d("600.90")), "600.9");
        assert_eq!(fmt(d("0")), "0.0");
        assert_eq!(fmt(d("-0.00")), "0.0");
        assert_eq!(fmt(d("11.0260")), "11.026");
        assert_eq!(fmt(d("15.1875")), "15.1875");
        assert_eq!(fmt(d("1000000")), "1000000.0");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(cents(d("45.1125")), d("45.11"));
        assert_eq!(cents(d("13.9875")), d("13.99"));
        assert_eq!(cents(d("0.005")), d("0.01"));
        assert_eq!(cents(d("2.736")), d("2.74"));
        assert_eq!(in_cents(d("600.9")), 60090);
        assert_eq!(quantity_text(d("162.0")), "162");
        assert_eq!(quantity_text(d("2.5")), "2.5");
    }
}
