//! GitHub's webhook signature: `X-Hub-Signature-256` is `sha256=` and the
//! hex HMAC-SHA256 of the raw body under the webhook's secret, which is the
//! secure token here.

use hmac::{Hmac, Mac};

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// the secure token, compared in constant time.
pub fn signed_with(body: &[u8], signature: Option<&str>, secure_token: Option<&str>) -> bool {
    let (Some(signature), Some(token)) = (signature, secure_token) else {
        return false;
    };
    let Some(expected) = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(token: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn only_the_body_signed_with_the_token_passes() {
        let body = br#"{"action":"published"}"#;
        let good = sign("T0K", body);
        assert!(signed_with(body, Some(&good), Some("T0K")));
        assert!(!signed_with(b"{}", Some(&good), Some("T0K")));
        assert!(!signed_with(body, Some(&good), Some("other")));
        assert!(!signed_with(body, None, Some("T0K")));
        assert!(!signed_with(body, Some("sha256=zz"), Some("T0K")));
        assert!(!signed_with(
            body,
            Some(good.trim_start_matches("sha256=")),
            Some("T0K")
        ));
    }
}
