//! The Meta Graph API client: every call graphform makes to Meta goes
//! through this crate (design.md §5, graph-api.md).
//!
//! It is typed requests and responses for the endpoints graphform uses
//! (system users, app installs, tokens, `debug_token`, batches), with
//! `appsecret_proof` signing, one [`GraphError`] with a retry
//! [`ErrorClass`], retries with backoff and jitter, throttling and usage
//! headers honoured, batching of reads, cursor pagination, and redaction:
//! no token, secret or proof reaches a log line, an error or a `Debug`
//! output.
//!
//! It is not a general Graph SDK (other endpoints are not modelled), it
//! keeps no state about what exists (that is the engine's), and it stores
//! no credential: each call takes the token it is made with.
//!
//! The entry point is [`GraphClient`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use graphform_graph::{AppCredentials, ClientSettings, GraphClient, IssueToken, Secret, UserToken};
//!
//! let client = GraphClient::new(ClientSettings::default())?;
//! let app = AppCredentials::new("1234", Secret::new("app-secret"));
//! let admin = UserToken::new(Secret::new("EAA…"), app.clone());
//! let token = client
//!     .labeled("acme/ci-reporting")
//!     .issue_token(&admin, "1000081799813", &IssueToken::new("1234", ["ads_read"]))
//!     .await?;
//! let info = client.debug_token(&app, &token).await?;
//! assert!(info.is_valid == Some(true));
//! # Ok(())
//! # }
//! ```
//!
//! Secrets and fingerprints come from [`graphform_types`] and are
//! re-exported here for the client's users.

mod auth;
mod batch;
mod client;
mod clock;
mod config;
mod counters;
mod endpoints;
mod error;
mod redact;
mod retry;
mod transport;
mod usage;
mod wait;
mod wire;

pub use auth::{AppCredentials, UserToken, appsecret_proof};
pub use client::GraphClient;
pub use clock::{Clock, Sleep, TokioClock, VirtualClock};
pub use config::{
    ApiVersion, BaseUrl, BatchOptions, ClientSettings, ConfigError, DEFAULT_API_VERSION,
    DEFAULT_BASE_URL, MAX_BATCH_SIZE,
};
pub use counters::CounterSnapshot;
pub use endpoints::debug_token::{Expiry, GranularScope, TokenInfo, TokenInfoError};
pub use endpoints::system_users::{
    ListOptions, NewSystemUser, Page, SystemUser, SystemUserEntry, SystemUserList, SystemUserRole,
};
pub use endpoints::tokens::{IssueToken, RefreshedToken};
pub use error::{
    AnswerError, AnswerFailure, ApiError, ConnectError, ConnectFailure, CredentialFault,
    ErrorClass, ErrorKind, GraphError, NetworkError, NetworkFailure, Operation, TokenInvalidReason,
};
pub use graphform_types::{Fingerprint, Secret, fingerprint};
pub use retry::RetryPolicy;
pub use usage::{
    AppUsage, BusinessUseCaseUsage, UsagePolicy, UsageReport, parse_app_usage,
    parse_business_use_case_usage,
};
pub use wait::{Wait, WaitObserver, WaitReason};
