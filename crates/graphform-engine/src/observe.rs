//! Observation: build the [`State`] from the Graph API, the store and the
//! state document. Read-only: it takes no lock and changes nothing, so
//! read-only Graph credentials and a read-only store suffice.
//!
//! Reads are batched and concurrent: one system-user listing per business
//! (all businesses at once) and `debug_token` for every stored value in
//! batches of up to 50 per app (all apps at once).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;
use futures_util::{StreamExt as _, TryStreamExt as _};
use graphform_graph::{
    AppCredentials, CredentialFault, Expiry as GraphExpiry, GraphError, Secret, TokenInfo,
    UserToken,
};
use graphform_spec::Spec;
use graphform_store::{Store, StoreError, TokenMetadata, TokenRecord, Version, Versioned};
use graphform_types::{SystemUserAddress, Timestamp, TokenAddress};

use crate::admin::CredentialError;
use crate::document::{StateDocument, SystemUserDocument};
use crate::provider::Provider;
use crate::state::{
    AdminToken, DeadCause, Health, ObservedBusiness, ObservedPrevious, ObservedSystemUser,
    ObservedToken, ObservedValue, State,
};

/// The credentials observation uses: each business's admin token and each
/// app's secret (by app ID).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Admin token per business name.
    pub admins: BTreeMap<String, UserToken>,
    /// App credentials per app ID.
    pub apps: BTreeMap<String, AppCredentials>,
}

/// Why observation failed. Nothing was changed either way.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// A Graph API call failed.
    #[error("reading {what} from the Graph API")]
    Graph {
        /// What was being read.
        what: String,
        /// The cause.
        #[source]
        source: Box<GraphError>,
    },
    /// The store failed.
    #[error("reading the store")]
    Store(#[from] StoreError),
    /// A state document could not be read.
    #[error("{what} is unreadable")]
    Document {
        /// Which: `the state document`, `the state document of acme/ci`.
        what: String,
        /// The cause (a position, never the text).
        #[source]
        source: serde_json::Error,
    },
    /// Meta refused a credential the policy names: the variable to fix.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// A credential the policy names is not available.
    #[error("no admin token for business `{0}`")]
    MissingAdmin(String),
}

impl ObserveError {
    /// What to do about it, when graphform knows.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::Credential(error) => Some(&error.hint),
            Self::Store(error) => error.hint(),
            _ => None,
        }
    }
}

/// Observes everything the planner needs for `spec`.
pub async fn observe<S: Store, P: Provider>(
    spec: &Spec,
    client: &P,
    store: &S,
    credentials: &Credentials,
) -> Result<State, ObserveError> {
    let document = read_document(store).await?;
    let records = read_records(store).await?;

    let listings = spec.businesses.iter().map(|business| async move {
        let admin = credentials
            .admins
            .get(&business.name)
            .ok_or_else(|| ObserveError::MissingAdmin(business.name.clone()))?;
        let list = client
            .labeled(business.name.clone())
            .list_system_users(admin, &business.id)
            .await
            .map_err(|error| match CredentialError::of_admin(business, error) {
                Ok(credential) => ObserveError::Credential(credential),
                Err(source) => ObserveError::Graph {
                    what: format!(
                        "the system users of business `{}` ({})",
                        business.name, business.id
                    ),
                    source: Box::new(source),
                },
            })?;
        let mut system_users: Vec<ObservedSystemUser> = list
            .into_iter()
            .map(|user| ObservedSystemUser {
                id: user.id,
                name: user.name,
                role: user.role,
            })
            .collect();
        system_users.sort();
        Ok::<_, ObserveError>((
            business.name.clone(),
            ObservedBusiness {
                id: business.id.clone(),
                system_users,
                admin_system_user_id: None,
                admin: None,
            },
        ))
    });
    let mut businesses = join_all(listings)
        .await
        .into_iter()
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let (admins, health) = futures_util::join!(
        admin_tokens(spec, client, credentials),
        check_tokens(spec, client, credentials, &records)
    );
    for (name, admin) in admins? {
        if let Some(business) = businesses.get_mut(&name) {
            business.admin_system_user_id =
                admin.user_id.clone().filter(|_| admin.health.is_valid());
            business.admin = Some(admin);
        }
    }
    let health = health?;
    let tokens = records
        .into_iter()
        .map(|(address, record)| {
            let value = |stored: &graphform_store::StoredToken| ObservedValue {
                metadata: stored.metadata.clone(),
                health: health
                    .get(&stored.value.fingerprint())
                    .cloned()
                    .unwrap_or_else(|| unknown(&stored.metadata)),
            };
            let observed = ObservedToken {
                current: value(&record.current),
                previous: record.previous.as_ref().map(|previous| ObservedPrevious {
                    value: value(&previous.token),
                    revoke_after: previous.revoke_after,
                }),
            };
            (address, observed)
        })
        .collect();
    Ok(State {
        businesses,
        tokens,
        document,
    })
}

