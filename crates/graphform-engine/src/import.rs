//! Import: adopt a token made outside graphform (by hand, in Business
//! Manager) so that graphform manages it from now on, as Terraform's
//! `import` adopts a resource.
//!
//! [`import`] checks the value with `debug_token` before anything is
//! written: it must be valid, of the address's app, and a token of the
//! address's system user (its Meta ID as graphform recorded it, or found
//! by name as the planner finds it). A token that fails is refused
//! ([`Refusal`]) and nothing is written. An accepted one is stored, under
//! the apply lease, with what Meta says of it (its actual scopes and
//! expiry), so that the next plan rotates it when they differ from the
//! policy ([`Difference`]). A token stored at the address before becomes
//! the previous one, revoked by a later apply once the token's grace ends,
//! as after a rotation; one still waiting for its revocation is never
//! dropped (the accounting invariant of `apply`): the import is refused
//! until `apply` has revoked it.
//!
//! The value itself appears nowhere but in the store: errors, reports and
//! logs name it by its fingerprint.

use std::collections::BTreeSet;

use graphform_graph::{Expiry as GraphExpiry, GraphError, Secret, TokenInfo};
use graphform_spec::Spec;
use graphform_store::{
    ExpiryMode, Fingerprint, PreviousToken, Store, StoreError, StoredToken, TokenMetadata,
    TokenRecord, Versioned,
};
use graphform_types::{SystemUserAddress, Timestamp, TokenAddress};
use schemars::JsonSchema;
use serde::Serialize;

use crate::admin::CredentialError;
use crate::apply::{ApplyContext, ApplyError, ApplyOptions, Progress, acquire_lease, policy_token};
use crate::document::{AuditEntry, InstallRecord, SystemUserDocument};
use crate::observe::{ObserveError, health_of, read_document, read_records, read_root};
use crate::plan::{ByName, by_name, scope_diff};
use crate::provider::Provider;
use crate::state::{DeadCause, Health, ObservedSystemUser};

/// The audit trail's action for an import.
pub const AUDIT_ACTION: &str = "import";

/// The import report's format version (`import --format json`); bumped
/// when a field changes meaning or goes away, not when one is added.
pub const IMPORT_REPORT_FORMAT_VERSION: u32 = 1;

/// The JSON Schema of `import --format json`
/// (`schemas/import-report.schema.json`).
pub fn import_report_schema() -> String {
    graphform_types::json_schema::<Imported>()
}

/// Who holds the lease while an import runs (shown to anyone who finds
/// the store locked).
pub const LEASE_HOLDER: &str = "graphform import";

/// `debug_token`'s `type` of a system user's token.
const SYSTEM_USER_TYPE: &str = "SYSTEM_USER";

/// What an import did: the document `import --format json` prints
/// (`schemas/import-report.schema.json`). The token appears as its
/// fingerprint only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(rename = "ImportReport")]
pub struct Imported {
    /// The import report format's version (1): it changes when a field
    /// changes meaning or goes away, not when one is added.
    pub format_version: u32,
    /// The address the token is stored at.
    pub address: TokenAddress,
    /// The token's fingerprint.
    pub fingerprint: Fingerprint,
    /// Whether it was stored now or was stored already.
    pub outcome: ImportOutcome,
    /// The system user the token acts as (Meta's ID).
    pub system_user_id: String,
    /// The token's app (Meta's ID).
    pub app_id: String,
    /// The scopes Meta says the token has.
    pub scopes: BTreeSet<String>,
    /// `60d` or `never`, as Meta says.
    pub expiry: ExpiryMode,
    /// When it expires; `None`: never.
    pub expires_at: Option<Timestamp>,
    /// The token it replaced as the current one, if any: kept as the
    /// previous token until its grace ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced: Option<Replaced>,
    /// Where the token differs from the policy: the next plan replaces it.
    pub differences: Vec<Difference>,
}

/// Whether the import stored anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    /// The token is now the current one at its address.
    Stored,
    /// The address already held exactly this token: nothing was written.
    AlreadyStored,
}

/// The token an import replaced as the current one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Replaced {
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// When a later `apply` revokes it: now plus the token's grace.
    pub revoke_after: Timestamp,
}

