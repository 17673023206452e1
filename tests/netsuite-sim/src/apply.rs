//! Payments, credit memos, deposit applications and refunds consume open documents. Balances
//! (an invoice's amount remaining, a deposit's unapplied amount, ...) are derived from all
//! applications after every write (for the documents the write touches), so deleting a payment
//! re-opens its invoices by itself.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::{
    error::ApiError,
    money,
    records::{amount, ref_id, ref_name, ref_u64, resolved_ref, sublist, RefKey},
    store::{Record, Store},
    types::{Family, RecordType},
};

use RecordType::*;

/// Applied lines of a sublist as (document id, amount). Lines with `apply: false` do nothing.
fn applied_lines(rec: &Record, name: &str) -> Vec<(u64, Decimal)> {
    sublist(rec, name)
        .iter()
        .filter(|l| l.get("apply").and_then(Value::as_bool) != Some(false))
        .filter_map(|l| Some((ref_u64(l.get("doc"))?, money::parse(l.get("amount")?)?)))
        .collect()
}

fn total_of(lines: &[(u64, Decimal)]) -> Decimal {
    lines.iter().map(|(_, a)| *a).sum()
}

/// What one record uses up of other documents (and of itself), as (transaction id, amount):
/// a payment applies to invoices and takes credits and deposits, and uses itself for what it
/// applies beyond them; a credit memo applies to invoices and uses itself; a deposit
/// application uses invoices and its deposit; a refund uses credit memos, payments and
/// deposits. The store sums these per document as records are written.
pub(crate) fn contributions(rt: RecordType, id: u64, rec: &Record) -> Vec<(u64, Decimal)> {
    match rt {
        CustomerPayment => {
            let (apply, credit, deposit) = (
                applied_lines(rec, "apply"),
                applied_lines(rec, "credit"),
                applied_lines(rec, "deposit"),
            );
            let own = total_of(&apply) - total_of(&credit) - total_of(&deposit);
            let mut all: Vec<(u64, Decimal)> =
                apply.into_iter().chain(credit).chain(deposit).collect();
            all.push((id, own));
            all
        }
        // A credit memo uses itself for what it applies; a deposit application, its deposit.
        CreditMemo | DepositApplication => {
            let apply = applied_lines(rec, "apply");
            let own = total_of(&apply);
            let source = match rt {
                CreditMemo => Some(id),
                _ => ref_u64(rec.get("deposit")),
            };
            let mut all = apply;
            all.extend(source.map(|s| (s, own)));
            all
        }
        CustomerRefund => applied_lines(rec, "apply")
            .into_iter()
            .chain(applied_lines(rec, "deposit"))
            .collect(),
        _ => Vec::new(),
    }
}

/// What applications other than `exclude` use up of each transaction: the store's running
/// sums less what the excluded record (the one being validated) adds, so its new version is
/// checked against everything else.
fn used_by_others(store: &Store, exclude: Option<u64>) -> impl Fn(u64) -> Decimal + '_ {
    let own: HashMap<u64, Decimal> = exclude
        .into_iter()
        .flat_map(|id| {
            [
                CustomerPayment,
                CreditMemo,
                DepositApplication,
                CustomerRefund,
            ]
            .into_iter()
            .filter_map(move |rt| store.get(rt, id).map(|rec| contributions(rt, id, rec)))
        })
        .flatten()
        .fold(HashMap::new(), |mut m, (doc, amt)| {
            *m.entry(doc).or_default() += amt;
            m
        });
    move |doc| store.consumed(doc) - own.get(&doc).copied().unwrap_or_default()
}

/// What a document is worth before anything is applied to it.
fn base_amount(rt: RecordType, rec: &Record) -> Decimal {
    match rt {
        Invoice | CreditMemo => amount(rec, "total"),
        CustomerDeposit | CustomerPayment => amount(rec, "payment"),
        _ => Decimal::ZERO,
    }
}

fn status(id: &str, name: &str) -> Value {
    json!({"id": id, "refName": name})
}

