//! The store's records in the engine's terms.

use graphform_store::TokenMetadata;
use graphform_types::Timestamp;

/// The moments a stored token's metadata records, as [`Timestamp`]s.
pub(crate) trait MetadataTimes {
    /// When the value expires; `None` for a never-expiring one.
    fn expires(&self) -> Option<Timestamp>;
    /// When it was issued or refreshed.
    fn issued(&self) -> Timestamp;
}

impl MetadataTimes for TokenMetadata {
    fn expires(&self) -> Option<Timestamp> {
        self.expires_at.map(Timestamp::from_unix)
    }

    fn issued(&self) -> Timestamp {
        Timestamp::from_unix(self.issued_at)
    }
}
