//! A moto server for tests (filled in by the AWS backend work).
