//! Batch requests (graph-api.md §8): independent GETs grouped at most 50 to
//! a `POST /` with `batch=[…]`, several batches in flight at once; failed
//! items that may succeed later, and `null` items (operations that did not
//! complete), are retried item by item in later rounds.

use std::fmt;
use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::task::JoinSet;
use tracing::{Instrument, Span, debug};

use crate::error::{ApiError, ErrorClass, ErrorKind, GraphError, Operation};
use crate::redact::Redactor;
use crate::retry::Repeat;
use crate::transport::{Auth, Call, Endpoint, Transport, decode};
use crate::wait::{Wait, WaitReason};
use crate::wire;

/// One GET of a batch. `Debug` shows the operation only (the URL may hold
/// a secret).
#[derive(Clone)]
pub(crate) struct BatchGet {
    /// What the item is, for its error (e.g. `GET /debug_token for sha256:…`).
    pub(crate) operation: Operation,
    /// Path and query relative to the versioned root, percent-encoded; may
    /// hold a secret (`input_token`), so it travels only in the POST body.
    pub(crate) relative_url: String,
    /// The item's secrets.
    pub(crate) redactor: Redactor,
}

impl BatchGet {
    /// A GET of `path` with `query`; `secrets` are the query values to
    /// scrub from echoes.
    pub(crate) fn new(
        operation: Operation,
        path: &[&str],
        query: &[(&str, &str)],
        redactor: Redactor,
    ) -> Self {
        Self {
            operation,
            relative_url: relative_url(path, query),
            redactor,
        }
    }
}

impl fmt::Debug for BatchGet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchGet")
            .field("operation", &self.operation.to_string())
            .finish_non_exhaustive()
    }
}

/// `a/b?x=1&y=2`, each part percent-encoded.
fn relative_url(path: &[&str], query: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://batch.invalid/").expect("a static, valid url");
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(path);
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    let mut relative = url.path().trim_start_matches('/').to_owned();
    if let Some(query) = url.query() {
        relative.push('?');
        relative.push_str(query);
    }
    relative
}

/// One entry of a batch answer (`null` entries are `None` around it).
#[derive(Debug, Deserialize)]
struct RawItem {
    #[serde(default, deserialize_with = "wire::opt_i64")]
    code: Option<i64>,
    #[serde(default)]
    body: Option<String>,
}

/// Where one item stands after a round.
enum Pending {
    /// `null`: the operation did not complete.
    Incomplete,
    /// A failure that may pass if tried again.
    Failed(ErrorKind),
}

type ChunkResult = (Vec<usize>, Result<Vec<Option<RawItem>>, GraphError>);

/// Where every item of a batch run stands.
struct Ledger<T> {
    /// Final results.
    results: Vec<Option<Result<T, GraphError>>>,
    /// Why an item still waiting was not done in its last round.
    pending: Vec<Option<Pending>>,
    /// Rounds each item went through.
    attempts: Vec<u32>,
}

impl<T: DeserializeOwned> Ledger<T> {
    fn new(len: usize) -> Self {
        Self {
            results: (0..len).map(|_| None).collect(),
            pending: (0..len).map(|_| None).collect(),
            attempts: vec![0; len],
        }
    }

    /// Files one batch request's outcome: values and final errors as
    /// results, `null`s and retryable failures into `retry`. Returns whether
    /// an item was throttled.
    fn settle(
        &mut self,
        items: &[BatchGet],
        indices: Vec<usize>,
        outcome: Result<Vec<Option<RawItem>>, GraphError>,
        retry: &mut Vec<usize>,
    ) -> bool {
        let raw_items = match outcome {
            Ok(raw_items) => raw_items,
            Err(error) => {
                // The batch request itself failed after its own retries:
                // every item in it fails the same way.
                for index in indices {
                    self.results[index] =
                        Some(Err(error.for_operation(items[index].operation.clone())));
                }
                return false;
            }
        };
        let mut throttled = false;
        let mut raw_items = raw_items.into_iter();
        for index in indices {
            self.attempts[index] += 1;
            // A missing entry counts as `null`.
            let Some(raw) = raw_items.next().flatten() else {
                self.pending[index] = Some(Pending::Incomplete);
                retry.push(index);
                continue;
            };
            match parse_item::<T>(&items[index], raw) {
                Ok(value) => self.results[index] = Some(Ok(value)),
                Err(kind) if kind.class().is_retryable() => {
                    throttled |= kind.class() == ErrorClass::Throttled;
                    self.pending[index] = Some(Pending::Failed(kind));
                    retry.push(index);
                }
                Err(kind) => {
                    self.results[index] = Some(Err(GraphError::new(
                        items[index].operation.clone(),
                        kind,
                        self.attempts[index],
                    )));
                }
            }
        }
        throttled
    }

