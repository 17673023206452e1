use serde_json::json;

use crate::common::{order_body, start_with_basics};

#[tokio::test]
async fn equality_lower_and_in_filter_customers() {
    let (sim, client, b) = start_with_basics().await;
    for (name, email, ext) in [
        ("Beta", "AP@Beta.test", "CUST-B"),
        ("Gamma", "ap@gamma.test", "CUST-G"),
    ] {
        client
            .create(
                "customer",
                json!({"companyName": name, "email": email, "externalId": ext, "subsidiary": {"id": b.subsidiary}}),
            )
            .await;
    }
    let r = client
        .suiteql(
            "SELECT id, entityid, email, firstname FROM customer WHERE email = 'billing@acme.test'",
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.oracle.resource+json; type=collection")
    );
    let page = r.json();
    assert_eq!(page["count"], 1);
    let row = &page["items"][0];
    assert_eq!(row["id"], b.customer, "values come back as strings");
    assert_eq!(row["email"], "billing@acme.test");
    assert_eq!(row["links"], json!([]));
    assert!(row.get("firstname").is_none(), "NULL columns are left out");

    let lower = client
        .suiteql(
            "select ID, companyName as name from customer where LOWER(email) = LOWER('ap@BETA.test')",
            "",
        )
        .await
        .json();
    assert_eq!(lower["count"], 1);
    assert_eq!(lower["items"][0]["name"], "Beta");

    let listed = client
        .suiteql(
            "SELECT externalid FROM customer WHERE externalid IN ('CUST-ACME', 'CUST-G', 'nope') ORDER BY externalid DESC",
            "",
        )
        .await
        .json();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["externalid"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CUST-G", "CUST-ACME"]);

    let flags = client
        .suiteql(
            "SELECT * FROM customer WHERE isperson = 'F' AND isinactive = 'F' AND id > 0",
            "",
        )
        .await
        .json();
    assert_eq!(flags["totalResults"], 3);
    assert_eq!(flags["items"][0]["subsidiary"], b.subsidiary);
    assert_eq!(sim.stats().requests_by_operation["suiteql"], 4);
}

#[tokio::test]
async fn paging_follows_limit_and_offset() {
    let (_sim, client, b) = start_with_basics().await;
    for i in 0..4 {
        client
            .create(
                "customer",
                json!({"companyName": format!("C{i}"), "subsidiary": {"id": b.subsidiary}}),
            )
            .await;
    }
    let q = "SELECT id FROM customer ORDER BY id";
    let first = client.suiteql(q, "?limit=2&offset=0").await.json();
    assert_eq!(first["count"], 2);
    assert_eq!(first["totalResults"], 5);
    assert_eq!(first["hasMore"], true);
    assert_eq!(first["offset"], 0);
    let rels: Vec<&str> = first["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, ["next", "last", "self"]);
    assert!(first["links"][0]["href"]
        .as_str()
        .unwrap()
        .ends_with("/services/rest/query/v1/suiteql?limit=2&offset=2"));
    let last = client.suiteql(q, "?limit=2&offset=4").await.json();
    assert_eq!(last["count"], 1);
    assert_eq!(last["hasMore"], false);

    let too_big = client.suiteql(q, "?limit=1001").await;
    assert_eq!(too_big.status, 400);
    assert_eq!(too_big.error().0, "INVALID_PARAMETER");
}

#[tokio::test]
async fn transactions_expose_type_status_dates_and_totals() {
    let (sim, client, b) = start_with_basics().await;
    let so = client.create("salesOrder", order_body(&b)).await;
    let r = client
        .post(
            &format!("/record/v1/salesOrder/{so}/!transform/invoice"),
            json!({"tranDate": "2026-01-31", "externalId": "INV-1"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let inv = r.location_id();
    let page = client
        .suiteql(
            "SELECT id, tranid, type, status, trandate, createdfrom, foreigntotal, foreignamountremaining, entity \
             FROM transaction WHERE externalid = 'INV-1' AND type = 'CustInvc'",
            "",
        )
        .await
        .json();
    assert_eq!(page["count"], 1, "{page}");
    let row = &page["items"][0];
    assert_eq!(row["id"], inv);
    assert_eq!(row["type"], "CustInvc");
    assert_eq!(row["status"], "A");
    assert_eq!(row["trandate"], "1/31/2026");
    assert_eq!(row["createdfrom"], so);
    assert_eq!(row["foreigntotal"], "56.2");
    assert_eq!(row["foreignamountremaining"], "56.2");
    assert_eq!(row["entity"], b.customer);

    let dated = client
        .suiteql(
            "SELECT id FROM transaction WHERE trandate >= TO_DATE('2026-01-31', 'YYYY-MM-DD') AND (type = 'SalesOrd' OR type = 'CustInvc') AND createdfrom IS NOT NULL",
            "",
        )
        .await
        .json();
    assert_eq!(dated["count"], 1);
    assert_eq!(dated["items"][0]["id"], inv);

    let items = client
        .suiteql("SELECT itemid, itemtype FROM item WHERE itemtype IN ('InvtPart', 'Discount') ORDER BY itemid", "")
        .await
        .json();
    assert_eq!(items["count"], 2);
    assert_eq!(items["items"][0]["itemid"], "Advanced Billing Discount");
    assert_eq!(sim.stats().requests_by_operation["suiteql"], 3);
}

#[tokio::test]
async fn unknown_names_and_unsupported_syntax_are_refused() {
    let (_sim, client, _b) = start_with_basics().await;
    let column = client.suiteql("SELECT nope FROM customer", "").await;
    assert_eq!(column.status, 400);
    let (code, detail) = column.error();
    assert_eq!(code, "INVALID_PARAMETER");
    assert!(
        detail
            .ends_with("Search error occurred: Field 'nope' for record 'customer' was not found."),
        "{detail}"
    );
    let table = client.suiteql("SELECT id FROM employee", "").await;
    assert!(table.error().1.contains("Record 'employee' was not found"));
    let join = client
        .suiteql(
            "SELECT c.id FROM customer c JOIN transaction t ON t.entity = c.id",
            "",
        )
        .await;
    assert_eq!(join.status, 400);
    assert!(join.error().1.contains("joins are not supported"));
    let no_q = client
        .post("/query/v1/suiteql", json!({"query": "SELECT 1"}))
        .await;
    assert_eq!(no_q.status, 400);
}