/// How an imported token differs from what the policy asks: the next
/// plan rotates it (scopes are fixed at issue, and so is the expiry mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// It has other scopes than the policy names.
    Scopes {
        /// The token's.
        token: BTreeSet<String>,
        /// The policy's.
        policy: BTreeSet<String>,
    },
    /// It expires otherwise than the policy says.
    Expiry {
        /// The token's.
        token: ExpiryMode,
        /// The policy's.
        policy: ExpiryMode,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scopes { token, policy } => write!(
                f,
                "its scopes differ from the policy's ({} for the policy): it is rotated to match by the next apply, or once the grace of a token it replaced ends",
                scope_diff(token, policy)
            ),
            Self::Expiry { token, policy } => write!(
                f,
                "it expires `{token}`, the policy says `{policy}`: it is rotated to match by the next apply, or once the grace of a token it replaced ends"
            ),
        }
    }
}

/// Why `debug_token`'s answer does not allow the import.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The token no longer works.
    #[error("Meta says the token is not valid: it was {}", .0.describe())]
    Dead(DeadCause),
    /// Meta gave no verdict on whether the token works.
    #[error("Meta gave no verdict on the token ({0})")]
    NoVerdict(String),
    /// The token is of another app (or Meta would not say which).
    #[error("the token is not of app {expected}{}", .found.as_ref().map_or(String::new(), |f| format!(" but of app {f}")))]
    WrongApp {
        /// The policy's app of the address.
        expected: String,
        /// The token's app, when Meta said.
        found: Option<String>,
        /// Meta's refusal to inspect it as `expected`, when that is how
        /// it showed.
        #[source]
        source: Option<Box<GraphError>>,
    },
    /// The token is not a system user's (a person's, a page's, an app's).
    #[error(
        "the token is not a system user's: debug_token says its type is {}",
        .0.as_deref().map_or_else(|| "missing".to_owned(), |t| format!("`{t}`"))
    )]
    NotSystemUser(Option<String>),
    /// The token acts as another system user.
    #[error(
        "the token belongs to {}, not to system user {expected} ({user})",
        .found.as_ref().map_or_else(|| "no system user Meta names".to_owned(), |f| format!("system user {f}"))
    )]
    WrongSystemUser {
        /// The address's system user.
        user: SystemUserAddress,
        /// Its Meta ID.
        expected: String,
        /// The token's, when Meta said.
        found: Option<String>,
    },
}

