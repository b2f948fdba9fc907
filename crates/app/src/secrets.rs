//! The secrets the service needs: the admin token key, the service token key, and the
//! master key that seals DKIM private keys. Configured in production; generated once into
//! the data directory (mode 0600) in development, with a loud warning when that happens.
//!
//! Development secrets are generated only when nothing in the configuration looks like
//! production. With a server database, a non-loopback listener, a configured token key
//! or `SCAISEND_PRODUCTION=true`, a missing secret is a startup error naming every missing
//! variable: a generated master key in a container is a new key on every restart, and
//! every stored DKIM key lost.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use adapter_http::{JwtKey, JwtSettings};
use anyhow::{Context, Result, bail};
use domain_core::crypto::MasterKey;
use zeroize::Zeroizing;

use crate::config::{PublicKeyAlgorithm, SecretArgs};

/// The loaded secrets.
pub struct Secrets {
    /// How admin tokens are verified.
    pub jwt: JwtSettings,
    /// The admin HS256 secret, when admin tokens use one (the `token` command signs with it).
    pub hs256_secret: Option<Zeroizing<Vec<u8>>>,
    /// How service tokens are verified: with their own key, never the admin one.
    pub service_jwt: JwtSettings,
    /// The service HS256 secret, when service tokens use one.
    pub service_hs256_secret: Option<Zeroizing<Vec<u8>>>,
    /// Seals and opens DKIM private keys.
    pub master: MasterKey,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

/// One of the two token keys and where it comes from.
struct TokenKey<'a> {
    secret: Option<&'a String>,
    public_key: Option<&'a String>,
    algorithm: PublicKeyAlgorithm,
    secret_var: &'static str,
    public_key_var: &'static str,
    dev: DevSecret,
}

/// A secret that development generates into the data directory.
#[derive(Clone, Copy)]
struct DevSecret {
    file: &'static str,
    what: &'static str,
    /// What anyone holding the file can do.
    power: &'static str,
    variable: &'static str,
}

const JWT_SECRET: DevSecret = DevSecret {
    file: "jwt-secret",
    what: "token signing secret",
    power: "mint admin tokens",
    variable: "SCAISEND_JWT_SECRET",
};
const SERVICE_JWT_SECRET: DevSecret = DevSecret {
    file: "service-jwt-secret",
    what: "service token signing secret",
    power: "mint service tokens and sign mail for every tenant",
    variable: "SCAISEND_SERVICE_JWT_SECRET",
};
const MASTER_KEY: DevSecret = DevSecret {
    file: "master-key",
    what: "master key sealing DKIM private keys",
    power: "open every stored DKIM private key",
    variable: "SCAISEND_MASTER_KEY",
};

impl SecretArgs {
    fn admin_key(&self) -> TokenKey<'_> {
        TokenKey {
            secret: self.jwt_secret.as_ref(),
            public_key: self.jwt_public_key.as_ref(),
            algorithm: self.jwt_algorithm,
            secret_var: "SCAISEND_JWT_SECRET",
            public_key_var: "SCAISEND_JWT_PUBLIC_KEY",
            dev: JWT_SECRET,
        }
    }

    fn service_key(&self) -> TokenKey<'_> {
        TokenKey {
            secret: self.service_jwt_secret.as_ref(),
            public_key: self.service_jwt_public_key.as_ref(),
            algorithm: self.service_jwt_algorithm,
            secret_var: "SCAISEND_SERVICE_JWT_SECRET",
            public_key_var: "SCAISEND_SERVICE_JWT_PUBLIC_KEY",
            dev: SERVICE_JWT_SECRET,
        }
    }

    fn settings(&self, key: JwtKey) -> JwtSettings {
        JwtSettings {
            key,
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
        }
    }
}

impl TokenKey<'_> {
    fn is_set(&self) -> bool {
        self.secret.is_some() || self.public_key.is_some()
    }

    fn missing(&self) -> String {
        format!("{} (or {})", self.secret_var, self.public_key_var)
    }

    /// The key, and the HS256 secret if it is one; a development secret when nothing is
    /// configured (the caller has checked that this is development).
    fn load(&self, data_dir: &Path) -> Result<(JwtKey, Option<Zeroizing<Vec<u8>>>)> {
        if let Some(public) = self.public_key {
            let pem = if public.contains("-----BEGIN") {
                public.clone().into_bytes()
            } else {
                fs::read(public)
                    .with_context(|| format!("reading {} file {public}", self.public_key_var))?
            };
            let key = match self.algorithm {
                PublicKeyAlgorithm::Rs256 => JwtKey::Rs256PublicPem(pem),
                PublicKeyAlgorithm::Eddsa => JwtKey::EdDsaPublicPem(pem),
            };
            return Ok((key, None));
        }
        let secret = match self.secret {
            Some(s) => Zeroizing::new(s.as_bytes().to_vec()),
            None => Zeroizing::new(dev_secret(data_dir, self.dev)?.into_bytes()),
        };
        if secret.len() < 32 {
            bail!("{} must be at least 32 bytes", self.secret_var);
        }
        Ok((JwtKey::Hs256(secret.to_vec()), Some(secret)))
    }
}

