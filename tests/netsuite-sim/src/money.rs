//! Exact money handling. Amounts are read from JSON through their decimal text and summed as
//! `Decimal`, so 3 x 19.99 is 59.97 and never 59.970000000000006.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

/// Reads a JSON number or numeric string. Our serde_json build stores non-integers as f64, whose
/// shortest round-trip text is the literal the client sent for any realistic amount, so parsing
/// that text gives the exact decimal without f64 arithmetic.
pub(crate) fn parse(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// NetSuite rounds currency amounts half away from zero to the currency precision.
pub(crate) fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Renders an amount as a JSON number (NetSuite returns numbers, not strings).
pub(crate) fn to_json(d: Decimal) -> Value {
    // Going through the decimal text picks the f64 closest to the exact value, which serde_json
    // then prints with the shortest text that reads back the same: "59.97", not a long tail.
    let f: f64 = d.normalize().to_string().parse().unwrap_or(0.0);
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Text form used by SuiteQL, which returns numbers as strings without trailing zeros.
pub(crate) fn to_text(d: Decimal) -> String {
    d.normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_numbers_exactly() {
        let q = parse(&json!(3)).unwrap();
        let r = parse(&json!(19.99)).unwrap();
        assert_eq!((q * r).to_string(), "59.97");
        assert_eq!(parse(&json!("-5.00")).unwrap(), Decimal::new(-5, 0));
        assert_eq!(parse(&json!(1e-7)).unwrap(), Decimal::new(1, 7));
        assert_eq!(parse(&json!("abc")), None);
        assert_eq!(parse(&json!(null)), None);
    }

    #[test]
    fn sums_and_renders_without_float_noise() {
        let total = [json!(59.97), json!(-5.0), json!(1.23)]
            .iter()
            .map(|v| parse(v).unwrap())
            .sum::<Decimal>();
        assert_eq!(total.to_string(), "56.20");
        assert_eq!(to_json(total), json!(56.2));
        assert_eq!(serde_json::to_string(&to_json(total)).unwrap(), "56.2");
        assert_eq!(to_text(total), "56.2");
        assert_eq!(
            serde_json::to_string(&to_json(Decimal::new(6000, 2))).unwrap(),
            "60.0"
        );
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round2(Decimal::new(12345, 3)).to_string(), "12.35");
        assert_eq!(round2(Decimal::new(-12345, 3)).to_string(), "-12.35");
    }
}
