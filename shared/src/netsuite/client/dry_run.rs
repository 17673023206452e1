//! A client that reads NetSuite as usual and sends no write: each write is kept as planned and
//! answered as NetSuite would answer it (a new record's `Location`), so a flow runs to the end
//! and shows every request it would make. `billsync preview` runs a flow on one.

use super::*;

/// One write a dry run kept instead of sending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedRequest {
    pub method: String,
    /// The path under the account's REST root.
    pub path: String,
    pub operation: String,
    pub body: Option<Value>,
    /// The id the preview gave the record it would make (`preview-<n>`).
    pub new_id: Option<String>,
}

/// A record looked up by external id during a dry run, and what NetSuite answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lookup {
    pub record_type: String,
    pub external_id: String,
    /// Its internal id when NetSuite holds it.
    pub found: Option<String>,
}

#[derive(Default)]
pub(super) struct DryRun {
    planned: std::sync::Mutex<Vec<PlannedRequest>>,
    lookups: std::sync::Mutex<Vec<Lookup>>,
}

/// Ids a dry run gives the records it would make start with this.
pub const PREVIEW_ID: &str = "preview-";

impl NetSuiteClient {
    /// A client on `config` that sends reads (record GETs, SuiteQL) and keeps every write.
    pub fn dry_run(config: NetSuiteConfig) -> Result<Self, NetSuiteError> {
        let mut client = Self::new(config)?;
        Arc::get_mut(&mut client.inner)
            .expect("a new client is not shared yet")
            .dry_run = Some(DryRun::default());
        Ok(client)
    }

    /// The writes a dry-run client kept, in order.
    pub fn planned(&self) -> Vec<PlannedRequest> {
        self.inner
            .dry_run
            .as_ref()
            .map(|d| lock(&d.planned).clone())
            .unwrap_or_default()
    }

    /// The external-id lookups a dry-run client made, in order.
    pub fn lookups(&self) -> Vec<Lookup> {
        self.inner
            .dry_run
            .as_ref()
            .map(|d| lock(&d.lookups).clone())
            .unwrap_or_default()
    }

    /// In a dry run: a write kept and answered, a read of a record the run only planned
    /// refused; `None` for a call to send.
    pub(super) fn dry_answer(&self, call: &Call) -> Option<Result<Outcome, NetSuiteError>> {
        let dry = self.inner.dry_run.as_ref()?;
        let path = call
            .url
            .path()
            .strip_prefix(self.inner.root.path().trim_end_matches('/'))
            .unwrap_or(call.url.path())
            .to_owned();
        if call.method == Method::GET || call.suiteql {
            if path.contains(PREVIEW_ID) {
                return Some(Err(NetSuiteError::Protocol {
                    operation: call.operation.clone(),
                    message:
                        "the preview stops here: this step reads a record the preview did not make"
                            .into(),
                }));
            }
            return None;
        }
        let mut planned = lock(&dry.planned);
        let creates = call.method == Method::POST || call.method == Method::PUT;
        let new_id = creates.then(|| format!("{PREVIEW_ID}{}", planned.len() + 1));
        planned.push(PlannedRequest {
            method: call.method.to_string(),
            path,
            operation: call.operation.clone(),
            body: call
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok()),
            new_id: new_id.clone(),
        });
        let mut answer = http::Response::builder().status(204);
        if let Some(id) = new_id {
            answer = answer.header(LOCATION, format!("{}/{id}", call.url));
        }
        let answer = answer.body(Vec::new()).expect("a static answer builds");
        Some(Ok(Outcome::Response(reqwest::Response::from(answer))))
    }

    /// Notes an external-id lookup of a dry run.
    pub(super) fn dry_lookup(&self, record_type: &str, external_id: &str, found: Option<&str>) {
        if let Some(dry) = &self.inner.dry_run {
            lock(&dry.lookups).push(Lookup {
                record_type: record_type.to_owned(),
                external_id: external_id.to_owned(),
                found: found.map(str::to_owned),
            });
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
