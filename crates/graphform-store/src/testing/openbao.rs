//! An OpenBao dev server for tests (filled in by the vault backend work).