/// Reads graphform's records: the root state document and the document of
/// every system user it names (concurrently), assembled into one view;
/// none yet is an empty one.
pub async fn read_document<S: Store>(store: &S) -> Result<StateDocument, ObserveError> {
    let (mut document, _) = read_root(store).await?;
    let users: Vec<_> = futures_util::stream::iter(document.documents.iter())
        .map(|user| async move {
            let read = read_system_user_document(store, user).await?;
            Ok::<_, ObserveError>(read.map(|(records, _)| (user.clone(), records)))
        })
        .buffer_unordered(STORE_READS_AT_ONCE)
        .try_collect()
        .await?;
    for (user, records) in users.into_iter().flatten() {
        document.merge(&user, records);
    }
    Ok(document)
}

/// Reads and parses the root state document, with the version to write
/// against; none yet is an empty one.
pub(crate) async fn read_root<S: Store>(
    store: &S,
) -> Result<(StateDocument, Option<Version>), ObserveError> {
    match store.read_state().await? {
        None => Ok((StateDocument::default(), None)),
        Some(Versioned { value, version }) => Ok((
            serde_json::from_slice(&value).map_err(|source| ObserveError::Document {
                what: "the state document".to_owned(),
                source,
            })?,
            Some(version),
        )),
    }
}

/// Reads and parses one system user's document, with the version to
/// write against.
pub(crate) async fn read_system_user_document<S: Store>(
    store: &S,
    user: &SystemUserAddress,
) -> Result<Option<(SystemUserDocument, Version)>, ObserveError> {
    match store.read_system_user_state(user).await? {
        None => Ok(None),
        Some(Versioned { value, version }) => Ok(Some((
            serde_json::from_slice(&value).map_err(|source| ObserveError::Document {
                what: format!("the state document of {user}"),
                source,
            })?,
            version,
        ))),
    }
}

