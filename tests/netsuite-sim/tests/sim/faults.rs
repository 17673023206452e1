use std::time::Duration;

use chrono::NaiveDate;
use netsuite_sim::{Fault, NetSuiteSim, SimConfig};
use serde_json::json;

use crate::common::{order_body, raw, start_with, start_with_basics, Client, SignOpts};

#[tokio::test]
async fn requests_over_the_concurrency_limit_get_429() {
    let (sim, client) = start_with(SimConfig {
        concurrency_limit: 2,
        latency: Duration::from_millis(800),
        ..SimConfig::default()
    })
    .await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let client = client.clone();
        calls.spawn(async move { client.get("/record/v1/customer").await });
    }
    let responses = calls.join_all().await;
    let ok = responses.iter().filter(|r| r.status == 200).count();
    let limited: Vec<_> = responses.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok + limited.len(), 5);
    assert_eq!(ok, 2, "exactly the limit gets through");
    let body = limited[0].json();
    assert_eq!(body["title"], "Too Many Requests");
    assert_eq!(body["status"], 429);
    assert_eq!(
        body["o:errorDetails"][0]["o:errorCode"],
        "CONCURRENCY_LIMIT_EXCEEDED"
    );
    let stats = sim.stats();
    assert_eq!(stats.peak_in_flight, 2);
    assert_eq!(stats.rejected_429, 3);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.total_requests, 5);
    assert_eq!(stats.requests_by_operation["list:customer"], 2);

    sim.reset_stats();
    sim.set_latency(Duration::ZERO);
    sim.set_concurrency_limit(0);
    assert_eq!(client.get("/record/v1/customer").await.status, 429);
    assert_eq!(sim.stats().rejected_429, 1);
}

#[tokio::test]
async fn required_field_fault_names_the_field() {
    let (sim, client, b) = start_with_basics().await;
    sim.add_fault(Fault::RequiredField {
        field: "department".into(),
        label: "Department".into(),
        record_types: vec![],
    });
    let mut body = order_body(&b);
    body.as_object_mut().unwrap().remove("department");
    let r = client.post("/record/v1/salesOrder", body.clone()).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        (
            "USER_ERROR".to_string(),
            "Error while accessing a resource. Please enter value(s) for: Department.".to_string()
        )
    );
    // Customers are not transactions, so an empty type list leaves them alone.
    client
        .create(
            "customer",
            json!({"companyName": "Free", "subsidiary": {"id": b.subsidiary}}),
        )
        .await;
    body["department"] = json!({"id": b.department});
    assert_eq!(client.post("/record/v1/salesOrder", body).await.status, 204);
}

#[tokio::test]
async fn closed_tax_period_refuses_dates_in_range() {
    let (sim, client, b) = start_with_basics().await;
    sim.add_fault(Fault::ClosedTaxPeriod {
        from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
    });
    let r = client.post("/record/v1/salesOrder", order_body(&b)).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error().1,
        "Error while accessing a resource. Insert Transaction failed: no valid open tax period for date 1/31/2026. Please visit Setup->Manage Tax Periods to setup a new tax period."
    );
    let mut february = order_body(&b);
    february["tranDate"] = json!("2026-02-01");
    assert_eq!(
        client.post("/record/v1/salesOrder", february).await.status,
        204
    );
}

