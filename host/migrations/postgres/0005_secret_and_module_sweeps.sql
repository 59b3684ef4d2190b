-- Signing secrets are stored encrypted (`v1:<key id>:<nonce and ciphertext>` in
-- subscription_secrets.secret, host/src/secrets.rs); these indexes serve the sweeps that delete
-- secrets past their overlap and module bytes no version refers to any more.
CREATE INDEX subscription_secrets_expiry ON subscription_secrets (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX module_versions_sha256 ON module_versions (sha256);
