//! The two secrets the service needs: the token key and the master key that seals DKIM
//! private keys. Configured in production; generated once into the data directory
//! (mode 0600) in development, with a loud warning when that happens.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use adapter_http::{JwtKey, JwtSettings};
use anyhow::{Context, Result, bail};
use domain_core::crypto::MasterKey;
use zeroize::Zeroizing;

use crate::config::{PublicKeyAlgorithm, SecretArgs};

const JWT_SECRET_FILE: &str = "jwt-secret";
const MASTER_KEY_FILE: &str = "master-key";

/// The loaded secrets.
pub struct Secrets {
    /// How tokens are verified.
    pub jwt: JwtSettings,
    /// The HS256 secret, when tokens use one (the `token` command signs with it).
    pub hs256_secret: Option<Zeroizing<Vec<u8>>>,
    /// Seals and opens DKIM private keys.
    pub master: MasterKey,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

/// Loads the configured secrets, or the development ones (generating them on first use).
/// With `production`, refuses to fall back to development secrets.
pub fn load(args: &SecretArgs) -> Result<Secrets> {
    let (key, hs256_secret) = if let Some(public) = &args.jwt_public_key {
        let pem = if public.contains("-----BEGIN") {
            public.clone().into_bytes()
        } else {
            fs::read(public)
                .with_context(|| format!("reading SCAISEND_JWT_PUBLIC_KEY file {public}"))?
        };
        let key = match args.jwt_algorithm {
            PublicKeyAlgorithm::Rs256 => JwtKey::Rs256PublicPem(pem),
            PublicKeyAlgorithm::Eddsa => JwtKey::EdDsaPublicPem(pem),
        };
        (key, None)
    } else {
        let secret = match &args.jwt_secret {
            Some(s) => Zeroizing::new(s.as_bytes().to_vec()),
            None if args.production => bail!(
                "production mode needs SCAISEND_JWT_SECRET (or SCAISEND_JWT_PUBLIC_KEY); refusing to use a generated development secret"
            ),
            None => Zeroizing::new(
                dev_secret(&args.data_dir, JWT_SECRET_FILE, "token signing secret")?.into_bytes(),
            ),
        };
        if secret.len() < 32 {
            bail!("SCAISEND_JWT_SECRET must be at least 32 bytes");
        }
        (JwtKey::Hs256(secret.to_vec()), Some(secret))
    };
    let master = match &args.master_key {
        Some(b64) => MasterKey::from_base64(b64).context("SCAISEND_MASTER_KEY")?,
        None if args.production => bail!(
            "production mode needs SCAISEND_MASTER_KEY (32 bytes, base64); refusing to use a generated development key"
        ),
        None => MasterKey::from_base64(&dev_secret(
            &args.data_dir,
            MASTER_KEY_FILE,
            "master key sealing DKIM private keys",
        )?)
        .context("the development master key file is corrupt")?,
    };
    Ok(Secrets {
        jwt: JwtSettings {
            key,
            issuer: args.jwt_issuer.clone(),
            audience: args.jwt_audience.clone(),
        },
        hs256_secret,
        master,
    })
}

/// Reads a development secret, generating it (32 random bytes, base64) on first use.
fn dev_secret(dir: &Path, file: &str, what: &str) -> Result<String> {
    let path = dir.join(file);
    if let Ok(existing) = fs::read_to_string(&path) {
        let mode = fs::metadata(&path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "development secret is readable by others; fixing its mode to 0600");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        }
        return Ok(existing.trim().to_owned());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    let (_, b64) = MasterKey::generate().context("generating a random secret")?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(b64.as_bytes())?;
    // Loud, once: this is the moment an operator must notice.
    eprintln!(
        "\n  WARNING: generated a development {what} into {}.\n  \
         Anyone with this file can {}. Set {} (and SCAISEND_PRODUCTION=true) in production.\n",
        path.display(),
        if file == JWT_SECRET_FILE {
            "mint admin tokens"
        } else {
            "open every stored DKIM private key"
        },
        if file == JWT_SECRET_FILE {
            "SCAISEND_JWT_SECRET"
        } else {
            "SCAISEND_MASTER_KEY"
        },
    );
    tracing::warn!(path = %path.display(), "generated a development {what}");
    Ok(b64.to_string())
}

/// A fresh random 32-byte secret in base64, e.g. for `SCAISEND_MASTER_KEY`.
pub fn random_secret_b64() -> Result<String> {
    let (_, b64) = MasterKey::generate().context("random source")?;
    Ok(b64.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> SecretArgs {
        SecretArgs {
            data_dir: dir.to_owned(),
            jwt_secret: None,
            jwt_public_key: None,
            jwt_algorithm: PublicKeyAlgorithm::Rs256,
            jwt_issuer: None,
            jwt_audience: None,
            master_key: None,
            production: false,
        }
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "scaisend-secrets-{name}-{}",
            ulid::Ulid::generate()
        ));
        dir.join("data")
    }

    #[test]
    fn development_secrets_are_generated_once_with_mode_0600() {
        let dir = temp_dir("dev");
        let first = load(&args(&dir)).unwrap();
        for file in [JWT_SECRET_FILE, MASTER_KEY_FILE] {
            let mode = fs::metadata(dir.join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}");
        }
        let again = load(&args(&dir)).unwrap();
        assert_eq!(first.hs256_secret.as_deref(), again.hs256_secret.as_deref());
        fs::remove_dir_all(dir.parent().unwrap()).ok();
    }

    #[test]
    fn production_refuses_generated_secrets() {
        let dir = temp_dir("prod");
        let mut a = args(&dir);
        a.production = true;
        let e = load(&a).unwrap_err().to_string();
        assert!(e.contains("SCAISEND_JWT_SECRET"), "{e}");
        a.jwt_secret = Some("x".repeat(40));
        let e = load(&a).unwrap_err().to_string();
        assert!(e.contains("SCAISEND_MASTER_KEY"), "{e}");
        a.master_key = Some(random_secret_b64().unwrap());
        assert!(load(&a).is_ok());
        assert!(!dir.exists(), "nothing is written in production mode");
    }

    #[test]
    fn short_secrets_are_refused() {
        let dir = temp_dir("short");
        let mut a = args(&dir);
        a.jwt_secret = Some("short".into());
        assert!(load(&a).is_err());
    }
}
