use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// The HMAC key tokens are signed with. Never printed: `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub const MIN_BYTES: usize = 32;

    /// Decodes a configured key (base64url, as `roster` writes it) or takes the text's bytes.
    pub fn from_config(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .unwrap_or_else(|_| value.as_bytes().to_vec());
        if bytes.len() < Self::MIN_BYTES {
            return Err(format!("must be at least {} bytes of key material", Self::MIN_BYTES));
        }
        Ok(Self(bytes))
    }

    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn encoded(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// The zero-set-up default: a key file in the data directory, created (mode 0600) on first use.
/// Several instances sharing a PostgreSQL database must be given the same key by configuration.
pub fn load_or_create_signing_key(path: &Path) -> Result<SigningKey, String> {
    match fs::read_to_string(path) {
        Ok(text) => SigningKey::from_config(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            let key = SigningKey::generate();
            write_private_file(path, &key.encoded())?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes a file readable only by its owner. Fails if it already exists (never clobbers a secret).
pub fn write_private_file(path: &Path, contents: &str) -> Result<(), String> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