/// Refuses development secrets where the configuration looks like production: with any
/// `signals`, every secret named in `missing` is an error, all named in one message.
fn require(signals: &[String], missing: &[String]) -> Result<()> {
    if signals.is_empty() || missing.is_empty() {
        return Ok(());
    }
    bail!(
        "refusing to generate development secrets: this configuration looks like production ({}); set {}",
        signals.join(", "),
        missing.join(", ")
    )
}

/// Loads the configured secrets, or the development ones (generating them on first use).
/// `signals` are the production-looking parts of the rest of the configuration (see
/// `ServeArgs::production_signals`); with any of them, or any in `args`, nothing is
/// generated and every missing secret is an error.
pub fn load(args: &SecretArgs, signals: &[String]) -> Result<Secrets> {
    let mut signals = signals.to_vec();
    signals.extend(args.production_signals());
    let (admin, service) = (args.admin_key(), args.service_key());
    let missing: Vec<String> = [
        (!admin.is_set()).then(|| admin.missing()),
        (!service.is_set()).then(|| service.missing()),
        args.master_key
            .is_none()
            .then(|| MASTER_KEY.variable.to_owned()),
    ]
    .into_iter()
    .flatten()
    .collect();
    require(&signals, &missing)?;
    let (key, hs256_secret) = admin.load(&args.data_dir)?;
    let (service_key, service_hs256_secret) = service.load(&args.data_dir)?;
    let master = match &args.master_key {
        Some(b64) => MasterKey::from_base64(b64).context("SCAISEND_MASTER_KEY")?,
        None => MasterKey::from_base64(&dev_secret(&args.data_dir, MASTER_KEY)?)
            .context("the development master key file is corrupt")?,
    };
    Ok(Secrets {
        jwt: args.settings(key),
        hs256_secret,
        service_jwt: args.settings(service_key),
        service_hs256_secret,
        master,
    })
}

/// The HS256 secret the `token` command signs with: the service secret for role
/// `service`, the admin secret otherwise. Development secrets are used (and generated)
/// only when nothing in `args` looks like production.
pub fn signing_secret(args: &SecretArgs, service: bool) -> Result<Zeroizing<Vec<u8>>> {
    let key = if service {
        args.service_key()
    } else {
        args.admin_key()
    };
    let missing: Vec<String> = (!key.is_set()).then(|| key.missing()).into_iter().collect();
    require(&args.production_signals(), &missing)?;
    match key.load(&args.data_dir)? {
        (_, Some(secret)) => Ok(secret),
        (_, None) => bail!(
            "{} verifies these tokens with a public key here; issue them with your identity provider",
            key.public_key_var
        ),
    }
}

