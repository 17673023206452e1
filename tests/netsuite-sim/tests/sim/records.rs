use serde_json::json;

use crate::common::{authorization, order_body, raw, start_with_basics, SignOpts};

#[tokio::test]
async fn create_answers_204_with_location_then_get_renders_the_record() {
    let (sim, client, b) = start_with_basics().await;
    let r = client
        .post(
            "/record/v1/customer",
            json!({"companyName": "Globex", "email": "ap@globex.test", "externalId": "CUST-GLOBEX",
                   "subsidiary": {"id": b.subsidiary}, "custentity_tier": "gold"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    let id = r.location_id();
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/services/rest/record/v1/customer/{id}", sim.base_url())
    );

    let got = client.get(&format!("/record/v1/customer/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("content-type"),
        Some("application/vnd.oracle.resource+json; type=singular-resource")
    );
    let c = got.json();
    assert_eq!(c["id"], id);
    assert_eq!(c["companyName"], "Globex");
    assert_eq!(c["custentity_tier"], "gold");
    assert_eq!(c["isPerson"], false);
    assert!(c["entityId"].as_str().unwrap().starts_with("CUST"));
    assert_eq!(c["subsidiary"]["id"], b.subsidiary);
    assert_eq!(c["subsidiary"]["refName"], "Parent Company");
    assert_eq!(
        c["links"][0]["href"],
        format!("{}/services/rest/record/v1/customer/{id}", sim.base_url())
    );

    // Read by external id.
    let by_eid = client.get("/record/v1/customer/eid:CUST-GLOBEX").await;
    assert_eq!(by_eid.status, 200);
    assert_eq!(by_eid.json()["id"], id);

    // The admin view holds the same record.
    assert_eq!(
        sim.record("customer", &id).unwrap()["email"],
        "ap@globex.test"
    );
}

#[tokio::test]
async fn upsert_creates_then_updates_one_record() {
    let (sim, client, b) = start_with_basics().await;
    let first = client
        .put(
            "/record/v1/customer/eid:CUST-42",
            json!({"companyName": "Initech", "subsidiary": {"id": b.subsidiary}}),
        )
        .await;
    assert_eq!(first.status, 204, "{}", first.text());
    let second = client
        .put(
            "/record/v1/customer/eid:CUST-42",
            json!({"email": "ap@initech.test"}),
        )
        .await;
    assert_eq!(second.status, 204, "{}", second.text());
    assert_eq!(first.header("location"), second.header("location"));
    let matching: Vec<_> = sim
        .records("customer")
        .into_iter()
        .filter(|c| c["externalId"] == "CUST-42")
        .collect();
    assert_eq!(matching.len(), 1);
    assert_eq!(matching[0]["companyName"], "Initech");
    assert_eq!(matching[0]["email"], "ap@initech.test");
    let stats = sim.stats();
    assert_eq!(stats.requests_by_operation["upsert:customer"], 2);

    // PUT needs an external id.
    let by_id = client
        .put(
            &format!("/record/v1/customer/{}", b.customer),
            json!({"email": "x@y.test"}),
        )
        .await;
    assert_eq!(by_id.status, 405);
    assert_eq!(by_id.header("allow"), Some("GET, PATCH, DELETE"));
}

#[tokio::test]
async fn duplicate_external_id_is_refused() {
    let (_sim, client, b) = start_with_basics().await;
    let r = client
        .post(
            "/record/v1/customer",
            json!({"companyName": "Copy", "externalId": "CUST-ACME", "subsidiary": {"id": b.subsidiary}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let (code, detail) = r.error();
    assert_eq!(code, "DUP_RCRD");
    assert!(detail.contains("CUST-ACME"), "{detail}");
    assert_eq!(r.json()["o:errorDetails"][0]["o:errorPath"], "externalId");

    // Items share one external-id namespace across item types.
    let item = client
        .post(
            "/record/v1/nonInventorySaleItem",
            json!({"itemId": "Dup", "externalId": "SKU-SUB"}),
        )
        .await;
    assert_eq!(item.status, 400);
}

#[tokio::test]
async fn mandatory_fields_and_bad_references_use_netsuite_errors() {
    let (_sim, client, b) = start_with_basics().await;
    let r = client
        .post("/record/v1/customer", json!({"companyName": "No Sub"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        (
            "USER_ERROR".to_string(),
            "Error while accessing a resource. Please enter value(s) for: Primary Subsidiary."
                .to_string()
        )
    );
    let person = client
        .post(
            "/record/v1/customer",
            json!({"isPerson": true, "subsidiary": {"id": b.subsidiary}}),
        )
        .await;
    assert_eq!(
        person.error().1,
        "Error while accessing a resource. Please enter value(s) for: First Name, Last Name."
    );
    let entity = client
        .post(
            "/record/v1/salesOrder",
            json!({"entity": {"id": "999"}, "item": {"items": [{"item": {"id": b.service}, "amount": 1}]}}),
        )
        .await;
    assert_eq!(
        entity.error(),
        (
            "INVALID_KEY_OR_REF".to_string(),
            "Error while accessing a resource. Invalid entity reference key 999.".to_string()
        )
    );
    let item = client
        .post(
            "/record/v1/salesOrder",
            json!({"entity": {"id": b.customer}, "item": {"items": [{"item": {"id": "9999"}, "amount": 1}]}}),
        )
        .await;
    let body = item.json();
    assert_eq!(body["o:errorDetails"][0]["o:errorCode"], "INVALID_CONTENT");
    assert_eq!(
        body["o:errorDetails"][0]["o:errorPath"],
        "item.items[0].item"
    );
    let no_lines = client
        .post(
            "/record/v1/salesOrder",
            json!({"entity": {"id": b.customer}}),
        )
        .await;
    assert_eq!(no_lines.error().0, "USER_ERROR");
    let target = "/services/rest/record/v1/customer";
    let auth = authorization(
        &client.sim.config(),
        "POST",
        &client.host,
        target,
        None,
        &SignOpts::default(),
    );
    let bad_json = raw(
        &client.host,
        "POST",
        target,
        &[("Authorization", auth)],
        Some(b"{not json"),
    )
    .await
    .unwrap();
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.error().0, "INVALID_CONTENT");
    let bad_date = client
        .post(
            "/record/v1/salesOrder",
            json!({"entity": {"id": b.customer}, "tranDate": "31.01.2026",
                   "item": {"items": [{"item": {"id": b.service}, "amount": 1}]}}),
        )
        .await;
    assert_eq!(bad_date.error().0, "INVALID_CONTENT");

    // References by external id resolve, and are stored with their refName.
    let id = client
        .create(
            "salesOrder",
            json!({"entity": {"externalId": "CUST-ACME"},
                   "item": {"items": [{"item": {"externalId": "SKU-SUB"}, "quantity": 2, "rate": 10}]}}),
        )
        .await;
    let so = client.read("salesOrder", &id).await;
    assert_eq!(so["entity"]["id"], b.customer);
    assert_eq!(so["entity"]["refName"], "CUST1 Acme Corp");
    assert_eq!(
        so["subsidiary"]["id"], b.subsidiary,
        "subsidiary defaults from the customer"
    );
    assert_eq!(so["item"]["items"][0]["item"]["refName"], "Subscription");
    assert_eq!(so["item"]["items"][0]["amount"], 20.0);
}

#[tokio::test]
async fn unknown_types_and_ids_answer_404() {
    let (_sim, client, _b) = start_with_basics().await;
    let r = client.get("/record/v1/employee/1").await;
    assert_eq!(r.status, 404);
    assert!(r.error().1.contains("employee"));
    let missing = client.get("/record/v1/customer/424242").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.error(),
        (
            "NONEXISTENT_ID".to_string(),
            "The record instance does not exist. Provide a valid record instance ID.".to_string()
        )
    );
    assert_eq!(client.get("/record/v1/customer/eid:NOPE").await.status, 404);
    assert_eq!(
        client.delete("/record/v1/customer/424242").await.status,
        404
    );
}

#[tokio::test]
async fn list_pages_through_ids() {
    let (_sim, client, b) = start_with_basics().await;
    for name in ["A", "B", "C"] {
        client
            .create(
                "customer",
                json!({"companyName": name, "subsidiary": {"id": b.subsidiary}}),
            )
            .await;
    }
    let page = client
        .get("/record/v1/customer?limit=3&offset=0")
        .await
        .json();
    assert_eq!(page["count"], 3);
    assert_eq!(page["totalResults"], 4);
    assert_eq!(page["hasMore"], true);
    assert_eq!(page["items"][0]["id"], b.customer);
    assert!(page["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "next"));
    let rest = client
        .get("/record/v1/customer?limit=3&offset=3")
        .await
        .json();
    assert_eq!(rest["count"], 1);
    assert_eq!(rest["hasMore"], false);
    assert_eq!(
        client.get("/record/v1/customer?limit=5000").await.status,
        400
    );
}

#[tokio::test]
async fn sublists_expand_on_request_and_patch_appends_or_replaces() {
    let (_sim, client, b) = start_with_basics().await;
    let id = client.create("salesOrder", order_body(&b)).await;
    let collapsed = client
        .get(&format!("/record/v1/salesOrder/{id}"))
        .await
        .json();
    assert!(collapsed["item"].get("items").is_none());
    assert!(collapsed["item"]["links"][0]["href"]
        .as_str()
        .unwrap()
        .ends_with("/item"));
    let sub = client
        .get(&format!("/record/v1/salesOrder/{id}/item"))
        .await;
    assert_eq!(sub.status, 200);
    assert_eq!(sub.json()["count"], 3);

    let appended = client
        .patch(
            &format!("/record/v1/salesOrder/{id}"),
            json!({"memo": "changed", "item": {"items": [{"item": {"id": b.service}, "quantity": 1, "rate": 10}]}}),
        )
        .await;
    assert_eq!(appended.status, 204, "{}", appended.text());
    let so = client.read("salesOrder", &id).await;
    assert_eq!(so["memo"], "changed");
    assert_eq!(so["item"]["items"].as_array().unwrap().len(), 4);
    assert_eq!(so["total"], 66.2);

    let replaced = client
        .patch(
            &format!("/record/v1/salesOrder/{id}?replace=item"),
            json!({"item": {"items": [{"item": {"id": b.service}, "quantity": 2, "rate": 7.5}]}}),
        )
        .await;
    assert_eq!(replaced.status, 204);
    let so = client.read("salesOrder", &id).await;
    assert_eq!(so["item"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(so["total"], 15.0);
}

#[tokio::test]
async fn delete_refuses_records_with_dependents() {
    let (_sim, client, b) = start_with_basics().await;
    client.create("salesOrder", order_body(&b)).await;
    let r = client
        .delete(&format!("/record/v1/customer/{}", b.customer))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error().0, "USER_ERROR");
    let lonely = client
        .create(
            "customer",
            json!({"companyName": "Gone", "subsidiary": {"id": b.subsidiary}}),
        )
        .await;
    let d = client
        .delete(&format!("/record/v1/customer/{lonely}"))
        .await;
    assert_eq!(d.status, 204);
    assert!(d.header("location").is_none());
    assert_eq!(
        client
            .get(&format!("/record/v1/customer/{lonely}"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn address_book_lines_are_kept_appended_or_replaced() {
    let (sim, client, b) = start_with_basics().await;
    let address = |city: &str| {
        json!({"defaultBilling": true, "label": city,
               "addressBookAddress": {"addr1": "1 Main St", "city": city, "country": {"id": "US"}}})
    };
    let id = client
        .create(
            "customer",
            json!({"companyName": "Addr", "subsidiary": {"id": b.subsidiary},
                   "addressBook": {"items": [address("Boston")]}}),
        )
        .await;
    let path = format!("/record/v1/customer/{id}");
    client
        .patch(
            &path,
            json!({"addressBook": {"items": [address("Denver")]}}),
        )
        .await;
    let c = client.read("customer", &id).await;
    let lines = c["addressBook"]["items"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["addressBookAddress"]["city"], "Denver");
    client
        .patch(
            &format!("{path}?replace=addressBook"),
            json!({"addressBook": {"items": [address("Austin")]}}),
        )
        .await;
    let stored = sim.record("customer", &id).unwrap();
    assert_eq!(stored["addressBook"]["items"].as_array().unwrap().len(), 1);

    // A customer made inactive through the API can no longer be used on transactions.
    assert_eq!(
        client
            .patch(&path, json!({"isInactive": true}))
            .await
            .status,
        204
    );
    let mut order = order_body(&b);
    order["entity"] = json!({"id": id});
    let r = client.post("/record/v1/salesOrder", order).await;
    assert_eq!(r.error().0, "INVALID_KEY_OR_REF");
}

#[tokio::test]
async fn seeding_keeps_chosen_ids_and_reports_problems() {
    let (sim, _client, _b) = start_with_basics().await;
    let id = sim.seed("customer", json!({"id": "5000", "companyName": "Seeded"}));
    assert_eq!(id, "5000");
    assert_eq!(sim.record("customer", "5000").unwrap()["entityId"], "CUST2");
    assert!(sim.try_seed("employee", json!({})).is_err());
    assert!(sim.try_seed("customer", json!({"id": "5000"})).is_err());
    assert!(sim.records("employee").is_empty());
}
