//! The errors made of Vault's answers and of transport failures: what was being done, what Vault said (redacted), and how to fix it.

use super::kv::{LEASE_REL, Reply};
use super::wire::server_errors;
use super::{CAS_ROUNDS, Inner, error_chain, has_io_kind, redact, squash};
use crate::StoreError;
use reqwest::StatusCode;
use std::fmt;

impl Inner {
    /// The error for an entry whose latest version someone else deleted
    /// (`bao kv delete`, an expired `delete_version_after`) or destroyed:
    /// graphform cannot tell what it held, so it neither reads it as
    /// absent nor writes over it. Says how to restore it or remove it on
    /// purpose.
    pub(super) fn deleted_elsewhere(&self, rel: &str, version: u64, destroyed: bool) -> StoreError {
        let namespace = self
            .settings
            .namespace
            .as_ref()
            .map(|namespace| format!("-namespace={namespace} "))
            .unwrap_or_default();
        let key = format!(
            "{namespace}-mount={} {}/{rel}",
            self.settings.mount, self.settings.prefix
        );
        let remove = if rel == LEASE_REL {
            "or replace it with `graphform unlock ANY-ID` (a damaged lease has no ID: any one removes it)".to_owned()
        } else {
            format!(
                "or remove it on purpose with `bao kv metadata delete {key}` (graphform then \
                 takes it for absent)"
            )
        };
        let reason = if destroyed {
            format!(
                "its latest version {version} was destroyed (`bao kv destroy`): what it held is \
                 gone, and graphform will not take it for absent nor write over it; write back an \
                 earlier version with `bao kv rollback -version=<N> {key}` (`bao kv metadata get \
                 {key}` lists them), {remove}"
            )
        } else {
            format!(
                "its latest version {version} was deleted (`bao kv delete`, or the \
                 `delete_version_after` of the key or mount), not by graphform: graphform will \
                 not take it for absent nor write over it; restore it with `bao kv undelete \
                 -versions={version} {key}`, {remove}"
            )
        };
        StoreError::Corrupt {
            what: format!("vault entry {}", self.data_path(rel)),
            reason,
        }
    }

    pub(super) fn kept_changing(&self, action: &str, what: &str) -> StoreError {
        StoreError::Io {
            operation: self.operation(action),
            source: format!(
                "{what} changed {CAS_ROUNDS} times while graphform tried to write it; is another \
                 program writing there?"
            )
            .into(),
        }
    }

    pub(super) fn not_kv2(&self, action: &str, path: &str) -> StoreError {
        StoreError::Config {
            message: format!(
                "{action}: {path} at Vault {} did not answer like a KV version 2 engine",
                self.settings.address
            ),
            hint: Some(format!(
                "check that `{}` is a KV version 2 mount (`bao secrets list -detailed`)",
                self.settings.mount
            )),
        }
    }

    pub(super) fn unexpected_reply(&self, action: &str, path: &str, reason: &str) -> StoreError {
        StoreError::Io {
            operation: self.operation(action),
            source: format!("unexpected reply from Vault for {path}: {reason}").into(),
        }
    }

    pub(super) fn transport_error(&self, action: &str, error: &reqwest::Error) -> StoreError {
        let address = &self.settings.address;
        let chain = error_chain(error);
        let message = if has_io_kind(error, std::io::ErrorKind::ConnectionRefused) {
            format!("connection refused: is the Vault server running at {address}?")
        } else if error.is_timeout() {
            format!("no answer from Vault at {address} in time")
        } else if chain.contains("certificate") || chain.contains("Certificate") {
            let hint = if self.settings.ca_file.is_some() {
                "check that the CA file is the one that signed the server's certificate"
            } else {
                "if the server uses a private CA, give its certificate as the store's CA file"
            };
            format!("the TLS certificate of Vault at {address} is not trusted ({chain}); {hint}")
        } else if error.is_connect() {
            format!("cannot connect to Vault at {address}: {chain}")
        } else {
            format!("the request to Vault at {address} failed: {chain}")
        };
        StoreError::Io {
            operation: self.operation(action),
            source: Box::new(Transport { message }),
        }
    }

