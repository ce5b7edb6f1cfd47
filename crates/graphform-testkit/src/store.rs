//! A store wrapper that sees every token write before it happens.

use graphform_store::{
    Lease, LeaseInfo, Store, StoreError, Timestamp, TokenAddress, TokenRecord, Version, Versioned,
};

/// Wraps a store; calls `hook(address, record)` before each
/// [`Store::write_token`] and, if it returns an error, fails the write with
/// it (nothing written). Every other method is the wrapped store's.
///
/// Uses: remember every value written (to look for it in logs later), or
/// make writes fail while a flag is set (a store outage).
#[derive(Debug)]
pub struct BeforeWrite<S, F> {
    inner: S,
    hook: F,
}

impl<S, F> BeforeWrite<S, F>
where
    S: Store,
    F: Fn(&TokenAddress, &TokenRecord) -> Result<(), StoreError>,
{
    /// `inner` with `hook` before each token write.
    pub fn new(inner: S, hook: F) -> Self {
        Self { inner, hook }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S, F> Store for BeforeWrite<S, F>
where
    S: Store,
    F: Fn(&TokenAddress, &TokenRecord) -> Result<(), StoreError>,
{
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn read_token(
        &self,
        address: &TokenAddress,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError> {
        self.inner.read_token(address).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenAddress>, StoreError> {
        self.inner.list_tokens().await
    }

    async fn write_token(
        &self,
        address: &TokenAddress,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        (self.hook)(address, record)?;
        self.inner.write_token(address, record, expected).await
    }

    async fn delete_token(
        &self,
        address: &TokenAddress,
        expected: &Version,
    ) -> Result<(), StoreError> {
        self.inner.delete_token(address, expected).await
    }

    async fn read_state(&self) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        self.inner.read_state().await
    }

    async fn write_state(
        &self,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        self.inner.write_state(document, expected).await
    }

    async fn acquire_lease(&self, holder: &LeaseInfo) -> Result<Lease, StoreError> {
        self.inner.acquire_lease(holder).await
    }

    async fn take_over_lease(
        &self,
        stale: &LeaseInfo,
        holder: &LeaseInfo,
    ) -> Result<Lease, StoreError> {
        self.inner.take_over_lease(stale, holder).await
    }

    async fn renew_lease(&self, lease: &Lease, expires_at: Timestamp) -> Result<Lease, StoreError> {
        self.inner.renew_lease(lease, expires_at).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release_lease(lease).await
    }

    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        self.inner.read_lease().await
    }

    async fn break_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        self.inner.break_lease().await
    }
}
