//! Record writes: create, update (PATCH), upsert (PUT `eid:`), delete, and the save pipeline
//! they share with transforms and seeding.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::{
    apply,
    error::{ApiError, PREFIX},
    money,
    store::Record,
    types::{Family, RecordType},
    world::World,
    Fault,
};

/// How strictly a write is checked.
pub(crate) struct WriteCtx {
    /// Seeding: unresolvable references are stored as given, mandatory fields are not enforced.
    pub(crate) seed: bool,
    /// Whether injected faults apply (they do not for seeding and warehouse operations).
    pub(crate) faults: bool,
    /// Sublists named in `?replace=`; their lines replace the stored ones.
    pub(crate) replace: HashSet<String>,
    pub(crate) now: DateTime<Utc>,
}

impl WriteCtx {
    pub(crate) fn api(replace: HashSet<String>, now: DateTime<Utc>) -> Self {
        WriteCtx {
            seed: false,
            faults: true,
            replace,
            now,
        }
    }

    pub(crate) fn seed(now: DateTime<Utc>) -> Self {
        WriteCtx {
            seed: true,
            faults: false,
            replace: HashSet::new(),
            now,
        }
    }

    /// A user working in the NetSuite UI: full validation, but the integration's faults do not
    /// apply to them.
    pub(crate) fn warehouse(now: DateTime<Utc>) -> Self {
        WriteCtx {
            seed: false,
            faults: false,
            replace: HashSet::new(),
            now,
        }
    }

    pub(crate) fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }

    pub(crate) fn stamp(&self) -> String {
        self.now.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

// ---- JSON helpers -------------------------------------------------------------------------

/// Lines of a sublist value `{"items": [...]}`.
pub(crate) fn lines(v: &Value) -> Option<&Vec<Value>> {
    v.as_object()?.get("items")?.as_array()
}

pub(crate) fn lines_mut(v: &mut Value) -> Option<&mut Vec<Value>> {
    v.as_object_mut()?.get_mut("items")?.as_array_mut()
}

/// Lines of a record's sublist, empty when absent.
pub(crate) fn sublist<'a>(rec: &'a Record, name: &str) -> &'a [Value] {
    rec.get(name)
        .and_then(lines)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The id of a reference value (`{"id": ".."}`, a bare id string or number).
pub(crate) fn ref_id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Object(m) => match m.get("id")? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        },
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn ref_u64(v: Option<&Value>) -> Option<u64> {
    ref_id(v)?.parse().ok()
}

pub(crate) fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Object(m)) => m.is_empty(),
        _ => false,
    }
}

pub(crate) fn str_field<'a>(rec: &'a Record, key: &str) -> &'a str {
    rec.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A record field read as an amount (absent or malformed reads as zero).
pub(crate) fn amount(rec: &Record, key: &str) -> Decimal {
    rec.get(key).and_then(money::parse).unwrap_or_default()
}

/// NetSuite's default date display format, M/D/YYYY.
pub(crate) fn mdy(d: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{}/{}/{}", d.month(), d.day(), d.year())
}

/// A value as text for error messages.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn into_object(body: Value) -> Result<Record, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_json(
            "The request body must be a JSON object.",
        )),
    }
}

// ---- references ---------------------------------------------------------------------------

/// How a reference names its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefKey {
    Id(String),
    External(String),
}

