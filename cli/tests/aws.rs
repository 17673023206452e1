//! The `--aws` commands as an operator meets them against a deployment (moto on loopback):
//! read-only commands need only the table; a missing or wrong setting is named with what to
//! set, never an SDK dump.

use std::process::Output;

use billsync::aws::moto;
use serde_json::json;

async fn billsync(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_billsync"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_commands_say_what_to_set_and_read_only_ones_need_only_the_table() {
    let server = moto::server();
    let dir = std::env::temp_dir().join(moto::unique("billsync-aws-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let table = moto::unique("billsync");
    let aws = [
        ("AWS_ENDPOINT_URL", server.endpoint()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("TABLE_NAME", table.as_str()),
    ];
    let out = billsync(&dir, &aws, &["aws", "create-table"]).await;
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(
        dir.join("acme.json"),
        json!({
            "tenant": "acme", "source": "maxio", "site": "acme-demo", "sync_start_date": "2026-01-01",
            "items": {"tax_item": {"id": "100", "type": "non_inventory"}, "discount_item": "101"},
            "payments": {"payment_instruments": true}, "refunds": {"account": "9"}
        })
        .to_string(),
    )
    .unwrap();
    let queue = [&aws[..], &[("QUEUE_URL", "http://127.0.0.1:1/none.fifo")]].concat();
    let out = billsync(&dir, &queue, &["tenant", "apply", "acme.json", "--aws"]).await;
    assert!(out.status.success(), "{}", text(&out));

    // Read-only commands: the table is enough.
    for args in [
        &["status", "--tenant", "acme", "--aws"][..],
        &["errors", "--tenant", "acme", "--aws"][..],
    ] {
        let out = billsync(&dir, &aws, args).await;
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let out = billsync(&dir, &aws, &["status", "--tenant", "acme", "--aws"]).await;
    assert!(
        text(&out).contains("tenant acme (maxio source)"),
        "{}",
        text(&out)
    );

    // A command that queues says which output QUEUE_URL comes from.
    let out = billsync(&dir, &aws, &["sync-now", "--tenant", "acme", "--aws"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("QUEUE_URL is not set: set it to the stack's QueueUrl output"),
        "{}",
        text(&out)
    );

    // A table that is not there, no region, no credentials: what to set, in one line each.
    let wrong = [&aws[..4], &[("TABLE_NAME", "billsync-nosuch")]].concat();
    let out = billsync(&dir, &wrong, &["status", "--tenant", "acme", "--aws"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("set TABLE_NAME to the stack's TableName output"),
        "{}",
        text(&out)
    );
    let no_region: Vec<_> = aws
        .iter()
        .copied()
        .filter(|(k, _)| *k != "AWS_REGION")
        .collect();
    let out = billsync(&dir, &no_region, &["status", "--tenant", "acme", "--aws"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no AWS region: set AWS_REGION"),
        "{}",
        text(&out)
    );
    let no_keys: Vec<_> = aws
        .iter()
        .copied()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .collect();
    let out = billsync(&dir, &no_keys, &["status", "--tenant", "acme", "--aws"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("no AWS credentials: set AWS_PROFILE"),
        "{}",
        text(&out)
    );
    let t = text(&out);
    assert!(
        !t.contains("ServiceError {") && !t.contains("SdkBody"),
        "{t}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
