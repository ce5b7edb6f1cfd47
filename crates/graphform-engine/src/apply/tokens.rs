//! Token changes: issue, refresh and rotate (the new token is stored at
//! once, the replaced one kept for its grace), revoke and forget (done
//! only on Meta's success answer or `debug_token` of the token itself).

use std::sync::atomic::{AtomicBool, Ordering};

use graphform_graph::{AppCredentials, IssueToken, Secret, UserToken};
use graphform_spec::{DEFAULT_GRACE, Expiry};
use graphform_store::{
    ExpiryMode, Fingerprint, PreviousToken, Store, StoreError, StoredToken, TokenMetadata,
    TokenRecord, Version, Versioned,
};
use graphform_types::{Address, InstallAddress, SIXTY_DAYS, TokenAddress};

use crate::document::{Intent, IntentKind};
use crate::observe::health_of;
use crate::plan::{Action, Change};
use crate::provider::Provider;
use crate::state::Health;

use super::error::{removed_by, token_of};
use super::ledger::Ledger;
use super::{Applier, ChangeError, Outcome, TokenTarget};

impl<S: Store, P: Provider> Applier<'_, S, P> {
    /// Issue, refresh or rotate: get a new token from Meta and store it at
    /// once, keeping the one it replaces as `previous` for its grace.
    pub(super) async fn new_token(
        &self,
        change: &Change,
        intent: &Intent,
        ledger: &mut Ledger,
    ) -> Result<Outcome, ChangeError> {
        let address = token_of(change)?;
        let IntentKind::NewToken {
            system_user_id,
            app_id,
            ..
        } = &intent.kind
        else {
            return Err(ChangeError::malformed(address, "not a token change"));
        };
        let TokenTarget {
            business,
            token,
            install,
        } = self.token_target(address)?;
        let admin = self.admin(business)?;
        let app = self.app(app_id)?.clone();
        let stored = self.store.read_token(address).await?;
        let expiring = matches!(token.expiry, Expiry::SixtyDays { .. });
        let (value, lifetime) = if change.action == Action::Refresh {
            let current = stored
                .as_ref()
                .ok_or_else(|| ChangeError::malformed(address, "no stored token to refresh"))?;
            self.refresh(address, intent, ledger, &app, &current.value.current.value)
                .await?
        } else {
            let request = IssueToken {
                app_id: app_id.clone(),
                scopes: token.scopes.iter().cloned().collect(),
                expiring,
            };
            let issued = self
                .issue(
                    address,
                    &install,
                    intent,
                    ledger,
                    admin,
                    system_user_id,
                    &request,
                )
                .await?;
            (issued, expiring.then_some(SIXTY_DAYS))
        };
        let fingerprint = value.fingerprint();
        let expires_at = lifetime.map(|lifetime| self.now + lifetime);
        let metadata = TokenMetadata {
            address: address.clone(),
            app_id: app_id.clone(),
            system_user_id: system_user_id.clone(),
            scopes: token.scopes.clone(),
            expiry: if expiring {
                ExpiryMode::SixtyDays
            } else {
                ExpiryMode::Never
            },
            issued_at: self.now,
            expires_at,
            fingerprint: fingerprint.clone(),
            issued_by: Some(intent.id.clone()),
        };
        let grace = token.grace;
        let (record, replaced, expected) = self.replacement_record(
            change.action,
            StoredToken { value, metadata },
            stored,
            grace,
        );
        self.mutation()?;
        if let Err(error) = self
            .store
            .write_token(address, &record, expected.as_ref())
            .await
        {
            // An error other than a conflict does not prove nothing was
            // written: look before deciding.
            if !self.holds(address, &fingerprint).await {
                return Err(self
                    .revoke_unstored(address, &record.current, &app, intent, ledger, error)
                    .await);
            }
        }
        // The stored value names its journal entry: that settles it, and
        // the next write of the system user's document drops it.
        let mut audit = self.audit(address, change.action);
        audit.before = replaced;
        audit.after = Some(fingerprint.clone());
        ledger.audit(audit);
        ledger.settle(&intent.id);
        Ok(Outcome::Done {
            token: Some(fingerprint),
            id: None,
            expires_at,
        })
    }

    /// `GET /oauth/access_token` (`fb_exchange_token`), journaled as
    /// `intent`: the new token and its lifetime.
    pub(super) async fn refresh(
        &self,
        address: &TokenAddress,
        intent: &Intent,
        ledger: &mut Ledger,
        app: &AppCredentials,
        current: &Secret,
    ) -> Result<(Secret, Option<graphform_types::Duration>), ChangeError> {
        let client = self.client.labeled(address.to_string());
        let refreshed = self
            .sent(intent, ledger, client.refresh_token(app, current))
            .await?;
        let lifetime = refreshed
            .expires_in
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .map_or(SIXTY_DAYS, graphform_types::Duration::seconds);
        Ok((refreshed.token, Some(lifetime)))
    }

    /// `POST /{system-user}/access_tokens`, journaled as `intent`.
    ///
    /// Meta refuses an issue for an app the system user lacks with an
    /// invalid-parameter error (100). The Graph API cannot list installs,
    /// so an uninstall is otherwise seen only through the tokens it kills:
    /// a token already dead for another reason hides it, and the issue
    /// would fail on every run. Such a refusal drops the install's record.
    #[expect(
        clippy::too_many_arguments,
        reason = "the call's inputs, each a different thing; a struct would only rename them"
    )]
    pub(super) async fn issue(
        &self,
        address: &TokenAddress,
        install: &InstallAddress,
        intent: &Intent,
        ledger: &mut Ledger,
        admin: &UserToken,
        system_user_id: &str,
        request: &IssueToken,
    ) -> Result<Secret, ChangeError> {
        let client = self.client.labeled(address.to_string());
        let refused_as_invalid = AtomicBool::new(false);
        let call = async {
            let answer = client.issue_token(admin, system_user_id, request).await;
            if answer.as_ref().is_err_and(|e| e.code() == Some(100)) {
                refused_as_invalid.store(true, Ordering::SeqCst);
            }
            answer
        };
        match self.sent(intent, ledger, call).await {
            // The app may have been uninstalled outside graphform: its
            // record is dropped, and the next plan installs it again
            // (installing is idempotent) before issuing.
            Err(error) if refused_as_invalid.load(Ordering::SeqCst) => {
                ledger.set_install(install.clone(), None);
                Err(ChangeError::InstallGone(Box::new(error)))
            }
            other => other,
        }
    }

    /// The record that stores `new`: the replaced value is kept as
    /// `previous` for `grace` (refresh, rotate), or dropped when it is dead
    /// (issue), keeping what was pending. Also returns the replaced value's
    /// fingerprint and the version to write against.
    pub(super) fn replacement_record(
        &self,
        action: Action,
        new: StoredToken,
        stored: Option<Versioned<TokenRecord>>,
        grace: graphform_types::Duration,
    ) -> (TokenRecord, Option<Fingerprint>, Option<Version>) {
        let Some(Versioned {
            value: old,
            version,
        }) = stored
        else {
            let record = TokenRecord {
                current: new,
                previous: None,
            };
            return (record, None, None);
        };
        let replaced = Some(old.current.metadata.fingerprint.clone());
        let previous = match action {
            Action::Issue => old.previous,
            _ => Some(PreviousToken {
                token: old.current,
                revoke_after: self.now + grace,
            }),
        };
        let record = TokenRecord {
            current: new,
            previous,
        };
        (record, replaced, Some(version))
    }

    /// Revoke (a live token) or forget (a dead one): the token is the
    /// change's `before` fingerprint, as the store holds it now.
    pub(super) async fn remove_token(
        &self,
        change: &Change,
        intent: Option<&Intent>,
        ledger: &mut Ledger,
    ) -> Result<Outcome, ChangeError> {
        let address = token_of(change)?;
        let fingerprint = removed_by(change)?;
        let Some(Versioned {
            value: record,
            version,
        }) = self.store.read_token(address).await?
        else {
            return Ok(Outcome::Skipped {
                reason: "no token is stored there any more".to_owned(),
            });
        };
        let is_previous = record
            .previous
            .as_ref()
            .is_some_and(|p| p.token.metadata.fingerprint == fingerprint);
        let is_current = record.current.metadata.fingerprint == fingerprint;
        if !is_previous && !is_current {
            return Ok(Outcome::Skipped {
                reason: format!("{fingerprint} is no longer stored there"),
            });
        }
        if is_current && record.previous.is_some() {
            return Err(ChangeError::RevokeOrder(address.clone()));
        }
        let target = if is_previous {
            record.previous.as_ref().map(|p| &p.token)
        } else {
            Some(&record.current)
        }
        .expect("the fingerprint was found in one of the two slots");
        if let Some(intent) = intent {
            ledger.mark_sent(&intent.id);
            // A revoke leaves nothing untracked whatever its outcome: the
            // token stays stored until this proves it dead.
            ledger.settle(&intent.id);
            self.revoke(address, target, &record.current).await?;
        }
        self.mutation()?;
        if is_previous {
            let kept = TokenRecord {
                current: record.current.clone(),
                previous: None,
            };
            self.store
                .write_token(address, &kept, Some(&version))
                .await?;
        } else {
            self.store.delete_token(address, &version).await?;
            ledger.set_retiring(address, None);
        }
        Ok(self.recorded(ledger, address, change.action, Some(fingerprint)))
    }

    /// Move a stored token to its new address (`renamed_from`): written
    /// there first, then deleted at the old one. Interrupted in between,
    /// the copy left at the old address is forgotten by the next plan
    /// (the token is stored at the new one).
    pub(super) async fn move_token(
        &self,
        change: &Change,
        ledger: &mut Ledger,
    ) -> Result<Outcome, ChangeError> {
        let to = token_of(change)?;
        let Some(Address::Token(from)) = &change.moved_from else {
            return Err(ChangeError::malformed(
                &change.address,
                "the plan names no old address",
            ));
        };
        let fingerprint = removed_by(change)?;
        let Some(Versioned {
            value: record,
            version,
        }) = self.store.read_token(from).await?
        else {
            return Ok(Outcome::Skipped {
                reason: format!("no token is stored at {from} any more"),
            });
        };
        if record.current.metadata.fingerprint != fingerprint {
            return Ok(Outcome::Skipped {
                reason: format!("{fingerprint} is no longer stored at {from}"),
            });
        }
        let mut moved = record;
        moved.current.metadata.address = to.clone();
        if let Some(previous) = &mut moved.previous {
            previous.token.metadata.address = to.clone();
        }
        self.mutation()?;
        self.store.write_token(to, &moved, None).await?;
        self.mutation()?;
        self.store.delete_token(from, &version).await?;
        let retiring = self.state.document.retiring.get(from).copied();
        ledger.set_retiring(from, None);
        ledger.set_retiring(to, retiring);
        Ok(self.recorded(ledger, to, change.action, Some(fingerprint)))
    }

    /// Retire (schedule the revocation of a token the policy no longer
    /// names for when its business's grace ends, counted from now) or
    /// reinstate (cancel it). Nothing is sent to Meta: the system user's
    /// document records it, with its batch.
    pub(super) fn retire(
        &self,
        change: &Change,
        ledger: &mut Ledger,
    ) -> Result<Outcome, ChangeError> {
        let address = token_of(change)?;
        let revoke_after = (change.action == Action::Retire).then(|| {
            let grace = self
                .business(&change.address)
                .map_or(DEFAULT_GRACE, |b| b.grace);
            self.now + grace
        });
        ledger.set_retiring(address, revoke_after);
        let token = change.before.as_ref().and_then(|b| b.fingerprint.clone());
        Ok(self.recorded(ledger, address, change.action, token))
    }

    /// The outcome of a change that acted on the stored value `token` at
    /// `address` without producing one, recorded in the audit trail.
    fn recorded(
        &self,
        ledger: &mut Ledger,
        address: &TokenAddress,
        action: Action,
        token: Option<Fingerprint>,
    ) -> Outcome {
        let mut audit = self.audit(address, action);
        audit.before.clone_from(&token);
        ledger.audit(audit);
        Outcome::Done {
            token,
            id: None,
            expires_at: None,
        }
    }

    /// Whether the store holds `fingerprint` as the current value at
    /// `address` (read back after a write that reported an error).
    pub(super) async fn holds(&self, address: &TokenAddress, fingerprint: &Fingerprint) -> bool {
        matches!(
            self.store.read_token(address).await,
            Ok(Some(Versioned { value, .. })) if value.current.metadata.fingerprint == *fingerprint
        )
    }

    /// A token Meta minted could not be stored: revoke it with itself as
    /// the caller (journaled first), so nothing valid is left that nobody
    /// holds. Returns the error to report. If the revoke cannot be
    /// verified, the minting call's journal entry stays, and the next plan
    /// warns of the token.
    pub(super) async fn revoke_unstored(
        &self,
        address: &TokenAddress,
        minted: &StoredToken,
        app: &AppCredentials,
        intent: &Intent,
        ledger: &mut Ledger,
        error: StoreError,
    ) -> ChangeError {
        let caller = UserToken::new(minted.value.clone(), app.clone());
        let revoked = match self.revoke_with(address, minted, &[caller]).await {
            Ok(()) => {
                ledger.settle(&intent.id);
                Ok(())
            }
            Err(why) => Err(Box::new(why)),
        };
        ChangeError::Unstored {
            address: address.clone(),
            fingerprint: minted.metadata.fingerprint.clone(),
            error: Box::new(error),
            revoked,
        }
    }

    /// Revokes `target`, the stored token at `address` whose record's
    /// current value is `current`. The caller must be a token of the same
    /// app: the current token when it is (the replacement of a previous
    /// one), then the token itself.
    pub(super) async fn revoke(
        &self,
        address: &TokenAddress,
        target: &StoredToken,
        current: &StoredToken,
    ) -> Result<(), ChangeError> {
        let app = self.app(&target.metadata.app_id)?.clone();
        let mut callers = Vec::new();
        if current.metadata.app_id == target.metadata.app_id && current.value != target.value {
            callers.push(UserToken::new(current.value.clone(), app.clone()));
        }
        callers.push(UserToken::new(target.value.clone(), app));
        self.revoke_with(address, target, &callers).await
    }

    /// Revokes `target` with the first caller that works. Done only on
    /// Meta's documented success answer, or when `debug_token` of the
    /// target itself says it no longer works: an error about a caller (a
    /// 190 because the caller is dead) is no fact about the target.
    pub(super) async fn revoke_with(
        &self,
        address: &TokenAddress,
        target: &StoredToken,
        callers: &[UserToken],
    ) -> Result<(), ChangeError> {
        let fingerprint = &target.metadata.fingerprint;
        let app = self.app(&target.metadata.app_id)?.clone();
        let client = self.client.labeled(address.to_string());
        let mut failures = Vec::new();
        for caller in callers {
            self.mutation()?;
            let answer = client.revoke_token(caller, &target.value).await;
            let verdict = match answer {
                Ok(()) => Ok(true),
                Err(error) => {
                    failures.push(error);
                    self.is_dead(&app, &target.value).await
                }
            };
            match verdict {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(why) => {
                    return Err(ChangeError::NotRevoked {
                        fingerprint: fingerprint.clone(),
                        failures,
                        verdict: Some(Box::new(why)),
                    });
                }
            }
        }
        Err(ChangeError::NotRevoked {
            fingerprint: fingerprint.clone(),
            failures,
            verdict: None,
        })
    }

    /// Whether `debug_token` says `token` no longer works: `Ok(true)` on a
    /// token error, `Ok(false)` when it is valid, `Err` when there is no
    /// verdict.
    pub(super) async fn is_dead(
        &self,
        app: &AppCredentials,
        token: &Secret,
    ) -> Result<bool, ChangeError> {
        let info = self.client.debug_token(app, token).await?;
        match health_of(&info) {
            Health::Dead { .. } => Ok(true),
            Health::Valid { .. } => Ok(false),
            Health::NoVerdict { reason } => Err(ChangeError::NoVerdict(reason)),
            Health::Unknown { app_id } => Err(ChangeError::NoVerdict(format!(
                "app {app_id} cannot be checked"
            ))),
        }
    }
}
