//! The store the policy names, behind one type: the engine is generic over
//! `Store`, and this enum lets the command line pick the backend at run
//! time.

use graphform_store::{
    AwsSecretsManagerStore, FileStore, Lease, LeaseInfo, Store, StoreError, TokenRecord, UnixTime,
    VaultStore, Version, Versioned,
};

/// One of the store backends.
#[derive(Clone, Debug)]
pub(crate) enum AnyStore {
    File(FileStore),
    Vault(VaultStore),
    Aws(AwsSecretsManagerStore),
}

impl AnyStore {
    /// Warnings found when opening the store (e.g. a file store others can
    /// read).
    pub(crate) fn warnings(&self) -> &[String] {
        match self {
            Self::File(store) => store.warnings(),
            Self::Vault(_) | Self::Aws(_) => &[],
        }
    }
}

/// Forwards a `Store` method to the backend.
macro_rules! each {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::File($store) => $call,
            AnyStore::Vault($store) => $call,
            AnyStore::Aws($store) => $call,
        }
    };
}

impl Store for AnyStore {
    fn describe(&self) -> String {
        each!(self, store => store.describe())
    }

    async fn read_token(
        &self,
        address: &str,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError> {
        each!(self, store => store.read_token(address).await)
    }

    async fn list_tokens(&self) -> Result<Vec<String>, StoreError> {
        each!(self, store => store.list_tokens().await)
    }

    async fn write_token(
        &self,
        address: &str,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        each!(self, store => store.write_token(address, record, expected).await)
    }

    async fn delete_token(&self, address: &str, expected: &Version) -> Result<(), StoreError> {
        each!(self, store => store.delete_token(address, expected).await)
    }

    async fn read_state(&self) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        each!(self, store => store.read_state().await)
    }

    async fn write_state(
        &self,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        each!(self, store => store.write_state(document, expected).await)
    }

    async fn acquire_lease(&self, holder: &LeaseInfo) -> Result<Lease, StoreError> {
        each!(self, store => store.acquire_lease(holder).await)
    }

    async fn renew_lease(&self, lease: &Lease, expires_at: UnixTime) -> Result<Lease, StoreError> {
        each!(self, store => store.renew_lease(lease, expires_at).await)
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        each!(self, store => store.release_lease(lease).await)
    }

    async fn take_over_lease(
        &self,
        stale: &LeaseInfo,
        holder: &LeaseInfo,
    ) -> Result<Lease, StoreError> {
        each!(self, store => store.take_over_lease(stale, holder).await)
    }

    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        each!(self, store => store.read_lease().await)
    }

    async fn break_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        each!(self, store => store.break_lease().await)
    }
}
