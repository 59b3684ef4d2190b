//! Signing secrets at rest: each subscription secret is stored encrypted under the installation's
//! master key (XChaCha20-Poly1305, a random nonce per secret, the subscription id as associated
//! data so that a ciphertext copied into another row does not decrypt), as
//! `v1:<key id>:<base64 of nonce and ciphertext>`. The key id is a fingerprint of the key, so a
//! row says which key it needs, and a node that has the previous key too can read rows of both
//! while `krog secrets rotate-master-key` moves them from one to the other.
//!
//! A check value in `installation_settings` (a fixed text encrypted under the key the
//! installation is at) turns a wrong key into a startup error instead of signatures no receiver
//! can verify.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
pub use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::store::{self, Backend, Db};

/// The `installation_settings` row holding the check value.
const CHECK_NAME: &str = "secret_key_check";
/// What the check value encrypts, and the associated data it is bound to (no subscription id
/// looks like this, so a check value moved into a secret row does not decrypt either).
const CHECK_TEXT: &[u8] = b"krog: signing secrets are encrypted under this key";
const CHECK_AD: &[u8] = b"installation_settings/secret_key_check";
/// The name of the key file made next to a SQLite database.
pub const KEY_FILE_NAME: &str = "krog.key";
const FORMAT: &str = "v1";
const NONCE_BYTES: usize = 24;
/// Rows re-encrypted per transaction: short write transactions, so ingest and delivery go on.
const BATCH: i64 = 64;

/// A 32-byte master key and its id.
pub struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> MasterKey {
        let mut id = Sha256::new();
        id.update(b"krog master key id\0");
        id.update(bytes);
        MasterKey {
            id: hex::encode(&id.finalize()[..8]),
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    /// A new random key and its text (64 hex digits), as a key file holds it.
    pub fn generate() -> (MasterKey, SecretString) {
        let mut bytes = secrecy::zeroize::Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        let text = SecretString::from(hex::encode(bytes.as_ref()));
        (MasterKey::from_bytes(&bytes), text)
    }

    /// Reads a key written as 64 hex digits or as base64 (standard or URL-safe, with or
    /// without padding) of 32 bytes; `what` names where it came from in the error.
    pub fn parse(text: &str, what: &str) -> anyhow::Result<MasterKey> {
        let text = text.trim();
        let mut bytes = secrecy::zeroize::Zeroizing::new([0u8; 32]);
        if text.len() == 64 && hex::decode_to_slice(text, bytes.as_mut()).is_ok() {
            return Ok(MasterKey::from_bytes(&bytes));
        }
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            if let Ok(decoded) = engine.decode(text).map(secrecy::zeroize::Zeroizing::new)
                && decoded.len() == 32
            {
                bytes.copy_from_slice(&decoded);
                return Ok(MasterKey::from_bytes(&bytes));
            }
        }
        bail!(
            "{what} is not a master key: expected 32 bytes as 64 hex digits or as base64 \
             (make one with `krog secrets generate-key FILE` or `openssl rand -hex 32`)"
        )
    }

    /// The key's id: a fingerprint that names it without giving it away.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, associated: &[u8], plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message of this size");
        let mut bytes = Vec::with_capacity(NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{FORMAT}:{}:{}", self.id, STANDARD.encode(bytes))
    }

    fn open(
        &self,
        associated: &[u8],
        encoded: &str,
    ) -> Option<secrecy::zeroize::Zeroizing<Vec<u8>>> {
        let bytes = STANDARD.decode(encoded).ok()?;
        if bytes.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: associated,
                },
            )
            .ok()
            .map(secrecy::zeroize::Zeroizing::new)
    }
}

/// A stored value split into its key id and payload; `None` for anything else (a plaintext
/// secret from before encryption).
fn split(stored: &str) -> Option<(&str, &str)> {
    let rest = stored.strip_prefix(FORMAT)?.strip_prefix(':')?;
    rest.split_once(':')
}

