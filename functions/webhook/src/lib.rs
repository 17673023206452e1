//! Webhook intake behind API Gateway (HTTP API, payload v2): `POST /webhooks/{tenant}/{source}`.
//! The handler only translates the HTTP event; `billsync::service::intake` decides.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use billsync::service::intake::{self, WebhookRequest};
use billsync::service::Services;

fn respond(status: u16, message: &str) -> ApiGatewayV2httpResponse {
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = i64::from(status);
    r.headers.insert(
        "content-type",
        "application/json".parse().expect("a valid header value"),
    );
    r.body = Some(Body::Text(
        serde_json::json!({ "message": message }).to_string(),
    ));
    r
}

pub async fn handle(
    services: &Services,
    event: ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let tenant = event
        .path_parameters
        .get("tenant")
        .cloned()
        .unwrap_or_default();
    let source = event
        .path_parameters
        .get("source")
        .cloned()
        .unwrap_or_default();
    let raw = event.body.clone().unwrap_or_default();
    // API Gateway base64-encodes bodies it does not treat as text; the signature is over the
    // original bytes, so decode before anything else.
    let body = if event.is_base64_encoded {
        match base64::engine::general_purpose::STANDARD.decode(raw.as_bytes()) {
            Ok(b) => b,
            Err(_) => return respond(400, "body is not valid base64"),
        }
    } else {
        raw.into_bytes()
    };
    let headers = event.headers;
    let header = move |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let r = intake::receive(
        services,
        WebhookRequest {
            tenant: &tenant,
            source: &source,
            body: &body,
            header: &header,
        },
    )
    .await;
    respond(r.status, &r.message)
}
