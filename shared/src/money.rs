//! The money rules every part shares: rounding to cents and splitting a figure into cent
//! shares that add up to it exactly.

use rust_decimal::{Decimal, RoundingStrategy};

/// The one rounding rule: to cents, half away from zero (0.005 -> 0.01, -0.005 -> -0.01), the
/// convention of invoices and of NetSuite's own currency rounding.
pub fn to_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

const CENT: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Splits `total` (already in cents) into cent shares proportional to the exact `parts`:
/// each part is truncated to cents, then the missing cents go to the largest remainders
/// (earliest first on ties). Fails when the parts are too far from the total to be a rounding.
pub fn allocate(parts: &[Decimal], total: Decimal) -> Result<Vec<Decimal>, String> {
    let mut shares: Vec<Decimal> = parts.iter().map(|p| p.trunc_with_scale(2)).collect();
    let assigned: Decimal = shares.iter().sum();
    let missing = total - assigned;
    let steps = (missing / CENT).trunc();
    let n = steps
        .abs()
        .to_string()
        .parse::<usize>()
        .unwrap_or(usize::MAX);
    if n > parts.len() {
        return Err(format!(
            "the parts add up to {} but the figure is {total}",
            parts.iter().sum::<Decimal>()
        ));
    }
    let (step, sign) = if missing.is_sign_negative() {
        (-CENT, Decimal::NEGATIVE_ONE)
    } else {
        (CENT, Decimal::ONE)
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
}
