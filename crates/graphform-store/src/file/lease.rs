//! The lease file, `lease.json`: claimed, renewed, released and broken
//! under the store lock.

use super::disk::{
    LeaseFile, io_error, read_json_file, sync_dir, to_json, version, write_atomically,
};
use super::{FORMAT, Inner, LEASE_FILE};
use crate::{Lease, LeaseBreak, LeaseClaim, LeaseId, LeaseInfo, StoreError, Timestamp, Version};
use std::fs;

impl Inner {
    pub(super) fn read_lease_file(&self) -> Result<Option<LeaseFile>, StoreError> {
        read_json_file(&self.path(LEASE_FILE), "the lease")
    }

    fn write_lease_file(
        &self,
        lease: &LeaseInfo,
        current: Option<u64>,
    ) -> Result<Version, StoreError> {
        let new_version = self.next_version(current)?;
        let file = LeaseFile {
            format: FORMAT,
            version: new_version,
            lease: lease.clone(),
        };
        write_atomically(&self.dir, LEASE_FILE, &to_json(&file, "the lease")?)?;
        Ok(version(new_version))
    }

    fn remove_lease_file(&self) -> Result<(), StoreError> {
        let path = self.path(LEASE_FILE);
        fs::remove_file(&path)
            .map_err(|error| io_error(format!("removing {}", path.display()), error))?;
        sync_dir(&self.dir)
    }

    /// Writes the claim's holder as the lease if there is none, or over
    /// the one held if the claim may replace it. Under the lock.
    pub(super) fn claim_lease(&self, claim: &LeaseClaim) -> Result<Lease, StoreError> {
        let _lock = self.lock()?;
        let existing = self.read_lease_file()?;
        if let Some(existing) = &existing {
            claim.replace(&existing.lease)?;
        }
        let version = self.write_lease_file(claim.holder(), existing.map(|file| file.version))?;
        Ok(claim.won(version))
    }

    pub(super) fn renew_lease(
        &self,
        lease: &Lease,
        expires_at: Timestamp,
    ) -> Result<Lease, StoreError> {
        let Some(_lock) = self.lock_existing()? else {
            return Err(StoreError::LeaseLost);
        };
        match self.read_lease_file()? {
            Some(file) if version(file.version) == lease.version => {
                let info = LeaseInfo {
                    expires_at,
                    ..file.lease
                };
                let version = self.write_lease_file(&info, Some(file.version))?;
                tracing::debug!(holder = %info.holder, expires_at = expires_at.unix(), "lease renewed");
                Ok(Lease { info, version })
            }
            _ => Err(StoreError::LeaseLost),
        }
    }

    pub(super) fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let Some(_lock) = self.lock_existing()? else {
            return Ok(());
        };
        match self.read_lease_file()? {
            Some(file) if version(file.version) == lease.version => {
                self.remove_lease_file()?;
                tracing::debug!(holder = %file.lease.holder, "lease released");
            }
            // Already gone, or someone else's now: leave it alone.
            _ => tracing::debug!(holder = %lease.info.holder, "lease already gone at release"),
        }
        Ok(())
    }

    /// Removes the lease if its ID is `id` (read and removed under the
    /// lock: nothing changes in between).
    pub(super) fn break_lease(&self, id: &LeaseId) -> Result<LeaseBreak, StoreError> {
        let Some(_lock) = self.lock_existing()? else {
            return Ok(LeaseBreak::NotHeld);
        };
        let file = match self.read_lease_file() {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(LeaseBreak::NotHeld),
            // `graphform unlock` is how a user gets out of a damaged lease
            // file, so remove it; there is no holder (nor ID) to report.
            Err(StoreError::Corrupt { what, reason }) => {
                tracing::warn!("removing {what}, which is unreadable: {reason}");
                self.remove_lease_file()?;
                return Ok(LeaseBreak::Damaged);
            }
            Err(error) => return Err(error),
        };
        if file.lease.id != *id {
            return Ok(LeaseBreak::OtherHolder(file.lease));
        }
        self.remove_lease_file()?;
        Ok(LeaseBreak::Broken(file.lease).logged())
    }
}
