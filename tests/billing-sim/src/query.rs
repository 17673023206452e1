//! The list endpoints' parameters: filters, sorting and paging, as Maxio documents them. A bad
//! parameter value is answered 422 (`{"errors": [...]}`), so a client bug shows up in tests
//! rather than as a silently wrong page.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

use crate::{
    clock,
    model::{Event, InvoiceState, Time},
    render::{self, CnDetail, Detail},
    state::State,
};

pub(crate) struct Params(HashMap<String, String>);

pub(crate) type Invalid = String;

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// Rails reads "true" and "1" as true.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    fn number(&self, key: &str) -> Result<Option<u64>, Invalid> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{key} must be a whole number, not `{v}`"))
            })
            .transpose()
    }

    /// The 1-based page (0 counts as 1, as Maxio does).
    pub fn page(&self) -> Result<u64, Invalid> {
        Ok(self.number("page")?.unwrap_or(1).max(1))
    }

    /// `per_page`, with a default, clamped to 1..=max (Maxio lowers larger values to max).
    pub fn per_page(&self, default: u64, max: u64) -> Result<u64, Invalid> {
        Ok(self.number("per_page")?.unwrap_or(default).clamp(1, max))
    }

    pub fn csv(&self, key: &str) -> Option<Vec<String>> {
        self.get(key).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    fn csv_numbers(&self, key: &str) -> Result<Option<Vec<u64>>, Invalid> {
        self.csv(key)
            .map(|items| {
                items
                    .iter()
                    .map(|s| {
                        s.parse::<u64>()
                            .map_err(|_| format!("{key} takes whole numbers, not `{s}`"))
                    })
                    .collect()
            })
            .transpose()
    }

    fn date(&self, key: &str) -> Result<Option<NaiveDate>, Invalid> {
        self.get(key)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map_err(|_| format!("{key} must be a date like 2026-01-31, not `{v}`"))
            })
            .transpose()
    }

    /// `YYYY-MM-DD HH:MM:SS`, optionally with an offset; the site's zone otherwise.
    fn datetime(&self, key: &str) -> Result<Option<Time>, Invalid> {
        self.get(key)
            .map(|v| {
                chrono::DateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S %z")
                    .or_else(|_| chrono::DateTime::parse_from_rfc3339(v))
                    .or_else(|_| {
                        NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").map(clock::local)
                    })
                    .map_err(|_| format!("{key} must look like 2026-01-31 10:22:20, not `{v}`"))
            })
            .transpose()
    }

    fn direction_desc(&self, default_desc: bool) -> Result<bool, Invalid> {
        match self.get("direction") {
            None => Ok(default_desc),
            Some("asc") => Ok(false),
            Some("desc") => Ok(true),
            Some(other) => Err(format!("direction must be asc or desc, not `{other}`")),
        }
    }
}

fn page_of<T: Clone>(items: &[T], page: u64, per_page: u64) -> Vec<T> {
    let start = (page - 1).saturating_mul(per_page);
    if start >= items.len() as u64 {
        return Vec::new();
    }
    let start = start as usize;
    let end = (start + per_page as usize).min(items.len());
    items[start..end].to_vec()
}

const STATUSES: [&str; 7] = [
    "draft",
    "open",
    "paid",
    "pending",
    "voided",
    "canceled",
    "processing",
];

/// The local date a date filter compares, per `date_field`.
fn date_of(s: &InvoiceState, field: &str) -> Option<NaiveDate> {
    match field {
        "created_at" => Some(s.fixed.created_at.date_naive()),
        "updated_at" => Some(s.updated_at.date_naive()),
        "issue_date" => Some(s.fixed.issue_date),
        "due_date" => Some(s.fixed.due_date()),
        "paid_date" => s.paid_date,
        _ => None,
    }
}

