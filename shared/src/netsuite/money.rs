//! Decimal amounts on NetSuite's JSON wire.
//!
//! NetSuite takes and returns amounts as JSON numbers. Going through `f64` would be exact for
//! cents in practice, but "in practice" is not a standard for money, so amounts are written
//! as raw JSON numbers from the decimal's own text and read from numbers or strings.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// `#[serde(with = "money")]` for `Decimal` fields.
pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    let raw =
        RawValue::from_string(value.normalize().to_string()).map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    // rust_decimal reads numbers through their shortest decimal text and strings exactly.
    <Decimal as Deserialize>::deserialize(deserializer)
}

/// `#[serde(with = "money::option")]` for `Option<Decimal>` fields.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::serialize(v, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        Option::<Decimal>::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Line {
        #[serde(with = "super")]
        amount: Decimal,
        #[serde(
            with = "super::option",
            skip_serializing_if = "Option::is_none",
            default
        )]
        rate: Option<Decimal>,
    }

    #[test]
    fn writes_exact_json_numbers() {
        let l = Line {
            amount: dec!(1234567890123.10),
            rate: Some(dec!(0.1)),
        };
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"{"amount":1234567890123.1,"rate":0.1}"#);
        let back: Line = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn reads_numbers_and_strings() {
        let l: Line = serde_json::from_str(r#"{"amount":"19.99","rate":59.97}"#).unwrap();
        assert_eq!(l.amount, dec!(19.99));
        assert_eq!(l.rate, Some(dec!(59.97)));
    }
}
