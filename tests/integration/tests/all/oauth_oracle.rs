//! The request signer checked by an implementation nobody here wrote: Python's `oauthlib`
//! verifies signatures produced by billsync's HMAC-SHA256 signer. The test command installs
//! oauthlib (`pip install oauthlib`); without it this test fails rather than skips.

use billsync::netsuite::auth::authorization_header;
use billsync::netsuite::{AccountId, Credentials, NetSuiteConfig};
use serde_json::{json, Value};
use url::Url;

struct Case {
    account: &'static str,
    method: &'static str,
    /// Path and query below the account's REST root.
    path: &'static str,
    consumer_secret: &'static str,
    token_secret: &'static str,
}

fn run_oauthlib(cases: &[Value]) -> Vec<Value> {
    crate::common::python_verifier("verify_oauth_signatures.py", cases, "oauthlib")
}

fn sign(case: &Case) -> (Url, String) {
    let account = AccountId::parse(case.account).unwrap();
    let credentials = Credentials {
        consumer_key: "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcb8d7d8a8a4a6e8".into(),
        consumer_secret: case.consumer_secret.into(),
        token_id: "2e0b1b8e9d1c4c4f8a7f6e5d4c3b2a1908f7e6d5c4b3a291817161514131211".into(),
        token_secret: case.token_secret.into(),
    };
    let config = NetSuiteConfig::new(account.clone(), credentials.clone());
    let url = config.root_url().join(case.path).unwrap();
    let header = authorization_header(&credentials, account.realm(), case.method, &url);
    (url, header)
}

#[test]
fn oauthlib_accepts_billsync_signatures() {
    let cases = [
        Case {
            account: "1234567_SB1",
            method: "GET",
            path: "services/rest/record/v1/customer/107",
            consumer_secret: "c0nsumer-secret",
            token_secret: "t0ken-secret",
        },
        Case {
            account: "1234567_SB1",
            method: "POST",
            path: "services/rest/query/v1/suiteql?limit=1000&offset=2000",
            consumer_secret: "c0nsumer-secret",
            token_secret: "t0ken-secret",
        },
        Case {
            account: "TSTDRV1234567",
            method: "PATCH",
            path: "services/rest/record/v1/salesOrder/eid:ab-acme-so-inv_01H%7E9?replace=item,apply",
            consumer_secret: "s3cr+t/with=odd&chars",
            token_secret: "an other:one%",
        },
        Case {
            account: "7654321",
            method: "GET",
            path: "services/rest/record/v1/customer?q=email%20IS%20%22a%2Bb%40x.com%22&limit=5&offset=0&fields=id,email",
            consumer_secret: "k",
            token_secret: "t",
        },
        Case {
            account: "7654321_SB2",
            method: "POST",
            path: "services/rest/record/v1/salesOrder/812/!transform/invoice",
            consumer_secret: "k2",
            token_secret: "t2",
        },
    ];

    let mut payload = Vec::new();
    for case in &cases {
        let (url, header) = sign(case);
        payload.push(json!({
            "method": case.method, "url": url.as_str(), "authorization": header,
            "consumer_secret": case.consumer_secret, "token_secret": case.token_secret,
        }));
    }
    // The same signatures checked with a wrong token secret must be refused: the verifier can fail.
    let tampered: Vec<Value> = payload
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p["token_secret"] = json!("not-the-secret");
            p
        })
        .collect();

    let results = run_oauthlib(&payload);
    for (case, result) in cases.iter().zip(&results) {
        assert_eq!(
            result["valid"], true,
            "{} {} rejected by oauthlib",
            case.method, case.path
        );
        assert_eq!(result["method"], "HMAC-SHA256");
        assert_eq!(
            result["realm"],
            AccountId::parse(case.account).unwrap().realm(),
            "realm must be the upper-case account id"
        );
    }
    for result in run_oauthlib(&tampered) {
        assert_eq!(result["valid"], false, "a wrong secret must not verify");
    }
}
