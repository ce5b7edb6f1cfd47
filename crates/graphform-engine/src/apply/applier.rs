//! The applier's bookkeeping: counting mutations (and the failpoint),
//! preparing the state documents (settling what an interrupted apply left,
//! naming system users at the root, moving a format-1 document), the
//! journal entry of each change, what the policy says of an address, and
//! the system-user, install and invalidation changes.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::Ordering;

use graphform_graph::{
    AppCredentials, ErrorClass, GraphError, NewSystemUser, SystemUserRole, UserToken,
};
use graphform_store::Store;
use graphform_types::{Address, SystemUserAddress, TokenAddress};

use crate::document::{
    AuditEntry, DOCUMENT_FORMAT_VERSION, InstallRecord, Intent, IntentKind, Resolution,
    SystemUserDocument,
};
use crate::observe::{ObserveError, read_root, read_system_user_document};
use crate::plan::{Action, Change};
use crate::provider::Provider;

use super::error::{removed_by, token_of};
use super::ledger::Ledger;
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

    /// Prepares graphform's records before the first change: settles what
    /// an interrupted apply left in the journal (keeping the entries whose
    /// token may be orphaned: plans warn of them until the user opts in to
    /// invalidation), moves the records of a format-1 root document into
    /// system-user documents, and names every system user in `users` (the
    /// ones this run changes) at the root before its document is written.
    pub(super) async fn prepare(
        &self,
        users: &BTreeSet<SystemUserAddress>,
        progress: &dyn Progress,
    ) -> Result<(), ApplyError> {
        let (mut root, root_version) = read_root(self.store).await?;
        let mut records = root.take_records();
        let moved = !records.is_empty();
        let mut ledgers: BTreeMap<SystemUserAddress, Ledger> = BTreeMap::new();
        for (user, legacy) in std::mem::take(&mut records) {
            let mut ledger = self
                .open_ledger(&user, root.documents.contains(&user))
                .await?;
            ledger.absorb(legacy);
            ledgers.insert(user, ledger);
        }
        let document = &self.state.document;
        let mut settled = 0_usize;
        for intent in &document.journal {
            let resolution = document.resolution(intent, &self.state.tokens);
            if resolution == Resolution::PossiblyOrphaned {
                continue;
            }
            let user = intent.address.system_user();
            if !ledgers.contains_key(user) {
                let ledger = self
                    .open_ledger(user, root.documents.contains(user))
                    .await?;
                ledgers.insert(user.clone(), ledger);
            }
            let ledger = ledgers.get_mut(user).expect("just inserted");
            ledger.settle(&intent.id);
            settled += 1;
            if resolution == Resolution::NeverSent {
                continue;
            }
            match &intent.kind {
                IntentKind::CreateSystemUser { .. } => {
                    if let Some(id) = self.observed_system_user_id(user) {
                        ledger.audit(AuditEntry {
                            id: Some(id.clone()),
                            ..settled_audit(intent, "create")
                        });
                        ledger.set_id(id);
                    }
                }
                // Its answer was stored (that is what settles it): the
                // token it produced belongs in the audit trail.
                IntentKind::NewToken { action, .. } => {
                    let produced = intent.address.as_token().and_then(|token| {
                        let stored = self.state.tokens.get(token)?;
                        std::iter::once(&stored.current)
                            .chain(stored.previous.as_ref().map(|p| &p.value))
                            .find(|v| v.metadata.issued_by.as_deref() == Some(intent.id.as_str()))
                    });
                    ledger.audit(AuditEntry {
                        after: produced.map(|v| v.metadata.fingerprint.clone()),
                        ..settled_audit(intent, action)
                    });
                }
                // Whether these happened is read from Meta by the planner;
                // the change is made again if it did not (a rename to the
                // name it has already is harmless).
                IntentKind::Install { .. }
                | IntentKind::RenameSystemUser { .. }
                | IntentKind::Revoke { .. }
                | IntentKind::InvalidateAll { .. } => {}
            }
        }
        if settled > 0 {
            progress.note(&format!(
                "settled {settled} journal entr{} left by an interrupted apply",
                if settled == 1 { "y" } else { "ies" }
            ));
        }
        let journal = |error| ApplyError::Journal(Box::new(error));
        for ledger in ledgers.values_mut() {
            ledger.write(self, Vec::new()).await.map_err(journal)?;
        }
        let named = root.documents.len();
        root.documents.extend(users.iter().cloned());
        root.documents.extend(ledgers.into_keys());
        if moved || root.documents.len() != named {
            root.format_version = DOCUMENT_FORMAT_VERSION;
            let bytes = serde_json::to_vec(&root)
                .map_err(|error| journal(ChangeError::EncodeDocument(error)))?;
            self.mutation().map_err(journal)?;
            self.store
                .write_state(&bytes, root_version.as_ref())
                .await
                .map_err(|error| journal(ChangeError::WriteRoot(Box::new(error))))?;
        }
        Ok(())
    }

    /// The ledger of `user`, from its stored document. A document the root
    /// does not name (`named`) is not graphform's record yet (a format-1
    /// move interrupted before the root was written): it is written over.
    pub(super) async fn open_ledger(
        &self,
        user: &SystemUserAddress,
        named: bool,
    ) -> Result<Ledger, ObserveError> {
        let stored = read_system_user_document(self.store, user).await?;
        Ok(match stored {
            Some((document, version)) if named => {
                Ledger::new(user.clone(), document, Some(version))
            }
            Some((_, version)) => {
                Ledger::new(user.clone(), SystemUserDocument::default(), Some(version))
            }
            None => Ledger::new(user.clone(), SystemUserDocument::default(), None),
        })
    }

    /// Makes one change. `intent` is its journal entry, written with its
    /// batch (every change but a forget has one).
    pub(super) async fn change(
        &self,
        change: &Change,
        intent: Option<&Intent>,
        ledger: &mut Ledger,
    ) -> Result<Outcome, ChangeError> {
        match change.action {
            Action::Forget => return self.remove_token(change, None, ledger).await,
            Action::Retire | Action::Reinstate => return self.retire(change, ledger),
            Action::Move => return self.move_token(change, ledger).await,
            _ => {}
        }
        let intent = intent
            .ok_or_else(|| ChangeError::malformed(&change.address, "it was not journaled"))?;
        match change.action {
            Action::Create => self.create(change, intent, ledger).await,
            Action::Install => self.install(change, intent, ledger).await,
            Action::Issue | Action::Refresh | Action::Rotate => {
                self.new_token(change, intent, ledger).await
            }
            Action::Revoke | Action::Forget => {
                self.remove_token(change, Some(intent), ledger).await
            }
            Action::Retire | Action::Reinstate => self.retire(change, ledger),
            Action::Move => self.move_token(change, ledger).await,
            Action::Rename => self.rename(change, intent, ledger).await,
            Action::Invalidate => self.invalidate(change, intent, ledger).await,
        }
    }

    /// The journal entry of a change, made before its batch is written:
    /// what Graph mutation it will send, with what. A token change names
    /// `after`, the token change before it in its batch. `None` for a
    /// forget, which sends nothing.
    pub(super) async fn intent_for(
        &self,
        change: &Change,
        after: Option<String>,
    ) -> Result<Option<Intent>, ChangeError> {
        let kind = match change.action {
            Action::Forget | Action::Retire | Action::Reinstate | Action::Move => {
                return Ok(None);
            }
            Action::Rename => IntentKind::RenameSystemUser {
                system_user_id: self.target_user(change).await?,
                name: change.address.system_user().name().to_owned(),
            },
            Action::Create => IntentKind::CreateSystemUser {
                business_id: self.business(&change.address)?.id.clone(),
                name: change.address.system_user().name().to_owned(),
            },
            Action::Install => IntentKind::Install {
                system_user_id: self.target_user(change).await?,
                app_id: change
                    .after
                    .as_ref()
                    .and_then(|a| a.app_id.clone())
                    .ok_or_else(|| {
                        ChangeError::malformed(&change.address, "the plan names no app")
                    })?,
            },
            Action::Invalidate => IntentKind::InvalidateAll {
                system_user_id: match change.before.as_ref().and_then(|b| b.id.clone()) {
                    Some(id) => id,
                    None => self.target_user(change).await?,
                },
            },
            Action::Issue | Action::Refresh | Action::Rotate => {
                let TokenTarget {
                    business, token, ..
                } = self.token_target(token_of(change)?)?;
                IntentKind::NewToken {
                    system_user_id: self.target_user(change).await?,
                    app_id: business.apps[&token.app].id.clone(),
                    action: change.action.as_str().to_owned(),
                    after,
                }
            }
            Action::Revoke => IntentKind::Revoke {
                fingerprint: removed_by(change)?,
            },
        };
        Ok(Some(self.intent(&change.address, kind)))
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
        let (_, _, token) = super::policy_token(self.spec, address)
            .ok_or_else(|| ChangeError::UnknownToken(address.clone()))?;
        let install = address.system_user().install(&token.app);
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

    /// Sends the Graph mutation journaled as `intent`. On a definite
    /// failure its entry is settled (nothing happened); when the outcome is
    /// unknown it stays, for the next run to settle or report.
    pub(super) async fn sent<T>(
        &self,
        intent: &Intent,
        ledger: &mut Ledger,
        call: impl Future<Output = Result<T, GraphError>>,
    ) -> Result<T, ChangeError> {
        self.mutation()?;
        ledger.mark_sent(&intent.id);
        call.await.map_err(|error| {
            if error.class() != ErrorClass::OutcomeUnknown {
                ledger.settle(&intent.id);
            }
            error.into()
        })
    }

    pub(super) async fn create(
        &self,
        change: &Change,
        intent: &Intent,
        ledger: &mut Ledger,
    ) -> Result<Outcome, ChangeError> {
        let business = self.business(&change.address)?;
        let user = change.address.system_user();
        let name = user.name().to_owned();
        let role = business
            .system_users
            .iter()
            .find(|u| u.name == name)
            .map_or(SystemUserRole::Employee, |u| u.role.clone());
        let request = NewSystemUser { name, role };
        let admin = self.admin(business)?;
        let client = self.client.labeled(change.address.to_string());
        let id = self
            .sent(
                intent,
                ledger,
                client.create_system_user(admin, &business.id, &request),
            )
            .await?;
        self.created.lock().await.insert(user.clone(), id.clone());
        ledger.set_id(id.clone());
        Ok(self.done(ledger, change, intent, id))
    }

    /// Renames the system user in Meta (`renamed_from`), then records it,
    /// and the installs recorded under its old name, under the new one.
    /// Its tokens move by their own changes.
    pub(super) async fn rename(
        &self,
        change: &Change,
        intent: &Intent,
        ledger: &mut Ledger,
    ) -> Result<Outcome, ChangeError> {
        let IntentKind::RenameSystemUser {
            system_user_id,
            name,
        } = &intent.kind
        else {
            return Err(ChangeError::malformed(&change.address, "not a rename"));
        };
        let Some(Address::SystemUser(old)) = &change.moved_from else {
            return Err(ChangeError::malformed(
                &change.address,
                "the plan names no old name",
            ));
        };
        let business = self.business(&change.address)?;
        let admin = self.admin(business)?;
        let client = self.client.labeled(change.address.to_string());
        self.sent(
            intent,
            ledger,
            client.rename_system_user(admin, &business.id, system_user_id, name),
        )
        .await?;
        ledger.set_id(system_user_id.clone());
        let user = change.address.system_user();
        for (install, record) in &self.state.document.installs {
            if install.system_user() == old {
                ledger.set_install(user.install(install.app()), Some(record.clone()));
            }
        }
        Ok(self.done(ledger, change, intent, system_user_id.clone()))
    }

    pub(super) async fn install(
        &self,
        change: &Change,
        intent: &Intent,
        ledger: &mut Ledger,
    ) -> Result<Outcome, ChangeError> {
        let IntentKind::Install {
            system_user_id,
            app_id,
        } = &intent.kind
        else {
            return Err(ChangeError::malformed(
                &change.address,
                "not an app install",
            ));
        };
        let business = self.business(&change.address)?;
        let admin = self.admin(business)?;
        let install_address = change
            .address
            .as_install()
            .ok_or_else(|| ChangeError::malformed(&change.address, "not an app install"))?;
        let client = self.client.labeled(change.address.to_string());
        self.sent(
            intent,
            ledger,
            client.install_app(admin, system_user_id, app_id),
        )
        .await?;
        ledger.set_id(system_user_id.clone());
        ledger.set_install(
            install_address.clone(),
            Some(InstallRecord {
                system_user_id: system_user_id.clone(),
                app_id: app_id.clone(),
                installed_at: self.now,
            }),
        );
        Ok(self.done(ledger, change, intent, app_id.clone()))
    }

    pub(super) async fn invalidate(
        &self,
        change: &Change,
        intent: &Intent,
        ledger: &mut Ledger,
    ) -> Result<Outcome, ChangeError> {
        let IntentKind::InvalidateAll { system_user_id } = &intent.kind else {
            return Err(ChangeError::malformed(
                &change.address,
                "not an invalidation",
            ));
        };
        let business = self.business(&change.address)?;
        let admin = self.admin(business)?;
        let client = self.client.labeled(change.address.to_string());
        self.sent(
            intent,
            ledger,
            client.invalidate_all_tokens(admin, system_user_id),
        )
        .await?;
        // The tokens its minting calls may have made are dead now: their
        // journal entries are settled too.
        ledger.settle_invalidated(system_user_id, &intent.id);
        Ok(self.done(ledger, change, intent, system_user_id.clone()))
    }

    /// A verified system-user, install or invalidation change: its journal
    /// entry is settled, and the audit trail names `id`, the Meta ID made or
    /// acted on, with the system user's next document write.
    fn done(&self, ledger: &mut Ledger, change: &Change, intent: &Intent, id: String) -> Outcome {
        let mut audit = self.audit(&change.address, change.action);
        audit.id = Some(id.clone());
        ledger.audit(audit);
        ledger.settle(&intent.id);
        Outcome::Done {
            token: None,
            id: Some(id),
            expires_at: None,
        }
    }
}
