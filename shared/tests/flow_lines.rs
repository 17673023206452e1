//! Line planning on real-schema Maxio invoices: every figure to the cent, penny-checked.

use billsync::billing::maxio::{map, wire};
use billsync::billing::model::Invoice;
use billsync::flow::lines::{plan_lines, LineProblem};
use billsync::settings::TenantSettings;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/billing-sim/fixtures/maxio"
);

fn invoice(name: &str) -> Invoice {
    let text = std::fs::read_to_string(format!("{DIR}/{name}")).unwrap();
    map::invoice(&serde_json::from_str::<wire::Invoice>(&text).unwrap()).unwrap()
}

fn settings() -> TenantSettings {
    TenantSettings::from_value(&serde_json::json!({
        "tenant": "acme", "source": "maxio", "site": "acme-demo", "sync_start_date": "2026-01-01",
        "items": {
            "products": {"6210041": {"id": "102", "type": "non_inventory"},
                         "6210077": {"id": "105", "type": "inventory"},
                         "6210090": {"id": "102", "type": "non_inventory"}},
            "components": {"2293301": {"id": "104", "type": "service"}},
            "custom_default": {"id": "103", "type": "service"},
            "tax_item": {"id": "100", "type": "non_inventory"},
            "discount_item": "101"
        },
        "invoices": {"revenue_recognition": {"start_field": "custcol_rr_start", "end_field": "custcol_rr_end"}},
        "payments": {"payment_instruments": true},
        "refunds": {"account": "9"}
    }))
    .unwrap()
}

#[test]
fn non_inventory_invoice_lines_reconcile_to_the_cent() {
    let inv = invoice("invoice_non_inventory_paid.json");
    let plan = plan_lines(&inv, &settings()).unwrap();
    assert!(!plan.inventory);
    assert_eq!(plan.total, dec!(600.9));
    let amounts: Vec<Decimal> = plan.lines.iter().map(|l| l.amount.unwrap()).collect();
    // product, discount, component, discount, ad-hoc, discount, tax
    assert_eq!(
        amounts,
        vec![
            dec!(149.0),
            dec!(-11.17),
            dec!(202.5),
            dec!(-15.19),
            dec!(250.0),
            dec!(-18.75),
            dec!(44.51)
        ]
    );
    let items: Vec<&str> = plan
        .lines
        .iter()
        .map(|l| l.item.id.as_deref().unwrap())
        .collect();
    assert_eq!(items, ["102", "101", "104", "101", "103", "101", "100"]);
    // The per-line tax column adds up to the tax line.
    let column: Decimal = plan
        .lines
        .iter()
        .filter_map(|l| l.custom_fields.get("custcol_billsync_line_tax"))
        .map(|v| v.as_str().unwrap().parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(column, dec!(44.51));
    // Service period dates land in the revenue-recognition fields.
    assert!(plan.lines[0]
        .custom_fields
        .get("custcol_rr_start")
        .is_some());
}

#[test]
fn inventory_lines_mark_the_plan() {
    let plan = plan_lines(&invoice("invoice_inventory_open.json"), &settings()).unwrap();
    assert!(plan.inventory);
    assert_eq!(plan.total, dec!(860.0));
}

#[test]
fn every_fixture_plans_to_its_total() {
    for name in [
        "invoice_eur_refunded.json",
        "invoice_with_credit_note_applied.json",
        "invoice_segment_child.json",
        "invoice_fully_discounted.json",
        "invoice_zero_dollar.json",
    ] {
        let inv = invoice(name);
        let plan = plan_lines(&inv, &settings()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(plan.total, inv.totals.total, "{name}");
    }
}

#[test]
fn unmapped_products_and_penny_mismatches_are_refused() {
    let mut s = settings();
    s.items.components.clear();
    let err = plan_lines(&invoice("invoice_non_inventory_paid.json"), &s).unwrap_err();
    assert!(
        matches!(&err, LineProblem::Unmapped { what, .. } if what == "component 2293301"),
        "{err:?}"
    );

    let mut inv = invoice("invoice_non_inventory_paid.json");
    inv.totals.total = dec!(600.91);
    assert_eq!(
        plan_lines(&inv, &settings()).unwrap_err(),
        LineProblem::PennyCheck {
            computed: dec!(600.9),
            stated: dec!(600.91)
        }
    );
}