    /// One result per item; items still pending fail with their last
    /// failure.
    fn finish(self, items: &[BatchGet]) -> Vec<Result<T, GraphError>> {
        self.results
            .into_iter()
            .zip(self.pending)
            .zip(items.iter().zip(self.attempts))
            .map(|((result, pending), (item, attempts))| {
                result.unwrap_or_else(|| {
                    let kind = match pending {
                        Some(Pending::Failed(kind)) => kind,
                        Some(Pending::Incomplete) | None => ErrorKind::BatchItemIncomplete,
                    };
                    Err(GraphError::new(item.operation.clone(), kind, attempts))
                })
            })
            .collect()
    }
}

impl Transport {
    /// Runs `items` as batches and returns one result per item, in order.
    pub(crate) async fn batch_get<T>(
        self: &Arc<Self>,
        auth: &Auth,
        items: Vec<BatchGet>,
    ) -> Vec<Result<T, GraphError>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let policy = self.settings.retry.clone();
        let items = Arc::new(items);
        let mut ledger = Ledger::<T>::new(items.len());
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let started = self.clock.now();
        let mut round = 0_u32;
        let mut throttled_rounds = 0_u32;
        while !pending.is_empty() {
            round += 1;
            let chunks: Vec<Vec<usize>> = pending
                .chunks(self.settings.batch.size)
                .map(<[usize]>::to_vec)
                .collect();
            debug!(
                round,
                items = pending.len(),
                batches = chunks.len(),
                "sending graph batch round"
            );
            let mut retry = Vec::new();
            let mut throttled = false;
            for (indices, outcome) in self.run_chunks(auth, &items, chunks, round > 1).await {
                throttled |= ledger.settle(&items, indices, outcome, &mut retry);
            }
            if retry.is_empty() {
                break;
            }
            let delay = if throttled {
                throttled_rounds += 1;
                // The items' usage headers are not asked for
                // (`include_headers=false`), so there is no estimate: the
                // throttle backoff, unless it exceeds max_throttle_wait.
                let Some(wait) = policy.throttle_wait(throttled_rounds, None, &self.jitter) else {
                    debug!(
                        round,
                        items = retry.len(),
                        "batch items throttled for longer than max_throttle_wait"
                    );
                    break;
                };
                wait
            } else {
                policy.backoff(round, &self.jitter)
            };
            let elapsed = self.clock.now().saturating_sub(started);
            if round >= policy.max_attempts || elapsed + delay > policy.max_elapsed {
                debug!(round, items = retry.len(), "batch retry budget exhausted");
                break;
            }
            debug!(
                round,
                items = retry.len(),
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "retrying batch items"
            );
            if throttled {
                self.counters.throttle_wait();
            }
            self.notify(&Wait {
                reason: WaitReason::BatchItems {
                    items: retry.len(),
                    throttled,
                },
                delay,
                attempt: Some(round + 1),
                max_attempts: policy.max_attempts,
            });
            self.clock.sleep(delay).await;
            if throttled {
                self.governor.forget_blocked();
            }
            pending = retry;
        }
        ledger.finish(&items)
    }

    /// Sends each chunk as one batch request, at most
    /// `batch.concurrency` at once.
    async fn run_chunks(
        self: &Arc<Self>,
        auth: &Auth,
        items: &Arc<Vec<BatchGet>>,
        chunks: Vec<Vec<usize>>,
        is_retry: bool,
    ) -> Vec<ChunkResult> {
        let mut running = JoinSet::new();
        let mut queue = chunks.into_iter();
        let mut done = Vec::new();
        loop {
            while running.len() < self.settings.batch.concurrency {
                let Some(chunk) = queue.next() else { break };
                if is_retry {
                    self.counters.retry();
                }
                let call = batch_call(auth, items, &chunk);
                let transport = Arc::clone(self);
                running.spawn(
                    async move {
                        let outcome = match transport.execute(&call).await {
                            Ok(answer) => decode::<Vec<Option<RawItem>>>(&call, &answer),
                            Err(error) => Err(error),
                        };
                        (chunk, outcome)
                    }
                    .instrument(Span::current()),
                );
            }
            match running.join_next().await {
                Some(Ok(result)) => done.push(result),
                Some(Err(error)) => std::panic::resume_unwind(error.into_panic()),
                None => break,
            }
        }
        done
    }
}