/// The key new secrets are encrypted under, and the keys rows may still be under.
#[derive(Debug)]
pub struct Keyring {
    current: MasterKey,
    others: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring encrypting under `current` and reading rows under any of `current` and `others`.
    pub fn new(current: MasterKey, others: Vec<MasterKey>) -> Keyring {
        let others = others.into_iter().filter(|k| k.id != current.id).collect();
        Keyring { current, others }
    }

    /// The id of the key new secrets are encrypted under.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    fn key(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.others)
            .find(|k| k.id == id)
    }

    fn ids(&self) -> String {
        std::iter::once(&self.current)
            .chain(&self.others)
            .map(|k| k.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `secret` of subscription `subscription_id`, encrypted for storage.
    pub fn encrypt(&self, subscription_id: &str, secret: &str) -> String {
        self.current
            .seal(subscription_id.as_bytes(), secret.as_bytes())
    }

    /// The secret a stored value holds. A plaintext `whsec_` value (written before secrets were
    /// encrypted, or by an older node during an upgrade) is read as it is.
    pub fn decrypt(&self, subscription_id: &str, stored: &str) -> Result<SecretString, String> {
        let Some((id, payload)) = split(stored) else {
            if stored.starts_with("whsec_") {
                return Ok(SecretString::from(stored.to_owned()));
            }
            return Err("the stored signing secret is in no format krog knows".into());
        };
        let key = self.key(id).ok_or_else(|| {
            format!(
                "the signing secret is encrypted under master key {id}, which this node does not \
                 have (it has {}); give it as KROG_SECRET_KEY_PREVIOUS",
                self.ids()
            )
        })?;
        let plain = key.open(subscription_id.as_bytes(), payload).ok_or_else(|| {
            format!("the signing secret does not decrypt under master key {id} (altered or moved from another row)")
        })?;
        String::from_utf8(plain.to_vec())
            .map(SecretString::from)
            .map_err(|_| "the decrypted signing secret is not text".into())
    }

    fn seal_check(&self) -> String {
        self.current.seal(CHECK_AD, CHECK_TEXT)
    }

    /// Checks the installation's check value against the keys given: `Ok(id)` of the key it is
    /// under, or an error that says the key is wrong.
    fn verify_check(&self, stored: &str) -> anyhow::Result<String> {
        let Some((id, payload)) = split(stored) else {
            bail!("the master key check value in installation_settings is unreadable");
        };
        let Some(key) = self.key(id) else {
            bail!(
                "wrong master key: this database's signing secrets are encrypted under master key \
                 {id}, but KROG_SECRET_KEY / KROG_SECRET_KEY_FILE (and KROG_SECRET_KEY_PREVIOUS) \
                 give key(s) {}; start krog with the key the database was used with",
                self.ids()
            );
        };
        match key.open(CHECK_AD, payload) {
            Some(text) if text.as_slice() == CHECK_TEXT => Ok(id.to_owned()),
            _ => bail!(
                "wrong master key: the key given as {id} does not decrypt this database's check \
                 value; start krog with the key the database was used with"
            ),
        }
    }
}

/// Where a key comes from: a value (an environment variable) or a file.
struct KeySource<'a> {
    value: Option<&'a SecretString>,
    file: Option<&'a Path>,
    value_name: &'static str,
    file_name: &'static str,
}

impl KeySource<'_> {
    /// The key, or `None` when neither is set (or the file is missing and `missing_ok`).
    fn load(&self, missing_ok: bool) -> anyhow::Result<Option<MasterKey>> {
        if let Some(value) = self.value {
            return MasterKey::parse(value.expose_secret(), self.value_name).map(Some);
        }
        match self.file {
            Some(file) => read_key_file(file, self.file_name, missing_ok),
            None => Ok(None),
        }
    }
}

fn read_key_file(file: &Path, what: &str, missing_ok: bool) -> anyhow::Result<Option<MasterKey>> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let text = secrecy::zeroize::Zeroizing::new(text);
            crate::files::make_private(file, "the master key file");
            MasterKey::parse(&text, &format!("{what} {}", file.display())).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading the master key file {}", file.display())),
    }
}