/// Why an import did not happen. Nothing was written, except where a
/// variant says otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The policy names no token at the address.
    #[error("the policy names no token `{address}`")]
    NotInPolicy {
        /// The address given.
        address: TokenAddress,
        /// The policy's token addresses closest to it, closest first.
        close: Vec<TokenAddress>,
    },
    /// No admin token for the address's business.
    #[error("no admin token for business `{0}`")]
    NoAdmin(String),
    /// The value is the admin token graphform acts with: managed, it could
    /// be rotated and then revoked, cutting graphform off.
    #[error(
        "{fingerprint} is the admin token graphform acts with for business `{business}`; graphform does not manage its own credential"
    )]
    AdminToken {
        /// The business whose admin token it is.
        business: String,
        /// The token.
        fingerprint: Fingerprint,
    },
    /// No secret for the token's app.
    #[error("no secret for app {0}")]
    NoAppSecret(String),
    /// The apply lease could not be taken (another apply or import holds
    /// it, or the store failed).
    #[error("cannot take the store's lock")]
    Lease(#[source] Box<ApplyError>),
    /// Reading the store failed.
    #[error("reading the store failed")]
    Store(#[from] StoreError),
    /// graphform's records could not be read.
    #[error("reading graphform's records")]
    Records(#[from] ObserveError),
    /// Meta refused a credential the policy names (the business's admin
    /// token, an app's secret): the variable to fix.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// A Graph API call failed.
    #[error("reading {what} from the Graph API")]
    Graph {
        /// What was being read.
        what: String,
        /// The cause.
        #[source]
        source: Box<GraphError>,
    },
    /// Meta lists no system user of the address's name.
    #[error("business `{business}` ({business_id}) has no system user named `{name}`")]
    NoSystemUser {
        /// The business.
        business: String,
        /// Its Meta ID.
        business_id: String,
        /// The system user's name.
        name: String,
    },
    /// Several system users have the address's name and none is recorded.
    #[error("{} system users are named `{}` (IDs {})", .ids.len(), .user.name(), .ids.join(", "))]
    AmbiguousSystemUser {
        /// The address's system user.
        user: SystemUserAddress,
        /// Their Meta IDs.
        ids: Vec<String>,
    },
    /// `debug_token` says the token may not be imported.
    #[error("{fingerprint} cannot be imported as {address}")]
    Refused {
        /// The address.
        address: TokenAddress,
        /// The token.
        fingerprint: Fingerprint,
        /// Why.
        #[source]
        refusal: Box<Refusal>,
    },
    /// The address's replaced token still waits for its revocation:
    /// importing now would drop it while it works.
    #[error(
        "{address} still holds the replaced token {previous}, to be revoked after {revoke_after}; importing now would drop it while it works"
    )]
    PreviousPending {
        /// The address.
        address: TokenAddress,
        /// The replaced token.
        previous: Fingerprint,
        /// When `apply` may revoke it.
        revoke_after: Timestamp,
    },
    /// The token is stored already as a replaced one, waiting for its
    /// revocation.
    #[error(
        "{fingerprint} is stored at {address} as the replaced token, to be revoked after {revoke_after}"
    )]
    StoredAsPrevious {
        /// The address.
        address: TokenAddress,
        /// The token.
        fingerprint: Fingerprint,
        /// When `apply` may revoke it.
        revoke_after: Timestamp,
    },
    /// The token is stored already at another address.
    #[error("{fingerprint} is stored already, at {elsewhere}")]
    StoredElsewhere {
        /// The token.
        fingerprint: Fingerprint,
        /// Where.
        elsewhere: TokenAddress,
    },
    /// The token could not be written; it is not stored.
    #[error("storing {fingerprint} at {address} failed")]
    Write {
        /// The address.
        address: TokenAddress,
        /// The token.
        fingerprint: Fingerprint,
        /// The cause.
        #[source]
        source: Box<StoreError>,
    },
    /// The token is stored, but graphform's record of the system user
    /// (its ID, the audit entry) could not be written.
    #[error(
        "{fingerprint} is stored at {address}, but the records of {} could not be written",
        .address.system_user()
    )]
    RecordsNotWritten {
        /// The address.
        address: TokenAddress,
        /// The token.
        fingerprint: Fingerprint,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ImportError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotInPolicy { close, .. } if !close.is_empty() => Some(format!(
                "did you mean {}? Only tokens the policy names can be imported: add it to the policy first",
                close
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
            Self::NotInPolicy { .. } => Some(
                "only tokens the policy names can be imported: add it to the policy first (`graphform plan` lists the policy's tokens in its timeline)".to_owned(),
            ),
            Self::AdminToken { .. } => Some(
                "import another token of the system user; keep the admin token outside the policy's tokens (a rotation would revoke it)".to_owned(),
            ),
            Self::Lease(error) => error.hint(),
            Self::Credential(error) => Some(error.hint.clone()),
            Self::Store(error) => error.hint().map(str::to_owned),
            Self::NoSystemUser { .. } => Some(
                "a system user that does not exist has no token to import; `graphform apply` creates it and issues its tokens".to_owned(),
            ),
            Self::AmbiguousSystemUser { .. } => Some(
                "graphform will not guess which one the address means: rename the others in Business Settings".to_owned(),
            ),
            Self::Refused { refusal, .. } => Some(match **refusal {
                Refusal::Dead(_) | Refusal::NoVerdict(_) => {
                    "import a token that works; or let `graphform apply` issue a new one".to_owned()
                }
                Refusal::WrongApp { .. } => {
                    "import a token issued for the app the policy names for this address".to_owned()
                }
                Refusal::NotSystemUser(_) | Refusal::WrongSystemUser { .. } => {
                    "import a token generated for the address's system user (Business Settings > System users > Generate token)".to_owned()
                }
            }),
            Self::PreviousPending { .. } => Some(
                "run `graphform apply` once the grace has ended: it revokes the replaced token; then import".to_owned(),
            ),
            Self::StoredAsPrevious { .. } => Some(
                "graphform already manages this token and will revoke it; import another one".to_owned(),
            ),
            Self::StoredElsewhere { .. } => Some(
                "a token is stored at one address only; import another one".to_owned(),
            ),
            Self::RecordsNotWritten { .. } => Some(
                "the token is managed from now on; the next `graphform apply` records the system user".to_owned(),
            ),
            _ => None,
        }
    }
}

