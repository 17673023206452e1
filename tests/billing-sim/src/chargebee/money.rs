//! Invoice figures in integer minor units.

use std::collections::BTreeMap;

use super::{CbInvoice, CbPriceType};

pub(super) struct LineFigures {
    /// `quantity × unit_amount`.
    pub amount: i64,
    /// This line's share of the document-level coupon.
    pub discount: i64,
    pub tax: i64,
    /// What the tax is a percentage of: `amount − discount` (tax-exclusive) or that less the tax
    /// inside it (tax-inclusive).
    pub taxable: i64,
}

pub(super) struct Figures {
    pub lines: Vec<LineFigures>,
    pub sub_total: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    /// Tax per rate (percent), for the document's `taxes`.
    pub tax_by_rate: BTreeMap<u32, i64>,
}

/// `numerator / denominator` rounded half away from zero (both non-negative here).
fn div_half_up(numerator: i128, denominator: i128) -> i128 {
    (2 * numerator + denominator).div_euclid(2 * denominator)
}

/// Splits `total` over `weights` pro rata: floors first, then one unit each to the largest
/// remainders, ties to the earlier line. The parts add up to `total` exactly.
pub(super) fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|&w| i128::from(w.max(0))).sum();
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = i128::from(total) * i128::from(w.max(0));
        parts.push((exact / sum) as i64);
        remainders.push((exact % sum, i));
    }
    let left = total - parts.iter().sum::<i64>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(left.max(0) as usize) {
        parts[i] += 1;
    }
    parts
}

pub(super) fn compute(spec: &CbInvoice) -> Figures {
    let amounts: Vec<i64> = spec
        .lines
        .iter()
        .map(|l| l.quantity * l.unit_amount)
        .collect();
    let sub_total: i64 = amounts.iter().sum();
    let discount = spec.coupon.unwrap_or(0).clamp(0, sub_total.max(0));
    let shares = allocate(discount, &amounts);
    let mut lines = Vec::with_capacity(amounts.len());
    let mut tax_by_rate = BTreeMap::new();
    for ((line, &amount), &share) in spec.lines.iter().zip(&amounts).zip(&shares) {
        let base = i128::from(amount - share);
        let rate = i128::from(line.tax_rate_percent);
        let (tax, taxable) = if rate == 0 {
            (0, base)
        } else {
            match spec.price_type {
                CbPriceType::TaxExclusive => (div_half_up(base * rate, 100), base),
                CbPriceType::TaxInclusive => {
                    let net = div_half_up(base * 100, 100 + rate);
                    (base - net, net)
                }
            }
        };
        let (tax, taxable) = (tax as i64, taxable as i64);
        if line.tax_rate_percent > 0 {
            *tax_by_rate.entry(line.tax_rate_percent).or_insert(0) += tax;
        }
        lines.push(LineFigures {
            amount,
            discount: share,
            tax,
            taxable,
        });
    }
    let tax: i64 = lines.iter().map(|l| l.tax).sum();
    let total = match spec.price_type {
        CbPriceType::TaxExclusive => sub_total - discount + tax,
        CbPriceType::TaxInclusive => sub_total - discount,
    };
    Figures {
        lines,
        sub_total,
        discount,
        tax,
        total,
        tax_by_rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chargebee::CbLine;

    fn line(quantity: i64, unit_amount: i64, tax_rate_percent: u32) -> CbLine {
        CbLine {
            entity_type: "charge_item_price".into(),
            entity_id: Some("x".into()),
            description: "x".into(),
            quantity,
            unit_amount,
            tax_rate_percent,
        }
    }

    #[test]
    fn allocation_matches_the_fixture_spread() {
        // WELCOME25 on INV-1025: 2500 over the lines after item-level discounts.
        assert_eq!(
            allocate(2500, &[44910, 18000, 25000, 12000, 5000]),
            vec![1070, 429, 596, 286, 119]
        );
        assert_eq!(allocate(1, &[1, 1, 1]), vec![1, 0, 0]);
        assert_eq!(allocate(5, &[0, 0]), vec![0, 0]);
    }

    #[test]
    fn tax_inclusive_matches_the_fixture_vat() {
        // INV-1027: 4900 + 3 x 1190 at 19% inside.
        let spec = CbInvoice {
            price_type: CbPriceType::TaxInclusive,
            lines: vec![line(1, 4900, 19), line(3, 1190, 19)],
            ..CbInvoice::default()
        };
        let f = compute(&spec);
        assert_eq!(
            (f.sub_total, f.tax, f.total),
            (8470, 1352, 8470),
            "fixture figures"
        );
        assert_eq!(f.lines[0].taxable, 4118);
        assert_eq!(f.lines[1].tax, 570);
    }

    #[test]
    fn tax_exclusive_rounds_half_up() {
        let spec = CbInvoice {
            lines: vec![line(1, 10, 5), line(1, 30, 5)],
            ..CbInvoice::default()
        };
        let f = compute(&spec);
        // 0.5 -> 1, 1.5 -> 2
        assert_eq!((f.lines[0].tax, f.lines[1].tax, f.total), (1, 2, 43));
    }
}