impl RefKey {
    /// Accepts `{"id": ..}`, `{"externalId": ..}`, or a bare id (NetSuite takes `"subsidiary": "1"`).
    pub(crate) fn parse(v: &Value) -> Option<RefKey> {
        match v {
            Value::String(s) if !s.is_empty() => Some(RefKey::Id(s.clone())),
            Value::Number(n) => Some(RefKey::Id(n.to_string())),
            Value::Object(m) => match (m.get("id"), m.get("externalId")) {
                (Some(Value::String(s)), _) if !s.is_empty() => Some(RefKey::Id(s.clone())),
                (Some(Value::Number(n)), _) => Some(RefKey::Id(n.to_string())),
                (_, Some(Value::String(s))) if !s.is_empty() => Some(RefKey::External(s.clone())),
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn shown(&self) -> &str {
        match self {
            RefKey::Id(s) | RefKey::External(s) => s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefTarget {
    Type(RecordType),
    Family(Family),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RefSpec {
    pub(crate) target: RefTarget,
    /// The word NetSuite uses in "Invalid <kind> reference key".
    pub(crate) kind: &'static str,
}

impl RefSpec {
    fn error(&self, key: &str, path: &str) -> ApiError {
        if self.kind == "item" {
            // Oracle documents an unknown line item as an invalid field value, not a bad key.
            ApiError::invalid_value(key, "item", path)
        } else {
            ApiError::invalid_ref(self.kind, key, path)
        }
    }
}

fn spec(target: RefTarget, kind: &'static str) -> Option<RefSpec> {
    Some(RefSpec { target, kind })
}

/// Body fields that are references, and what they point at.
pub(crate) fn body_ref_spec(rt: RecordType, field: &str) -> Option<RefSpec> {
    use RecordType as T;
    use RefTarget::Type;
    match field {
        "entity" | "customer" if rt.is_transaction() => spec(Type(T::Customer), "entity"),
        "subsidiary" => spec(Type(T::Subsidiary), "subsidiary"),
        "department" => spec(Type(T::Department), "department"),
        "class" => spec(Type(T::Classification), "class"),
        "location" => spec(Type(T::Location), "location"),
        "account" | "arAcct" | "incomeAccount" | "assetAccount" | "cogsAccount"
        | "expenseAccount" => spec(Type(T::Account), "account"),
        "currency" if rt != T::Currency => spec(Type(T::Currency), "currency"),
        "terms" => spec(Type(T::Term), "terms"),
        "salesOrder" if rt == T::CustomerDeposit => spec(Type(T::SalesOrder), "salesorder"),
        "deposit" if rt == T::DepositApplication => spec(Type(T::CustomerDeposit), "deposit"),
        "createdFrom" if rt.is_transaction() => {
            spec(RefTarget::Family(Family::Transaction), "createdfrom")
        }
        _ => None,
    }
}

/// Reference fields on lines of the `item` sublist.
pub(crate) fn line_ref_spec(field: &str) -> Option<RefSpec> {
    match field {
        "item" => spec(RefTarget::Family(Family::Item), "item"),
        "department" | "class" | "location" => body_ref_spec(RecordType::SalesOrder, field),
        _ => None,
    }
}

/// The `refName` NetSuite shows for a record.
pub(crate) fn ref_name(rt: RecordType, rec: &Record) -> String {
    let s = |k: &str| str_field(rec, k).to_string();
    match rt.family() {
        Family::Entity => {
            let name = if is_true(rec.get("isPerson")) {
                format!("{} {}", s("firstName"), s("lastName"))
                    .trim()
                    .to_string()
            } else {
                s("companyName")
            };
            let entity_id = s("entityId");
            if entity_id.is_empty() {
                name
            } else if name.is_empty() || name == entity_id {
                entity_id
            } else {
                format!("{entity_id} {name}")
            }
        }
        Family::Transaction => format!("{} #{}", rt.label(), s("tranId")),
        Family::Item => {
            let id = s("itemId");
            if id.is_empty() {
                s("displayName")
            } else {
                id
            }
        }
        Family::Other if rt == RecordType::Account => {
            let name = if rec.contains_key("acctName") {
                s("acctName")
            } else {
                s("name")
            };
            match s("acctNumber") {
                n if n.is_empty() => name,
                n => format!("{n} {name}"),
            }
        }
        Family::Other => s("name"),
    }
}

pub(crate) fn resolved_ref(rt: RecordType, id: u64, rec: &Record) -> Value {
    json!({"id": id.to_string(), "refName": ref_name(rt, rec)})
}

/// Fields NetSuite computes itself. A client sending them is ignored, not refused.
const COMPUTED: &[&str] = &[
    "links",
    "status",
    "total",
    "subtotal",
    "amountRemaining",
    "amountPaid",
    "applied",
    "unapplied",
];
const TIMESTAMPS: &[&str] = &["createdDate", "dateCreated", "lastModifiedDate"];

/// Sublists whose lines are keyed by the document they apply to: a line for a document that is
/// already on the sublist updates that line instead of adding one.
const KEYED_BY_DOC: &[&str] = &["apply", "credit", "deposit"];

/// Whether a write creates a record (optionally with a seed-chosen id) or updates one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    New(Option<u64>),
    Existing(u64),
}

impl World {
    pub(crate) fn lookup_ref(
        &self,
        target: RefTarget,
        key: &RefKey,
    ) -> Option<(RecordType, u64, &Record)> {
        let types: Vec<RecordType> = match target {
            RefTarget::Type(rt) => vec![rt],
            RefTarget::Family(f) => RecordType::in_family(f).collect(),
        };
        match key {
            RefKey::Id(s) => {
                let id = s.parse::<u64>().ok()?;
                types
                    .into_iter()
                    .find_map(|rt| self.store.get(rt, id).map(|r| (rt, id, r)))
            }
            RefKey::External(e) => types.into_iter().find_map(|rt| {
                let id = self.store.find_external_in(rt, e)?;
                self.store.get(rt, id).map(|r| (rt, id, r))
            }),
        }
    }

    fn resolve(
        &self,
        spec: RefSpec,
        value: &Value,
        path: &str,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        let field = path.rsplit('.').next().unwrap_or(path);
        let Some(key) = RefKey::parse(value) else {
            if ctx.seed {
                return Ok(value.clone());
            }
            return Err(ApiError::invalid_value(&shown(value), field, path));
        };
        match self.lookup_ref(spec.target, &key) {
            // Inactive records cannot be selected in NetSuite, so they fail like missing ones.
            Some((rt, id, rec)) if ctx.seed || !is_true(rec.get("isInactive")) => {
                Ok(resolved_ref(rt, id, rec))
            }
            _ if ctx.seed => Ok(value.clone()),
            _ => Err(spec.error(key.shown(), path)),
        }
    }

    /// Resolves the references the request body carries. Stored references are not re-checked,
    /// so editing a record whose customer became inactive still works, as in NetSuite.
    fn resolve_incoming(
        &self,
        rt: RecordType,
        incoming: &mut Record,
        ctx: &WriteCtx,
    ) -> Result<(), ApiError> {
        for (key, value) in incoming.iter_mut() {
            if value.is_null() {
                continue;
            }
            if let Some(items) = lines_mut(value) {
                if key == "item" && (rt.has_priced_lines() || rt == RecordType::ItemFulfillment) {
                    for (i, line) in items.iter_mut().enumerate() {
                        let Some(obj) = line.as_object_mut() else {
                            return Err(ApiError::invalid_value(
                                &shown(line),
                                "item",
                                &format!("item.items[{i}]"),
                            ));
                        };
                        for (field, v) in obj.iter_mut() {
                            if v.is_null() {
                                continue;
                            }
                            if let Some(spec) = line_ref_spec(field) {
                                *v = self.resolve(
                                    spec,
                                    v,
                                    &format!("item.items[{i}].{field}"),
                                    ctx,
                                )?;
                            }
                        }
                    }
                }
                continue;
            }
            if let Some(spec) = body_ref_spec(rt, key) {
                *value = self.resolve(spec, value, key, ctx)?;
            }
        }
        Ok(())
    }

    pub(crate) fn create(
        &mut self,
        rt: RecordType,
        body: Value,
        ctx: &WriteCtx,
    ) -> Result<u64, ApiError> {
        let mut incoming = into_object(body)?;
        let explicit_id = if ctx.seed {
            self.take_seed_id(rt, &mut incoming)?
        } else {
            incoming.remove("id");
            None
        };
        if !ctx.seed {
            // These records only exist as the result of a transform; a plain create names the
            // source and is carried out as that transform.
            match rt {
                RecordType::ItemFulfillment => {
                    return self.create_from_source(
                        incoming,
                        "createdFrom",
                        RecordType::SalesOrder,
                        "Created From",
                        rt,
                        ctx,
                    )
                }
                RecordType::DepositApplication => {
                    return self.create_from_source(
                        incoming,
                        "deposit",
                        RecordType::CustomerDeposit,
                        "Deposit",
                        rt,
                        ctx,
                    )
                }
                _ => {}
            }
        }
        self.save(
            rt,
            Target::New(explicit_id),
            Record::new(),
            incoming,
            Vec::new(),
            ctx,
        )
    }

    fn take_seed_id(&self, rt: RecordType, incoming: &mut Record) -> Result<Option<u64>, ApiError> {
        let Some(v) = incoming.remove("id") else {
            return Ok(None);
        };
        let id =
            ref_u64(Some(&v)).ok_or_else(|| ApiError::invalid_value(&shown(&v), "id", "id"))?;
        if self.store.id_taken(rt.family(), id) {
            return Err(ApiError::new(
                400,
                "INVALID_PARAMETER",
                format!("Internal id {id} is already used by another record."),
            ));
        }
        Ok(Some(id))
    }

    fn create_from_source(
        &mut self,
        mut incoming: Record,
        field: &str,
        source: RecordType,
        label: &str,
        target: RecordType,
        ctx: &WriteCtx,
    ) -> Result<u64, ApiError> {
        let Some(v) = incoming.remove(field) else {
            return Err(ApiError::missing_values(&[label.to_string()]));
        };
        let key =
            RefKey::parse(&v).ok_or_else(|| ApiError::invalid_value(&shown(&v), field, field))?;
        let id = self
            .lookup_ref(RefTarget::Type(source), &key)
            .map(|(_, id, _)| id)
            .ok_or_else(|| ApiError::invalid_ref(&field.to_lowercase(), key.shown(), field))?;
        self.transform(source, id, target, Value::Object(incoming), ctx)
    }

    pub(crate) fn update(
        &mut self,
        rt: RecordType,
        id: u64,
        body: Value,
        ctx: &WriteCtx,
    ) -> Result<(), ApiError> {
        let existing = self
            .store
            .get(rt, id)
            .cloned()
            .ok_or_else(ApiError::not_found)?;
        let mut incoming = into_object(body)?;
        incoming.remove("id");
        self.save(
            rt,
            Target::Existing(id),
            existing,
            incoming,
            Vec::new(),
            ctx,
        )
        .map(|_| ())
    }

    /// PUT `eid:<externalId>`: updates the record with that external id, or creates it.
    pub(crate) fn upsert(
        &mut self,
        rt: RecordType,
        external_id: &str,
        body: Value,
        ctx: &WriteCtx,
    ) -> Result<u64, ApiError> {
        let mut incoming = into_object(body)?;
        incoming.remove("id");
        // The key in the path wins over an externalId in the body.
        incoming.insert("externalId".into(), json!(external_id));
        match self.store.find_external_in(rt, external_id) {
            Some(id) => {
                let existing = self
                    .store
                    .get(rt, id)
                    .cloned()
                    .ok_or_else(ApiError::not_found)?;
                self.save(
                    rt,
                    Target::Existing(id),
                    existing,
                    incoming,
                    Vec::new(),
                    ctx,
                )
            }
            None => self.create(rt, Value::Object(incoming), ctx),
        }
    }

    pub(crate) fn delete(
        &mut self,
        rt: RecordType,
        id: u64,
        ctx: &WriteCtx,
    ) -> Result<(), ApiError> {
        if self.store.get(rt, id).is_none() {
            return Err(ApiError::not_found());
        }
        if self.has_dependents(rt, id) {
            // Wording as NetSuite shows it in the UI (unconfirmed for REST).
            return Err(ApiError::user_error(
                "This record cannot be deleted because it has dependent records.",
            ));
        }
        let touched = self
            .store
            .remove(rt, id)
            .map(|old| apply::touched_by(id, &old))
            .unwrap_or_default();
        apply::recompute(&mut self.store, &ctx.stamp(), &touched);
        Ok(())
    }

    /// Whether another record points at this one (deleting it would orphan them).
    fn has_dependents(&self, rt: RecordType, id: u64) -> bool {
        let id_s = id.to_string();
        let points_here = |v: Option<&Value>| ref_id(v).as_deref() == Some(id_s.as_str());
        let transactions = RecordType::in_family(Family::Transaction)
            .flat_map(|t| self.store.iter(t).map(move |(_, r)| (t, r)));
        match rt.family() {
            Family::Entity => transactions
                .into_iter()
                .any(|(t, r)| t.customer_field().is_some_and(|f| points_here(r.get(f)))),
            Family::Transaction => transactions.into_iter().any(|(_, r)| {
                ["createdFrom", "salesOrder", "deposit"]
                    .iter()
                    .any(|f| points_here(r.get(*f)))
                    || KEYED_BY_DOC
                        .iter()
                        .any(|s| sublist(r, s).iter().any(|l| points_here(l.get("doc"))))
            }),
            Family::Item => transactions.into_iter().any(|(_, r)| {
                sublist(r, "item")
                    .iter()
                    .any(|l| points_here(l.get("item")))
            }),
            Family::Other => RecordType::ALL.iter().any(|t| {
                self.store.iter(*t).any(|(_, r)| {
                    r.iter().any(|(k, v)| {
                        body_ref_spec(*t, k).is_some_and(|s| s.target == RefTarget::Type(rt))
                            && points_here(Some(v))
                    }) || sublist(r, "item").iter().any(|l| {
                        ["department", "class", "location"]
                            .iter()
                            .any(|f| points_here(l.get(*f)))
                    })
                })
            }),
        }
    }

    /// The pipeline every write goes through; see the crate documentation for the order.
    pub(crate) fn save(
        &mut self,
        rt: RecordType,
        target: Target,
        start: Record,
        mut incoming: Record,
        preset: Vec<(String, Value)>,
        ctx: &WriteCtx,
    ) -> Result<u64, ApiError> {
        for key in COMPUTED {
            incoming.remove(*key);
        }
        if !ctx.seed {
            for key in TIMESTAMPS {
                incoming.remove(*key);
            }
        }
        match incoming.get("externalId") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(Value::Number(n)) => {
                let text = n.to_string();
                incoming.insert("externalId".into(), json!(text));
            }
            Some(other) => {
                return Err(ApiError::invalid_value(
                    &shown(other),
                    "externalId",
                    "externalId",
                ))
            }
        }
        self.resolve_incoming(rt, &mut incoming, ctx)?;
        let self_id = match target {
            Target::Existing(id) => Some(id),
            Target::New(_) => None,
        };
        let mut rec = start;
        merge(&mut rec, incoming, &ctx.replace);
        for (k, v) in preset {
            rec.insert(k, v);
        }
        self.apply_defaults(rt, &mut rec, ctx);
        if !ctx.seed {
            self.check_mandatory(rt, &rec, ctx)?;
        }
        self.apply_rules(rt, self_id, &mut rec, ctx)?;
        if ctx.faults {
            self.check_faults(rt, &rec)?;
        }
        self.check_external_id(rt, self_id, &rec)?;
        Ok(self.commit(rt, target, rec, ctx))
    }

    fn apply_defaults(&self, rt: RecordType, rec: &mut Record, ctx: &WriteCtx) {
        match rt.family() {
            Family::Entity => {
                rec.entry("isPerson").or_insert(Value::Bool(false));
                rec.entry("isInactive").or_insert(Value::Bool(false));
            }
            Family::Transaction => {
                if is_blank(rec.get("tranDate")) {
                    rec.insert(
                        "tranDate".into(),
                        json!(ctx.today().format("%Y-%m-%d").to_string()),
                    );
                }
                // Subsidiary, currency and terms default from the customer, as on a new form.
                let customer = rt
                    .customer_field()
                    .and_then(|f| ref_u64(rec.get(f)))
                    .and_then(|id| self.store.get(RecordType::Customer, id));
                if let Some(customer) = customer {
                    let mut fields = vec!["subsidiary", "currency"];
                    if matches!(rt, RecordType::SalesOrder | RecordType::Invoice) {
                        fields.push("terms");
                    }
                    for f in fields {
                        if is_blank(rec.get(f)) && !is_blank(customer.get(f)) {
                            rec.insert(f.into(), customer[f].clone());
                        }
                    }
                }
            }
            Family::Item | Family::Other => {
                rec.entry("isInactive").or_insert(Value::Bool(false));
            }
        }
    }

    /// Mandatory fields, built-in ones first, then those a [`Fault::RequiredField`] adds; all
    /// missing labels are reported in one message as NetSuite does.
    fn check_mandatory(
        &self,
        rt: RecordType,
        rec: &Record,
        ctx: &WriteCtx,
    ) -> Result<(), ApiError> {
        use RecordType as T;
        let mut missing: Vec<String> = Vec::new();
        let mut need = |field: &str, label: &str| {
            if is_blank(rec.get(field)) && !missing.iter().any(|m| m == label) {
                missing.push(label.to_string());
            }
        };
        let one_world = self.config.one_world;
        match rt {
            T::Customer => {
                if is_true(rec.get("isPerson")) {
                    need("firstName", "First Name");
                    need("lastName", "Last Name");
                } else {
                    need("companyName", "Company Name");
                }
                if one_world {
                    need("subsidiary", "Primary Subsidiary");
                }
            }
            T::SalesOrder | T::Invoice | T::CreditMemo => {
                need("entity", "Customer");
                if one_world {
                    need("subsidiary", "Subsidiary");
                }
            }
            T::CustomerPayment | T::CustomerDeposit | T::CustomerRefund => {
                need("customer", "Customer");
                if one_world {
                    need("subsidiary", "Subsidiary");
                }
                if rt == T::CustomerDeposit {
                    need("payment", "Payment Amount");
                }
                if rt == T::CustomerRefund {
                    need("account", "Account");
                }
            }
            T::ItemFulfillment | T::DepositApplication => {}
            T::Account => need("acctName", "Account Name"),
            _ if rt.is_item() => need("itemId", "Item Name/Number"),
            _ => need("name", "Name"),
        }
        if ctx.faults {
            for fault in &self.faults {
                if let Fault::RequiredField {
                    field,
                    label,
                    record_types,
                } = fault
                {
                    let applies = if record_types.is_empty() {
                        rt.is_transaction()
                    } else {
                        record_types
                            .iter()
                            .any(|t| RecordType::parse(t) == Some(rt))
                    };
                    if applies {
                        need(field, label);
                    }
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ApiError::missing_values(&missing))
        }
    }

    /// Per-type rules: value formats, line amounts and totals, applications.
    fn apply_rules(
        &self,
        rt: RecordType,
        self_id: Option<u64>,
        rec: &mut Record,
        ctx: &WriteCtx,
    ) -> Result<(), ApiError> {
        if let Some(v) = rec.get("isPerson") {
            if !v.is_boolean() {
                return Err(ApiError::invalid_value(&shown(v), "isPerson", "isPerson"));
            }
        }
        if rt.is_transaction() {
            let raw = rec.get("tranDate").cloned().unwrap_or(Value::Null);
            let date = raw
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .ok_or_else(|| ApiError::invalid_value(&shown(&raw), "tranDate", "tranDate"))?;
            rec.insert(
                "tranDate".into(),
                json!(date.format("%Y-%m-%d").to_string()),
            );
        }
        if rt.has_priced_lines() {
            self.compute_lines(rec)?;
            if sublist(rec, "item").is_empty() && !ctx.seed {
                return Err(ApiError::user_error(
                    "You must enter at least one line item for this transaction.",
                ));
            }
            let total: Decimal = sublist(rec, "item")
                .iter()
                .filter_map(|l| l.get("amount").and_then(money::parse))
                .sum();
            rec.insert("subtotal".into(), money::to_json(total));
            rec.insert("total".into(), money::to_json(total));
            if let (RecordType::Invoice, Some(id)) = (rt, self_id) {
                let paid = self.store.consumed(id);
                if paid > total {
                    // Own wording; NetSuite refuses an invoice edit below its applied amount.
                    return Err(ApiError::user_error(format!(
                        "The invoice total ({total}) cannot be less than the amount already applied to it ({paid})."
                    )));
                }
            }
        }
        match rt {
            RecordType::CustomerDeposit => self.check_deposit(rec, ctx)?,
            RecordType::CustomerPayment
            | RecordType::CreditMemo
            | RecordType::DepositApplication
            | RecordType::CustomerRefund => apply::validate(&self.store, rt, self_id, rec)?,
            _ => {}
        }
        Ok(())
    }

    fn check_deposit(&self, rec: &mut Record, ctx: &WriteCtx) -> Result<(), ApiError> {
        if let Some(v) = rec.get("payment").filter(|v| !v.is_null()) {
            let payment = money::parse(v)
                .filter(|p| *p > Decimal::ZERO)
                .ok_or_else(|| ApiError::invalid_value(&shown(v), "payment", "payment"))?;
            rec.insert("payment".into(), money::to_json(money::round2(payment)));
        }
        let customer = ref_id(rec.get("customer"));
        if let Some(so) = ref_u64(rec.get("salesOrder")) {
            let order_customer = self
                .store
                .get(RecordType::SalesOrder, so)
                .and_then(|r| ref_id(r.get("entity")));
            if !ctx.seed && order_customer != customer {
                return Err(ApiError::invalid_ref(
                    "salesorder",
                    &so.to_string(),
                    "salesOrder",
                ));
            }
        }
        Ok(())
    }

    /// Fills in line numbers and amounts. An amount given by the client is kept; otherwise it is
    /// quantity x rate, a percentage rate ("-10%") applies to the preceding line, and a discount
    /// item with no rate of its own on the line uses the rate stored on the item record.
    fn compute_lines(&self, rec: &mut Record) -> Result<(), ApiError> {
        let Some(items) = rec.get_mut("item").and_then(lines_mut) else {
            return Ok(());
        };
        let mut next_line = items
            .iter()
            .filter_map(|l| l.get("line").and_then(Value::as_u64))
            .max()
            .unwrap_or(0)
            + 1;
        let mut previous: Option<Decimal> = None;
        for (i, line) in items.iter_mut().enumerate() {
            let path = |f: &str| format!("item.items[{i}].{f}");
            let shown_line = shown(line);
            let Some(obj) = line.as_object_mut() else {
                return Err(ApiError::invalid_value(
                    &shown_line,
                    "item",
                    &format!("item.items[{i}]"),
                ));
            };
            if !obj.contains_key("line") {
                obj.insert("line".into(), json!(next_line));
                next_line += 1;
            }
            let item =
                ref_u64(obj.get("item")).and_then(|id| self.store.find_in_family(Family::Item, id));
            let is_discount = matches!(item, Some((RecordType::DiscountItem, _)));
            let number = |key: &str| -> Result<Option<Decimal>, ApiError> {
                match obj.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => money::parse(v)
                        .map(Some)
                        .ok_or_else(|| ApiError::invalid_value(&shown(v), key, &path(key))),
                }
            };
            let quantity = number("quantity")?;
            let given_amount = number("amount")?;
            let line_rate = match obj.get("rate") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    Rate::parse(v)
                        .ok_or_else(|| ApiError::invalid_value(&shown(v), "rate", &path("rate")))?,
                ),
            };
            let amount = match given_amount {
                Some(a) => money::round2(a),
                None => {
                    let rate = line_rate.or_else(|| {
                        let (_, item_rec) = item?;
                        item_rec
                            .get("rate")
                            .or_else(|| item_rec.get("basePrice"))
                            .and_then(Rate::parse)
                    });
                    match rate {
                        Some(Rate::Percent(p)) => {
                            money::round2(previous.unwrap_or_default() * p / Decimal::ONE_HUNDRED)
                        }
                        Some(Rate::Amount(r)) if is_discount => money::round2(r),
                        Some(Rate::Amount(r)) => {
                            money::round2(quantity.unwrap_or(Decimal::ONE) * r)
                        }
                        None => Decimal::ZERO,
                    }
                }
            };
            obj.insert("amount".into(), money::to_json(amount));
            previous = Some(amount);
        }
        Ok(())
    }

    /// Injected record-level faults, after the record's own rules passed.
    fn check_faults(&self, rt: RecordType, rec: &Record) -> Result<(), ApiError> {
        for fault in &self.faults {
            if let Fault::InactiveCustomer { id } = fault {
                if let Some(field) = rt.customer_field() {
                    if ref_id(rec.get(field)).as_deref() == Some(id.as_str()) {
                        return Err(ApiError::invalid_ref("entity", id, field));
                    }
                }
            }
        }
        for fault in &self.faults {
            if let Fault::InvalidSubsidiary { id } = fault {
                if ref_id(rec.get("subsidiary")).as_deref() == Some(id.as_str()) {
                    return Err(ApiError::invalid_ref("subsidiary", id, "subsidiary"));
                }
            }
        }
        if rt.is_transaction() {
            let date = NaiveDate::parse_from_str(str_field(rec, "tranDate"), "%Y-%m-%d").ok();
            if date.is_some_and(|d| self.periods.iter().any(|p| p.refuses(d))) {
                // Observed wording (NetSuite's DATEPERIODMISMATCH rule); status and code
                // unconfirmed.
                return Err(ApiError::user_error(
                    "The transaction date you specified is not within the date range of your accounting period.",
                ));
            }
            for fault in &self.faults {
                if let (Fault::ClosedTaxPeriod { from, to }, Some(d)) = (fault, date) {
                    if *from <= d && d <= *to {
                        // Wording as specified for the sync's error handling (unconfirmed).
                        return Err(ApiError::user_error(format!(
                            "Insert Transaction failed: no valid open tax period for date {}. Please visit Setup->Manage Tax Periods to setup a new tax period.",
                            mdy(d)
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_external_id(
        &self,
        rt: RecordType,
        self_id: Option<u64>,
        rec: &Record,
    ) -> Result<(), ApiError> {
        let Some(ext) = rec.get("externalId").and_then(Value::as_str) else {
            return Ok(());
        };
        match self.store.find_external(rt, ext) {
            Some((_, other)) if Some(other) != self_id => {
                // SOAP reports this as DUP_RCRD; the REST code is unconfirmed.
                Err(ApiError::new(
                    400,
                    "DUP_RCRD",
                    format!("{PREFIX}A record with external ID {ext} already exists."),
                )
                .at("externalId"))
            }
            _ => Ok(()),
        }
    }

    fn commit(&mut self, rt: RecordType, target: Target, mut rec: Record, ctx: &WriteCtx) -> u64 {
        let family = rt.family();
        let (id, is_new) = match target {
            Target::Existing(id) => (id, false),
            Target::New(Some(id)) => {
                self.store.reserve_id(family, id);
                (id, true)
            }
            Target::New(None) => (self.store.alloc_id(family), true),
        };
        let stamp = ctx.stamp();
        if is_new {
            match family {
                Family::Entity => {
                    if is_blank(rec.get("entityId")) {
                        let n = self.store.next_number("customer");
                        rec.insert("entityId".into(), json!(format!("CUST{n}")));
                    }
                    rec.entry("dateCreated").or_insert(json!(stamp));
                }
                Family::Transaction => {
                    if is_blank(rec.get("tranId")) {
                        let n = self.store.next_number(rt.name());
                        rec.insert("tranId".into(), json!(format!("{}{n}", rt.tran_prefix())));
                    }
                    rec.entry("createdDate").or_insert(json!(stamp));
                }
                Family::Item | Family::Other => {}
            }
        }
        rec.insert("id".into(), json!(id.to_string()));
        if !(ctx.seed && rec.contains_key("lastModifiedDate")) {
            rec.insert("lastModifiedDate".into(), json!(stamp));
        }
        let mut touched = apply::touched_by(id, &rec);
        if let Some(old) = self.store.get(rt, id) {
            touched.extend(apply::touched_by(id, old));
        }
        self.store.insert(rt, id, rec);
        apply::recompute(&mut self.store, &stamp, &touched);
        id
    }
}

/// A line rate: an amount, or a percentage of the preceding line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rate {
    Amount(Decimal),
    Percent(Decimal),
}

impl Rate {
    fn parse(v: &Value) -> Option<Rate> {
        if let Some(text) = v.as_str() {
            if let Some(p) = text.trim().strip_suffix('%') {
                return money::parse(&json!(p)).map(Rate::Percent);
            }
        }
        money::parse(v).map(Rate::Amount)
    }
}

/// Merges a request body into a record. Without `replace`, sublist lines are added (keyed
/// sublists update the line of the same document); `null` clears a field.
fn merge(rec: &mut Record, incoming: Record, replace: &HashSet<String>) {
    for (key, value) in incoming {
        if value.is_null() {
            rec.remove(&key);
            continue;
        }
        let Some(new_lines) = lines(&value).cloned() else {
            rec.insert(key, value);
            continue;
        };
        match rec.get_mut(&key).and_then(lines_mut) {
            Some(existing) if !replace.contains(&key) => {
                if KEYED_BY_DOC.contains(&key.as_str()) {
                    for line in new_lines {
                        let doc = ref_id(line.get("doc"));
                        let pos = doc.as_ref().and_then(|d| {
                            existing
                                .iter()
                                .position(|l| ref_id(l.get("doc")).as_ref() == Some(d))
                        });
                        match (pos, line) {
                            (Some(p), Value::Object(fields)) => {
                                if let Some(target) = existing[p].as_object_mut() {
                                    target.extend(fields);
                                }
                            }
                            (_, line) => existing.push(line),
                        }
                    }
                } else if key == "item" {
                    // Item lines are keyed by `line`: a line naming an existing one changes
                    // it (closing a line, say); others are added.
                    for line in new_lines {
                        let at = line.get("line").and_then(Value::as_u64).and_then(|n| {
                            existing
                                .iter()
                                .position(|l| l.get("line").and_then(Value::as_u64) == Some(n))
                        });
                        match (at, line) {
                            (Some(p), Value::Object(fields)) => {
                                if let Some(target) = existing[p].as_object_mut() {
                                    target.extend(fields);
                                }
                            }
                            (_, line) => existing.push(line),
                        }
                    }
                } else {
                    existing.extend(new_lines);
                }
            }
            _ => {
                rec.insert(key, json!({ "items": new_lines }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Record {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn ref_keys_accept_the_shapes_netsuite_accepts() {
        assert_eq!(
            RefKey::parse(&json!({"id": "5"})),
            Some(RefKey::Id("5".into()))
        );
        assert_eq!(
            RefKey::parse(&json!({"id": 5})),
            Some(RefKey::Id("5".into()))
        );
        assert_eq!(RefKey::parse(&json!("5")), Some(RefKey::Id("5".into())));
        assert_eq!(
            RefKey::parse(&json!({"externalId": "C-1"})),
            Some(RefKey::External("C-1".into()))
        );
        assert_eq!(RefKey::parse(&json!({})), None);
        assert_eq!(RefKey::parse(&json!(true)), None);
    }

    #[test]
    fn merge_appends_lines_unless_replaced() {
        let mut rec = obj(json!({"memo": "a", "item": {"items": [{"line": 1}]}}));
        merge(
            &mut rec,
            obj(json!({"memo": null, "item": {"items": [{"x": 1}]}})),
            &HashSet::new(),
        );
        assert!(!rec.contains_key("memo"));
        assert_eq!(sublist(&rec, "item").len(), 2);
        let replace: HashSet<String> = ["item".to_string()].into();
        merge(
            &mut rec,
            obj(json!({"item": {"items": [{"y": 1}]}})),
            &replace,
        );
        assert_eq!(sublist(&rec, "item"), &[json!({"y": 1})]);
    }

    #[test]
    fn merge_updates_keyed_lines_by_document() {
        let mut rec =
            obj(json!({"apply": {"items": [{"doc": {"id": "7", "refName": "x"}, "amount": 1}]}}));
        merge(
            &mut rec,
            obj(
                json!({"apply": {"items": [{"doc": {"id": "7"}, "amount": 2}, {"doc": {"id": "8"}, "amount": 3}]}}),
            ),
            &HashSet::new(),
        );
        let lines = sublist(&rec, "apply");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["amount"], 2);
    }

    #[test]
    fn rates_parse_amounts_and_percentages() {
        assert_eq!(
            Rate::parse(&json!("-10%")),
            Some(Rate::Percent(Decimal::new(-10, 0)))
        );
        assert_eq!(
            Rate::parse(&json!(19.99)),
            Some(Rate::Amount(Decimal::new(1999, 2)))
        );
        assert_eq!(Rate::parse(&json!("x")), None);
    }

    #[test]
    fn dates_render_like_netsuite() {
        assert_eq!(
            mdy(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()),
            "1/31/2026"
        );
    }
}