/// What `debug_token` says of an accepted token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Its scopes.
    pub scopes: BTreeSet<String>,
    /// `60d` or `never`.
    pub expiry: ExpiryMode,
    /// When it expires; `None`: never.
    pub expires_at: Option<Timestamp>,
    /// When it was issued, when Meta said.
    pub issued_at: Option<Timestamp>,
}

/// Checks `debug_token`'s answer about a token to import as a token of
/// app `app_id` for system user `system_user_id` (at `user`): it must be
/// valid (read strictly, as observation reads it), of that app, a system
/// user's, and that system user's.
pub fn verify(
    info: &TokenInfo,
    app_id: &str,
    user: &SystemUserAddress,
    system_user_id: &str,
) -> Result<Verified, Refusal> {
    let (expires_at, scopes) = match health_of(info) {
        Health::Valid {
            expires_at, scopes, ..
        } => (expires_at, scopes),
        Health::Dead { cause, .. } => return Err(Refusal::Dead(cause)),
        Health::NoVerdict { reason } => return Err(Refusal::NoVerdict(reason)),
        Health::Unknown { app_id } => {
            return Err(Refusal::NoVerdict(format!("app {app_id} is not checked")));
        }
    };
    if info.app_id.as_deref() != Some(app_id) {
        return Err(Refusal::WrongApp {
            expected: app_id.to_owned(),
            found: info.app_id.clone(),
            source: None,
        });
    }
    if info.token_type.as_deref() != Some(SYSTEM_USER_TYPE) {
        return Err(Refusal::NotSystemUser(info.token_type.clone()));
    }
    if info.user_id.as_deref() != Some(system_user_id) {
        return Err(Refusal::WrongSystemUser {
            user: user.clone(),
            expected: system_user_id.to_owned(),
            found: info.user_id.clone(),
        });
    }
    let expiry = match info.expiry() {
        Some(GraphExpiry::At(_)) => ExpiryMode::SixtyDays,
        Some(GraphExpiry::Never) | None => ExpiryMode::Never,
    };
    Ok(Verified {
        scopes,
        expiry,
        expires_at,
        issued_at: info
            .issued_at
            .filter(|at| *at > 0)
            .map(Timestamp::from_unix),
    })
}

/// Where a verified token differs from the policy's `token`.
pub fn differences(verified: &Verified, token: &graphform_spec::Token) -> Vec<Difference> {
    let mut differences = Vec::new();
    if verified.scopes != token.scopes {
        differences.push(Difference::Scopes {
            token: verified.scopes.clone(),
            policy: token.scopes.clone(),
        });
    }
    if verified.expiry != token.expiry.mode() {
        differences.push(Difference::Expiry {
            token: verified.expiry,
            policy: token.expiry.mode(),
        });
    }
    differences
}

/// The policy's token addresses closest to `address`, closest first (at
/// most three), for a "did you mean" hint.
fn close_addresses(spec: &Spec, address: &TokenAddress) -> Vec<TokenAddress> {
    let all: Vec<TokenAddress> = spec.token_addresses().collect();
    crate::plan::close_addresses(address, &all)
}

