//! `billsync reconcile`, `backfill` and `preview` as a person reads them.

use billsync::service::backfill::BackfillReport;
use billsync::service::preview::PreviewReport;
use billsync::service::reconcile::{Difference, Figures, ReconcileReport, Tally};
use rust_decimal::Decimal;

fn tally(t: &Tally) -> String {
    format!("{} / {}", t.count, t.total)
}

fn figure_rows(b: &Figures, n: &Figures) -> Vec<(&'static str, String, String)> {
    vec![
        ("invoices", tally(&b.invoices), tally(&n.invoices)),
        ("payments", tally(&b.payments), tally(&n.payments)),
        ("refunds", tally(&b.refunds), tally(&n.refunds)),
        (
            "credit notes",
            tally(&b.credit_notes),
            tally(&n.credit_notes),
        ),
        ("open balance", b.open.to_string(), n.open.to_string()),
    ]
}

fn amount(a: Option<Decimal>) -> String {
    a.map_or_else(|| "-".into(), |d| d.to_string())
}

fn difference_line(d: &Difference) -> String {
    let what = match (&d.invoice, &d.billing_id) {
        (Some(inv), Some(id)) if inv != id => format!("{} {id} of invoice {inv}", d.record),
        (_, Some(id)) => format!("{} {id}", d.record),
        (Some(inv), None) => format!("{} of invoice {inv}", d.record),
        (None, None) => d.record.clone(),
    };
    let netsuite = d
        .netsuite_id
        .as_deref()
        .map(|id| format!(", NetSuite {id}"))
        .unwrap_or_default();
    let figures = if d.billing.is_some() || d.netsuite.is_some() {
        format!(
            " (billing {}, NetSuite {}{})",
            amount(d.billing),
            amount(d.netsuite),
            d.currency
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default()
        )
    } else {
        String::new()
    };
    format!(
        "- {}: {what}{netsuite}{figures}\n  external id {}; {}\n",
        d.kind.label(),
        d.external_id,
        d.action
    )
}