/// The key file used when neither `KROG_SECRET_KEY` nor `KROG_SECRET_KEY_FILE` is set: next to
/// a SQLite database file; none for PostgreSQL or an in-memory database.
pub fn default_key_file(config: &Config) -> Option<PathBuf> {
    let db = crate::files::sqlite_file(&config.database_url)?;
    Some(match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(KEY_FILE_NAME),
        _ => PathBuf::from(KEY_FILE_NAME),
    })
}

/// The current key's value setting, and apart from it the file to read when no value is given
/// (apart, because on a first start on SQLite that file is made rather than read).
fn current_source(config: &Config) -> (KeySource<'_>, Option<PathBuf>) {
    let default = config
        .secret_key_file
        .is_none()
        .then(|| default_key_file(config))
        .flatten();
    (
        KeySource {
            value: config.secret_key.as_ref(),
            file: None,
            value_name: "KROG_SECRET_KEY",
            file_name: "KROG_SECRET_KEY_FILE",
        },
        config.secret_key_file.clone().or(default),
    )
}

fn previous_source(config: &Config) -> KeySource<'_> {
    KeySource {
        value: config.secret_key_previous.as_ref(),
        file: config.secret_key_previous_file.as_deref(),
        value_name: "KROG_SECRET_KEY_PREVIOUS",
        file_name: "KROG_SECRET_KEY_PREVIOUS_FILE",
    }
}

async fn read_check(db: &Db) -> anyhow::Result<Option<String>> {
    Ok(store::secrets::setting(db, CHECK_NAME).await?)
}

/// The service's keyring: loads the master key (creating the key file on a first start on
/// SQLite), checks it against the database, and encrypts any secret still stored in the clear.
pub async fn open(config: &Config, db: &Db) -> anyhow::Result<Arc<Keyring>> {
    let check = read_check(db).await?;
    let current = load_current(config, db, check.is_none())?;
    let previous = previous_source(config).load(false)?;
    let keyring = Keyring::new(current, previous.into_iter().collect());
    let at = establish_check(db, &keyring, check).await?;
    // Rows under an older key move to the current one only once the installation is at it (the
    // check value says so), so that a node started with its keys swapped does not undo a
    // rotation.
    let moved = reencrypt(db, &keyring, at == keyring.current_id()).await?;
    if moved > 0 {
        tracing::info!(
            secrets = moved,
            key = keyring.current_id(),
            "encrypted signing secrets under the current master key"
        );
    }
    Ok(Arc::new(keyring))
}

fn load_current(config: &Config, db: &Db, first_start: bool) -> anyhow::Result<MasterKey> {
    let (source, file) = current_source(config);
    if let Some(key) = source.load(false)? {
        return Ok(key);
    }
    let Some(file) = file else {
        if db.backend() == Backend::Postgres {
            bail!(
                "no master key: on PostgreSQL every node must use the same key, so krog does not \
                 make one; set KROG_SECRET_KEY (32 bytes, hex or base64) or KROG_SECRET_KEY_FILE \
                 (make one with `krog secrets generate-key FILE`)"
            );
        }
        // An in-memory database lives as long as the process: so can its key.
        return Ok(MasterKey::generate().0);
    };
    if let Some(key) = read_key_file(&file, "KROG_SECRET_KEY_FILE", true)? {
        return Ok(key);
    }
    if db.backend() == Backend::Postgres {
        bail!(
            "the master key file {} (KROG_SECRET_KEY_FILE) does not exist; on PostgreSQL every \
             node must use the same key, so krog does not make one: set KROG_SECRET_KEY or \
             KROG_SECRET_KEY_FILE to the installation's key",
            file.display()
        );
    }
    if !first_start {
        bail!(
            "the master key file {} does not exist, but this database's signing secrets are \
             encrypted under a master key: restore the key file from your backup, or set \
             KROG_SECRET_KEY / KROG_SECRET_KEY_FILE",
            file.display()
        );
    }
    let (key, text) = MasterKey::generate();
    crate::files::create_private(&file, format!("{}\n", text.expose_secret()).as_bytes())
        .with_context(|| format!("creating the master key file {}", file.display()))?;
    tracing::warn!(
        file = %file.display(),
        key = key.id(),
        "created a master key file for the signing secrets: back it up together with the \
         database (a backup of the database is of no use without it)"
    );
    Ok(key)
}