/// Imports `value` as the current token at `address`, under the apply
/// lease: verified with `debug_token` (see the [module docs](self)), then
/// stored, and the system user's records (its Meta ID, an `import` audit
/// entry) written compare-and-set. Lease notes (a stale lease taken over)
/// go to `progress`.
///
/// On `Err`, nothing was written, except for [`ImportError::RecordsNotWritten`]
/// (the token is stored).
pub async fn import<S: Store, P: Provider>(
    context: &ApplyContext<'_, S, P>,
    address: &TokenAddress,
    value: &Secret,
    progress: &dyn Progress,
) -> Result<Imported, ImportError> {
    let Some((business, _, token)) = policy_token(context.spec, address) else {
        return Err(ImportError::NotInPolicy {
            address: address.clone(),
            close: close_addresses(context.spec, address),
        });
    };
    let admin = context
        .credentials
        .admins
        .get(&business.name)
        .ok_or_else(|| ImportError::NoAdmin(business.name.clone()))?;
    let fingerprint = value.fingerprint();
    if let Some((business, _)) = context
        .credentials
        .admins
        .iter()
        .find(|(_, admin)| admin.token().fingerprint() == fingerprint)
    {
        return Err(ImportError::AdminToken {
            business: business.clone(),
            fingerprint,
        });
    }
    let app_id = &business.apps[&token.app].id;
    let app = context
        .credentials
        .apps
        .get(app_id)
        .ok_or_else(|| ImportError::NoAppSecret(app_id.clone()))?;
    let options = ApplyOptions {
        holder: LEASE_HOLDER.to_owned(),
        ..ApplyOptions::default()
    };
    let lease = acquire_lease(context.store, &options, context.now, progress)
        .await
        .map_err(|error| ImportError::Lease(Box::new(error)))?;
    let result = Importer {
        context,
        address,
        value,
        token,
    }
    .run(admin, app, &business.id)
    .await;
    if let Err(error) = context.store.release_lease(&lease).await {
        progress.note(&format!("could not release the lease: {error}"));
    }
    result
}

/// One import, under the lease.
struct Importer<'a, 'c, S, P> {
    context: &'a ApplyContext<'c, S, P>,
    address: &'a TokenAddress,
    value: &'a Secret,
    token: &'a graphform_spec::Token,
}

impl<S: Store, P: Provider> Importer<'_, '_, S, P> {
    async fn run(
        &self,
        admin: &graphform_graph::UserToken,
        app: &graphform_graph::AppCredentials,
        business_id: &str,
    ) -> Result<Imported, ImportError> {
        let (context, address, value) = (self.context, self.address, self.value);
        let fingerprint = value.fingerprint();
        let system_user_id = self.system_user_id(admin, business_id).await?;
        let verified = self.verified(app, &system_user_id).await?;
        let differences = differences(&verified, self.token);
        let imported = |outcome, replaced| Imported {
            format_version: IMPORT_REPORT_FORMAT_VERSION,
            address: address.clone(),
            fingerprint: fingerprint.clone(),
            outcome,
            system_user_id: system_user_id.clone(),
            app_id: app.app_id().to_owned(),
            scopes: verified.scopes.clone(),
            expiry: verified.expiry,
            expires_at: verified.expires_at,
            replaced,
            differences: differences.clone(),
        };

        let stored = context.store.read_token(address).await?;
        let (replaced, version) = match stored {
            None => (None, None),
            Some(Versioned {
                value: record,
                version,
            }) => match self.replaced(record, &fingerprint)? {
                None => return Ok(imported(ImportOutcome::AlreadyStored, None)),
                Some(previous) => (Some(previous), Some(version)),
            },
        };
        self.not_stored_elsewhere(&fingerprint).await?;
        let record = TokenRecord {
            current: StoredToken {
                value: value.clone(),
                metadata: TokenMetadata {
                    address: address.clone(),
                    app_id: app.app_id().to_owned(),
                    system_user_id: system_user_id.clone(),
                    scopes: verified.scopes.clone(),
                    expiry: verified.expiry,
                    issued_at: verified.issued_at.unwrap_or(context.now),
                    expires_at: verified.expires_at,
                    fingerprint: fingerprint.clone(),
                    issued_by: None,
                },
            },
            previous: replaced.clone(),
        };
        context
            .store
            .write_token(address, &record, version.as_ref())
            .await
            .map_err(|source| ImportError::Write {
                address: address.clone(),
                fingerprint: fingerprint.clone(),
                source: Box::new(source),
            })?;
        let before = replaced
            .as_ref()
            .map(|p| p.token.metadata.fingerprint.clone());
        let audit = AuditEntry {
            at: context.now,
            address: address.clone().into(),
            action: AUDIT_ACTION.to_owned(),
            before,
            after: Some(fingerprint.clone()),
            id: Some(system_user_id.clone()),
        };
        self.record(&system_user_id, app.app_id(), audit)
            .await
            .map_err(|source| ImportError::RecordsNotWritten {
                address: address.clone(),
                fingerprint: fingerprint.clone(),
                source,
            })?;
        let replaced = replaced.map(|previous| Replaced {
            fingerprint: previous.token.metadata.fingerprint,
            revoke_after: previous.revoke_after,
        });
        Ok(imported(ImportOutcome::Stored, replaced))
    }

