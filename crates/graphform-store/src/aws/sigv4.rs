//! AWS Signature Version 4, as published
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>),
//! for the requests this backend sends: `POST /` with a JSON body, no query
//! string. Hand-written on the workspace's `hmac` and `sha2` rather than
//! the `aws-sigv4` crate: see docs/dependencies.md.
//!
//! moto does not check signatures (it only reads the credential scope to
//! route the request), so the known-answer tests at the bottom are what
//! proves this code right.

use hmac::{Hmac, Mac};
use secrecy::zeroize::Zeroizing;
use sha2::{Digest, Sha256};

/// The content type of Secrets Manager's JSON protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The signing name of Secrets Manager.
pub const SERVICE: &str = "secretsmanager";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What is signed: one request and the credentials to sign it with.
pub struct Request<'a> {
    /// `GET`, `POST`…
    pub method: &'a str,
    /// The request's headers, names in lower case, `host` among them. All
    /// of them are signed.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
    /// `YYYYMMDD'T'HHMMSS'Z'`, also sent as `x-amz-date`.
    pub amz_date: &'a str,
    /// The region, e.g. `eu-west-1`.
    pub region: &'a str,
    /// The service's signing name, e.g. `secretsmanager`.
    pub service: &'a str,
    /// The access key ID.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
}