/// `GET /invoices.json`.
pub(crate) fn invoices(st: &State, p: &Params) -> Result<Value, Invalid> {
    let page = p.page()?;
    let per_page = p.per_page(20, 200)?;
    let desc = p.direction_desc(true)?;
    let date_field = p.get("date_field").unwrap_or("due_date");
    if ![
        "created_at",
        "due_date",
        "issue_date",
        "updated_at",
        "paid_date",
    ]
    .contains(&date_field)
    {
        return Err(format!("date_field `{date_field}` is not one of created_at, due_date, issue_date, updated_at, paid_date"));
    }
    let start = p.date("start_date")?;
    let end = p.date("end_date")?;
    let start_dt = p.datetime("start_datetime")?;
    let end_dt = p.datetime("end_datetime")?;
    if (start_dt.is_some() || end_dt.is_some())
        && !["created_at", "updated_at"].contains(&date_field)
    {
        return Err(
            "start_datetime and end_datetime work only with date_field created_at or updated_at"
                .into(),
        );
    }
    let statuses = p.csv("status");
    if let Some(bad) = statuses
        .iter()
        .flatten()
        .find(|s| !STATUSES.contains(&s.as_str()))
    {
        return Err(format!("status `{bad}` is not a valid invoice status"));
    }
    let levels = p.csv("consolidation_level");
    let customers = p.csv_numbers("customer_ids")?;
    let products = p.csv_numbers("product_ids")?;
    let numbers = p.csv("number");
    let subscription = p.number("subscription_id")?;
    let detail = Detail {
        line_items: p.flag("line_items"),
        discounts: p.flag("discounts"),
        taxes: p.flag("taxes"),
        credits: p.flag("credits"),
        payments: p.flag("payments"),
        refunds: p.flag("refunds"),
        custom_fields: p.flag("custom_fields"),
    };

    let mut hits: Vec<&InvoiceState> = st
        .invoices
        .iter()
        .map(|e| &*e.current)
        .filter(|s| {
            let f = &s.fixed;
            if let Some(st) = &statuses {
                if !st.iter().any(|x| x == s.status.as_str()) {
                    return false;
                }
            }
            if let Some(l) = &levels {
                if !l.iter().any(|x| x == f.level.as_str()) {
                    return false;
                }
            }
            if customers
                .as_ref()
                .is_some_and(|c| !c.contains(&f.customer.id))
            {
                return false;
            }
            if subscription.is_some_and(|id| id != f.subscription_id) {
                return false;
            }
            if numbers
                .as_ref()
                .is_some_and(|n| !n.contains(&f.number.to_string()))
            {
                return false;
            }
            if let Some(ids) = &products {
                let hit = ids.contains(&f.product_id)
                    || f.lines.iter().any(|l| ids.contains(&l.product_id));
                if !hit {
                    return false;
                }
            }
            if start_dt.is_some() || end_dt.is_some() {
                let t = if date_field == "created_at" {
                    f.created_at
                } else {
                    s.updated_at
                };
                return start_dt.is_none_or(|a| t >= a) && end_dt.is_none_or(|b| t <= b);
            }
            if start.is_some() || end.is_some() {
                let Some(d) = date_of(s, date_field) else {
                    return false;
                };
                return start.is_none_or(|a| d >= a) && end.is_none_or(|b| d <= b);
            }
            true
        })
        .collect();
    let sort = p.get("sort").unwrap_or("number");
    match sort {
        "number" => hits.sort_by_key(|s| s.fixed.number),
        "status" => hits.sort_by_key(|s| (s.status.as_str(), s.fixed.number)),
        "total_amount" => hits.sort_by_key(|s| (s.total(), s.fixed.number)),
        "due_amount" => hits.sort_by_key(|s| (s.due(), s.fixed.number)),
        "created_at" => hits.sort_by_key(|s| (s.fixed.created_at, s.fixed.number)),
        "updated_at" => hits.sort_by_key(|s| (s.updated_at, s.fixed.number)),
        "issue_date" => hits.sort_by_key(|s| (s.fixed.issue_date, s.fixed.number)),
        "due_date" => hits.sort_by_key(|s| (s.fixed.due_date(), s.fixed.number)),
        other => return Err(format!("sort `{other}` is not a sortable field")),
    }
    if desc {
        hits.reverse();
    }
    let invoices: Vec<Value> = page_of(&hits, page, per_page)
        .into_iter()
        .map(|s| render::invoice(&st.site, s, detail))
        .collect();
    Ok(json!({ "invoices": invoices }))
}

/// `GET /invoices/{uid}/segments.json`: the segments of a consolidated invoice, totals only.
pub(crate) fn segments(st: &State, uid: &str, p: &Params) -> Result<Option<Value>, Invalid> {
    let page = p.page()?;
    let per_page = p.per_page(20, 200)?;
    let desc = p.direction_desc(false)?;
    let Some(entry) = st.invoice(uid) else {
        return Ok(None);
    };
    let mut kids: Vec<&InvoiceState> = entry
        .children
        .iter()
        .map(|&i| &*st.invoices[i].current)
        .collect();
    if desc {
        kids.reverse();
    }
    let invoices: Vec<Value> = page_of(&kids, page, per_page)
        .into_iter()
        .map(|s| render::invoice(&st.site, s, Detail::NONE))
        .collect();
    Ok(Some(json!({ "invoices": invoices })))
}

/// A page of invoice events, ready to render outside the state lock.
pub(crate) struct EventsPage {
    pub events: Vec<Event>,
    pub page: u64,
    pub per_page: u64,
    pub total_pages: u64,
}

