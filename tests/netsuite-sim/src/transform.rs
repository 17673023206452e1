//! `POST /<source>/<id>/!transform/<target>`: a new record initialised from an existing one,
//! then overridden by the request body and saved through the normal write pipeline.

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::{
    error::ApiError,
    records::{amount, into_object, ref_name, ref_u64, sublist, Target, WriteCtx},
    store::Record,
    types::{Family, RecordType},
    world::World,
};

use RecordType::*;

/// Header fields carried from a sales order or invoice to the record made from it.
const SALES_HEADER: &[&str] = &[
    "entity",
    "currency",
    "exchangeRate",
    "subsidiary",
    "department",
    "class",
    "location",
    "otherRefNum",
    "memo",
    "terms",
];
const FULFILLMENT_HEADER: &[&str] = &[
    "entity",
    "subsidiary",
    "department",
    "class",
    "location",
    "memo",
];
const PRICED_LINE: &[&str] = &[
    "item",
    "quantity",
    "rate",
    "amount",
    "description",
    "price",
    "taxCode",
    "department",
    "class",
    "location",
    "units",
    "isTaxable",
];
const SHIPPED_LINE: &[&str] = &["item", "quantity", "description", "location", "units"];

fn copy_header(source: &Record, base: &mut Record, fields: &[&str]) {
    for f in fields {
        if let Some(v) = source.get(*f) {
            base.insert((*f).to_string(), v.clone());
        }
    }
    for (k, v) in source {
        if k.starts_with("custbody") {
            base.insert(k.clone(), v.clone());
        }
    }
}

fn copy_line(line: &Value, fields: &[&str]) -> Value {
    let mut out = Map::new();
    if let Some(src) = line.as_object() {
        for f in fields {
            if let Some(v) = src.get(*f) {
                out.insert((*f).to_string(), v.clone());
            }
        }
        for (k, v) in src {
            if k.starts_with("custcol") {
                out.insert(k.clone(), v.clone());
            }
        }
        if let Some(n) = src.get("line") {
            out.insert("orderLine".into(), n.clone());
        }
    }
    Value::Object(out)
}

fn status_letter(rec: &Record) -> &str {
    rec.get("status")
        .and_then(|s| s.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

impl World {
    /// Lines whose item a warehouse has to ship.
    fn needs_shipping(&self, line: &Value) -> bool {
        ref_u64(line.get("item"))
            .and_then(|id| self.store.find_in_family(Family::Item, id))
            .is_some_and(|(t, _)| t.needs_fulfillment())
    }

    pub(crate) fn transform(
        &mut self,
        source_type: RecordType,
        source_id: u64,
        target: RecordType,
        body: Value,
        ctx: &WriteCtx,
    ) -> Result<u64, ApiError> {
        let source = self
            .store
            .get(source_type, source_id)
            .cloned()
            .ok_or_else(ApiError::not_found)?;
        let mut incoming = into_object(body)?;
        incoming.remove("id");
        incoming.remove("createdFrom");
        // NetSuite's answer when the source is not in a state the target can be made from
        // (for an unbilled order that still needs shipping, or one already billed); unconfirmed.
        let refused = || {
            ApiError::new(
                400,
                "USER_ERROR",
                format!(
                    "You can not initialize {}: invalid reference {source_id}.",
                    target.name().to_lowercase()
                ),
            )
        };
        let link = json!({"id": source_id.to_string(), "refName": ref_name(source_type, &source)});
        let mut base = Record::new();
        let mut preset = vec![("createdFrom".to_string(), link.clone())];
        let status = status_letter(&source);
        match (source_type, target) {
            (SalesOrder, Invoice) => {
                let must_ship = sublist(&source, "item")
                    .iter()
                    .any(|l| self.needs_shipping(l));
                if matches!(status, "A" | "G" | "H") || (must_ship && status == "B") {
                    return Err(refused());
                }
                copy_header(&source, &mut base, SALES_HEADER);
                let lines: Vec<Value> = sublist(&source, "item")
                    .iter()
                    .map(|l| copy_line(l, PRICED_LINE))
                    .collect();
                base.insert("item".into(), json!({ "items": lines }));
            }
            (SalesOrder, ItemFulfillment) => {
                let lines: Vec<Value> = sublist(&source, "item")
                    .iter()
                    .filter(|l| self.needs_shipping(l))
                    .map(|l| {
                        let mut line = copy_line(l, SHIPPED_LINE);
                        if let Some(obj) = line.as_object_mut() {
                            obj.insert("itemReceive".into(), Value::Bool(true));
                        }
                        line
                    })
                    .collect();
                if status != "B" || lines.is_empty() {
                    return Err(refused());
                }
                copy_header(&source, &mut base, FULFILLMENT_HEADER);
                base.insert(
                    "shipStatus".into(),
                    json!({"id": "C", "refName": "Shipped"}),
                );
                base.insert("item".into(), json!({ "items": lines }));
            }
            (Invoice, CreditMemo) => {
                copy_header(&source, &mut base, SALES_HEADER);
                let lines: Vec<Value> = sublist(&source, "item")
                    .iter()
                    .map(|l| copy_line(l, PRICED_LINE))
                    .collect();
                base.insert("item".into(), json!({ "items": lines }));
            }
            (CustomerDeposit, DepositApplication) => {
                let used = self.store.consumed(source_id);
                if amount(&source, "payment") - used <= Decimal::ZERO {
                    return Err(refused());
                }
                copy_header(
                    &source,
                    &mut base,
                    &[
                        "customer",
                        "currency",
                        "subsidiary",
                        "department",
                        "class",
                        "location",
                    ],
                );
                preset = vec![("deposit".to_string(), link)];
            }
            _ => {
                return Err(ApiError::new(
                    400,
                    "INVALID_PARAMETER",
                    format!(
                        "Transforming a {} record into a {} record is not supported.",
                        source_type.name(),
                        target.name()
                    ),
                ))
            }
        }
        self.save(target, Target::New(None), base, incoming, preset, ctx)
    }
}
