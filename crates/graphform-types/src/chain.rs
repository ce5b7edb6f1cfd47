//! An error and its causes on one line.

use std::error::Error;
use std::fmt;

/// Shows an error and its sources joined by `: ` (`cannot write the state
/// document: the store is read-only`), for places that have one line for
/// an error: a change's outcome, a JSON report. Errors whose message
/// already quotes their cause mark it `transparent` or leave it out of
/// `source()`, so nothing is said twice.
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write the state document")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn joins_an_error_and_its_causes() {
        let error = Outer(std::io::Error::other("the disk is full"));
        assert_eq!(
            Chain(&error).to_string(),
            "cannot write the state document: the disk is full"
        );
        let alone = std::io::Error::other("alone");
        assert_eq!(Chain(&alone).to_string(), "alone");
    }
}
