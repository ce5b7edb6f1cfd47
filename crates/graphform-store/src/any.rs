//! The backend chosen at run time, behind one type: the engine is generic
//! over [`Store`], and [`AnyStore`] lets a program open whichever backend
//! its settings name ([`BackendSettings`]).

use std::path::PathBuf;

use crate::{
    AwsSecretsManagerConfig, AwsSecretsManagerStore, FileStore, Lease, LeaseBreak, LeaseClaim,
    LeaseId, LeaseInfo, Store, StoreError, SystemUserAddress, Timestamp, TokenAddress, TokenRecord,
    VaultSettings, VaultStore, Version, Versioned,
};

/// Which backend to open, and how: the policy's `store:` section with
/// defaults applied and relative paths resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendSettings {
    /// `type: file`: the store's directory and the environment variable
    /// that holds its key (see [`FileStore::open`]).
    File {
        /// The store's directory.
        dir: PathBuf,
        /// The variable holding the `age` identity.
        key_env: String,
    },
    /// `type: vault` (see [`VaultStore::open`]).
    Vault {
        /// Where and how to reach the server.
        settings: VaultSettings,
        /// The variable holding the Vault token.
        token_env: String,
    },
    /// `type: aws-secrets-manager`, with the credentials of the standard
    /// environment variables (see [`AwsSecretsManagerStore::from_env`]).
    AwsSecretsManager(AwsSecretsManagerConfig),
}

/// One of the store backends.
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// The `file` backend.
    File(FileStore),
    /// The `vault` backend.
    Vault(VaultStore),
    /// The `aws-secrets-manager` backend.
    Aws(AwsSecretsManagerStore),
}

impl AnyStore {
    /// Opens the backend `settings` name. Nothing is sent to a server yet;
    /// errors are those of the backend's own constructor.
    pub fn open(settings: BackendSettings) -> Result<Self, StoreError> {
        match settings {
            BackendSettings::File { dir, key_env } => {
                FileStore::open(dir, &key_env).map(Self::File)
            }
            BackendSettings::Vault {
                settings,
                token_env,
            } => VaultStore::open(settings, &token_env).map(Self::Vault),
            BackendSettings::AwsSecretsManager(config) => {
                AwsSecretsManagerStore::from_env(&config).map(Self::Aws)
            }
        }
    }

    /// Warnings found when opening the store (e.g. a file store others can
    /// read).
    pub fn warnings(&self) -> &[String] {
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
        address: &TokenAddress,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError> {
        each!(self, store => store.read_token(address).await)
    }

    async fn list_tokens(&self) -> Result<Vec<TokenAddress>, StoreError> {
        each!(self, store => store.list_tokens().await)
    }

    async fn write_token(
        &self,
        address: &TokenAddress,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        each!(self, store => store.write_token(address, record, expected).await)
    }

    async fn delete_token(
        &self,
        address: &TokenAddress,
        expected: &Version,
    ) -> Result<(), StoreError> {
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

    async fn read_system_user_state(
        &self,
        user: &SystemUserAddress,
    ) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        each!(self, store => store.read_system_user_state(user).await)
    }

    async fn write_system_user_state(
        &self,
        user: &SystemUserAddress,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        each!(self, store => store.write_system_user_state(user, document, expected).await)
    }

    async fn claim_lease(&self, claim: &LeaseClaim) -> Result<Lease, StoreError> {
        each!(self, store => store.claim_lease(claim).await)
    }

    async fn renew_lease(&self, lease: &Lease, expires_at: Timestamp) -> Result<Lease, StoreError> {
        each!(self, store => store.renew_lease(lease, expires_at).await)
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        each!(self, store => store.release_lease(lease).await)
    }

    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        each!(self, store => store.read_lease().await)
    }

    async fn break_lease(&self, id: &LeaseId) -> Result<LeaseBreak, StoreError> {
        each!(self, store => store.break_lease(id).await)
    }
}