    /// `debug_token` of the value, as the app's, checked ([`verify`]).
    async fn verified(
        &self,
        app: &graphform_graph::AppCredentials,
        system_user_id: &str,
    ) -> Result<Verified, ImportError> {
        let refused = |refusal| ImportError::Refused {
            address: self.address.clone(),
            fingerprint: self.value.fingerprint(),
            refusal: Box::new(refusal),
        };
        let client = self.context.client.labeled(self.address.to_string());
        let info = match client.debug_token(app, self.value).await {
            Ok(info) => info,
            // Inspected as another app's token: Meta refuses to say more.
            Err(error)
                if error.credential_fault(true)
                    == Some(graphform_graph::CredentialFault::OtherAppsToken) =>
            {
                return Err(refused(Refusal::WrongApp {
                    expected: app.app_id().to_owned(),
                    found: None,
                    source: Some(Box::new(error)),
                }));
            }
            Err(error) => {
                return Err(
                    match CredentialError::of_app(self.context.spec, app.app_id(), error) {
                        Ok(credential) => ImportError::Credential(credential),
                        Err(error) => ImportError::Graph {
                            what: format!("debug_token of {}", self.value.fingerprint()),
                            source: Box::new(error),
                        },
                    },
                );
            }
        };
        let user = self.address.system_user();
        verify(&info, app.app_id(), user, system_user_id).map_err(refused)
    }

    /// What becomes of the `stored` record's current token when the value
    /// (`fingerprint`) is imported: kept as the previous one, for the
    /// token's grace. `None`: the value is the current one already.
    /// Refused while a previous token waits for its revocation.
    fn replaced(
        &self,
        stored: TokenRecord,
        fingerprint: &Fingerprint,
    ) -> Result<Option<PreviousToken>, ImportError> {
        if stored.current.metadata.fingerprint == *fingerprint {
            return Ok(None);
        }
        if let Some(previous) = stored.previous {
            let address = self.address.clone();
            let revoke_after = previous.revoke_after;
            let previous = previous.token.metadata.fingerprint;
            return Err(if previous == *fingerprint {
                ImportError::StoredAsPrevious {
                    address,
                    fingerprint: previous,
                    revoke_after,
                }
            } else {
                ImportError::PreviousPending {
                    address,
                    previous,
                    revoke_after,
                }
            });
        }
        // The same grace a rotation gives the token it replaces.
        Ok(Some(PreviousToken {
            token: stored.current,
            revoke_after: self.context.now + self.token.grace,
        }))
    }

