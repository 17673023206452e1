//! How records and collections look on the wire: `links` everywhere, references with
//! `refName`, sublists collapsed to a link unless `expandSubResources=true`.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::{
    records::{body_ref_spec, line_ref_spec, lines, RefTarget},
    store::{Record, Store},
    types::{Family, RecordType},
};

pub(crate) const SINGLE_CONTENT_TYPE: &str =
    "application/vnd.oracle.resource+json; type=singular-resource";
pub(crate) const COLLECTION_CONTENT_TYPE: &str =
    "application/vnd.oracle.resource+json; type=collection";

pub(crate) fn record_url(base: &str, rt: RecordType, id: u64) -> String {
    format!("{base}/services/rest/record/v1/{}/{id}", rt.name())
}

fn self_link(href: &str) -> Value {
    json!([{"rel": "self", "href": href}])
}

/// Where a stored reference points, if its type can be told.
fn ref_type(store: &Store, target: RefTarget, id: u64) -> Option<RecordType> {
    match target {
        RefTarget::Type(rt) => Some(rt),
        RefTarget::Family(f) => store.find_in_family(f, id).map(|(rt, _)| rt),
    }
}

/// Adds `links` to a resolved record reference (`{"id", "refName"}`). Enumerations such as
/// `status` have the same shape but no links, so fields not known as references stay as stored.
fn render_ref(store: &Store, base: &str, target: Option<RefTarget>, v: &Value) -> Value {
    let (Value::Object(m), Some(target)) = (v, target) else {
        return v.clone();
    };
    let Some(id) = m.get("id").and_then(Value::as_str) else {
        return v.clone();
    };
    if !m.contains_key("refName") {
        return v.clone();
    }
    let href = id
        .parse::<u64>()
        .ok()
        .and_then(|n| ref_type(store, target, n).map(|rt| record_url(base, rt, n)));
    let mut out = m.clone();
    out.insert(
        "links".into(),
        href.map(|h| self_link(&h)).unwrap_or_else(|| json!([])),
    );
    Value::Object(out)
}

fn render_line(store: &Store, base: &str, sublist: &str, line: &Value) -> Value {
    let Value::Object(m) = line else {
        return line.clone();
    };
    let mut out = Map::new();
    out.insert("links".into(), json!([]));
    for (k, v) in m {
        let target = match (sublist, k.as_str()) {
            ("item", field) => line_ref_spec(field).map(|s| s.target),
            (_, "doc") => Some(RefTarget::Family(Family::Transaction)),
            _ => None,
        };
        out.insert(k.clone(), render_ref(store, base, target, v));
    }
    Value::Object(out)
}

/// An expanded sublist, shaped like any other collection.
pub(crate) fn render_sublist(
    store: &Store,
    base: &str,
    href: &str,
    name: &str,
    items: &[Value],
) -> Value {
    let rendered: Vec<Value> = items
        .iter()
        .map(|l| render_line(store, base, name, l))
        .collect();
    json!({
        "links": self_link(href),
        "count": rendered.len(),
        "hasMore": false,
        "offset": 0,
        "totalResults": rendered.len(),
        "items": rendered,
    })
}

pub(crate) fn render_record(
    store: &Store,
    base: &str,
    rt: RecordType,
    id: u64,
    rec: &Record,
    expand: bool,
    fields: Option<&HashSet<String>>,
) -> Value {
    let url = record_url(base, rt, id);
    let mut out = Map::new();
    out.insert("links".into(), self_link(&url));
    for (k, v) in rec {
        if let Some(wanted) = fields {
            if k != "id" && !wanted.contains(k) {
                continue;
            }
        }
        let value = match lines(v) {
            Some(items) => {
                let href = format!("{url}/{k}");
                if expand {
                    render_sublist(store, base, &href, k, items)
                } else {
                    json!({ "links": self_link(&href) })
                }
            }
            None => render_ref(store, base, body_ref_spec(rt, k).map(|s| s.target), v),
        };
        out.insert(k.clone(), value);
    }
    Value::Object(out)
}

/// `links` of a paged collection, in NetSuite's order: previous, first, next, last, self.
pub(crate) fn page_links(href: &str, limit: usize, offset: usize, total: usize) -> Vec<Value> {
    let at = |o: usize| format!("{href}?limit={limit}&offset={o}");
    let mut links = Vec::new();
    if offset > 0 {
        links.push(json!({"rel": "previous", "href": at(offset.saturating_sub(limit))}));
        links.push(json!({"rel": "first", "href": at(0)}));
    }
    if offset + limit < total {
        let last = (total - 1) / limit * limit;
        links.push(json!({"rel": "next", "href": at(offset + limit)}));
        links.push(json!({"rel": "last", "href": at(last)}));
    }
    links.push(json!({"rel": "self", "href": at(offset)}));
    links
}

/// A page of a record-type listing: ids and links only, as NetSuite returns them.
pub(crate) fn render_list(
    base: &str,
    rt: RecordType,
    ids: &[u64],
    limit: usize,
    offset: usize,
) -> Value {
    let page: Vec<Value> = ids
        .iter()
        .skip(offset)
        .take(limit)
        .map(|id| json!({"links": self_link(&record_url(base, rt, *id)), "id": id.to_string()}))
        .collect();
    let href = format!("{base}/services/rest/record/v1/{}", rt.name());
    json!({
        "links": page_links(&href, limit, offset, ids.len()),
        "count": page.len(),
        "hasMore": offset + page.len() < ids.len(),
        "items": page,
        "offset": offset,
        "totalResults": ids.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_cover_neighbours() {
        let links = page_links("http://h/x", 10, 10, 35);
        let rels: Vec<&str> = links.iter().map(|l| l["rel"].as_str().unwrap()).collect();
        assert_eq!(rels, ["previous", "first", "next", "last", "self"]);
        assert_eq!(links[3]["href"], "http://h/x?limit=10&offset=30");
        let only_self = page_links("http://h/x", 10, 0, 3);
        assert_eq!(only_self.len(), 1);
    }
}
