"""Secrets at rest and credentials.

- ``SecretBox``: AES-256-GCM, stored as ``aes-gcm:`` + base64(nonce || ciphertext || tag), the format
  GoClaw uses, so encrypted values carry over. Values without the prefix read as legacy plaintext.
- API keys: ``clawgate_`` + 32 hex; only the SHA-256 hex digest is stored, with the first 8 hex of the
  random part as an indexed display prefix; comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clawgate.errors import ConfigError

__all__ = [
    "AGENT_TOKEN_PREFIX",
    "API_KEY_PREFIX",
    "SecretBox",
    "agent_token_prefix",
    "constant_time_equals",
    "hash_api_key",
    "key_prefix",
    "load_or_create_key",
    "mask",
    "new_agent_token",
    "new_api_key",
    "new_invite_token",
    "parse_key",
]

_PREFIX = "aes-gcm:"
API_KEY_PREFIX = "clawgate_"
AGENT_TOKEN_PREFIX = "mca_"
"""Mission Control agent tokens (``X-Agent-Token``): this marker, 48 hex characters."""
INVITE_TOKEN_PREFIX = "mci_"
"""Mission Control organisation invite tokens: this marker, 48 hex characters (stored hashed)."""


def parse_key(text: str) -> bytes:
    """Accept a key as 64 hex chars, base64 of 32 bytes, or 32 raw characters (GoClaw's forms).

    Raises:
        ConfigError: the text is none of these.
    """
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text, validate=True)
        if len(raw) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    if len(text.encode()) == 32:
        return text.encode()
    raise ConfigError(
        "encryption key must be 64 hex characters, base64 of 32 bytes, or 32 characters; "
        'generate one with: python -c "import secrets; print(secrets.token_hex(32))"'
    )


def load_or_create_key(configured: str, data_dir: Path) -> tuple[bytes, str]:
    """The encryption key and where it came from.

    With no key configured, a key is generated once into ``<data_dir>/encryption.key`` (mode 0600)
    so that secrets are never stored in plaintext, even on a first run with no setup.
    """
    if configured:
        return parse_key(configured), "environment/config"
    path = data_dir / "encryption.key"
    if path.is_file():
        return parse_key(path.read_text()), str(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return parse_key(path.read_text()), str(path)


class SecretBox:
    """Encrypts and decrypts secret strings with AES-256-GCM."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str) -> str:
        if not plaintext:
            return ""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str) -> str:
        """Plaintext of ``stored``; legacy unprefixed values are returned as they are.

        Raises:
            ValueError: the value was encrypted with another key or is corrupt.
        """
        if not stored.startswith(_PREFIX):
            return stored
        try:
            blob = base64.b64decode(stored[len(_PREFIX) :], validate=True)
            return self._aead.decrypt(blob[:12], blob[12:], None).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise ValueError("cannot decrypt secret: wrong encryption key or corrupt value") from exc


def mask(secret: str) -> str:
    """How a secret is shown: ``***`` plus its last four characters when it is long enough."""
    if not secret:
        return ""
    return "***" + secret[-4:] if len(secret) >= 12 else "***"


def _new_secret(marker: str, nbytes: int, shown: int) -> tuple[str, str, str]:
    """A fresh secret: (raw shown once, the indexed prefix of ``shown`` characters, SHA-256 hex)."""
    random_part = secrets.token_hex(nbytes)
    raw = marker + random_part
    return raw, random_part[:shown], hash_api_key(raw)


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: (raw key shown once, display prefix, SHA-256 hex to store)."""
    return _new_secret(API_KEY_PREFIX, 16, 8)


def new_agent_token() -> tuple[str, str, str]:
    """A fresh agent token: (raw token shown once, indexed prefix, SHA-256 hex to store). The
    prefix is 16 hex characters: unique per token (a unique index), so a lookup finds one row."""
    return _new_secret(AGENT_TOKEN_PREFIX, 24, 16)


def new_invite_token() -> tuple[str, str]:
    """A fresh Mission Control invite token: (raw token shown once, SHA-256 hex to store)."""
    raw, _, digest = _new_secret(INVITE_TOKEN_PREFIX, 24, 0)
    return raw, digest


def agent_token_prefix(raw: str) -> str | None:
    """The indexed prefix of a raw agent token, or None when it is not shaped like one."""
    body = raw[len(AGENT_TOKEN_PREFIX) :]
    if raw.startswith(AGENT_TOKEN_PREFIX) and len(body) == 48 and all(c in "0123456789abcdef" for c in body):
        return body[:16]
    return None


def key_prefix(raw: str) -> str | None:
    """The display prefix of a raw key, or None when it is not shaped like one of ours."""
    for known in (API_KEY_PREFIX, "goclaw_"):
        if raw.startswith(known) and len(raw) == len(known) + 32:
            return raw[len(known) : len(known) + 8]
    return None


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
