//! All mutable simulator state, kept behind one mutex: records, faults, counters, audit trail.

use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    error::{ApiError, SimError},
    oauth::NonceCache,
    records::WriteCtx,
    store::Store,
    types::RecordType,
    AuditEntry, Fault, SimConfig, Stats,
};

pub(crate) struct World {
    pub(crate) config: SimConfig,
    pub(crate) store: Store,
    pub(crate) faults: Vec<Fault>,
    pub(crate) stats: Stats,
    pub(crate) audit: Vec<AuditEntry>,
    pub(crate) nonces: NonceCache,
    pub(crate) revoked: bool,
    /// OAuth 2.0: access tokens granted, and whether the certificate mapping was revoked.
    pub(crate) tokens: crate::oauth2::Tokens,
    pub(crate) m2m_revoked: bool,
    /// The integration role's permissions, the accounting periods and the custom fields.
    pub(crate) role: crate::account::Role,
    pub(crate) periods: Vec<crate::account::AccountingPeriod>,
    pub(crate) custom_fields: Vec<crate::account::CustomField>,
    /// `isInactive` values that [`Fault::InactiveCustomer`] overwrote, restored on clear.
    inactive_restore: Vec<(u64, Option<Value>)>,
    error_seq: u64,
}

impl World {
    pub(crate) fn new(config: SimConfig) -> Self {
        World {
            config,
            store: Store::default(),
            faults: Vec::new(),
            stats: Stats::default(),
            audit: Vec::new(),
            nonces: NonceCache::default(),
            revoked: false,
            tokens: Default::default(),
            m2m_revoked: false,
            role: Default::default(),
            periods: crate::account::monthly_periods(2020, 2030),
            custom_fields: Vec::new(),
            inactive_restore: Vec::new(),
            error_seq: 0,
        }
    }

    pub(crate) fn records(&self, record_type: &str) -> Vec<Value> {
        let Some(rt) = RecordType::parse(record_type) else {
            return Vec::new();
        };
        self.store
            .iter(rt)
            .map(|(_, r)| Value::Object(r.clone()))
            .collect()
    }

    pub(crate) fn record(&self, record_type: &str, key: &str) -> Option<Value> {
        let rt = RecordType::parse(record_type)?;
        let id = self.lookup_key(rt, key)?;
        self.store.get(rt, id).map(|r| Value::Object(r.clone()))
    }

    /// Resolves a path key: an internal id or `eid:<externalId>`.
    pub(crate) fn lookup_key(&self, rt: RecordType, key: &str) -> Option<u64> {
        match key.strip_prefix("eid:") {
            Some(ext) => self.store.find_external_in(rt, ext),
            None => key
                .parse::<u64>()
                .ok()
                .filter(|id| self.store.get(rt, *id).is_some()),
        }
    }

    pub(crate) fn seed(&mut self, record_type: &str, body: Value) -> Result<String, SimError> {
        let rt = RecordType::parse(record_type)
            .ok_or_else(|| SimError::UnknownRecordType(record_type.to_string()))?;
        let ctx = WriteCtx::seed(Utc::now());
        let id = self.create(rt, body, &ctx)?;
        Ok(id.to_string())
    }