    /// The Meta ID of the address's system user, matched as the planner
    /// matches it: by name among those Meta lists, the recorded one among
    /// several of the name.
    async fn system_user_id(
        &self,
        admin: &graphform_graph::UserToken,
        business_id: &str,
    ) -> Result<String, ImportError> {
        let user = self.address.system_user();
        let document = read_document(self.context.store).await?;
        let recorded = document.system_users.get(user).map(String::as_str);
        let listed: Vec<ObservedSystemUser> = self
            .context
            .client
            .labeled(user.business().to_owned())
            .list_system_users(admin, business_id)
            .await
            .map_err(|error| {
                let business = self
                    .context
                    .spec
                    .businesses
                    .iter()
                    .find(|business| business.name == user.business());
                let blamed = match business {
                    Some(business) => CredentialError::of_admin(business, error),
                    None => Err(error),
                };
                match blamed {
                    Ok(credential) => ImportError::Credential(credential),
                    Err(source) => ImportError::Graph {
                        what: format!(
                            "the system users of business `{}` ({business_id})",
                            user.business()
                        ),
                        source: Box::new(source),
                    },
                }
            })?
            .into_iter()
            .map(|entry| ObservedSystemUser {
                id: entry.id,
                name: entry.name,
                role: entry.role,
            })
            .collect();
        match by_name(&listed, user.name(), recorded) {
            ByName::Found(found) => Ok(found.id.clone()),
            ByName::Missing => Err(ImportError::NoSystemUser {
                business: user.business().to_owned(),
                business_id: business_id.to_owned(),
                name: user.name().to_owned(),
            }),
            ByName::Ambiguous(several) => Err(ImportError::AmbiguousSystemUser {
                user: user.clone(),
                ids: several.iter().map(|u| u.id.clone()).collect(),
            }),
        }
    }

    /// Refuses a token the store holds already at another address: two
    /// records of one token would each replace and revoke it on their own.
    async fn not_stored_elsewhere(&self, fingerprint: &Fingerprint) -> Result<(), ImportError> {
        let records = read_records(self.context.store).await?;
        let elsewhere = records.into_iter().find(|(address, record)| {
            address != self.address
                && std::iter::once(&record.current)
                    .chain(record.previous.as_ref().map(|p| &p.token))
                    .any(|stored| stored.metadata.fingerprint == *fingerprint)
        });
        match elsewhere {
            Some((elsewhere, _)) => Err(ImportError::StoredElsewhere {
                fingerprint: fingerprint.clone(),
                elsewhere,
            }),
            None => Ok(()),
        }
    }