/// Reads a development secret, generating it (32 random bytes, base64) on first use.
fn dev_secret(dir: &Path, secret: DevSecret) -> Result<String> {
    let path = dir.join(secret.file);
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
        "\n  WARNING: generated a development {} into {}.\n  \
         Anyone with this file can {}. Set {} (and SCAISEND_PRODUCTION=true) in production.\n",
        secret.what,
        path.display(),
        secret.power,
        secret.variable,
    );
    tracing::warn!(path = %path.display(), "generated a development {}", secret.what);
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
            service_jwt_secret: None,
            service_jwt_public_key: None,
            service_jwt_algorithm: PublicKeyAlgorithm::Rs256,
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
        let first = load(&args(&dir), &[]).unwrap();
        for file in [JWT_SECRET.file, SERVICE_JWT_SECRET.file, MASTER_KEY.file] {
            let mode = fs::metadata(dir.join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}");
        }
        let again = load(&args(&dir), &[]).unwrap();
        assert_eq!(first.hs256_secret.as_deref(), again.hs256_secret.as_deref());
        assert_eq!(
            first.service_hs256_secret.as_deref(),
            again.service_hs256_secret.as_deref()
        );
        // Two keys, not one key twice.
        assert_ne!(
            first.hs256_secret.as_deref(),
            first.service_hs256_secret.as_deref()
        );
        // The token command signs with the same secrets the server verifies with.
        assert_eq!(
            signing_secret(&args(&dir), true).unwrap().as_slice(),
            first.service_hs256_secret.as_deref().unwrap().as_slice()
        );
        assert_eq!(
            signing_secret(&args(&dir), false).unwrap().as_slice(),
            first.hs256_secret.as_deref().unwrap().as_slice()
        );
        fs::remove_dir_all(dir.parent().unwrap()).ok();
    }

    #[test]
    fn production_refuses_generated_secrets() {
        let dir = temp_dir("prod");
        let mut a = args(&dir);
        a.production = true;
        let e = load(&a, &[]).unwrap_err().to_string();
        assert!(e.contains("SCAISEND_JWT_SECRET"), "{e}");
        a.jwt_secret = Some("x".repeat(40));
        let e = load(&a, &[]).unwrap_err().to_string();
        assert!(e.contains("SCAISEND_MASTER_KEY"), "{e}");
        a.master_key = Some(random_secret_b64().unwrap());
        let e = load(&a, &[]).unwrap_err().to_string();
        assert!(e.contains("SCAISEND_SERVICE_JWT_SECRET"), "{e}");
        a.service_jwt_secret = Some("y".repeat(40));
        assert!(load(&a, &[]).is_ok());
        assert!(!dir.exists(), "nothing is written in production mode");
    }

    #[test]
    fn anything_production_looking_makes_every_missing_secret_an_error_named_at_once() {
        let dir = temp_dir("looks");
        let every = [
            "SCAISEND_JWT_SECRET",
            "SCAISEND_JWT_PUBLIC_KEY",
            "SCAISEND_SERVICE_JWT_SECRET",
            "SCAISEND_SERVICE_JWT_PUBLIC_KEY",
            "SCAISEND_MASTER_KEY",
        ];
        // A signal from the rest of the configuration (a server database, say).
        let e = load(
            &args(&dir),
            &["SCAISEND_DATABASE_URL is not SQLite".to_owned()],
        )
        .unwrap_err()
        .to_string();
        for name in every {
            assert!(e.contains(name), "{name}: {e}");
        }
        assert!(e.contains("SCAISEND_DATABASE_URL is not SQLite"), "{e}");
        // A configured token key alone is a signal; the other secrets are named.
        let refusal_with = |set: fn(&mut SecretArgs)| {
            let mut a = args(&dir);
            set(&mut a);
            load(&a, &[]).unwrap_err().to_string()
        };
        let e = refusal_with(|a| a.jwt_secret = Some("x".repeat(40)));
        let names = |e: &str, secret: &str| e.contains(secret) && e.contains("SCAISEND_MASTER_KEY");
        assert!(names(&e, "SCAISEND_SERVICE_JWT_SECRET"), "{e}");
        assert!(!e.contains("SCAISEND_JWT_SECRET (or"), "{e}");
        let e = refusal_with(|a| a.service_jwt_secret = Some("y".repeat(40)));
        assert!(names(&e, "SCAISEND_JWT_SECRET"), "{e}");
        // The token command too: a configured admin key means no generated service key.
        let mut a = args(&dir);
        a.jwt_secret = Some("x".repeat(40));
        assert!(signing_secret(&a, false).is_ok());
        let e = signing_secret(&a, true).unwrap_err().to_string();
        assert!(e.contains("SCAISEND_SERVICE_JWT_SECRET"), "{e}");
        assert!(!dir.exists(), "nothing was generated");
        // Nothing production-looking: zero-configuration development as ever.
        assert!(load(&args(&dir), &[]).is_ok());
        fs::remove_dir_all(dir.parent().unwrap()).ok();
    }

    #[test]
    fn short_secrets_are_refused() {
        let dir = temp_dir("short");
        let mut a = args(&dir);
        a.jwt_secret = Some("short".into());
        assert!(load(&a, &[]).is_err());
        let mut a = args(&dir);
        a.service_jwt_secret = Some("short".into());
        a.jwt_secret = Some("x".repeat(40));
        a.master_key = Some(random_secret_b64().unwrap());
        let e = load(&a, &[]).unwrap_err().to_string();
        assert!(e.contains("SCAISEND_SERVICE_JWT_SECRET"), "{e}");
    }
}