/// The transactions whose derived balance or status a write of `rec` may change: itself and
/// every document it names (the order it was created from, the deposit it applies, the
/// documents on its application sublists). Used before and after a write, so a document a
/// record stops naming is recomputed too.
pub(crate) fn touched_by(id: u64, rec: &Record) -> HashSet<u64> {
    let mut ids: HashSet<u64> = HashSet::from([id]);
    ids.extend(ref_u64(rec.get("createdFrom")));
    ids.extend(ref_u64(rec.get("deposit")));
    for name in ["apply", "credit", "deposit"] {
        ids.extend(
            sublist(rec, name)
                .iter()
                .filter_map(|l| ref_u64(l.get("doc"))),
        );
    }
    ids
}

/// Rewrites the derived balances and statuses of the transactions in `only` from every
/// application; touches `lastModifiedDate` only where something changed,
/// so SuiteQL "modified since" queries see paid invoices move. A write changes the balances of
/// the documents it touches and no others, so recomputing those keeps the account right
/// without a pass over every transaction per write.
pub(crate) fn recompute(store: &mut Store, stamp: &str, only: &HashSet<u64>) {
    let used: HashMap<u64, Decimal> = only.iter().map(|&id| (id, store.consumed(id))).collect();
    let billed: HashSet<u64> = only
        .iter()
        .copied()
        .filter(|id| store.has_children(Invoice, *id))
        .collect();
    let fulfilled: HashSet<u64> = only
        .iter()
        .copied()
        .filter(|id| store.has_children(ItemFulfillment, *id))
        .collect();
    for rt in [
        Invoice,
        CreditMemo,
        CustomerDeposit,
        CustomerPayment,
        SalesOrder,
    ] {
        for &id in only {
            let Some(rec) = store.get_mut(rt, id) else {
                continue;
            };
            let consumed = used.get(&id).copied().unwrap_or_default();
            let base = base_amount(rt, rec);
            let remaining = base - consumed;
            let updates: Vec<(&str, Value)> = match rt {
                Invoice => vec![
                    ("amountPaid", money::to_json(consumed)),
                    ("amountRemaining", money::to_json(remaining)),
                    (
                        "status",
                        if remaining <= Decimal::ZERO {
                            status("B", "Paid In Full")
                        } else {
                            status("A", "Open")
                        },
                    ),
                ],
                // The REST schema names a memo's open amount `unapplied`.
                CreditMemo => vec![
                    ("applied", money::to_json(consumed)),
                    ("unapplied", money::to_json(remaining)),
                    (
                        "status",
                        if remaining <= Decimal::ZERO {
                            status("B", "Fully Applied")
                        } else {
                            status("A", "Open")
                        },
                    ),
                ],
                // Deposit and payment status letters are unconfirmed.
                CustomerDeposit => vec![
                    ("applied", money::to_json(consumed)),
                    ("unapplied", money::to_json(remaining)),
                    (
                        "status",
                        if remaining <= Decimal::ZERO {
                            status("C", "Fully Applied")
                        } else {
                            status("A", "Not Deposited")
                        },
                    ),
                ],
                CustomerPayment => {
                    let to_undeposited = match rec.get("undepFunds") {
                        None | Some(Value::Null) => true,
                        Some(Value::Bool(b)) => *b,
                        Some(v) => ref_id(Some(v)).as_deref() != Some("F"),
                    };
                    vec![
                        (
                            "applied",
                            money::to_json(total_of(&applied_lines(rec, "apply"))),
                        ),
                        ("unapplied", money::to_json(remaining)),
                        ("total", money::to_json(base)),
                        (
                            "status",
                            if to_undeposited {
                                status("B", "Not Deposited")
                            } else {
                                status("C", "Deposited")
                            },
                        ),
                    ]
                }
                SalesOrder => {
                    let pending_approval = ref_id(rec.get("orderStatus")).as_deref() == Some("A");
                    let lines = sublist(rec, "item");
                    let closed = !lines.is_empty()
                        && lines
                            .iter()
                            .all(|l| l.get("isClosed").and_then(Value::as_bool) == Some(true));
                    vec![(
                        "status",
                        if billed.contains(&id) {
                            status("G", "Billed")
                        } else if closed {
                            status("H", "Closed")
                        } else if fulfilled.contains(&id) {
                            status("F", "Pending Billing")
                        } else if pending_approval {
                            status("A", "Pending Approval")
                        } else {
                            status("B", "Pending Fulfillment")
                        },
                    )]
                }
                _ => Vec::new(),
            };
            let mut changed = false;
            for (key, value) in updates {
                if rec.get(key) != Some(&value) {
                    rec.insert(key.into(), value);
                    changed = true;
                }
            }
            if changed {
                rec.insert("lastModifiedDate".into(), json!(stamp));
            }
        }
    }
}

