//! The lease apply holds while it runs: taken before anything is read
//! (a dead holder of this host is taken over), renewed in the background,
//! and lost only by being broken or expiring.

use std::sync::atomic::{AtomicBool, Ordering};

use graphform_store::{Lease, LeaseInfo, Store, StoreError};
use graphform_types::Timestamp;
use tokio::sync::{Mutex, Notify};

use super::{ApplyError, ApplyOptions, Progress, RunClock};

/// The held lease, renewed in the background of the apply.
pub(super) struct LeaseKeeper {
    pub(super) lease: Mutex<Lease>,
    pub(super) lost: AtomicBool,
    /// Tells the renewal to stop once the renewal in flight, if any, is
    /// done: dropped in the middle, one could move the lease in the store
    /// without the keeper knowing, and releasing it would then fail.
    pub(super) stop: Notify,
}

impl LeaseKeeper {
    /// Renews the lease every `lease_renew_every`; returns the error when
    /// it is lost, `None` once told to [`stop`](Self::stop).
    pub(super) async fn renew<S: Store>(
        &self,
        store: &S,
        options: &ApplyOptions,
        clock: &RunClock,
    ) -> Option<ApplyError> {
        loop {
            tokio::select! {
                () = tokio::time::sleep(options.lease_renew_every) => {}
                () = self.stop.notified() => return None,
            }
            let expires_at = clock
                .now()
                .saturating_add(graphform_types::Duration::seconds(options.lease_seconds));
            let mut lease = self.lease.lock().await;
            match store.renew_lease(&lease, expires_at).await {
                Ok(renewed) => *lease = renewed,
                Err(StoreError::LeaseLost) => {
                    self.lost.store(true, Ordering::SeqCst);
                    return Some(ApplyError::LeaseLost);
                }
                // A passing store failure: the lease still runs until its
                // expiry, well after the next try.
                Err(error) => tracing::warn!(%error, "could not renew the lease; trying again"),
            }
        }
    }
}

/// Takes the lease. A lease left by a process of this host that no longer
/// runs (a killed apply) is taken over, compare-and-set on exactly the
/// lease that was read (another apply may take it meanwhile), and said so;
/// any other holder is an error naming it.
pub(crate) async fn acquire_lease<S: Store>(
    store: &S,
    options: &ApplyOptions,
    now: Timestamp,
    progress: &dyn Progress,
) -> Result<Lease, ApplyError> {
    let request = LeaseInfo::for_current_process(&options.holder, now, options.lease_seconds);
    match store.acquire_lease(&request).await {
        Err(StoreError::Locked(holder)) if holder_is_gone(&holder) => {
            let lease = store.take_over_lease(&holder, &request).await?;
            progress.note(&format!(
                "took over the lock of {} (pid {} on this host), which is no longer running",
                holder.holder, holder.pid
            ));
            Ok(lease)
        }
        other => Ok(other?),
    }
}

/// Whether a lease holder is a process of this host that has exited.
fn holder_is_gone(holder: &LeaseInfo) -> bool {
    holder.host == graphform_store::local_host_name()
        && holder.pid != std::process::id()
        && cfg!(target_os = "linux")
        && !std::path::Path::new(&format!("/proc/{}", holder.pid)).exists()
}