/// Every token record the store holds, by address (read concurrently).
pub(crate) async fn read_records<S: Store>(
    store: &S,
) -> Result<BTreeMap<TokenAddress, TokenRecord>, ObserveError> {
    let addresses = store.list_tokens().await?;
    let records: Vec<_> = futures_util::stream::iter(addresses)
        .map(|address| async move {
            let record = store.read_token(&address).await?;
            Ok::<_, StoreError>(record.map(|record| (address, record.value)))
        })
        .buffer_unordered(STORE_READS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(records.into_iter().flatten().collect())
}

/// How many token records observation reads at once. A remote store
/// (Vault, Secrets Manager) answers each read after a round trip, so a
/// plan over thousands of tokens reads them concurrently; 16 stays well
/// inside both services' request-rate limits.
const STORE_READS_AT_ONCE: usize = 16;

/// What `debug_token` says of each business's admin token (valid, its
/// app, scopes, expiry, whose it is), batched per app: for the admin
/// credential's health ([`crate::admin`]) and for invalidations, which
/// must know whose token the admin's is. A failed call is
/// [`Health::NoVerdict`] with why, except one where Meta refuses the app's
/// own credentials (the app token `debug_token` is called with): that is
/// the [`CredentialError`] naming the app secret's variable, as
/// [`check_tokens`] reports it, for no admin token can be judged then
/// (issue 15: `status --check` named the admin token's variable).
pub(crate) async fn admin_tokens<P: Provider>(
    spec: &Spec,
    client: &P,
    credentials: &Credentials,
) -> Result<Vec<(String, AdminToken)>, ObserveError> {
    /// Per app: its credentials, and each business's admin token of it.
    type AdminsOfApp<'c> = (&'c AppCredentials, Vec<(&'c String, Secret)>);
    let mut by_app: BTreeMap<&str, AdminsOfApp<'_>> = BTreeMap::new();
    for (business, admin) in &credentials.admins {
        by_app
            .entry(admin.app().app_id())
            .or_insert_with(|| (admin.app(), Vec::new()))
            .1
            .push((business, admin.token().clone()));
    }
    let checks = by_app.into_values().map(|(app, admins)| async move {
        let tokens: Vec<Secret> = admins.iter().map(|(_, token)| token.clone()).collect();
        let results = client.debug_tokens(app, &tokens).await;
        admins
            .into_iter()
            .zip(results)
            .map(|((business, _), result)| {
                let admin = match result {
                    Ok(info) => AdminToken {
                        health: health_of(&info),
                        user_id: info.user_id.clone(),
                    },
                    Err(error) => {
                        let error = match CredentialError::of_app(spec, app.app_id(), error) {
                            Ok(credential) => return Err(ObserveError::Credential(credential)),
                            Err(error) => error,
                        };
                        AdminToken {
                            health: Health::NoVerdict {
                                reason: match error.credential_fault(true) {
                                    Some(CredentialFault::OtherAppsToken) => format!(
                                        "app {}'s debug_token says it is a token of another app",
                                        app.app_id()
                                    ),
                                    _ => format!("debug_token failed: {error}"),
                                },
                            },
                            user_id: None,
                        }
                    }
                };
                Ok((business.clone(), admin))
            })
            .collect::<Vec<_>>()
    });
    join_all(checks).await.into_iter().flatten().collect()
}

/// `debug_token` for every stored value, grouped by app, batched and
/// concurrent. Values of apps the policy does not name cannot be checked
/// (their secret is unknown) and are left out.
pub(crate) async fn check_tokens<P: Provider>(
    spec: &Spec,
    client: &P,
    credentials: &Credentials,
    records: &BTreeMap<TokenAddress, TokenRecord>,
) -> Result<BTreeMap<graphform_graph::Fingerprint, Health>, ObserveError> {
    let mut by_app: BTreeMap<&str, (Vec<Secret>, BTreeSet<graphform_graph::Fingerprint>)> =
        BTreeMap::new();
    for record in records.values() {
        let values =
            std::iter::once(&record.current).chain(record.previous.as_ref().map(|p| &p.token));
        for stored in values {
            let (tokens, seen) = by_app.entry(stored.metadata.app_id.as_str()).or_default();
            if seen.insert(stored.value.fingerprint()) {
                tokens.push(stored.value.clone());
            }
        }
    }
    let checks = by_app.into_iter().filter_map(|(app_id, (tokens, _))| {
        let app = credentials.apps.get(app_id)?;
        Some(async move {
            let results = client.debug_tokens(app, &tokens).await;
            (app_id, tokens, results)
        })
    });
    let mut health = BTreeMap::new();
    for (app_id, tokens, results) in join_all(checks).await {
        for (token, result) in tokens.iter().zip(results) {
            let info =
                result.map_err(|error| match CredentialError::of_app(spec, app_id, error) {
                    Ok(credential) => ObserveError::Credential(credential),
                    Err(source) => ObserveError::Graph {
                        what: format!("debug_token of {} (app {app_id})", token.fingerprint()),
                        source: Box::new(source),
                    },
                })?;
            health.insert(token.fingerprint(), health_of(&info));
        }
    }
    Ok(health)
}

/// What `debug_token` says, as the planner needs it. Read strictly: only
/// `is_valid: true` without a token error makes a token valid, and only a
/// token error (code 190 or 102) makes it dead. Anything else — no
/// `is_valid`, `is_valid: false` with no error or another error, both a
/// verdict and a token error — is [`Health::NoVerdict`]: the planner
/// neither keeps trusting nor replaces such a token, it warns.
pub fn health_of(info: &TokenInfo) -> Health {
    match (info.is_valid, info.is_token_error()) {
        (Some(true), false) => Health::Valid {
            expires_at: match info.expiry() {
                Some(GraphExpiry::At(at)) => Some(Timestamp::from_unix(at)),
                Some(GraphExpiry::Never) | None => None,
            },
            scopes: info.scopes.iter().cloned().collect(),
            app_id: info.app_id.clone().unwrap_or_default(),
        },
        (Some(false) | None, true) => {
            let error = info.error.as_ref();
            let subcode = error.and_then(|e| e.subcode);
            Health::Dead {
                cause: DeadCause::from_subcode(subcode),
                code: error.and_then(|e| e.code),
                subcode,
            }
        }
        (Some(true), true) => Health::NoVerdict {
            reason: "debug_token says is_valid: true and gives a token error".to_owned(),
        },
        (Some(false), false) => Health::NoVerdict {
            reason: match info.error.as_ref().and_then(|e| e.code) {
                Some(code) => format!(
                    "debug_token says is_valid: false with error code {code}, not a token error"
                ),
                None => "debug_token says is_valid: false without an error".to_owned(),
            },
        },
        (None, false) => Health::NoVerdict {
            reason: "debug_token's answer has no is_valid".to_owned(),
        },
    }
}

/// The health of a value whose app the policy no longer names: it cannot be
/// checked, so the planner is told so rather than guessing.
fn unknown(metadata: &TokenMetadata) -> Health {
    Health::Unknown {
        app_id: metadata.app_id.clone(),
    }
}