    /// A person's edit in the UI: sets fields as given and stamps the record changed `at`.
    pub(crate) fn edit_by_hand(
        &mut self,
        record_type: &str,
        key: &str,
        changes: Value,
        at: chrono::DateTime<Utc>,
    ) -> Result<(), SimError> {
        let rt = RecordType::parse(record_type)
            .ok_or_else(|| SimError::UnknownRecordType(record_type.to_string()))?;
        let not_found = || SimError::NotFound {
            record_type: record_type.to_string(),
            id: key.to_string(),
        };
        let id = self.lookup_key(rt, key).ok_or_else(not_found)?;
        let rec = self.store.get_mut(rt, id).ok_or_else(not_found)?;
        if let Value::Object(fields) = changes {
            rec.extend(fields);
        }
        rec.insert(
            "lastModifiedDate".into(),
            Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        Ok(())
    }

    pub(crate) fn reset_stats(&mut self) {
        self.stats = Stats {
            in_flight: self.stats.in_flight,
            ..Stats::default()
        };
    }

    pub(crate) fn add_fault(&mut self, fault: Fault) {
        if let Fault::InactiveCustomer { id } = &fault {
            if let Some(rec) = id
                .parse::<u64>()
                .ok()
                .and_then(|n| self.store.get_mut(RecordType::Customer, n).map(|r| (n, r)))
            {
                let (n, rec) = rec;
                let previous = rec.insert("isInactive".into(), Value::Bool(true));
                self.inactive_restore.push((n, previous));
            }
        }
        self.faults.push(fault);
    }

    pub(crate) fn clear_faults(&mut self) {
        for (id, previous) in self.inactive_restore.drain(..).rev() {
            if let Some(rec) = self.store.get_mut(RecordType::Customer, id) {
                match previous {
                    Some(v) => rec.insert("isInactive".into(), v),
                    None => rec.remove("isInactive"),
                };
            }
        }
        self.faults.clear();
    }

    /// Consumes one use of a counted fault; returns whether it fired.
    fn take_counted(&mut self, pick: fn(&mut Fault) -> Option<&mut u32>) -> bool {
        let Some(pos) = self
            .faults
            .iter_mut()
            .position(|f| pick(f).is_some_and(|n| *n > 0))
        else {
            return false;
        };
        if let Some(n) = pick(&mut self.faults[pos]) {
            *n -= 1;
            if *n == 0 {
                self.faults.remove(pos);
            }
        }
        true
    }

    pub(crate) fn take_server_error(&mut self) -> bool {
        self.take_counted(|f| match f {
            Fault::ServerError { remaining } => Some(remaining),
            _ => None,
        })
    }

    pub(crate) fn take_commit_then_drop(&mut self) -> bool {
        self.take_counted(|f| match f {
            Fault::CommitThenDrop { remaining } => Some(remaining),
            _ => None,
        })
    }

    /// Counts one write against the first matching one-shot fault: true when its `skip` is used
    /// up (the fault fires and is removed).
    fn take_after(&mut self, pick: fn(&mut Fault) -> Option<&mut u32>) -> bool {
        let Some(pos) = self.faults.iter_mut().position(|f| pick(f).is_some()) else {
            return false;
        };
        match pick(&mut self.faults[pos]) {
            Some(skip) if *skip > 0 => {
                *skip -= 1;
                false
            }
            _ => {
                self.faults.remove(pos);
                true
            }
        }
    }

    pub(crate) fn take_server_error_on_write(&mut self) -> bool {
        self.take_after(|f| match f {
            Fault::ServerErrorOnWrite { skip } => Some(skip),
            _ => None,
        })
    }

    pub(crate) fn take_commit_then_drop_on_write(&mut self) -> bool {
        self.take_after(|f| match f {
            Fault::CommitThenDropOnWrite { skip } => Some(skip),
            _ => None,
        })
    }

    /// A 500 with a fresh error id, like the ones NetSuite support asks for.
    pub(crate) fn server_error(&mut self) -> ApiError {
        self.error_seq += 1;
        let seed = format!(
            "{}-{}",
            Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            self.error_seq
        );
        let digest = Sha256::digest(seed.as_bytes());
        let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let error_id: String = digest
            .iter()
            .take(20)
            .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
            .collect();
        ApiError::new(
            500,
            "UNEXPECTED_ERROR",
            format!("An unexpected error occurred. Error ID: {error_id}"),
        )
    }

    /// The role lacks permission for this record type.
    pub(crate) fn permission_denied(&self, rt: RecordType) -> bool {
        self.faults.iter().any(|f| {
            matches!(f, Fault::MissingPermission { record_type } if RecordType::parse(record_type) == Some(rt))
        })
    }

    /// The role lacks permission for a record behind this SuiteQL table.
    pub(crate) fn table_denied(&self, table: &str) -> bool {
        self.faults.iter().any(|f| match f {
            Fault::MissingPermission { record_type } => {
                record_type.eq_ignore_ascii_case(table)
                    || RecordType::parse(record_type).is_some_and(|rt| {
                        (table == "transaction" && rt.is_transaction())
                            || (table == "item" && rt.is_item())
                            || (table == "customer" && rt == RecordType::Customer)
                    })
            }
            _ => false,
        })
    }

    pub(crate) fn fulfill_sales_order(&mut self, sales_order_id: &str) -> Result<String, SimError> {
        let not_found = || SimError::NotFound {
            record_type: "salesOrder".into(),
            id: sales_order_id.into(),
        };
        let id = self
            .lookup_key(RecordType::SalesOrder, sales_order_id)
            .ok_or_else(not_found)?;
        let ctx = WriteCtx::warehouse(Utc::now());
        let fulfillment = self.transform(
            RecordType::SalesOrder,
            id,
            RecordType::ItemFulfillment,
            Value::Object(Default::default()),
            &ctx,
        )?;
        Ok(fulfillment.to_string())
    }
}