/// The `Authorization` header value for `request` (path `/`, no query).
pub fn authorization(request: &Request<'_>) -> String {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), canonical_value(value)))
        .collect();
    headers.sort();
    let canonical_headers = headers
        .iter()
        .fold(String::new(), |mut text, (name, value)| {
            text.push_str(name);
            text.push(':');
            text.push_str(value);
            text.push('\n');
            text
        });
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        hex::encode(Sha256::digest(request.body))
    );
    let date = request.amz_date.get(..8).unwrap_or(request.amz_date);
    let scope = format!("{date}/{}/{}/aws4_request", request.region, request.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        request.amz_date,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(
        request.secret_access_key,
        date,
        request.region,
        request.service,
    );
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        request.access_key_id
    )
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Zeroizing<Vec<u8>> {
    let seed = Zeroizing::new(format!("AWS4{secret}"));
    let mut key = Zeroizing::new(hmac(seed.as_bytes(), date.as_bytes()));
    for part in [region, service, "aws4_request"] {
        key = Zeroizing::new(hmac(&key, part.as_bytes()));
    }
    key
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// A header value as signed: trimmed, inner runs of spaces collapsed.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Now as `YYYYMMDD'T'HHMMSS'Z'` (UTC).
pub fn amz_date_now() -> String {
    amz_date(jiff::Timestamp::now().as_second())
}

/// `seconds` since the Unix epoch as `YYYYMMDD'T'HHMMSS'Z'` (UTC).
pub fn amz_date(seconds: i64) -> String {
    graphform_types::Timestamp::from_unix(seconds)
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    //! Known answers computed outside this code.
    //!
    //! `get_vanilla` is the `get-vanilla` case of AWS's published `SigV4`
    //! test suite. The Secrets Manager cases were computed with the Python
    //! below (Python 3.11, standard library only, following the published
    //! algorithm step by step), which also reproduces `get_vanilla`; and
    //! again with botocore 1.44.5's own signer (`SigV4Auth`, the one the
    //! `aws` CLI uses, with its clock patched to 2026-01-01T00:00:00Z),
    //! which gave the same two signatures.
    //!
    //! ```python
    //! import hashlib, hmac
    //! def h(b): return hashlib.sha256(b).hexdigest()
    //! def mac(k, m): return hmac.new(k, m.encode(), hashlib.sha256).digest()
    //! def sign(method, headers, body, akid, secret, date, region, service):
    //!     names = sorted(headers)
    //!     canonical_headers = "".join(f"{n}:{headers[n].strip()}\n" for n in names)
    //!     signed = ";".join(names)
    //!     creq = "\n".join([method, "/", "", canonical_headers, signed, h(body)])
    //!     scope = f"{date[:8]}/{region}/{service}/aws4_request"
    //!     sts = "\n".join(["AWS4-HMAC-SHA256", date, scope, h(creq.encode())])
    //!     k = mac(("AWS4" + secret).encode(), date[:8])
    //!     k = mac(k, region); k = mac(k, service); k = mac(k, "aws4_request")
    //!     sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    //!     return f"AWS4-HMAC-SHA256 Credential={akid}/{scope}, SignedHeaders={signed}, Signature={sig}"
    //! AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    //! print(sign("GET", {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"},
    //!            b"", AK, SK, "20150830T123600Z", "us-east-1", "service"))
    //! body = b'{"SecretId":"graphform/tokens/acme/ci-reporting/token/insights-read","VersionStage":"AWSCURRENT"}'
    //! hd = {"content-type": "application/x-amz-json-1.1",
    //!       "host": "secretsmanager.eu-west-1.amazonaws.com",
    //!       "x-amz-date": "20260101T000000Z", "x-amz-target": "secretsmanager.GetSecretValue"}
    //! print(sign("POST", hd, body, AK, SK, "20260101T000000Z", "eu-west-1", "secretsmanager"))
    //! hd2 = dict(hd, host="127.0.0.1:4566",
    //!            **{"x-amz-security-token": "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"})
    //! print(sign("POST", hd2, body, AK, SK, "20260101T000000Z", "eu-west-1", "secretsmanager"))
    //! ```

    use super::*;

    const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
    const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const BODY: &[u8] = br#"{"SecretId":"graphform/tokens/acme/ci-reporting/token/insights-read","VersionStage":"AWSCURRENT"}"#;

    #[test]
    fn get_vanilla_from_the_aws_test_suite() {
        let authorization = authorization(&Request {
            method: "GET",
            headers: &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ],
            body: b"",
            amz_date: "20150830T123600Z",
            region: "us-east-1",
            service: "service",
            access_key_id: ACCESS_KEY_ID,
            secret_access_key: SECRET_ACCESS_KEY,
        });
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// The authorization of a `GetSecretValue` of [`BODY`] in `eu-west-1`
    /// at 2026-01-01T00:00:00Z with `headers`.
    fn secrets_manager_authorization(headers: &[(&str, &str)]) -> String {
        authorization(&Request {
            method: "POST",
            headers,
            body: BODY,
            amz_date: "20260101T000000Z",
            region: "eu-west-1",
            service: SERVICE,
            access_key_id: ACCESS_KEY_ID,
            secret_access_key: SECRET_ACCESS_KEY,
        })
    }

    #[test]
    fn secrets_manager_get_secret_value() {
        // In another order than signed: the signer sorts.
        let authorization = secrets_manager_authorization(&[
            ("x-amz-target", "secretsmanager.GetSecretValue"),
            ("host", "secretsmanager.eu-west-1.amazonaws.com"),
            ("content-type", CONTENT_TYPE),
            ("x-amz-date", "20260101T000000Z"),
        ]);
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/secretsmanager/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
             Signature=66f991cbe6d49abf74da2e972381681a57063ff49e4f245414e6c2f9115e8d6c"
        );
    }

    #[test]
    fn secrets_manager_with_a_session_token_and_a_port() {
        let authorization = secrets_manager_authorization(&[
            ("content-type", CONTENT_TYPE),
            ("host", "127.0.0.1:4566"),
            ("x-amz-date", "20260101T000000Z"),
            ("x-amz-security-token", "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"),
            ("x-amz-target", "secretsmanager.GetSecretValue"),
        ]);
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/secretsmanager/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
             Signature=8045a008416fb361c1c84f963aaf4e1c09cd54dfdfcbe6ec2292f5da2bea8af7"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_inner_spaces_collapsed() {
        assert_eq!(canonical_value("  a   b  c "), "a b c");
    }

    #[test]
    fn dates_are_formatted_in_utc() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(1_767_225_600), "20260101T000000Z");
        // A leap day and the last second of a year.
        assert_eq!(amz_date(1_709_164_800), "20240229T000000Z");
        assert_eq!(amz_date(1_767_225_599), "20251231T235959Z");
        assert_eq!(amz_date_now().len(), 16);
    }
}
