//! One system user's changes, in plan order, batch by batch (see
//! [`ledger`](super::ledger) for why batches, and what each write holds).
//!
//! A change's outcome is reported once the write that records it
//! succeeded: a change whose record could not be written is reported
//! failed ([`ChangeError::Unrecorded`]), as it is not finished until the
//! next apply settles it. Once a change fails, nothing after it for the
//! same system user is attempted, and the journal entries of what was
//! not sent are settled.

use std::sync::Arc;

use graphform_store::Store;
use graphform_types::SystemUserAddress;
use tracing::Instrument as _;

use crate::document::{Intent, IntentKind};
use crate::plan::{Action, Change};
use crate::provider::Provider;

use super::ledger::Ledger;
use super::{Applier, ChangeError, Outcome, Progress};

/// A change with its index in the plan.
type Indexed<'p> = (usize, &'p Change);

/// Outcomes waiting for the write that records them.
struct Unreported<'p> {
    outcomes: Vec<(usize, &'p Change, Outcome)>,
}

impl<S: Store, P: Provider> Applier<'_, S, P> {
    /// Makes the changes of one system user; every change gets an
    /// outcome, in plan order.
    pub(super) async fn group(
        &self,
        user: &SystemUserAddress,
        changes: &[Indexed<'_>],
        progress: &dyn Progress,
    ) -> Vec<(usize, Outcome)> {
        let mut done = Vec::new();
        let mut unreported = Unreported {
            outcomes: Vec::new(),
        };
        let mut ledger = match self.open_ledger(user, true).await {
            Ok(ledger) => ledger,
            Err(error) => {
                let error = Arc::new(ChangeError::ReadDocument(Box::new(error)));
                fail(changes, &error, &mut unreported);
                unreported.report(progress, None, &mut done);
                return done;
            }
        };
        let mut rest = changes;
        while !rest.is_empty() {
            let (batch, after) = rest.split_at(batch_len(rest));
            rest = after;
            let (intents, refused) = self.intents(batch).await;
            let journal: Vec<Intent> = intents.iter().flatten().cloned().collect();
            let written = if journal.is_empty() && !ledger.has_pending() {
                Ok(())
            } else {
                ledger.write(self, journal).await.map_err(Arc::new)
            };
            unreported.report(progress, written.as_ref().err(), &mut done);
            if let Err(error) = written {
                fail(&batch[..1], &error, &mut unreported);
                skip(&batch[1..], &mut unreported);
                skip(rest, &mut unreported);
                break;
            }
            let failed = self
                .batch(
                    batch,
                    &intents,
                    refused,
                    &mut ledger,
                    progress,
                    &mut unreported,
                )
                .await;
            if failed {
                skip(rest, &mut unreported);
                break;
            }
        }
        let written = if ledger.has_pending() {
            ledger.write(self, Vec::new()).await.map_err(Arc::new).err()
        } else {
            None
        };
        unreported.report(progress, written.as_ref(), &mut done);
        done
    }

    /// The journal entries of a batch, chained; and, if one could not be
    /// made, that change's error (the entries stop before it).
    async fn intents(&self, batch: &[Indexed<'_>]) -> (Vec<Option<Intent>>, Option<ChangeError>) {
        let mut intents = Vec::new();
        let mut after = None;
        for (_, change) in batch {
            match self.intent_for(change, after.clone()).await {
                Ok(intent) => {
                    if let Some(Intent {
                        id,
                        kind: IntentKind::NewToken { .. },
                        ..
                    }) = &intent
                    {
                        after = Some(id.clone());
                    }
                    intents.push(intent);
                }
                Err(error) => return (intents, Some(error)),
            }
        }
        (intents, None)
    }

    /// Makes the changes of a journaled batch one after another; whether
    /// one failed. What was journaled and not sent is settled.
    async fn batch<'p>(
        &self,
        batch: &[Indexed<'p>],
        intents: &[Option<Intent>],
        mut refused: Option<ChangeError>,
        ledger: &mut Ledger,
        progress: &dyn Progress,
        unreported: &mut Unreported<'p>,
    ) -> bool {
        for (k, &(index, change)) in batch.iter().enumerate() {
            let Some(intent) = intents.get(k) else {
                // Its journal entry could not be made: it fails as it
                // would have when run, and nothing after it is sent.
                let error = refused.take().unwrap_or_else(|| {
                    ChangeError::malformed(&change.address, "it was not journaled")
                });
                progress.started(change);
                unreported.push(
                    index,
                    change,
                    Outcome::Failed {
                        error: Arc::new(error),
                    },
                );
                skip(&batch[k + 1..], unreported);
                return true;
            };
            progress.started(change);
            // Everything logged while a change runs (its Graph calls,
            // retries, store writes) carries its action and address.
            let span = tracing::info_span!(
                "change",
                action = change.action.as_str(),
                address = %change.address,
            );
            let outcome = match self
                .change(change, intent.as_ref(), ledger)
                .instrument(span)
                .await
            {
                Ok(outcome) => outcome,
                Err(error) => Outcome::Failed {
                    error: Arc::new(error),
                },
            };
            self.pace.observe(self.client.usage_percent());
            let failed = matches!(outcome, Outcome::Failed { .. });
            unreported.push(index, change, outcome);
            if failed {
                for intent in intents.iter().flatten() {
                    if !ledger.was_sent(&intent.id) {
                        ledger.settle(&intent.id);
                    }
                }
                skip(&batch[k + 1..], unreported);
                return true;
            }
        }
        false
    }
}

/// How many of `changes` (a system user's, in plan order) are one batch: a
/// creation or an invalidation alone (what comes after depends on its
/// outcome: the new system user's ID, the tokens it killed), otherwise
/// everything up to the next one.
fn batch_len(changes: &[Indexed<'_>]) -> usize {
    let alone = |change: &Change| {
        matches!(
            change.action,
            Action::Create | Action::Rename | Action::Invalidate
        )
    };
    if changes.first().is_some_and(|(_, change)| alone(change)) {
        return 1;
    }
    changes
        .iter()
        .position(|(_, change)| alone(change))
        .unwrap_or(changes.len())
}

/// Every change of `changes` fails with `error` (nothing was sent).
fn fail<'p>(changes: &[Indexed<'p>], error: &Arc<ChangeError>, unreported: &mut Unreported<'p>) {
    for &(index, change) in changes {
        unreported.push(
            index,
            change,
            Outcome::Failed {
                error: Arc::clone(error),
            },
        );
    }
}

/// Every change of `changes` is skipped: an earlier one failed.
fn skip<'p>(changes: &[Indexed<'p>], unreported: &mut Unreported<'p>) {
    for &(index, change) in changes {
        unreported.push(
            index,
            change,
            Outcome::Skipped {
                reason: "an earlier change of this system user failed".to_owned(),
            },
        );
    }
}

impl<'p> Unreported<'p> {
    fn push(&mut self, index: usize, change: &'p Change, outcome: Outcome) {
        self.outcomes.push((index, change, outcome));
    }

    /// Reports the outcomes held, after the write that records them: a
    /// change done whose record could not be written (`unrecorded`) is
    /// reported failed.
    fn report(
        &mut self,
        progress: &dyn Progress,
        unrecorded: Option<&Arc<ChangeError>>,
        done: &mut Vec<(usize, Outcome)>,
    ) {
        for (index, change, outcome) in self.outcomes.drain(..) {
            let outcome = match (outcome, unrecorded) {
                (Outcome::Done { .. }, Some(error)) => Outcome::Failed {
                    error: Arc::new(ChangeError::Unrecorded(Arc::clone(error))),
                },
                (outcome, _) => outcome,
            };
            progress.finished(change, &outcome);
            done.push((index, outcome));
        }
    }
}
