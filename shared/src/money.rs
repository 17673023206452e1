//! The money rules every part shares: rounding to cents and splitting a figure into cent
//! shares that add up to it exactly.

use rust_decimal::{Decimal, RoundingStrategy};

/// The one rounding rule: to cents, half away from zero (0.005 -> 0.01, -0.005 -> -0.01), the
/// convention of invoices and of NetSuite's own currency rounding.
pub fn to_cents(amount: Decimal) -> Decimal {
    to_minor(amount, 2)
}

/// The one rounding rule at `decimals` places (a currency's minor unit: 0 for JPY, 2 for USD,
/// 3 for KWD), half away from zero.
pub fn to_minor(amount: Decimal, decimals: u32) -> Decimal {
    amount.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero)
}

/// Splits `total` (already in cents) into cent shares proportional to the exact `parts`:
/// each part is truncated to cents, then the missing cents go to the largest remainders
/// (earliest first on ties). Fails when the parts are too far from the total to be a rounding.
pub fn allocate(parts: &[Decimal], total: Decimal) -> Result<Vec<Decimal>, String> {
    allocate_in(parts, total, 2)
}

/// [`allocate`] in minor units of `decimals` places: the shares are whole minor units and add
/// up to `total` exactly.
pub fn allocate_in(
    parts: &[Decimal],
    total: Decimal,
    decimals: u32,
) -> Result<Vec<Decimal>, String> {
    if decimals > 9 {
        return Err(format!(
            "{decimals} decimal places is no currency's minor unit"
        ));
    }
    if total.scale() > decimals && total != total.trunc_with_scale(decimals) {
        return Err(format!(
            "the figure {total} is not in units of {decimals} decimal places"
        ));
    }
    let unit = Decimal::new(1, decimals);
    let mut shares: Vec<Decimal> = parts.iter().map(|p| p.trunc_with_scale(decimals)).collect();
    let too_large = || format!("the parts or the figure {total} are too large to split");
    let assigned = shares
        .iter()
        .try_fold(Decimal::ZERO, |sum, s| sum.checked_add(*s))
        .ok_or_else(too_large)?;
    let missing = total.checked_sub(assigned).ok_or_else(too_large)?;
    let steps = missing.checked_div(unit).ok_or_else(too_large)?.trunc();
    let n = steps
        .abs()
        .to_string()
        .parse::<usize>()
        .unwrap_or(usize::MAX);
    if n > parts.len() {
        return Err(format!(
            "the parts add up to {} but the figure is {total}",
            parts
                .iter()
                .try_fold(Decimal::ZERO, |sum, p| sum.checked_add(*p))
                .map_or_else(|| "more than can be written".to_owned(), |d| d.to_string())
        ));
    }
    let (step, sign) = if missing.is_sign_negative() {
        (-unit, Decimal::NEGATIVE_ONE)
    } else {
        (unit, Decimal::ONE)
    };
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // Largest remainder in the direction we move first.
    order.sort_by(|&a, &b| {
        let ra = (parts[a] - shares[a]) * sign;
        let rb = (parts[b] - shares[b]) * sign;
        rb.cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take(n) {
        shares[i] += step;
    }
    Ok(shares)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn allocation_keeps_the_total_and_favours_largest_remainders() {
        // 11.175 + 15.1875 + 18.75 = 45.1125 -> 45.11
        let shares = allocate(&[dec!(11.175), dec!(15.1875), dec!(18.75)], dec!(45.11)).unwrap();
        assert_eq!(shares.iter().sum::<Decimal>(), dec!(45.11));
        assert_eq!(shares, vec![dec!(11.17), dec!(15.19), dec!(18.75)]);
        // Three thirds of a cent-less dollar.
        let thirds = allocate(
            &[dec!(0.333333), dec!(0.333333), dec!(0.333334)],
            dec!(1.00),
        )
        .unwrap();
        assert_eq!(thirds.iter().sum::<Decimal>(), dec!(1.00));
        assert!(allocate(&[dec!(1), dec!(2)], dec!(5)).is_err());
        assert_eq!(allocate(&[], dec!(0)).unwrap(), Vec::<Decimal>::new());
    }

    #[test]
    fn allocation_handles_rounding_down() {
        // 0.005 + 0.005 -> 0.01 (not 0.02)
        let s = allocate(&[dec!(0.005), dec!(0.005)], dec!(0.01)).unwrap();
        assert_eq!(s.iter().sum::<Decimal>(), dec!(0.01));
        let s = allocate(&[dec!(0.019), dec!(0.019)], dec!(0.03)).unwrap();
        assert_eq!(s.iter().sum::<Decimal>(), dec!(0.03));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Parts of up to 8 places that round (at `decimals`) to a total, as invoice lines do.
        fn split(decimals: u32) -> impl Strategy<Value = (Vec<Decimal>, Decimal)> {
            prop::collection::vec(-10_000_000_000i64..10_000_000_000, 0..12).prop_map(move |raw| {
                let parts: Vec<Decimal> = raw.iter().map(|r| Decimal::new(*r, 6)).collect();
                let total = to_minor(parts.iter().sum(), decimals);
                (parts, total)
            })
        }

        proptest! {
            #[test]
            fn shares_are_whole_minor_units_that_add_up_exactly(
                (decimals, (parts, total)) in prop::sample::select(vec![0u32, 2, 3])
                    .prop_flat_map(|d| (Just(d), split(d))),
            ) {
                let shares = allocate_in(&parts, total, decimals).unwrap();
                prop_assert_eq!(shares.iter().sum::<Decimal>(), total);
                let unit = Decimal::new(1, decimals);
                for (share, part) in shares.iter().zip(&parts) {
                    prop_assert_eq!(share.trunc_with_scale(decimals), *share);
                    prop_assert!((*share - *part).abs() < unit + unit);
                }
            }

            #[test]
            fn any_input_is_split_or_refused_never_a_panic(
                raw in prop::collection::vec(any::<i64>(), 0..20),
                scale in 0u32..28,
                total in any::<i64>(),
                decimals in 0u32..12,
            ) {
                let parts: Vec<Decimal> = raw.iter().map(|r| Decimal::new(*r, scale)).collect();
                let total = Decimal::new(total, decimals.min(9));
                if let Ok(shares) = allocate_in(&parts, total, decimals) {
                    prop_assert_eq!(shares.iter().sum::<Decimal>(), total);
                }
            }
        }
    }
}