/// The report as text: figures per currency, then one entry per difference with its action;
/// with colours when `colour`.
pub fn render(r: &ReconcileReport, colour: bool) -> String {
    use crate::progress::{paint, Colour};
    let mut out = format!(
        "reconcile {} from {} to {} (at {})\n",
        r.tenant,
        r.from,
        r.to,
        r.at.format("%Y-%m-%d %H:%M UTC")
    );
    for c in &r.currencies {
        let rows = figure_rows(&c.billing, &c.netsuite);
        let width = rows
            .iter()
            .map(|(_, b, _)| b.len())
            .max()
            .unwrap_or(0)
            .max("billing".len());
        out.push_str(&format!(
            "\n{:<16}{:<width$}   NetSuite\n",
            c.currency, "billing"
        ));
        for (label, b, n) in rows {
            let mark = if b == n {
                String::new()
            } else {
                format!("   {}", paint("<- differs", Colour::Red, colour))
            };
            out.push_str(&format!("  {label:<14}{b:<width$}   {n}{mark}\n"));
        }
    }
    if r.currencies.is_empty() {
        out.push_str("\nno invoices issued in the period on either side\n");
    }
    out.push('\n');
    match r.difference_count {
        0 => out.push_str(&format!(
            "{}: billing and NetSuite agree on every record of the period\n",
            paint("clean", Colour::Green, colour)
        )),
        n => {
            let title = format!("{n} difference{}", if n == 1 { "" } else { "s" });
            out.push_str(&format!("{}:\n", paint(&title, Colour::Yellow, colour)));
            for d in &r.differences {
                out.push_str(&difference_line(d));
            }
            if r.differences_left_out > 0 {
                out.push_str(&format!(
                    "... and {} more (the stored report keeps the first {}; run reconcile again for all)\n",
                    r.differences_left_out,
                    r.differences.len()
                ));
            }
        }
    }
    for note in &r.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// What a backfill queued, in one line.
pub fn backfill_line(r: &BackfillReport) -> String {
    let mut line = format!(
        "backfill {}: {} invoice(s) issued in the range, {} queued",
        r.tenant, r.read, r.queued
    );
    if !r.out_of_scope.is_empty() {
        let reasons: Vec<String> = r
            .out_of_scope
            .iter()
            .map(|(reason, n)| format!("{reason}: {n}"))
            .collect();
        line.push_str(&format!(
            "; out of scope by the settings ({})",
            reasons.join("; ")
        ));
    }
    line
}

/// A preview: the lookups (what exists), then each write with its body, then where the flow
/// would end.
pub fn preview_text(p: &PreviewReport) -> String {
    let mut out = format!(
        "preview of invoice {} for {} (nothing is sent or stored)\n",
        p.invoice, p.tenant
    );
    if !p.lookups.is_empty() {
        out.push_str("\nfound by external id:\n");
        for l in &p.lookups {
            let found = l.found.as_deref().map_or_else(
                || "not in NetSuite".to_owned(),
                |id| format!("exists, id {id}"),
            );
            out.push_str(&format!("  {} {}: {found}\n", l.record_type, l.external_id));
        }
    }
    if p.requests.is_empty() {
        out.push_str("\nno writes: NetSuite already holds what billing holds\n");
    } else {
        out.push_str(&format!(
            "\n{} request(s) would be sent:\n",
            p.requests.len()
        ));
    }
    for (n, r) in p.requests.iter().enumerate() {
        out.push_str(&format!(
            "\n{}. {} {}  ({})\n",
            n + 1,
            r.method,
            r.path,
            r.operation
        ));
        if let Some(body) = &r.body {
            let pretty = serde_json::to_string_pretty(body).expect("JSON prints");
            for line in pretty.lines() {
                out.push_str(&format!("   {line}\n"));
            }
        }
        if let Some(id) = &r.new_id {
            out.push_str(&format!("   (later requests call the new record {id})\n"));
        }
    }
    out.push_str(&format!("\nthe flow would end {}", p.status.as_str()));
    if let Some(reason) = &p.reason {
        out.push_str(&format!(": {reason}"));
    }
    out.push('\n');
    if let Some(e) = &p.error {
        out.push_str(&format!(
            "  step {}: {}\n  fix: {}\n",
            e.step, e.cause, e.fix
        ));
        if !e.detail.is_empty() {
            out.push_str(&format!("  detail: {}\n", e.detail));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use billsync::service::reconcile::{CurrencyFigures, DifferenceKind};

    #[test]
    fn a_report_marks_the_figures_that_differ_and_gives_each_difference_its_action() {
        let netsuite = Figures {
            invoices: Tally {
                count: 1,
                total: Decimal::from(10),
            },
            open: Decimal::from(10),
            ..Figures::default()
        };
        let r = ReconcileReport {
            tenant: "acme".into(),
            from: "2026-11-01".parse().unwrap(),
            to: "2026-11-30".parse().unwrap(),
            at: chrono::Utc::now(),
            currencies: vec![CurrencyFigures {
                currency: "USD".into(),
                billing: Figures::default(),
                netsuite,
            }],
            difference_count: 1,
            differences: vec![Difference {
                kind: DifferenceKind::NotInBilling,
                record: "invoice".into(),
                invoice: None,
                billing_id: Some("ghost".into()),
                netsuite_id: Some("77".into()),
                external_id: "bs-acme-inv-ghost".into(),
                currency: Some("USD".into()),
                billing: None,
                netsuite: Some(Decimal::from(10)),
                action: "void it".into(),
            }],
            differences_left_out: 0,
            notes: vec![],
        };
        let text = render(&r, false);
        assert!(render(&r, true).contains("\x1b[31m<- differs\x1b[0m"));
        assert!(
            text.contains("\nUSD             billing   NetSuite\n  invoices      0 / 0     1 / 10   <- differs\n  payments      0 / 0     0 / 0\n"),
            "{text}"
        );
        assert!(
            text.contains("  open balance  0         10   <- differs\n"),
            "{text}"
        );
        assert!(
            text.contains("- in NetSuite, not in billing: invoice ghost, NetSuite 77 (billing -, NetSuite 10 USD)\n  external id bs-acme-inv-ghost; void it"),
            "{text}"
        );
    }
}
