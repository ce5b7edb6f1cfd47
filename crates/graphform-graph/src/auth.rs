//! Credentials and request signing: an app's ID and secret, a user or
//! system-user token bound to its app, the app token, and `appsecret_proof`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Secret;

/// An app's ID and secret. The secret signs `appsecret_proof`, forms the app
/// token for `debug_token`, and is the `client_secret` of refresh and
/// revoke. `Debug` shows only the secret's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredentials {
    app_id: String,
    secret: Secret,
}

impl AppCredentials {
    /// An app's credentials.
    pub fn new(app_id: impl Into<String>, secret: Secret) -> Self {
        Self {
            app_id: app_id.into(),
            secret,
        }
    }

    /// The app's ID (not a secret).
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The app secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The app access token, `{app-id}|{app-secret}`: the credential
    /// `debug_token` requires (graph-api.md §4).
    pub fn app_token(&self) -> Secret {
        Secret::new(format!("{}|{}", self.app_id, self.secret.expose()))
    }
}

/// A user or system-user access token together with the app it was issued
/// for, whose secret signs the token's `appsecret_proof`.
///
/// Every call made with such a token carries the proof (graph-api.md §5).
/// Using one app's secret with another app's token gets "Invalid
/// `appsecret_proof`" from Meta, so the pairing is made once, here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserToken {
    token: Secret,
    app: AppCredentials,
}

impl UserToken {
    /// A token issued for `app`.
    pub fn new(token: Secret, app: AppCredentials) -> Self {
        Self { token, app }
    }

    /// The token.
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// The app the token was issued for.
    pub fn app(&self) -> &AppCredentials {
        &self.app
    }

    /// The token's `appsecret_proof`.
    pub fn appsecret_proof(&self) -> Secret {
        appsecret_proof(self.token.expose(), self.app.secret.expose())
    }
}

/// `appsecret_proof`: HMAC-SHA256 keyed by the app secret over the access
/// token, as 64 lowercase hex digits (graph-api.md §5, the Python SDK's
/// `_gen_appsecret_proof`). It is returned as a [`Secret`]: anyone holding
/// it can use the token from a server.
pub fn appsecret_proof(access_token: &str, app_secret: &str) -> Secret {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC-SHA256 accepts a key of any length");
    mac.update(access_token.as_bytes());
    Secret::new(hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_known_answer() {
        // Computed independently with Python's standard library:
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"s3cr3t-app-secret",
        //   b"EAAGm0PX4ZCpsBAKnownAnswerToken", hashlib.sha256).hexdigest())'
        let proof = appsecret_proof("EAAGm0PX4ZCpsBAKnownAnswerToken", "s3cr3t-app-secret");
        assert_eq!(
            proof.expose(),
            "165a1674629f65a62420c2ba2d9abd8578345c9f81936c54e7003901a8b79650"
        );
        // RFC 4231 test case 2 (key "Jefe"), an independent published vector.
        let rfc = appsecret_proof("what do ya want for nothing?", "Jefe");
        assert_eq!(
            rfc.expose(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn user_token_proof_uses_its_own_app_secret() {
        let app = AppCredentials::new("1234", Secret::new("s3cr3t-app-secret"));
        let token = UserToken::new(Secret::new("EAAGm0PX4ZCpsBAKnownAnswerToken"), app);
        assert_eq!(
            token.appsecret_proof(),
            appsecret_proof("EAAGm0PX4ZCpsBAKnownAnswerToken", "s3cr3t-app-secret")
        );
        let proof = token.appsecret_proof();
        assert_eq!(proof.expose().len(), 64);
        assert!(
            proof
                .expose()
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn app_token_is_id_pipe_secret() {
        let app = AppCredentials::new("1234", Secret::new("abc"));
        assert_eq!(app.app_token().expose(), "1234|abc");
    }

    #[test]
    fn debug_shows_no_secret() {
        let app = AppCredentials::new("1234", Secret::new("s3cr3t-app-secret"));
        let token = UserToken::new(Secret::new("EAAGm0PX4ZCpsBAKnownAnswerToken"), app);
        let shown = format!("{token:?} {token:#?} {:?}", token.app());
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("EAAGm0PX"), "{shown}");
        assert!(shown.contains("1234"));
    }
}