/// Verifies the check value, or writes it on the first start under encryption. Returns the id
/// of the key the installation is at.
async fn establish_check(
    db: &Db,
    keyring: &Keyring,
    check: Option<String>,
) -> anyhow::Result<String> {
    if let Some(check) = check {
        return keyring.verify_check(&check);
    }
    // No check value yet: the database must not hold secrets under a key we do not have (a
    // check value deleted by hand would otherwise let a wrong key through).
    let encrypted = store::secrets::encrypted_sample(db, FORMAT, 16).await?;
    for (subscription, secret) in &encrypted {
        if let Err(why) = keyring.decrypt(subscription, secret) {
            bail!("wrong master key: {why}");
        }
    }
    store::secrets::insert_setting(db, CHECK_NAME, &keyring.seal_check()).await?;
    // Another node may have written it first, under its key.
    let check = read_check(db)
        .await?
        .context("the master key check value vanished")?;
    keyring.verify_check(&check)
}

/// Re-encrypts under the current key every secret stored in the clear and, with `older`, every
/// one under another key of the keyring; in short transactions, each row only if it did not
/// change meanwhile. Returns how many rows it rewrote.
async fn reencrypt(db: &Db, keyring: &Keyring, older: bool) -> anyhow::Result<u64> {
    let keep = match older {
        true => format!("{FORMAT}:{}:", keyring.current_id()),
        false => format!("{FORMAT}:"),
    };
    let moved =
        store::secrets::rewrite_secrets(db, FORMAT, &keep, BATCH, |subscription, stored| {
            let secret = keyring.decrypt(subscription, stored)?;
            Ok(keyring.encrypt(subscription, secret.expose_secret()))
        })
        .await?;
    Ok(moved)
}

/// What a master key rotation did.
#[derive(Debug)]
pub struct Rotation {
    /// The id of the key every secret is now under.
    pub key: String,
    /// Secrets rewritten.
    pub reencrypted: u64,
    /// Expired secrets deleted on the way.
    pub expired: u64,
}

/// `krog secrets rotate-master-key`: re-encrypts every secret under `new`, reading rows under
/// any of the configured keys, then moves the check value to `new`. Runs while the service
/// runs, provided every node already has `new` (as its key or its previous key).
pub async fn rotate(config: &Config, new: MasterKey) -> anyhow::Result<Rotation> {
    if let Some(file) = crate::files::sqlite_file(&config.database_url) {
        crate::files::prepare_sqlite_file(&file)?;
    }
    let db = Db::connect(
        &config.database_url,
        &config.sqlite_synchronous,
        config.database_pool,
    )
    .await?;
    let (source, file) = current_source(config);
    let mut others: Vec<MasterKey> = source.load(false)?.into_iter().collect();
    if let Some(file) = file {
        others.extend(read_key_file(&file, "KROG_SECRET_KEY_FILE", true)?);
    }
    others.extend(previous_source(config).load(false)?);
    let keyring = Keyring::new(new, others);
    let check = read_check(&db).await?;
    establish_check(&db, &keyring, check).await?;
    let expired = store::secrets::delete_expired(&db).await?;
    let mut reencrypted = 0;
    // Until a pass finds nothing: a node that still encrypts under the old key may add rows
    // while this runs.
    loop {
        let moved = reencrypt(&db, &keyring, true).await?;
        reencrypted += moved;
        if moved == 0 {
            break;
        }
    }
    store::secrets::set_setting(&db, CHECK_NAME, &keyring.seal_check()).await?;
    db.close().await;
    Ok(Rotation {
        key: keyring.current_id().to_owned(),
        reencrypted,
        expired,
    })
}