    /// The error for a reply this code does not handle itself.
    pub(super) fn api_error(
        &self,
        action: &str,
        path: &str,
        reply: &Reply,
        secrets: &[&str],
    ) -> StoreError {
        let address = &self.settings.address;
        let mut redacted: Vec<&str> = secrets.to_vec();
        redacted.push(self.token.expose());
        let errors = server_errors(&reply.body)
            .iter()
            .map(|error| squash(&redact(error, &redacted)))
            .collect::<Vec<_>>()
            .join("; ");
        let said = if errors.is_empty() {
            String::new()
        } else {
            format!(": {errors}")
        };
        let status = reply.status;
        let path = path.split('?').next().unwrap_or(path);
        if status.is_redirection() {
            // Not followed (see `build`), and its body is not shown: it is
            // not Vault's answer to the request.
            return StoreError::Io {
                operation: self.operation(action),
                source: Box::new(Transport {
                    message: format!(
                        "Vault at {address} answered {} for {path}: a redirect (a standby node \
                         sends clients to the active one), which graphform does not follow, as \
                         it would send the Vault token elsewhere; set the store's address to the \
                         active node, or to a load balancer that forwards requests",
                        status.as_u16()
                    ),
                }),
            };
        }
        if status == StatusCode::FORBIDDEN {
            return StoreError::Config {
                message: format!(
                    "the Vault token lacks a policy for {path}: Vault at {address} answered 403 \
                     permission denied while {action}"
                ),
                hint: Some(self.policy_hint()),
            };
        }
        if errors.contains("sealed") {
            return StoreError::Io {
                operation: self.operation(action),
                source: Box::new(Transport {
                    message: format!(
                        "the Vault server at {address} is sealed: unseal it (`bao operator \
                         unseal`) and run again"
                    ),
                }),
            };
        }
        if status == StatusCode::NOT_FOUND && errors.contains("no handler for route") {
            return StoreError::Config {
                message: format!(
                    "there is no KV mount `{}` at Vault {address}{} (no handler for route {path})",
                    self.settings.mount,
                    self.namespace_text()
                ),
                hint: Some(format!(
                    "enable a KV version 2 engine there (`bao secrets enable -path={} kv-v2`) or \
                     set `store.mount` to an existing one",
                    self.settings.mount
                )),
            };
        }
        if status == StatusCode::NOT_FOUND && errors.contains("namespace not found") {
            return StoreError::Config {
                message: format!(
                    "Vault at {address} has no namespace `{}`",
                    self.settings.namespace.as_deref().unwrap_or("")
                ),
                hint: Some("check the store's namespace".to_owned()),
            };
        }
        StoreError::Io {
            operation: self.operation(action),
            source: Box::new(Transport {
                message: format!(
                    "Vault at {address} answered {} for {path}{said}",
                    status.as_u16()
                ),
            }),
        }
    }

    pub(super) fn namespace_text(&self) -> String {
        self.settings
            .namespace
            .as_ref()
            .map(|namespace| format!(" in namespace `{namespace}`"))
            .unwrap_or_default()
    }

    pub(super) fn policy_hint(&self) -> String {
        let mount = &self.settings.mount;
        let prefix = &self.settings.prefix;
        format!(
            "grant {} a policy with create, read, update on {mount}/data/{prefix}/*; read, \
             update, list on {mount}/metadata/{prefix}/*; update on {mount}/delete/{prefix}/* \
             and {mount}/destroy/{prefix}/* (docs/stores.md has it). An invalid or expired token \
             gets the same answer, and so does a mount that does not exist{}",
            self.token_source,
            self.namespace_text()
        )
    }
}

/// Puts `context` in front of what an error says was being done.
pub(super) fn with_context(error: StoreError, context: &str) -> StoreError {
    match error {
        StoreError::Io { operation, source } => StoreError::Io {
            operation: format!("{context}: {operation}"),
            source,
        },
        StoreError::Config { message, hint } => StoreError::Config {
            message: format!("{context}: {message}"),
            hint,
        },
        other => other,
    }
}

/// A transport or server failure, described for people (no value in it).
#[derive(Debug)]
pub(super) struct Transport {
    pub(super) message: String,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Transport {}