    /// Records the system user's Meta ID (if none is recorded), the
    /// install of the token's app (a valid system-user token of an app
    /// proves it installed: Meta refuses the tokens of an uninstalled app
    /// with 190/458) and `audit` in its document, compare-and-set; names
    /// the system user at the root first, as apply does before a document
    /// is first written.
    async fn record(
        &self,
        system_user_id: &str,
        app_id: &str,
        audit: AuditEntry,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let store = self.context.store;
        let user = self.address.system_user();
        let (mut root, root_version) = read_root(store).await?;
        let named = root.documents.contains(user);
        if !named {
            root.documents.insert(user.clone());
            let bytes = serde_json::to_vec(&root)?;
            store.write_state(&bytes, root_version.as_ref()).await?;
        }
        let stored = crate::observe::read_system_user_document(store, user).await?;
        let (mut document, version) = match stored {
            Some((document, version)) if named => (document, Some(version)),
            // Not graphform's record yet (see `Applier::open_ledger`).
            Some((_, version)) => (SystemUserDocument::default(), Some(version)),
            None => (SystemUserDocument::default(), None),
        };
        document.id.get_or_insert_with(|| system_user_id.to_owned());
        let install = user.install(&self.token.app);
        let recorded = document.installs.get(&install).is_some_and(|record| {
            record.system_user_id == system_user_id && record.app_id == app_id
        });
        if !recorded {
            document.installs.insert(
                install,
                InstallRecord {
                    system_user_id: system_user_id.to_owned(),
                    app_id: app_id.to_owned(),
                    installed_at: self.context.now,
                },
            );
        }
        document.record([audit]);
        let bytes = serde_json::to_vec(&document)?;
        store
            .write_system_user_state(user, &bytes, version.as_ref())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> SystemUserAddress {
        SystemUserAddress::new("acme", "ci-reporting")
    }

    fn info(json: serde_json::Value) -> TokenInfo {
        serde_json::from_value(json).expect("debug_token's answer")
    }

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "app_id": "200000000000001", "type": "SYSTEM_USER", "is_valid": true,
            "issued_at": 1_767_225_600, "expires_at": 1_772_409_600,
            "scopes": ["read_insights", "ads_read"], "user_id": "615500000000001",
        })
    }

    fn check(answer: serde_json::Value) -> Result<Verified, Refusal> {
        verify(&info(answer), "200000000000001", &user(), "615500000000001")
    }

    #[test]
    fn a_valid_token_of_the_app_and_system_user_is_accepted_as_meta_describes_it() {
        let verified = check(valid()).expect("accepted");
        assert_eq!(
            verified,
            Verified {
                scopes: ["ads_read", "read_insights"].map(str::to_owned).into(),
                expiry: ExpiryMode::SixtyDays,
                expires_at: Some(Timestamp::from_unix(1_772_409_600)),
                issued_at: Some(Timestamp::from_unix(1_767_225_600)),
            }
        );
        let mut never = valid();
        never["expires_at"] = 0.into();
        let verified = check(never).expect("accepted");
        assert_eq!(
            (verified.expiry, verified.expires_at),
            (ExpiryMode::Never, None)
        );
    }

    #[test]
    fn a_revoked_or_expired_token_is_refused() {
        let revoked = serde_json::json!({
            "app_id": "200000000000001", "type": "SYSTEM_USER", "is_valid": false, "scopes": [],
            "user_id": "615500000000001",
            "error": {"code": 190, "subcode": 467, "message": "The session is invalid because the user logged out."},
        });
        let refusal = check(revoked).expect_err("refused");
        assert!(
            matches!(refusal, Refusal::Dead(DeadCause::Revoked)),
            "{refusal:?}"
        );
        assert_eq!(
            refusal.to_string(),
            "Meta says the token is not valid: it was revoked or invalidated outside graphform"
        );
        let expired = serde_json::json!({
            "is_valid": false, "error": {"code": 190, "subcode": 463, "message": "expired"},
        });
        assert!(matches!(
            check(expired),
            Err(Refusal::Dead(DeadCause::Expired))
        ));
        let silent = serde_json::json!({"app_id": "200000000000001"});
        assert!(matches!(check(silent), Err(Refusal::NoVerdict(_))));
    }

    /// Why an answer like [`valid`]'s but for `key`'s `value` is refused.
    fn refused_with(key: &str, value: &str) -> String {
        let mut answer = valid();
        answer[key] = value.into();
        check(answer).expect_err("refused").to_string()
    }

    #[test]
    fn a_token_of_another_app_is_refused() {
        assert_eq!(
            refused_with("app_id", "200000000000002"),
            "the token is not of app 200000000000001 but of app 200000000000002"
        );
    }

    #[test]
    fn a_token_of_another_system_user_is_refused() {
        assert_eq!(
            refused_with("user_id", "300000000000001"),
            "the token belongs to system user 300000000000001, not to system user 615500000000001 (acme/ci-reporting)"
        );
    }

    #[test]
    fn a_persons_token_is_refused_even_for_the_right_id() {
        assert_eq!(
            refused_with("type", "USER"),
            "the token is not a system user's: debug_token says its type is `USER`"
        );
        let mut untyped = valid();
        untyped.as_object_mut().expect("an object").remove("type");
        assert!(matches!(check(untyped), Err(Refusal::NotSystemUser(None))));
    }

    #[test]
    fn differences_name_scopes_and_expiry() {
        let verified = check(valid()).expect("accepted");
        let spec = graphform_spec::load_texts(vec![(
            "graphform.yaml".into(),
            "version: 1\nbusinesses:\n  - name: acme\n    id: \"1\"\n    admin: { token_env: A, app: reporting }\n    apps:\n      reporting: { id: \"200000000000001\", secret_env: S }\n    system_users:\n      - name: ci-reporting\n        apps: [reporting]\n        tokens:\n          - { name: same, app: reporting, scopes: [ads_read, read_insights] }\n          - { name: other, app: reporting, scopes: [ads_read], expiry: never }\n".to_owned(),
        )])
        .spec
        .expect("a valid policy");
        let tokens = &spec.businesses[0].system_users[0].tokens;
        assert!(differences(&verified, &tokens[0]).is_empty());
        let found = differences(&verified, &tokens[1]);
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "its scopes differ from the policy's (-read_insights for the policy): it is rotated to match by the next apply, or once the grace of a token it replaced ends",
                "it expires `60d`, the policy says `never`: it is rotated to match by the next apply, or once the grace of a token it replaced ends",
            ]
        );
    }
}
