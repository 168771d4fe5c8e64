//! Encryption of secrets at rest (endpoint passwords, tokens, keys, kubeconfigs).
//!
//! XChaCha20-Poly1305 with a random 192-bit nonce per value, so nonces never
//! repeat in practice. The 256-bit key comes from `SLIPWAY_SECRET_KEY` (base64)
//! or from `<data-dir>/secret.key`, created with mode 0600 on first start.
//! Sealed values look like `v1:<base64 nonce‖ciphertext>`.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub const KEY_FILE: &str = "secret.key";
const VERSION_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("a stored secret could not be decrypted: was the secret key changed?")]
    Undecryptable,
}

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretBox(key redacted)")
    }
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// The key from the environment, else the data directory's key file (made if missing).
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(existing) = Self::load(data_dir)? {
            return Ok(existing);
        }
        let path = data_dir.join(KEY_FILE);
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        crate::files::write_private_file(&path, &format!("{}\n", STANDARD.encode(key)))?;
        tracing::info!(file = %path.display(), "created the key that encrypts stored secrets; back it up with the database");
        Ok(SecretBox {
            cipher: XChaCha20Poly1305::new(&key),
        })
    }

    /// The key from the environment, else the data directory's key file;
    /// `None` when there is neither (nothing is created).
    pub fn load(data_dir: &Path) -> anyhow::Result<Option<Self>> {
        if let Ok(encoded) = std::env::var("SLIPWAY_SECRET_KEY") {
            return Self::from_base64(encoded.trim())
                .context("SLIPWAY_SECRET_KEY")
                .map(Some);
        }
        let path = data_dir.join(KEY_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let encoded = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Self::from_base64(encoded.trim())
            .with_context(|| path.display().to_string())
            .map(Some)
    }

    fn from_base64(encoded: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| anyhow::anyhow!("the secret key must be 32 bytes in base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the secret key must be 32 bytes in base64"))?;
        Ok(Self::from_key(&key))
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .unwrap_or_default();
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{VERSION_PREFIX}{}", STANDARD.encode(sealed))
    }

    pub fn open(&self, sealed: &str) -> Result<String, CryptoError> {
        let bytes = sealed
            .strip_prefix(VERSION_PREFIX)
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .ok_or(CryptoError::Undecryptable)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| CryptoError::Undecryptable)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let secret_box = SecretBox::from_key(&[7; 32]);
        let sealed = secret_box.seal("hunter2");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            secret_box.seal("hunter2"),
            "a fresh nonce each time"
        );
        assert_eq!(secret_box.open(&sealed).unwrap(), "hunter2");
        let other = SecretBox::from_key(&[8; 32]);
        assert!(other.open(&sealed).is_err());
        assert!(secret_box.open("v1:garbage").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretBox::load_or_create(dir.path()).unwrap();
        let sealed = first.seal("value");
        let second = SecretBox::load_or_create(dir.path()).unwrap();
        assert_eq!(second.open(&sealed).unwrap(), "value");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
