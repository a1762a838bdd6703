//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A decoded signing secret, held as the HMAC already keyed with it (each signature
/// starts from a copy), so a bad key is refused once, here, and signing cannot fail.
#[derive(Clone)]
pub struct SigningKey(Hmac<Sha256>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Decodes a `whsec_<base64>` secret (the prefix is optional).
    pub fn from_whsec(secret: &str) -> Result<Self, String> {
        let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
        let bytes = STANDARD
            .decode(b64)
            .map_err(|e| format!("signing secret is not whsec_<base64> ({e})"))?;
        if bytes.len() < 16 {
            return Err(format!(
                "signing secret is {} bytes; expected at least 16",
                bytes.len()
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(&bytes)
            .map_err(|e| format!("signing secret is not a valid HMAC key ({e})"))?;
        Ok(SigningKey(mac))
    }

    /// The `webhook-signature` header value for one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.0.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The `webhook-signature` header value signed with every key, space-separated, as
    /// the Standard Webhooks specification allows during a secret rotation: a receiver
    /// that knows either secret verifies it.
    pub fn sign_with_all(keys: &[SigningKey], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        keys.iter()
            .map(|k| k.sign(msg_id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Checks a `webhook-signature` header (space-separated `v1,…` entries) in constant time.
    pub fn verify(&self, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let mut mac = self.0.clone();
        mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
        mac.update(body);
        header.split(' ').any(|sig| {
            sig.strip_prefix("v1,")
                .and_then(|b64| STANDARD.decode(b64).ok())
                .is_some_and(|bytes| mac.clone().verify_slice(&bytes).is_ok())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    #[test]
    fn matches_the_specification_test_vector() {
        let key = SigningKey::from_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(key.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
            &format!("v1,bogus {sig}")
        ));
        assert!(!key.verify("msg_other", 1614265330, br#"{"test": 2432232314}"#, &sig));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let new = SigningKey::from_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let old = SigningKey::from_whsec("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=").unwrap();
        let other =
            SigningKey::from_whsec("whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw=").unwrap();
        let header = SigningKey::sign_with_all(&[new.clone(), old.clone()], "msg_1", 7, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.starts_with(&new.sign("msg_1", 7, b"{}")));
        assert!(new.verify("msg_1", 7, b"{}", &header));
        assert!(old.verify("msg_1", 7, b"{}", &header));
        assert!(!other.verify("msg_1", 7, b"{}", &header));
    }

    #[test]
    fn rejects_bad_secrets() {
        assert!(SigningKey::from_whsec("whsec_!!!").is_err());
        assert!(SigningKey::from_whsec("whsec_AAAA").is_err());
    }
}