/// `POST /` with `batch=[…]`: reads only, so repeating it is harmless.
const BATCH: Endpoint = Endpoint::new(Method::POST, "/ (batch)", Repeat::Safe);

/// The `POST /` carrying the items at `chunk`.
fn batch_call(auth: &Auth, items: &[BatchGet], chunk: &[usize]) -> Call {
    let operations: Vec<_> = chunk
        .iter()
        .map(|&index| json!({"method": "GET", "relative_url": items[index].relative_url}))
        .collect();
    let first = &items[chunk[0]].operation;
    let mut call = BATCH
        .call(
            format!("{} × {} {}", chunk.len(), first.method(), first.endpoint()),
            &[],
        )
        .param("batch", serde_json::Value::Array(operations).to_string())
        .param("include_headers", "false")
        .auth(auth.clone());
    for &index in chunk {
        call.redactor.extend(&items[index].redactor);
    }
    call.api_calls = chunk.len() as u64;
    call
}

/// One item's answer: its value, or why it failed.
fn parse_item<T: DeserializeOwned>(item: &BatchGet, raw: RawItem) -> Result<T, ErrorKind> {
    let status = raw
        .code
        .and_then(|code| u16::try_from(code).ok())
        .unwrap_or(0);
    let body = raw.body.unwrap_or_default();
    if (200..300).contains(&status) {
        return serde_json::from_str(&body).map_err(|error| ErrorKind::InvalidResponse {
            status,
            detail: format!(
                "batch item body is not the expected json ({:?} error at column {})",
                error.classify(),
                error.column()
            )
            .to_lowercase(),
        });
    }
    Err(
        match ApiError::from_body(status, body.as_bytes(), &item.redactor) {
            Some(api) => ErrorKind::Api(Box::new(api)),
            // A batch item's answer is Meta's: no gateway's page.
            None => ErrorKind::http(status, None, body.as_bytes(), &item.redactor),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_are_encoded() {
        assert_eq!(
            relative_url(&["debug_token"], &[("input_token", "EAA+/=&x")]),
            "debug_token?input_token=EAA%2B%2F%3D%26x"
        );
        assert_eq!(relative_url(&["123"], &[]), "123");
        assert_eq!(relative_url(&["../x y"], &[]), "..%2Fx%20y");
    }

    #[test]
    fn debug_of_an_item_shows_no_secret() {
        let item = BatchGet::new(
            Operation::new("GET", "/debug_token", "sha256:x".into()),
            &["debug_token"],
            &[("input_token", "EAAinputtokenvalue")],
            Redactor::default(),
        );
        assert!(!format!("{item:?}").contains("EAAinputtokenvalue"));
    }

    #[test]
    fn items_parse_values_and_errors() {
        let item = BatchGet::new(
            Operation::new("GET", "/{system-user}", "1".into()),
            &["1"],
            &[],
            Redactor::default(),
        );
        let ok: serde_json::Value = parse_item(
            &item,
            RawItem {
                code: Some(200),
                body: Some("{\"id\":\"1\"}".into()),
            },
        )
        .unwrap();
        assert_eq!(ok["id"], "1");
        let error = parse_item::<serde_json::Value>(
            &item,
            RawItem {
                code: Some(400),
                body: Some(
                    "{\"error\":{\"code\":100,\"error_subcode\":33,\"message\":\"m\"}}".into(),
                ),
            },
        )
        .unwrap_err();
        assert_eq!(error.class(), ErrorClass::InvalidParameter);
        let error = parse_item::<serde_json::Value>(
            &item,
            RawItem {
                code: Some(500),
                body: None,
            },
        )
        .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Transient);
    }
}