#[tokio::test]
async fn inactive_customer_and_invalid_subsidiary_are_bad_references() {
    let (sim, client, b) = start_with_basics().await;
    sim.add_fault(Fault::InactiveCustomer {
        id: b.customer.clone(),
    });
    assert_eq!(
        sim.record("customer", &b.customer).unwrap()["isInactive"],
        true
    );
    let r = client.post("/record/v1/salesOrder", order_body(&b)).await;
    assert_eq!(
        r.error(),
        (
            "INVALID_KEY_OR_REF".to_string(),
            format!(
                "Error while accessing a resource. Invalid entity reference key {}.",
                b.customer
            )
        )
    );
    sim.clear_faults();
    assert_eq!(
        sim.record("customer", &b.customer).unwrap()["isInactive"],
        false
    );
    assert_eq!(
        client
            .post("/record/v1/salesOrder", order_body(&b))
            .await
            .status,
        204
    );

    sim.add_fault(Fault::InvalidSubsidiary {
        id: b.subsidiary.clone(),
    });
    let c = client
        .post(
            "/record/v1/customer",
            json!({"companyName": "Sub", "subsidiary": {"id": b.subsidiary}}),
        )
        .await;
    assert_eq!(
        c.error(),
        (
            "INVALID_KEY_OR_REF".to_string(),
            format!(
                "Error while accessing a resource. Invalid subsidiary reference key {}.",
                b.subsidiary
            )
        )
    );
    assert_eq!(sim.faults().len(), 1);
}

#[tokio::test]
async fn missing_permission_is_403_for_rest_and_400_for_suiteql() {
    let (sim, client, b) = start_with_basics().await;
    let so = client.create("salesOrder", order_body(&b)).await;
    sim.add_fault(Fault::MissingPermission {
        record_type: "invoice".into(),
    });
    let r = client.get("/record/v1/invoice").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error().0, "INSUFFICIENT_PERMISSION");
    let t = client
        .post(
            &format!("/record/v1/salesOrder/{so}/!transform/invoice"),
            json!({}),
        )
        .await;
    assert_eq!(
        t.status, 403,
        "a transform needs the target's permission too"
    );
    let q = client
        .suiteql("SELECT id FROM transaction WHERE type = 'CustInvc'", "")
        .await;
    assert_eq!(q.status, 400);
    assert_eq!(
        q.error(),
        (
            "USER_ERROR".to_string(),
            "Search error occurred: Your search contains a reference to join for which you do not have a permission: transaction".to_string()
        )
    );
    assert_eq!(
        client
            .get(&format!("/record/v1/customer/{}", b.customer))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn server_errors_hit_the_next_calls_only() {
    let (sim, client, b) = start_with_basics().await;
    sim.add_fault(Fault::ServerError { remaining: 2 });
    for _ in 0..2 {
        let r = client
            .get(&format!("/record/v1/customer/{}", b.customer))
            .await;
        assert_eq!(r.status, 500);
        let (code, detail) = r.error();
        assert_eq!(code, "UNEXPECTED_ERROR");
        assert!(
            detail.starts_with("An unexpected error occurred. Error ID: "),
            "{detail}"
        );
    }
    assert_eq!(
        client
            .get(&format!("/record/v1/customer/{}", b.customer))
            .await
            .status,
        200
    );
    assert!(sim.faults().is_empty(), "a used-up fault disappears");
}

#[tokio::test]
async fn commit_then_drop_closes_the_connection_after_committing() {
    let (sim, client, b) = start_with_basics().await;
    sim.add_fault(Fault::CommitThenDrop { remaining: 1 });
    // Reads are not affected.
    assert_eq!(client.get("/record/v1/customer").await.status, 200);
    let lost = client
        .try_send(
            "POST",
            "/record/v1/customer",
            Some(json!({"companyName": "Lost Response", "externalId": "CUST-LOST", "subsidiary": {"id": b.subsidiary}})),
            &SignOpts::default(),
        )
        .await;
    assert!(lost.is_err(), "expected a dropped connection, got {lost:?}");
    let committed: Vec<_> = sim
        .records("customer")
        .into_iter()
        .filter(|c| c["externalId"] == "CUST-LOST")
        .collect();
    assert_eq!(committed.len(), 1, "the write was committed");
    // The retry finds the record by external id, and the server works normally again.
    let found = client.get("/record/v1/customer/eid:CUST-LOST").await;
    assert_eq!(found.status, 200);
    assert_eq!(sim.stats().in_flight, 0);
}

#[tokio::test]
async fn admin_api_drives_the_same_state() {
    let sim = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let client = Client::new(&sim);
    let host = client.host.clone();
    let post = |path: &'static str, body: serde_json::Value| {
        let host = host.clone();
        async move {
            raw(&host, "POST", path, &[], Some(body.to_string().as_bytes()))
                .await
                .unwrap()
        }
    };
    let seeded = post(
        "/admin/records/subsidiary",
        json!({"name": "Parent Company"}),
    )
    .await;
    assert_eq!(seeded.status, 201);
    let sub = seeded.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        post(
            "/admin/faults",
            json!({"kind": "server_error", "remaining": 1})
        )
        .await
        .status,
        204
    );
    assert_eq!(sim.faults(), vec![Fault::ServerError { remaining: 1 }]);
    assert_eq!(client.get("/record/v1/subsidiary").await.status, 500);
    assert_eq!(
        post(
            "/admin/config",
            json!({"latency_ms": 0, "concurrency_limit": 3})
        )
        .await
        .status,
        204
    );
    assert_eq!(sim.config().concurrency_limit, 3);
    let stats = raw(&host, "GET", "/admin/stats", &[], None)
        .await
        .unwrap()
        .json();
    assert_eq!(stats["requests_by_operation"]["list:subsidiary"], 1);
    let records = raw(
        &host,
        "GET",
        &format!("/admin/records/subsidiary/{sub}"),
        &[],
        None,
    )
    .await
    .unwrap()
    .json();
    assert_eq!(records["name"], "Parent Company");
    let demo = post("/admin/seed-demo", json!({})).await.json();
    assert!(demo["item_discount"].is_string());
    assert_eq!(post("/admin/revoke-token", json!({})).await.status, 204);
    assert_eq!(client.get("/record/v1/subsidiary").await.status, 401);
    let audit = raw(&host, "GET", "/admin/login-audit", &[], None)
        .await
        .unwrap()
        .json();
    assert_eq!(audit[0]["reason"], "revoked_token");
    assert_eq!(
        raw(&host, "DELETE", "/admin/faults", &[], None)
            .await
            .unwrap()
            .status,
        204
    );
    sim.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(&host).await.is_err(),
        "closed after shutdown"
    );
}

