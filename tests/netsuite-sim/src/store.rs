//! In-memory record tables. Records are kept as the JSON objects the API returns (with `id`,
//! resolved `{id, refName}` references and sublists as `{"items": [...]}`), which keeps the
//! admin views honest: what a test inspects is what a client would read.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::types::{Family, RecordType};

pub(crate) type Record = Map<String, Value>;

fn external_id(rec: &Record) -> Option<&str> {
    rec.get("externalId").and_then(Value::as_str)
}

pub(crate) struct Store {
    tables: BTreeMap<RecordType, BTreeMap<u64, Record>>,
    /// Next internal id per family.
    next_id: [u64; 4],
    /// Document-number counters (`tranId` per transaction type, `entityId` for customers).
    counters: HashMap<&'static str, u64>,
    /// Record by external id, per type, kept with every insert and removal (writes look
    /// external ids up to refuse duplicates; a scan per write grows with the account).
    external: HashMap<(RecordType, String), u64>,
    /// What applications use up of each transaction (see `apply::contributions`), summed as
    /// records are written, so balances need no pass over every application.
    consumed: HashMap<u64, Decimal>,
    /// Records of a type created from a transaction, by (type, source id): invoices and
    /// fulfilments of a sales order.
    children: HashMap<(RecordType, u64), usize>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            tables: BTreeMap::new(),
            // Reference lists start at 1 like a fresh account ("Parent Company" is subsidiary 1);
            // records a sync creates start at 100 so they are easy to tell apart in test output.
            next_id: [100, 100, 100, 1],
            counters: HashMap::new(),
            external: HashMap::new(),
            consumed: HashMap::new(),
            children: HashMap::new(),
        }
    }
}

impl Store {
    pub(crate) fn get(&self, rt: RecordType, id: u64) -> Option<&Record> {
        self.tables.get(&rt).and_then(|t| t.get(&id))
    }

    pub(crate) fn get_mut(&mut self, rt: RecordType, id: u64) -> Option<&mut Record> {
        self.tables.get_mut(&rt).and_then(|t| t.get_mut(&id))
    }

    /// Records of one type in ascending id order.
    pub(crate) fn iter(&self, rt: RecordType) -> impl Iterator<Item = (u64, &Record)> {
        self.tables
            .get(&rt)
            .into_iter()
            .flat_map(|t| t.iter().map(|(id, r)| (*id, r)))
    }

    pub(crate) fn ids(&self, rt: RecordType) -> Vec<u64> {
        self.iter(rt).map(|(id, _)| id).collect()
    }

    pub(crate) fn insert(&mut self, rt: RecordType, id: u64, record: Record) {
        if let Some(ext) = external_id(&record) {
            self.external.insert((rt, ext.to_owned()), id);
        }
        self.count(rt, id, &record, true);
        let old = self.tables.entry(rt).or_default().insert(id, record);
        if let Some(old) = &old {
            self.count(rt, id, old, false);
        }
        self.forget_external(rt, id, old.as_ref());
    }

    pub(crate) fn remove(&mut self, rt: RecordType, id: u64) -> Option<Record> {
        let old = self.tables.get_mut(&rt).and_then(|t| t.remove(&id));
        if let Some(old) = &old {
            self.count(rt, id, old, false);
        }
        self.forget_external(rt, id, old.as_ref());
        old
    }

    /// Adds (`added`) or takes back what a record version adds to the running sums.
    fn count(&mut self, rt: RecordType, id: u64, rec: &Record, added: bool) {
        for (doc, amount) in crate::apply::contributions(rt, id, rec) {
            let sum = self.consumed.entry(doc).or_default();
            *sum = if added { *sum + amount } else { *sum - amount };
        }
        if let Some(source) = crate::records::ref_u64(rec.get("createdFrom")) {
            let n = self.children.entry((rt, source)).or_default();
            *n = if added { *n + 1 } else { n.saturating_sub(1) };
        }
    }

    /// What applications use up of transaction `id`.
    pub(crate) fn consumed(&self, id: u64) -> Decimal {
        self.consumed.get(&id).copied().unwrap_or_default()
    }

    /// Whether any record of type `rt` was created from transaction `source`.
    pub(crate) fn has_children(&self, rt: RecordType, source: u64) -> bool {
        self.children.get(&(rt, source)).is_some_and(|n| *n > 0)
    }

    /// Drops the index entry of a replaced or removed version, unless the record now there
    /// still carries that external id.
    fn forget_external(&mut self, rt: RecordType, id: u64, old: Option<&Record>) {
        let Some(ext) = old.and_then(external_id) else {
            return;
        };
        let current = self.get(rt, id).and_then(external_id);
        if current != Some(ext) {
            let key = (rt, ext.to_owned());
            if self.external.get(&key) == Some(&id) {
                self.external.remove(&key);
            }
        }
    }

    /// Finds an id among all types of a family (ids are unique within a family).
    pub(crate) fn find_in_family(&self, family: Family, id: u64) -> Option<(RecordType, &Record)> {
        RecordType::in_family(family).find_map(|rt| self.get(rt, id).map(|r| (rt, r)))
    }

    /// External ids are unique per record type, except items, which share one namespace.
    pub(crate) fn find_external(
        &self,
        rt: RecordType,
        external_id: &str,
    ) -> Option<(RecordType, u64)> {
        if rt.is_item() {
            RecordType::in_family(Family::Item)
                .find_map(|t| self.find_external_in(t, external_id).map(|id| (t, id)))
        } else {
            self.find_external_in(rt, external_id).map(|id| (rt, id))
        }
    }

    /// Looks an external id up in exactly one record type.
    pub(crate) fn find_external_in(&self, rt: RecordType, external_id: &str) -> Option<u64> {
        self.external.get(&(rt, external_id.to_owned())).copied()
    }

    pub(crate) fn id_taken(&self, family: Family, id: u64) -> bool {
        self.find_in_family(family, id).is_some()
    }

    pub(crate) fn alloc_id(&mut self, family: Family) -> u64 {
        let slot = &mut self.next_id[family.index()];
        let id = *slot;
        *slot += 1;
        id
    }

    /// Keeps the sequence ahead of an id chosen by a seed.
    pub(crate) fn reserve_id(&mut self, family: Family, id: u64) {
        let slot = &mut self.next_id[family.index()];
        if *slot <= id {
            *slot = id + 1;
        }
    }

    pub(crate) fn next_number(&mut self, counter: &'static str) -> u64 {
        let n = self.counters.entry(counter).or_insert(0);
        *n += 1;
        *n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn families_have_separate_sequences() {
        let mut s = Store::default();
        assert_eq!(s.alloc_id(Family::Transaction), 100);
        assert_eq!(s.alloc_id(Family::Transaction), 101);
        assert_eq!(s.alloc_id(Family::Entity), 100);
        assert_eq!(s.alloc_id(Family::Other), 1);
        s.reserve_id(Family::Other, 10);
        assert_eq!(s.alloc_id(Family::Other), 11);
    }

    #[test]
    fn item_external_ids_share_one_namespace() {
        let mut s = Store::default();
        s.insert(
            RecordType::ServiceSaleItem,
            100,
            rec(json!({"externalId": "SKU-1"})),
        );
        assert_eq!(
            s.find_external(RecordType::InventoryItem, "SKU-1"),
            Some((RecordType::ServiceSaleItem, 100))
        );
        assert_eq!(s.find_external_in(RecordType::InventoryItem, "SKU-1"), None);
        s.insert(RecordType::Invoice, 100, rec(json!({"externalId": "X"})));
        assert_eq!(s.find_external(RecordType::SalesOrder, "X"), None);
    }
}
