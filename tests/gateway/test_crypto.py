"""Secrets at rest (AES-256-GCM in GoClaw's format), key parsing and the generated key file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clawgate.crypto import SecretBox, hash_api_key, key_prefix, load_or_create_key, new_api_key, parse_key
from clawgate.errors import ConfigError

KEY = bytes(range(32))


class TestSecretBox:
    def test_round_trip_returns_plaintext(self) -> None:
        """What is encrypted decrypts to the same text, including non-ASCII."""
        box = SecretBox(KEY)
        for text in ("sk-live-0123456789", "mật khẩu 密码", "x" * 5000):
            assert box.decrypt(box.encrypt(text)) == text

    def test_stored_format_is_goclaws(self) -> None:
        """aes-gcm: + base64(12-byte nonce || ciphertext || 16-byte tag), no plaintext inside."""
        stored = SecretBox(KEY).encrypt("hello world")
        assert stored.startswith("aes-gcm:")
        blob = base64.b64decode(stored.removeprefix("aes-gcm:"))
        assert len(blob) == 12 + len("hello world") + 16
        assert b"hello" not in blob

    def test_each_encryption_uses_a_fresh_nonce(self) -> None:
        """The same plaintext encrypts differently each time."""
        box = SecretBox(KEY)
        assert box.encrypt("same") != box.encrypt("same")

    def test_value_written_by_another_implementation_decrypts(self) -> None:
        """A value sealed by plain AES-GCM in the documented layout (as GoClaw writes it) reads back."""
        nonce = os.urandom(12)
        stored = (
            "aes-gcm:" + base64.b64encode(nonce + AESGCM(KEY).encrypt(nonce, b"from goclaw", None)).decode()
        )
        assert SecretBox(KEY).decrypt(stored) == "from goclaw"

    def test_wrong_key_fails(self) -> None:
        """Decrypting with another key raises ValueError, never returns garbage."""
        stored = SecretBox(KEY).encrypt("secret")
        with pytest.raises(ValueError, match="wrong encryption key"):
            SecretBox(bytes(32)).decrypt(stored)

    def test_tampered_value_fails(self) -> None:
        """A flipped ciphertext byte fails authentication."""
        stored = SecretBox(KEY).encrypt("secret")
        blob = bytearray(base64.b64decode(stored.removeprefix("aes-gcm:")))
        blob[14] ^= 1
        with pytest.raises(ValueError, match="cannot decrypt"):
            SecretBox(KEY).decrypt("aes-gcm:" + base64.b64encode(bytes(blob)).decode())

    def test_corrupt_base64_fails(self) -> None:
        """A prefixed value that is not base64 is refused."""
        with pytest.raises(ValueError, match="cannot decrypt"):
            SecretBox(KEY).decrypt("aes-gcm:not base64!")

    def test_legacy_plaintext_and_empty_pass_through(self) -> None:
        """Unprefixed values read as legacy plaintext; an empty secret stays empty."""
        box = SecretBox(KEY)
        assert box.decrypt("plain-old-key") == "plain-old-key"
        assert box.encrypt("") == ""

    def test_key_of_wrong_length_is_refused(self) -> None:
        """AES-256 needs exactly 32 bytes."""
        with pytest.raises(ConfigError, match="32 bytes"):
            SecretBox(b"short")


class TestParseKey:
    def test_hex_key(self) -> None:
        """64 hex characters are 32 bytes."""
        assert parse_key(KEY.hex()) == KEY
        assert parse_key(f"  {KEY.hex().upper()}\n") == KEY

    def test_base64_key(self) -> None:
        """Base64 of 32 bytes is accepted."""
        assert parse_key(base64.b64encode(KEY).decode()) == KEY

    def test_raw_32_character_key(self) -> None:
        """32 plain characters are used as the key bytes (GoClaw accepts this form)."""
        assert parse_key("k" * 32) == b"k" * 32

    @pytest.mark.parametrize("text", ["", "short", "z" * 64, base64.b64encode(b"x" * 16).decode(), "k" * 33])
    def test_invalid_key_is_refused_with_advice(self, text: str) -> None:
        """Anything else is a ConfigError that says how to generate a key."""
        with pytest.raises(ConfigError, match=r"secrets\.token_hex"):
            parse_key(text)


class TestKeyFile:
    def test_generated_once_with_mode_0600(self, tmp_path: Path) -> None:
        """With no key configured, a key file is created owner-only, then reused."""
        data = tmp_path / "data"
        key, source = load_or_create_key("", data)
        path = data / "encryption.key"
        assert source == str(path)
        assert len(key) == 32
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        again, _ = load_or_create_key("", data)
        assert again == key

    def test_configured_key_wins_and_writes_nothing(self, tmp_path: Path) -> None:
        """A configured key is used as is; no file is created."""
        key, source = load_or_create_key(KEY.hex(), tmp_path)
        assert key == KEY
        assert source == "environment/config"
        assert not (tmp_path / "encryption.key").exists()

    def test_invalid_key_file_is_refused(self, tmp_path: Path) -> None:
        """A damaged key file stops startup rather than generating a new key over it."""
        (tmp_path / "encryption.key").write_text("garbage")
        with pytest.raises(ConfigError):
            load_or_create_key("", tmp_path)
        assert (tmp_path / "encryption.key").read_text() == "garbage"


class TestApiKeys:
    def test_new_key_shape_prefix_and_hash(self) -> None:
        """clawgate_ + 32 hex; the prefix is the first 8 hex; only the SHA-256 is stored."""
        raw, prefix, digest = new_api_key()
        assert raw.startswith("clawgate_")
        assert len(raw) == len("clawgate_") + 32
        assert key_prefix(raw) == prefix == raw[9:17]
        assert digest == hash_api_key(raw)
        assert raw not in digest

    def test_goclaw_keys_are_recognised(self) -> None:
        """GoClaw's goclaw_ keys have a prefix too; other strings do not."""
        assert key_prefix("goclaw_" + "ab" * 16) == "abababab"
        assert key_prefix("clawgate_short") is None
        assert key_prefix("Bearer something") is None