/// `GET /invoices/events.json`. Unfiltered requests page through an index without scanning.
pub(crate) fn events(st: &State, p: &Params) -> Result<EventsPage, Invalid> {
    let page = p.page()?;
    let per_page = p.per_page(100, 200)?;
    let since_id = p.number("since_id")?;
    // A date or a timestamp; the date wins over since_id when both are given.
    let since_date = match p.get("since_date") {
        None => None,
        Some(v) => Some(
            NaiveDate::parse_from_str(v.get(..10).unwrap_or(v), "%Y-%m-%d")
                .map_err(|_| format!("since_date must be a date like 2026-01-31, not `{v}`"))?,
        ),
    };
    let types = p.csv("event_types");
    let with_status = p.flag("with_change_invoice_status")
        || types
            .as_ref()
            .is_some_and(|t| t.iter().any(|x| x == "change_invoice_status"));
    let events = &st.events;
    let first = |index: &[usize]| -> usize {
        match (since_date, since_id) {
            (Some(d), _) => index.partition_point(|&i| events[i].timestamp.date_naive() < d),
            (None, Some(id)) => index.partition_point(|&i| events[i].id <= id),
            (None, None) => 0,
        }
    };
    let total_pages = |n: u64| n.div_ceil(per_page);

    let uid = p.get("invoice_uid");
    if uid.is_none() && types.is_none() {
        let (count, slice_start) = if with_status {
            let start = match (since_date, since_id) {
                (Some(d), _) => events.partition_point(|e| e.timestamp.date_naive() < d),
                (None, Some(id)) => events.partition_point(|e| e.id <= id),
                (None, None) => 0,
            };
            (events.len() - start, start)
        } else {
            let start = first(&st.plain_events);
            (st.plain_events.len() - start, start)
        };
        let offset = (page - 1).saturating_mul(per_page);
        let mut out = Vec::new();
        if offset < count as u64 {
            let from = slice_start + offset as usize;
            let to = (from + per_page as usize).min(slice_start + count);
            out = if with_status {
                events[from..to].to_vec()
            } else {
                st.plain_events[from..to]
                    .iter()
                    .map(|&i| events[i].clone())
                    .collect()
            };
        }
        return Ok(EventsPage {
            events: out,
            page,
            per_page,
            total_pages: total_pages(count as u64),
        });
    }

    let all: Vec<usize>;
    let candidates: &[usize] = match uid {
        Some(u) => st.events_by_doc.get(u).map(Vec::as_slice).unwrap_or(&[]),
        None => {
            all = (0..events.len()).collect();
            &all
        }
    };
    let matching: Vec<usize> = candidates[first(candidates)..]
        .iter()
        .copied()
        .filter(|&i| {
            let t = events[i].data.event_type();
            (with_status || t != "change_invoice_status")
                && types.as_ref().is_none_or(|ts| ts.iter().any(|x| x == t))
        })
        .collect();
    Ok(EventsPage {
        events: page_of(&matching, page, per_page)
            .into_iter()
            .map(|i| events[i].clone())
            .collect(),
        page,
        per_page,
        total_pages: total_pages(matching.len() as u64),
    })
}

/// `GET /credit_notes.json`.
pub(crate) fn credit_notes(st: &State, p: &Params) -> Result<Value, Invalid> {
    let page = p.page()?;
    let per_page = p.per_page(20, 200)?;
    let desc = p.direction_desc(false)?;
    let subscription = p.number("subscription_id")?;
    let detail = CnDetail {
        line_items: p.flag("line_items"),
        discounts: p.flag("discounts"),
        taxes: p.flag("taxes"),
        refunds: p.flag("refunds"),
        applications: p.flag("applications"),
    };
    let mut hits: Vec<_> = st
        .credit_notes
        .iter()
        .filter(|c| subscription.is_none_or(|s| c.fixed.invoice.subscription_id == s))
        .collect();
    if desc {
        hits.reverse();
    }
    let notes: Vec<Value> = page_of(&hits, page, per_page)
        .into_iter()
        .map(|c| render::credit_note(&st.site, c, detail))
        .collect();
    Ok(json!({ "credit_notes": notes }))
}

/// `GET /customers.json`: a bare array of `{"customer": ...}`.
pub(crate) fn customers(st: &State, p: &Params) -> Result<Value, Invalid> {
    let page = p.page()?;
    let per_page = p.per_page(50, 200)?;
    let desc = p.direction_desc(false)?;
    let mut all: Vec<_> = st.customers.iter().collect();
    if desc {
        all.reverse();
    }
    Ok(Value::Array(
        page_of(&all, page, per_page)
            .into_iter()
            .map(|c| json!({ "customer": render::customer(c) }))
            .collect(),
    ))
}

/// `GET /products.json`: a bare array of `{"product": ...}`.
pub(crate) fn products(st: &State, p: &Params) -> Result<Value, Invalid> {
    let page = p.page()?;
    let per_page = p.per_page(20, 200)?;
    Ok(Value::Array(
        page_of(&st.products, page, per_page)
            .iter()
            .map(|x| json!({ "product": render::product(&st.site, x) }))
            .collect(),
    ))
}

/// `GET /components.json`: a bare array of `{"component": ...}`.
pub(crate) fn components(st: &State, p: &Params) -> Result<Value, Invalid> {
    let page = p.page()?;
    let per_page = p.per_page(20, 200)?;
    Ok(Value::Array(
        page_of(&st.components, page, per_page)
            .iter()
            .map(|x| json!({ "component": render::component(&st.site, x) }))
            .collect(),
    ))
}