#[tokio::test]
async fn one_shot_write_faults_skip_the_given_number_of_writes() {
    let (sim, client, b) = start_with_basics().await;
    let create = |eid: &'static str| json!({"companyName": eid, "externalId": eid, "subsidiary": {"id": b.subsidiary}});
    sim.add_fault(Fault::ServerErrorOnWrite { skip: 1 });
    // Reads do not count; the first write passes, the second fails, the third passes.
    assert_eq!(client.get("/record/v1/customer").await.status, 200);
    assert_eq!(
        client
            .post("/record/v1/customer", create("W-1"))
            .await
            .status,
        204
    );
    assert_eq!(
        client
            .post("/record/v1/customer", create("W-2"))
            .await
            .status,
        500
    );
    assert_eq!(
        client
            .post("/record/v1/customer", create("W-2"))
            .await
            .status,
        204
    );
    assert!(sim.faults().is_empty());

    sim.add_fault(Fault::CommitThenDropOnWrite { skip: 1 });
    assert_eq!(
        client
            .post("/record/v1/customer", create("D-1"))
            .await
            .status,
        204
    );
    let lost = client
        .try_send(
            "POST",
            "/record/v1/customer",
            Some(create("D-2")),
            &SignOpts::default(),
        )
        .await;
    assert!(lost.is_err(), "the second write loses its answer");
    assert_eq!(
        client
            .post("/record/v1/customer", create("D-3"))
            .await
            .status,
        204
    );
    let names: Vec<_> = sim
        .records("customer")
        .iter()
        .map(|c| c["externalId"].clone())
        .collect();
    // The basics' customer plus W-1, W-2 (once), D-1, D-2 (committed), D-3.
    assert_eq!(names, ["CUST-ACME", "W-1", "W-2", "D-1", "D-2", "D-3"]);
}
