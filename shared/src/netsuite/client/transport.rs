//! How one call reaches NetSuite: signed per attempt under a governor permit, retried only
//! where a retry cannot make a second record, and looked up by external id when an answer
//! was lost after NetSuite may have committed.

use super::*;

impl NetSuiteClient {
    pub(super) fn record_url(
        &self,
        record_type: RecordType,
        key: Option<&RecordKey>,
        query: &[(&str, String)],
    ) -> Url {
        let mut url = self.inner.root.clone();
        {
            let mut segments = url.path_segments_mut().expect("root URLs have a path");
            segments.pop_if_empty();
            segments.extend(["services", "rest", "record", "v1", record_type.as_str()]);
            if let Some(key) = key {
                segments.push(&key.path_segment());
            }
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    pub(super) async fn created(&self, call: Call) -> Result<Created, NetSuiteError> {
        let operation = call.operation.clone();
        match self.execute(call).await? {
            Outcome::AlreadyThere(id) => Ok(Created { id, existed: true }),
            Outcome::Response(response) => location_id(&response)
                .map(|id| Created { id, existed: false })
                .ok_or_else(|| NetSuiteError::Protocol {
                    operation,
                    message: "NetSuite did not say where the new record is (no Location header)"
                        .into(),
                }),
        }
    }

    pub(super) async fn response(&self, call: Call) -> Result<reqwest::Response, NetSuiteError> {
        match self.execute(call).await? {
            Outcome::Response(r) => Ok(r),
            // Only creates and transforms replay by external id.
            Outcome::AlreadyThere(_) => unreachable!("safe calls never look up an external id"),
        }
    }

    /// Sends a call, retrying what is safe to retry with jittered exponential backoff.
    pub(super) async fn execute(&self, call: Call) -> Result<Outcome, NetSuiteError> {
        if let Some(answer) = self.dry_answer(&call) {
            return answer;
        }
        let policy = &self.inner.retry;
        let mut attempt = 1u32;
        let mut login_retried = false;
        let mut confirming = None;
        loop {
            let result = self.attempt(&call, attempt, confirming.is_some()).await;
            let error = match result {
                Ok(response) => {
                    if confirming.is_some() {
                        self.remember_refusal(None);
                    }
                    return Ok(Outcome::Response(response));
                }
                Err(e) => e,
            };
            if login_retried && error.kind() != ErrorKind::Login {
                confirming = None;
            }
            if error.kind() == ErrorKind::Login {
                if login_retried {
                    // The repeat was refused too: the credentials are wrong, not the moment.
                    self.remember_refusal(Some(error.clone()));
                    return Err(error);
                }
                // Wait for any other request confirming a refusal; if it did, stop here.
                confirming = Some(self.confirm_refusal().await);
                if let Some(refused) = self.refused_recently() {
                    return Err(refused);
                }
            }

            // A taken external id means an earlier attempt (this call's, or a run that died
            // before it could remember the answer) was saved: external ids are deterministic per
            // billing record, so that record is the one this create stands for. NetSuite checks
            // its business rules before the external id, so when that earlier attempt consumed
            // the source (an order billed, an invoice paid) the answer is a refusal of the
            // rules instead, in wordings not all documented: any business-rule refusal of a
            // create with an external id is looked up the same way, at one read.
            if matches!(
                error.kind(),
                ErrorKind::Duplicate
                    | ErrorKind::CannotInitialize
                    | ErrorKind::NotOpen
                    | ErrorKind::Validation
            ) {
                if let Replay::ByExternalId {
                    record_type,
                    external_id,
                } = &call.replay
                {
                    if let Some(id) = self.lookup_external_id(record_type, external_id).await? {
                        return Ok(Outcome::AlreadyThere(id));
                    }
                }
            }

            // NetSuite sometimes answers a burst over its concurrency limit with 401 instead of
            // 429; one fresh-signed repeat tells the two apart.
            let transient_login = error.kind() == ErrorKind::Login && !login_retried;
            // The governor already waited out its store's failures; retrying here would only
            // keep the message from going back to the queue.
            let no_slot = matches!(
                error,
                NetSuiteError::Governor { .. }
                    | NetSuiteError::Held { .. }
                    | NetSuiteError::Busy { .. }
            );
            if !(error.is_retryable() || transient_login)
                || no_slot
                || attempt >= policy.max_attempts
            {
                return Err(error);
            }
            if transient_login {
                login_retried = true;
            }

            match &call.replay {
                Replay::Safe => {}
                Replay::ByExternalId {
                    record_type,
                    external_id,
                } => {
                    if self.may_have_committed(&error) {
                        if let Some(id) = self.lookup_external_id(record_type, external_id).await? {
                            tracing::info!(
                                operation = %call.operation,
                                internal_id = %id,
                                "answer was lost but NetSuite had saved the record; using it"
                            );
                            return Ok(Outcome::AlreadyThere(id));
                        }
                    }
                }
                Replay::Unsafe => {
                    if self.may_have_committed(&error) {
                        return Err(NetSuiteError::OutcomeUnknown {
                            operation: call.operation.clone(),
                            message: error.to_string(),
                        });
                    }
                }
            }

            // The account is failing (this failure may have been the one that showed it):
            // the call ends with what NetSuite said, and the message waits out the hold.
            if self.inner.governor.outage().held_for().is_some() {
                return Err(error);
            }
            let delay = backoff(policy, attempt, &error);
            tracing::warn!(
                operation = %call.operation,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %error,
                "NetSuite request failed; trying again"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Becomes the request that confirms a login refusal (once any other has decided): new
    /// requests wait until the returned guard is dropped.
    async fn confirm_refusal(&self) -> Confirming {
        let guard = self.inner.confirming.clone().lock_owned().await;
        self.inner
            .suspect
            .store(true, std::sync::atomic::Ordering::Release);
        Confirming {
            _guard: guard,
            suspect: self.inner.suspect.clone(),
        }
    }

    /// The login refusal confirmed within [`LOGIN_REFUSAL_HOLD`], if any.
    fn refused_recently(&self) -> Option<NetSuiteError> {
        let held = self
            .inner
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.as_ref()
            .filter(|(at, _)| at.elapsed() < LOGIN_REFUSAL_HOLD)
            .map(|(_, e)| e.clone())
    }

    fn remember_refusal(&self, error: Option<NetSuiteError>) {
        *self
            .inner
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            error.map(|e| (Instant::now(), e));
    }

    /// Whether NetSuite may have acted on a request that failed this way. A refusal for
    /// concurrency, a login refusal, a connection never made and a request never sent (no
    /// concurrency slot) are certain no-ops.
    pub(super) fn may_have_committed(&self, error: &NetSuiteError) -> bool {
        !matches!(error.kind(), ErrorKind::Concurrency | ErrorKind::Login)
            && !matches!(
                error,
                NetSuiteError::Transport {
                    kind: TransportKind::Connect,
                    ..
                } | NetSuiteError::Governor { .. }
                    | NetSuiteError::Held { .. }
                    | NetSuiteError::Busy { .. }
            )
    }

    /// Looks a record up by external id, retrying transient failures itself.
    pub(super) async fn lookup_external_id(
        &self,
        record_type: &str,
        external_id: &str,
    ) -> Result<Option<String>, NetSuiteError> {
        Ok(self
            .lookup_external_id_with(record_type, external_id, &[])
            .await?
            .map(|found| found.id))
    }

    /// Like [`Self::lookup_external_id`], reading `fields` of the record found as well.
    pub(super) async fn lookup_external_id_with(
        &self,
        record_type: &str,
        external_id: &str,
        fields: &[&str],
    ) -> Result<Option<Found>, NetSuiteError> {
        let mut url = self.inner.root.clone();
        url.path_segments_mut()
            .expect("root URLs have a path")
            .pop_if_empty()
            .extend(["services", "rest", "record", "v1", record_type])
            .push(&format!("eid:{external_id}"));
        let mut listed = String::from("id,externalId");
        for f in fields {
            listed.push(',');
            listed.push_str(f);
        }
        url.query_pairs_mut().append_pair("fields", &listed);
        let call = Call {
            method: Method::GET,
            url,
            body: None,
            operation: format!("get {record_type} eid:{external_id}"),
            replay: Replay::Safe,
            suiteql: false,
            accept: None,
        };
        let policy = &self.inner.retry;
        let mut attempt = 1;
        let mut confirming = None;
        loop {
            match self.attempt(&call, attempt, confirming.is_some()).await {
                Ok(response) => {
                    if confirming.is_some() {
                        self.remember_refusal(None);
                    }
                    let found: Found = read_json(response, &call.operation).await?;
                    self.dry_lookup(record_type, external_id, Some(&found.id));
                    return Ok(Some(found));
                }
                Err(e) if e.is_not_found() => {
                    self.dry_lookup(record_type, external_id, None);
                    return Ok(None);
                }
                // As in `execute`: one request repeats a refused login to confirm it.
                Err(e) if e.kind() == ErrorKind::Login => {
                    if confirming.is_some() {
                        self.remember_refusal(Some(e.clone()));
                        return Err(e);
                    }
                    confirming = Some(self.confirm_refusal().await);
                    if let Some(refused) = self.refused_recently() {
                        return Err(refused);
                    }
                    attempt += 1;
                }
                Err(e)
                    if e.is_retryable()
                        && self.inner.governor.outage().held_for().is_none()
                        && !matches!(
                            e,
                            NetSuiteError::Governor { .. }
                                | NetSuiteError::Held { .. }
                                | NetSuiteError::Busy { .. }
                        )
                        && attempt < policy.max_attempts =>
                {
                    tokio::time::sleep(backoff(policy, attempt, &e)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One signed request holding a concurrency slot, reporting to the governor whether
    /// NetSuite refused it for concurrency.
    pub(super) async fn attempt(
        &self,
        call: &Call,
        attempt: u32,
        confirming: bool,
    ) -> Result<reqwest::Response, NetSuiteError> {
        // While another request confirms a login refusal, wait for its verdict.
        if !confirming
            && self
                .inner
                .suspect
                .load(std::sync::atomic::Ordering::Acquire)
        {
            drop(self.inner.confirming.lock().await);
        }
        // A login refused a moment ago is not tried again (see `LOGIN_REFUSAL_HOLD`).
        if let Some(refused) = self.refused_recently() {
            return Err(refused);
        }
        // An account that keeps failing is not asked until its hold is over (one probe then).
        let outage = self.inner.governor.outage();
        if let Some(wait) = outage.admit() {
            return Err(NetSuiteError::Held {
                operation: call.operation.clone(),
                wait,
            });
        }
        let sheddable = super::super::outage::in_sheddable();
        // A bearer token is had before a slot is taken: waiting for one holds no slot.
        let bearer = match &self.inner.auth {
            Authorizer::Tba(_) => None,
            Authorizer::Bearer(tokens) => Some((tokens, tokens.bearer().await?)),
        };
        // A slow account's message that has sent nothing yet does not wait long for a slot: it
        // goes back to the queue instead (see `outage::sheddable`).
        let acquire = self.inner.governor.acquire();
        tokio::pin!(acquire);
        let permit = loop {
            tokio::select! {
                permit = &mut acquire => break permit,
                _ = tokio::time::sleep(super::super::outage::SHED_AFTER), if sheddable => {
                    if outage.slow() {
                        return Err(NetSuiteError::Busy {
                            operation: call.operation.clone(),
                        });
                    }
                }
            }
        }
        .map_err(|source| NetSuiteError::Governor {
            operation: call.operation.clone(),
            source,
        })?;
        // Waiting for the slot may have outlasted another request's confirmed refusal.
        if let Some(refused) = self.refused_recently() {
            return Err(refused);
        }
        let started = Instant::now();

        // TBA is signed once the slot is had, so the timestamp is the sending time.
        let auth = match (&self.inner.auth, &bearer) {
            (_, Some((_, token))) => format!("Bearer {}", token.expose()),
            (Authorizer::Tba(credentials), None) => authorization_header(
                credentials,
                self.inner.account.realm(),
                call.method.as_str(),
                &call.url,
            ),
            (Authorizer::Bearer(_), None) => unreachable!("a bearer client has its token"),
        };
        let mut headers = HeaderMap::new();
        let mut auth_value = HeaderValue::from_str(&auth).map_err(|_| {
            NetSuiteError::Config(
                "credentials contain characters not allowed in an HTTP header".into(),
            )
        })?;
        auth_value.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth_value);
        if call.suiteql {
            headers.insert("Prefer", HeaderValue::from_static("transient"));
        }
        if let Some(accept) = call.accept {
            headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static(accept));
        }
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .headers(headers);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }

        let result = request.send().await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                let error = transport_error(&call.operation, &e);
                outage.failed();
                outage.took(started.elapsed());
                tracing::debug!(operation = %call.operation, attempt, elapsed_ms, %error, "NetSuite request failed in transport");
                return Err(error);
            }
        };
        let status = response.status();
        tracing::debug!(operation = %call.operation, attempt, elapsed_ms, status = status.as_u16(), "NetSuite answered");
        outage.took(started.elapsed());
        if status.is_server_error() {
            outage.failed();
        } else {
            outage.answered();
        }
        if status.is_success() {
            permit.succeeded();
            return Ok(response);
        }
        let retry_after = retry_after(&response);
        let body = response.bytes().await.unwrap_or_default();
        let mut api = ApiError::from_body(status.as_u16(), call.operation.clone(), &body);
        api.retry_after = retry_after;
        // A refusal for concurrency shrinks the limit. A 401 (sometimes NetSuite's answer to a
        // burst) and a 5xx say nothing either way; any other answer says there was room.
        match api.kind() {
            ErrorKind::Concurrency => {
                self.inner
                    .throttled
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                permit.refused(api.retry_after)
            }
            ErrorKind::Login | ErrorKind::Server => drop(permit),
            _ => permit.succeeded(),
        }
        if status == StatusCode::UNAUTHORIZED {
            // The token may have been revoked or expired early: the next attempt (the
            // caller's one repeat after a login refusal) fetches a new one. The slot is
            // already given back: this may wait for a token request in flight.
            if let Some((tokens, token)) = &bearer {
                tokens.refused(token).await;
            }
        }
        Err(NetSuiteError::Api(api))
    }
}

/// The server's `Retry-After`, in seconds, when it sent one.
pub(super) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// A request that failed before NetSuite answered.
pub(super) fn transport_error(operation: &str, e: &reqwest::Error) -> NetSuiteError {
    NetSuiteError::Transport {
        operation: operation.to_owned(),
        kind: transport_kind(e),
        message: error_chain(e),
    }
}

/// A record found by its external id.
#[derive(Clone, Debug, Deserialize)]
pub struct Found {
    pub id: String,
    /// The other fields asked for, as NetSuite wrote them.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The pause before the next attempt; a `Retry-After` counts only for refusals that invite it.
pub(super) fn backoff(policy: &RetryPolicy, attempt: u32, error: &NetSuiteError) -> Duration {
    let hint = match error.kind() {
        ErrorKind::Concurrency | ErrorKind::Server => error.api().and_then(|a| a.retry_after),
        _ => None,
    };
    policy.delay(attempt, hint)
}

/// The error and its causes on one line ("error sending request: connection refused"),
/// without the URL (it is in the operation already).
pub(super) fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    let head = if e.is_timeout() {
        "request timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    std::iter::once(head)
        .chain(parts)
        .collect::<Vec<_>>()
        .join(": ")
}

pub(super) fn transport_kind(e: &reqwest::Error) -> TransportKind {
    if e.is_connect() {
        TransportKind::Connect
    } else if e.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Interrupted
    }
}

pub(super) fn replay_for(record_type: RecordType, body: &[u8]) -> Replay {
    #[derive(Deserialize)]
    struct ExternalIdOnly {
        #[serde(rename = "externalId")]
        external_id: Option<String>,
    }
    match serde_json::from_slice::<ExternalIdOnly>(body) {
        Ok(ExternalIdOnly {
            external_id: Some(eid),
        }) if !eid.is_empty() => Replay::ByExternalId {
            record_type: record_type.as_str().to_owned(),
            external_id: eid,
        },
        _ => Replay::Unsafe,
    }
}

pub(super) fn to_json<T: Serialize + ?Sized>(body: &T) -> Result<Vec<u8>, NetSuiteError> {
    serde_json::to_vec(body)
        .map_err(|e| NetSuiteError::Config(format!("record cannot be written as JSON: {e}")))
}

pub(super) async fn read_json<T: DeserializeOwned>(
    response: reqwest::Response,
    operation: &str,
) -> Result<T, NetSuiteError> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| NetSuiteError::Transport {
            operation: operation.to_owned(),
            kind: TransportKind::Interrupted,
            message: e.without_url().to_string(),
        })?;
    if status == StatusCode::NO_CONTENT || bytes.is_empty() {
        return Err(NetSuiteError::Protocol {
            operation: operation.to_owned(),
            message: format!("expected a JSON body, got {status} with none"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| NetSuiteError::Protocol {
        operation: operation.to_owned(),
        message: format!("cannot read the answer: {e}"),
    })
}

/// The internal id at the end of a `Location` header.
pub(super) fn location_id(response: &reqwest::Response) -> Option<String> {
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    let id = location.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty() && !id.starts_with("eid:")).then(|| id.to_owned())
}

/// The right to confirm a login refusal; dropping it lets held requests go.
pub(super) struct Confirming {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    suspect: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Confirming {
    fn drop(&mut self) {
        self.suspect
            .store(false, std::sync::atomic::Ordering::Release);
    }
}