/// The customer a transaction belongs to.
fn customer_of(rt: RecordType, rec: &Record) -> Option<String> {
    rt.customer_field().and_then(|f| ref_id(rec.get(f)))
}

/// Sublists an applying record carries, the document types each may name, and the order they
/// are processed in (credits and deposits first, so they can fund invoice lines).
fn plan(rt: RecordType) -> &'static [(&'static str, &'static [RecordType])] {
    match rt {
        CustomerPayment => &[
            ("credit", &[CreditMemo]),
            ("deposit", &[CustomerDeposit]),
            ("apply", &[Invoice]),
        ],
        CreditMemo | DepositApplication => &[("apply", &[Invoice])],
        CustomerRefund => &[
            ("apply", &[CreditMemo, CustomerPayment]),
            ("deposit", &[CustomerDeposit]),
        ],
        _ => &[],
    }
}

/// Wording for over-application is ours; NetSuite's exact message is unconfirmed.
fn over_applied(doc_name: &str, amount: Decimal, available: Decimal) -> ApiError {
    ApiError::user_error(format!(
        "The amount applied to {doc_name} ({amount}) is more than its amount remaining ({available})."
    ))
}

/// Checks and normalises the application sublists of a payment, credit memo, deposit
/// application or refund, and sets the totals that depend on them.
pub(crate) fn validate(
    store: &Store,
    rt: RecordType,
    self_id: Option<u64>,
    rec: &mut Record,
) -> Result<(), ApiError> {
    let consumed = used_by_others(store, self_id);
    let customer = customer_of(rt, rec);
    let available_of =
        |doc_rt: RecordType, doc_id: u64, doc: &Record| base_amount(doc_rt, doc) - consumed(doc_id);
    let payment_given = match rec.get("payment").filter(|v| !v.is_null()) {
        Some(v) if rt == CustomerPayment => Some(
            money::parse(v)
                .filter(|p| *p >= Decimal::ZERO)
                .map(money::round2)
                .ok_or_else(|| ApiError::invalid_value(&v.to_string(), "payment", "payment"))?,
        ),
        _ => None,
    };
    let mut used: HashMap<u64, Decimal> = HashMap::new();
    let mut sums: HashMap<&str, Decimal> = HashMap::new();

    for (name, allowed) in plan(rt) {
        let Some(items) = rec.get_mut(*name).and_then(crate::records::lines_mut) else {
            continue;
        };
        for (i, line) in items.iter_mut().enumerate() {
            let path = format!("{name}.items[{i}]");
            let Some(obj) = line.as_object_mut() else {
                return Err(ApiError::invalid_value(&line.to_string(), name, &path));
            };
            let doc_path = format!("{path}.doc");
            let key = obj
                .get("doc")
                .and_then(RefKey::parse)
                .ok_or_else(|| ApiError::invalid_value("null", "doc", &doc_path))?;
            // Only open documents of this customer appear on the sublist; anything else is a
            // key the sublist does not have.
            let not_listed = || ApiError::no_matching_line(name, key.shown(), &doc_path);
            let found = match &key {
                RefKey::Id(s) => s.parse::<u64>().ok().and_then(|id| {
                    store
                        .find_in_family(Family::Transaction, id)
                        .map(|(t, r)| (t, id, r))
                }),
                RefKey::External(e) => allowed.iter().find_map(|t| {
                    let id = store.find_external_in(*t, e)?;
                    store.get(*t, id).map(|r| (*t, id, r))
                }),
            };
            let (doc_rt, doc_id, doc) = found.ok_or_else(not_listed)?;
            if !allowed.contains(&doc_rt) || Some(doc_id) == self_id {
                return Err(not_listed());
            }
            if customer.is_some() && customer_of(doc_rt, doc) != customer {
                return Err(not_listed());
            }
            let doc_name = ref_name(doc_rt, doc);
            obj.insert("doc".into(), resolved_ref(doc_rt, doc_id, doc));
            obj.insert("type".into(), json!(doc_rt.label()));
            obj.insert(
                "refNum".into(),
                doc.get("tranId").cloned().unwrap_or(Value::Null),
            );
            if obj.get("apply").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let available =
                available_of(doc_rt, doc_id, doc) - used.get(&doc_id).copied().unwrap_or_default();
            if available <= Decimal::ZERO {
                return Err(not_listed());
            }
            let amount = match obj.get("amount").filter(|v| !v.is_null()) {
                Some(v) => money::parse(v)
                    .filter(|a| *a > Decimal::ZERO)
                    .map(money::round2)
                    .ok_or_else(|| {
                        ApiError::invalid_value(&v.to_string(), "amount", &format!("{path}.amount"))
                    })?,
                None => {
                    // Like the UI: the open balance, limited by what a given payment still covers.
                    let budget = payment_given.map(|p| {
                        p + sums.get("credit").copied().unwrap_or_default()
                            + sums.get("deposit").copied().unwrap_or_default()
                            - sums.get("apply").copied().unwrap_or_default()
                    });
                    match budget {
                        Some(b) if *name == "apply" && rt == CustomerPayment => available.min(b),
                        _ => available,
                    }
                }
            };
            if amount <= Decimal::ZERO || amount > available {
                return Err(over_applied(&doc_name, amount, available));
            }
            obj.insert("apply".into(), Value::Bool(true));
            obj.insert("amount".into(), money::to_json(amount));
            *used.entry(doc_id).or_default() += amount;
            *sums.entry(name).or_default() += amount;
        }
    }

    let sum = |name: &str| sums.get(name).copied().unwrap_or_default();
    let own_consumed = self_id.map(&consumed).unwrap_or_default();
    match rt {
        CustomerPayment => {
            let (applied, credits) = (sum("apply"), sum("credit") + sum("deposit"));
            if credits > applied {
                return Err(ApiError::user_error(format!(
                    "The credits and deposits applied ({credits}) are more than the amount applied to invoices ({applied})."
                )));
            }
            let payment = match payment_given {
                Some(p) => p,
                None if applied > Decimal::ZERO => applied - credits,
                None => return Err(ApiError::missing_values(&["Payment Amount".to_string()])),
            };
            // Refunds of this payment (own_consumed) also draw on it.
            if applied - credits > payment - own_consumed {
                return Err(ApiError::user_error(format!(
                    "The total applied ({}) is more than the payment amount plus applied credits ({}).",
                    applied,
                    payment - own_consumed + credits
                )));
            }
            rec.insert("payment".into(), money::to_json(payment));
        }
        CreditMemo => {
            let available = amount(rec, "total") - own_consumed;
            if sum("apply") > available {
                return Err(ApiError::user_error(format!(
                    "The amount applied ({}) is more than the credit available ({available}).",
                    sum("apply")
                )));
            }
        }
        DepositApplication => {
            if let Some((dep_id, dep)) = ref_u64(rec.get("deposit"))
                .and_then(|id| store.get(CustomerDeposit, id).map(|r| (id, r)))
            {
                let available = available_of(CustomerDeposit, dep_id, dep);
                if sum("apply") > available {
                    return Err(over_applied(
                        &ref_name(CustomerDeposit, dep),
                        sum("apply"),
                        available,
                    ));
                }
            }
            rec.insert("applied".into(), money::to_json(sum("apply")));
            rec.insert("total".into(), money::to_json(sum("apply")));
        }
        CustomerRefund => {
            let total = sum("apply") + sum("deposit");
            if total <= Decimal::ZERO {
                return Err(ApiError::user_error(
                    "You must enter at least one line item for this transaction.",
                ));
            }
            rec.insert("total".into(), money::to_json(total));
        }
        _ => {}
    }
    Ok(())
}