/// How often the sweeper looks for expired secrets and orphan module bytes: a quarter of the
/// secret overlap, at least a second and at most an hour.
pub fn sweep_interval(config: &Config) -> Duration {
    (config.secret_overlap / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Deletes expired secrets and orphan module bytes every [`sweep_interval`], until dropped.
pub async fn sweep(db: Db, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store::secrets::delete_expired(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(secrets = n, "deleted expired signing secrets"),
            Err(e) => tracing::warn!(error = %e, "could not delete expired signing secrets"),
        }
        match store::secrets::delete_orphan_modules(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(modules = n, "deleted module bytes no version uses"),
            // An upload may have just referred to them again (a foreign key error): next time.
            Err(e) => tracing::debug!(error = %e, "could not delete unused module bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; 32])
    }

    #[test]
    fn a_secret_round_trips_and_is_not_stored_in_the_clear() {
        let keyring = Keyring::new(key(1), vec![]);
        let stored = keyring.encrypt("sub_1", "whsec_c2VjcmV0");
        assert!(
            stored.starts_with(&format!("v1:{}:", keyring.current_id())),
            "{stored}"
        );
        assert!(!stored.contains("whsec_"));
        let back = keyring.decrypt("sub_1", &stored).unwrap();
        assert_eq!(back.expose_secret(), "whsec_c2VjcmV0");
        assert_ne!(
            stored,
            keyring.encrypt("sub_1", "whsec_c2VjcmV0"),
            "nonces differ"
        );
    }

    #[test]
    fn a_ciphertext_moved_to_another_subscription_does_not_decrypt() {
        let keyring = Keyring::new(key(1), vec![]);
        let stored = keyring.encrypt("sub_1", "whsec_c2VjcmV0");
        let err = keyring.decrypt("sub_2", &stored).unwrap_err();
        assert!(err.contains("does not decrypt"), "{err}");
    }

    #[test]
    fn a_row_under_the_previous_key_decrypts_and_one_under_an_unknown_key_names_it() {
        let old = Keyring::new(key(1), vec![]);
        let stored = old.encrypt("sub_1", "whsec_c2VjcmV0");
        let rotating = Keyring::new(key(2), vec![key(1)]);
        assert_eq!(
            rotating.decrypt("sub_1", &stored).unwrap().expose_secret(),
            "whsec_c2VjcmV0"
        );
        let stranger = Keyring::new(key(3), vec![]);
        let err = stranger.decrypt("sub_1", &stored).unwrap_err();
        assert!(err.contains(old.current_id()), "{err}");
        assert!(err.contains("KROG_SECRET_KEY_PREVIOUS"), "{err}");
    }

    #[test]
    fn the_check_value_tells_a_wrong_key() {
        let right = Keyring::new(key(1), vec![]);
        let check = right.seal_check();
        assert_eq!(right.verify_check(&check).unwrap(), right.current_id());
        let wrong = Keyring::new(key(2), vec![]);
        let err = wrong.verify_check(&check).unwrap_err().to_string();
        assert!(err.contains("wrong master key"), "{err}");
        assert!(err.contains("KROG_SECRET_KEY"), "{err}");
        let rotating = Keyring::new(key(2), vec![key(1)]);
        assert_eq!(rotating.verify_check(&check).unwrap(), right.current_id());
    }

    #[test]
    fn keys_are_read_as_hex_or_base64_and_anything_else_is_refused() {
        let bytes = [7u8; 32];
        let id = MasterKey::from_bytes(&bytes).id().to_owned();
        assert_eq!(MasterKey::parse(&hex::encode(bytes), "x").unwrap().id(), id);
        assert_eq!(
            MasterKey::parse(&STANDARD.encode(bytes), "x").unwrap().id(),
            id
        );
        assert_eq!(
            MasterKey::parse(&format!("  {}\n", URL_SAFE_NO_PAD.encode(bytes)), "x")
                .unwrap()
                .id(),
            id
        );
        let err = MasterKey::parse("too short", "KROG_SECRET_KEY").unwrap_err();
        assert!(err.to_string().contains("KROG_SECRET_KEY"), "{err}");
        assert!(MasterKey::parse(&hex::encode([7u8; 16]), "x").is_err());
    }

    #[test]
    fn a_key_id_does_not_give_the_key_away_and_debug_shows_only_the_id() {
        let key = key(9);
        assert_eq!(key.id().len(), 16);
        assert!(!hex::encode([9u8; 32]).contains(key.id()));
        assert_eq!(format!("{key:?}"), format!("MasterKey({})", key.id()));
    }
}
