//! The applier's bookkeeping: counting mutations (and the failpoint),
//! the state document and its journal, settling what an interrupted apply
//! left, what the policy says of an address, and the system-user and
//! install changes.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering;

use graphform_graph::{
    AppCredentials, ErrorClass, GraphError, NewSystemUser, SystemUserRole, UserToken,
};
use graphform_store::Store;
use graphform_types::{Address, SystemUserAddress, TokenAddress};

use crate::document::{AuditEntry, InstallRecord, Intent, IntentKind, Resolution, StateDocument};
use crate::plan::{Action, Change};
use crate::provider::Provider;

use super::{Applier, ApplyError, ChangeError, Outcome, Progress, TokenTarget, settled_audit};

impl<S: Store, P: Provider> Applier<'_, S, P> {
    /// Counts a mutation about to happen, and stops at the failpoint.
    /// Refuses once the lease is lost: another apply may be running.
    pub(super) fn mutation(&self) -> Result<(), ChangeError> {
        if self.keeper.lost.load(Ordering::SeqCst) {
            return Err(ChangeError::LeaseLost);
        }
        let number = self.mutations.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((at, hook)) = &self.options.failpoint
            && *at == number
        {
            hook(number);
        }
        Ok(())
    }

    /// Changes the state document, compare-and-set against the version last
    /// written.
    pub(super) async fn update_document(
        &self,
        edit: impl FnOnce(&mut StateDocument),
    ) -> Result<(), ChangeError> {
        let mut guard = self.document.lock().await;
        let mut next = guard.0.clone();
        edit(&mut next);
        let bytes = serde_json::to_vec(&next).map_err(ChangeError::EncodeDocument)?;
        self.mutation()?;
        let version = self
            .store
            .write_state(&bytes, guard.1.as_ref())
            .await
            .map_err(|error| ChangeError::WriteDocument(Box::new(error)))?;
        *guard = (next, Some(version));
        Ok(())
    }

    pub(super) fn intent(&self, address: impl Into<Address>, kind: IntentKind) -> Intent {
        let n = self.intents.fetch_add(1, Ordering::SeqCst) + 1;
        Intent {
            id: format!("{}-{}-{n}", self.now.unix(), self.run_id),
            address: address.into(),
            kind,
            started_at: self.now,
        }
    }

    pub(super) fn audit(&self, address: impl Into<Address>, action: Action) -> AuditEntry {
        AuditEntry {
            at: self.now,
            address: address.into(),
            action: action.as_str().to_owned(),
            before: None,
            after: None,
            id: None,
        }
    }

    /// Drops the journal entries an interrupted apply left that are
    /// settled; keeps those whose token may be orphaned (plans warn of them
    /// until the user opts in to invalidation).
    pub(super) async fn settle_journal(&self, progress: &dyn Progress) -> Result<(), ApplyError> {
        let journal = self.document.lock().await.0.journal.clone();
        let mut settled = Vec::new();
        let mut adopted = BTreeMap::new();
        let mut audit = Vec::new();
        for intent in &journal {
            let stored = intent
                .address
                .as_token()
                .and_then(|token| self.state.tokens.get(token));
            if intent.resolution(stored) != Resolution::Settled {
                continue;
            }
            match &intent.kind {
                IntentKind::CreateSystemUser { .. } => {
                    if let Some(id) = self.observed_system_user_id(intent.address.system_user()) {
                        audit.push(AuditEntry {
                            id: Some(id.clone()),
                            ..settled_audit(intent, "create")
                        });
                        adopted.insert(intent.address.system_user().clone(), id);
                    }
                }
                // Its answer was stored (that is what settles it): the
                // token it produced belongs in the audit trail.
                IntentKind::NewToken { action, .. } => {
                    let produced = stored.and_then(|token| {
                        std::iter::once(&token.current)
                            .chain(token.previous.as_ref().map(|p| &p.value))
                            .find(|v| v.metadata.issued_by.as_deref() == Some(intent.id.as_str()))
                    });
                    audit.push(AuditEntry {
                        after: produced.map(|v| v.metadata.fingerprint.clone()),
                        ..settled_audit(intent, action)
                    });
                }
                // Whether these happened is read from Meta by the planner;
                // the change is made again if it did not.
                IntentKind::Install { .. }
                | IntentKind::Revoke { .. }
                | IntentKind::InvalidateAll { .. } => {}
            }
            settled.push(intent.id.clone());
        }
        if settled.is_empty() {
            return Ok(());
        }
        progress.note(&format!(
            "settled {} journal entr{} left by an interrupted apply",
            settled.len(),
            if settled.len() == 1 { "y" } else { "ies" }
        ));
        self.update_document(|document| {
            document
                .journal
                .retain(|intent| !settled.contains(&intent.id));
            document.system_users.extend(adopted);
            document.audit.extend(audit);
        })
        .await
        .map_err(|error| ApplyError::Journal(Box::new(error)))
    }

    pub(super) async fn change(&self, change: &Change) -> Result<Outcome, ChangeError> {
        match change.action {
            Action::Create => self.create(change).await,
            Action::Install => self.install(change).await,
            Action::Issue | Action::Refresh | Action::Rotate => self.new_token(change).await,
            Action::Revoke | Action::Forget => self.remove_token(change).await,
            Action::Invalidate => self.invalidate(change).await,
        }
    }

    pub(super) fn business(
        &self,
        address: &Address,
    ) -> Result<&graphform_spec::Business, ChangeError> {
        let name = address.business();
        self.spec
            .businesses
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| ChangeError::UnknownBusiness(name.to_owned()))
    }

    pub(super) fn admin(
        &self,
        business: &graphform_spec::Business,
    ) -> Result<&UserToken, ChangeError> {
        self.credentials
            .admins
            .get(&business.name)
            .ok_or_else(|| ChangeError::NoAdmin(business.name.clone()))
    }

    pub(super) fn app(&self, app_id: &str) -> Result<&AppCredentials, ChangeError> {
        self.credentials
            .apps
            .get(app_id)
            .ok_or_else(|| ChangeError::NoAppSecret(app_id.to_owned()))
    }

    pub(super) fn token_target(
        &self,
        address: &TokenAddress,
    ) -> Result<TokenTarget<'_>, ChangeError> {
        let business = self.business(&address.into())?;
        let user = address.system_user();
        let token = business
            .system_users
            .iter()
            .find(|u| u.name == user.name())
            .and_then(|u| u.tokens.iter().find(|t| t.name == address.name()))
            .ok_or_else(|| ChangeError::UnknownToken(address.clone()))?;
        let install = user.install(&token.app);
        Ok(TokenTarget {
            business,
            token,
            install,
        })
    }

    /// The ID of the system user a change acts on: the one the plan
    /// observed, or the one this run's creation returned. Never an older
    /// record: a user renamed outside graphform is not acted on.
    pub(super) async fn target_user(&self, change: &Change) -> Result<String, ChangeError> {
        if let Some(id) = &change.system_user_id {
            return Ok(id.clone());
        }
        let user = change.address.system_user();
        self.created
            .lock()
            .await
            .get(user)
            .cloned()
            .ok_or_else(|| ChangeError::NotCreated(user.clone()))
    }

    pub(super) fn observed_system_user_id(&self, user: &SystemUserAddress) -> Option<String> {
        let mut found = self
            .state
            .businesses
            .get(user.business())?
            .system_users
            .iter()
            .filter(|u| u.name == user.name());
        let first = found.next()?;
        found.next().is_none().then(|| first.id.clone())
    }

    /// Runs a Graph mutation journaled as `intent`. On a definite failure
    /// the entry is removed (nothing happened); when the outcome is unknown
    /// it stays for the next run to settle or report.
    pub(super) async fn journaled<T>(
        &self,
        intent: Intent,
        call: impl Future<Output = Result<T, GraphError>>,
    ) -> Result<(T, String), ChangeError> {
        let id = intent.id.clone();
        self.update_document(|document| document.journal.push(intent))
            .await?;
        self.mutation()?;
        match call.await {
            Ok(value) => Ok((value, id)),
            Err(error) => {
                if error.class() != ErrorClass::OutcomeUnknown {
                    self.update_document(|document| document.journal.retain(|i| i.id != id))
                        .await?;
                }
                Err(error.into())
            }
        }
    }

    pub(super) async fn create(&self, change: &Change) -> Result<Outcome, ChangeError> {
        let business = self.business(&change.address)?;
        let user = change.address.system_user();
        let name = user.name().to_owned();
        let role = business
            .system_users
            .iter()
            .find(|u| u.name == name)
            .map_or(SystemUserRole::Employee, |u| u.role.clone());
        let request = NewSystemUser {
            name: name.clone(),
            role,
        };
        let admin = self.admin(business)?;
        let intent = self.intent(
            &change.address,
            IntentKind::CreateSystemUser {
                business_id: business.id.clone(),
                name,
            },
        );
        let client = self.client.labeled(change.address.to_string());
        let (id, intent_id) = self
            .journaled(
                intent,
                client.create_system_user(admin, &business.id, &request),
            )
            .await?;
        self.created.lock().await.insert(user.clone(), id.clone());
        let recorded = id.clone();
        self.record_done(change, &intent_id, id, |document| {
            document.system_users.insert(user.clone(), recorded);
        })
        .await
    }

    pub(super) async fn install(&self, change: &Change) -> Result<Outcome, ChangeError> {
        let business = self.business(&change.address)?;
        let admin = self.admin(business)?;
        let user_address = change.address.system_user();
        let install_address = change
            .address
            .as_install()
            .ok_or_else(|| ChangeError::malformed(&change.address, "not an app install"))?;
        let system_user_id = self.target_user(change).await?;
        let app_id = change
            .after
            .as_ref()
            .and_then(|a| a.app_id.clone())
            .ok_or_else(|| ChangeError::malformed(&change.address, "the plan names no app"))?;
        let intent = self.intent(
            &change.address,
            IntentKind::Install {
                system_user_id: system_user_id.clone(),
                app_id: app_id.clone(),
            },
        );
        let client = self.client.labeled(change.address.to_string());
        let ((), intent_id) = self
            .journaled(intent, client.install_app(admin, &system_user_id, &app_id))
            .await?;
        let record = InstallRecord {
            system_user_id,
            app_id: app_id.clone(),
            installed_at: self.now,
        };
        self.record_done(change, &intent_id, app_id, |document| {
            document
                .system_users
                .insert(user_address.clone(), record.system_user_id.clone());
            document.installs.insert(install_address.clone(), record);
        })
        .await
    }

    pub(super) async fn invalidate(&self, change: &Change) -> Result<Outcome, ChangeError> {
        let business = self.business(&change.address)?;
        let admin = self.admin(business)?;
        let system_user_id = match change.before.as_ref().and_then(|b| b.id.clone()) {
            Some(id) => id,
            None => self.target_user(change).await?,
        };
        let intent = self.intent(
            &change.address,
            IntentKind::InvalidateAll {
                system_user_id: system_user_id.clone(),
            },
        );
        let client = self.client.labeled(change.address.to_string());
        let ((), intent_id) = self
            .journaled(intent, client.invalidate_all_tokens(admin, &system_user_id))
            .await?;
        let invalidated = system_user_id.clone();
        // The tokens its minting calls may have made are dead now: their
        // journal entries are settled too.
        self.record_done(change, &intent_id, system_user_id, |document| {
            document.journal.retain(|i| {
                !matches!(&i.kind, IntentKind::NewToken { system_user_id: id, .. } if *id == invalidated)
            });
        })
        .await
    }

    /// Records a verified system-user, install or invalidation change:
    /// `edit` updates graphform's records, the journal entry `intent_id` is
    /// settled, and the audit trail names `id`, the Meta ID made or acted
    /// on — all in one write of the state document.
    async fn record_done(
        &self,
        change: &Change,
        intent_id: &str,
        id: String,
        edit: impl FnOnce(&mut StateDocument),
    ) -> Result<Outcome, ChangeError> {
        let mut audit = self.audit(&change.address, change.action);
        audit.id = Some(id.clone());
        self.update_document(|document| {
            edit(document);
            document.journal.retain(|i| i.id != intent_id);
            document.audit.push(audit);
        })
        .await?;
        Ok(Outcome::Done {
            token: None,
            id: Some(id),
        })
    }
}
