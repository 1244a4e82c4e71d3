"""Configuration: file, ``CLAWGATE_*`` environment, ``GOCLAW_*`` aliases, validation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import certifi
import pytest

from clawgate.app import tls_context
from clawgate.config import LLMSettings, Settings, load_settings, worker_count
from clawgate.errors import ConfigError


def write_config(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return path


class TestDefaults:
    def test_no_file_no_env_gives_defaults(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A missing ./config.json means built-in defaults, and no config path is recorded."""
        monkeypatch.chdir(tmp_path)
        settings = load_settings(None, environ={})
        assert settings.gateway.host == "127.0.0.1"
        assert settings.gateway.port == 18790
        assert settings.gateway.token == ""
        assert settings.config_path == ""

    def test_default_file_in_working_dir_is_read(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """./config.json is read when no path is given."""
        write_config(tmp_path, {"gateway": {"port": 9001}})
        monkeypatch.chdir(tmp_path)
        settings = load_settings(None, environ={})
        assert settings.gateway.port == 9001
        assert settings.config_path == str((tmp_path / "config.json").resolve())


class TestFile:
    def test_file_values_are_loaded(self, tmp_path: Path) -> None:
        """Values from an explicit file land in their sections."""
        path = write_config(
            tmp_path,
            {
                "data_dir": "/srv/clawgate",
                "gateway": {"host": "0.0.0.0", "token": "t0k3n", "owner_ids": ["alice"]},
                "database": {"pool_max_size": 3},
                "log": {"level": "debug", "format": "json"},
            },
        )
        settings = load_settings(str(path), environ={})
        assert settings.data_dir == "/srv/clawgate"
        assert settings.gateway.host == "0.0.0.0"
        assert settings.gateway.token == "t0k3n"
        assert settings.gateway.owner_ids == ["alice"]
        assert settings.database.pool_max_size == 3
        assert settings.log.level == "debug"
        assert settings.log.format == "json"
        assert settings.gateway.port == 18790

    def test_config_env_var_names_the_file(self, tmp_path: Path) -> None:
        """CLAWGATE_CONFIG (or GOCLAW_CONFIG) points at the file when --config is absent."""
        path = write_config(tmp_path, {"gateway": {"port": 9100}})
        assert load_settings(None, environ={"CLAWGATE_CONFIG": str(path)}).gateway.port == 9100
        assert load_settings(None, environ={"GOCLAW_CONFIG": str(path)}).gateway.port == 9100

    def test_missing_explicit_file_is_an_error(self, tmp_path: Path) -> None:
        """A file named explicitly must exist."""
        with pytest.raises(ConfigError, match="does not exist"):
            load_settings(str(tmp_path / "nope.json"), environ={})

    def test_missing_file_from_env_is_an_error(self, tmp_path: Path) -> None:
        """CLAWGATE_CONFIG naming a missing file is as explicit as --config."""
        with pytest.raises(ConfigError, match="does not exist"):
            load_settings(None, environ={"CLAWGATE_CONFIG": str(tmp_path / "nope.json")})

    def test_invalid_json_is_an_error(self, tmp_path: Path) -> None:
        """A file that is not JSON gives a ConfigError naming the file."""
        path = tmp_path / "config.json"
        path.write_text("{not json")
        with pytest.raises(ConfigError, match="is not valid JSON"):
            load_settings(str(path), environ={})

    def test_non_object_document_is_an_error(self, tmp_path: Path) -> None:
        """The document must be a JSON object."""
        with pytest.raises(ConfigError, match="must hold a JSON object"):
            load_settings(str(write_config(tmp_path, [1, 2])), environ={})

    @pytest.mark.parametrize(
        ("document", "field"),
        [
            ({"gateway": {"port": "http"}}, "$.gateway.port"),
            ({"gateway": {"port": 70000}}, "$.gateway.port"),
            ({"log": {"level": "loud"}}, "$.log.level"),
            ({"database": {"pool_max_size": 0}}, "$.database.pool_max_size"),
            ({"limits": {"max_body_bytes": 10}}, "$.limits.max_body_bytes"),
        ],
    )
    def test_invalid_value_names_the_field(self, tmp_path: Path, document: Any, field: str) -> None:
        """A value of the wrong type or out of range gives a ConfigError with its path."""
        with pytest.raises(ConfigError) as info:
            load_settings(str(write_config(tmp_path, document)), environ={})
        assert field in str(info.value)

    def test_unknown_field_is_named(self, tmp_path: Path) -> None:
        """A misspelt key is refused, not ignored."""
        with pytest.raises(ConfigError) as info:
            load_settings(str(write_config(tmp_path, {"gateway": {"prot": 1}})), environ={})
        assert "prot" in str(info.value)
        assert "$.gateway" in str(info.value)


class TestEnvironment:
    def test_env_wins_over_file(self, tmp_path: Path) -> None:
        """CLAWGATE_* values override the file; untouched file values stay."""
        path = write_config(tmp_path, {"gateway": {"port": 9001, "host": "10.0.0.1", "token": "from-file"}})
        settings = load_settings(
            str(path), environ={"CLAWGATE_PORT": "9002", "CLAWGATE_GATEWAY_TOKEN": "env"}
        )
        assert settings.gateway.port == 9002
        assert settings.gateway.token == "env"
        assert settings.gateway.host == "10.0.0.1"

    def test_goclaw_alias_is_accepted(self, tmp_path: Path) -> None:
        """GoClaw's variable names configure the same settings."""
        settings = load_settings(
            None,
            environ={
                "GOCLAW_GATEWAY_TOKEN": "gt",
                "GOCLAW_POSTGRES_DSN": "postgresql://u:p@db/x",
                "GOCLAW_OWNER_IDS": "alice, bob",
                "GOCLAW_CONFIG": str(write_config(tmp_path, {})),
            },
        )
        assert settings.gateway.token == "gt"
        assert settings.database.dsn == "postgresql://u:p@db/x"
        assert settings.gateway.owner_ids == ["alice", "bob"]

    def test_clawgate_name_wins_over_goclaw_alias(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With both names set, CLAWGATE_* is used."""
        monkeypatch.chdir(tmp_path)
        settings = load_settings(None, environ={"CLAWGATE_PORT": "1111", "GOCLAW_PORT": "2222"})
        assert settings.gateway.port == 1111

    def test_env_wins_over_file_for_alias_too(self, tmp_path: Path) -> None:
        """A GOCLAW_* alias also overrides the file."""
        path = write_config(tmp_path, {"log": {"level": "error"}})
        assert load_settings(str(path), environ={"GOCLAW_LOG_LEVEL": "DEBUG"}).log.level == "debug"

    def test_empty_env_value_is_ignored(self, tmp_path: Path) -> None:
        """An empty variable does not blank the file's value."""
        path = write_config(tmp_path, {"gateway": {"token": "from-file"}})
        assert load_settings(str(path), environ={"CLAWGATE_GATEWAY_TOKEN": ""}).gateway.token == "from-file"

    def test_bool_and_list_parsing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Booleans accept 1/true/yes/on; lists are comma-separated."""
        monkeypatch.chdir(tmp_path)
        settings = load_settings(
            None,
            environ={
                "CLAWGATE_ALLOW_INSECURE_NO_AUTH": "yes",
                "CLAWGATE_ALLOWED_ORIGINS": "https://a, https://b,",
            },
        )
        assert settings.gateway.allow_insecure_no_auth is True
        assert settings.gateway.allowed_origins == ["https://a", "https://b"]
        off = load_settings(None, environ={"CLAWGATE_ALLOW_INSECURE_NO_AUTH": "0"})
        assert off.gateway.allow_insecure_no_auth is False

    def test_provider_keys_from_env(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """<PREFIX>_OPENAI_API_KEY and _BASE_URL configure a provider entry."""
        monkeypatch.chdir(tmp_path)
        settings = load_settings(
            None,
            environ={"GOCLAW_OPENAI_API_KEY": "sk-test", "CLAWGATE_OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
        )
        assert settings.providers["openai"].api_key == "sk-test"
        assert settings.providers["openai"].api_base == "http://127.0.0.1:9/v1"

    def test_unparsable_env_value_names_the_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A variable that cannot be parsed is named in the error, with the name actually set."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigError, match="GOCLAW_PORT='abc'"):
            load_settings(None, environ={"GOCLAW_PORT": "abc"})

    def test_invalid_env_value_names_the_field(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A parsable but invalid value is refused with the settings path."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigError, match=r"\$\.log\.level"):
            load_settings(None, environ={"CLAWGATE_LOG_LEVEL": "loud"})
        with pytest.raises(ConfigError, match=r"\$\.gateway\.port"):
            load_settings(None, environ={"CLAWGATE_PORT": "-1"})

    def test_workers_is_a_count_or_auto(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """``CLAWGATE_WORKERS``: a number of processes >= 1, or ``auto`` (one per usable CPU)."""
        monkeypatch.chdir(tmp_path)
        assert load_settings(None, environ={}).gateway.workers == 1
        assert load_settings(None, environ={"CLAWGATE_WORKERS": "3"}).gateway.workers == 3
        auto = load_settings(None, environ={"CLAWGATE_WORKERS": "AUTO"}).gateway.workers
        assert auto == "auto"
        assert worker_count(auto) == len(os.sched_getaffinity(0))
        with pytest.raises(ConfigError, match=r"\$\.gateway\.workers"):
            load_settings(None, environ={"CLAWGATE_WORKERS": "0"})
        with pytest.raises(ConfigError, match="CLAWGATE_WORKERS='many'"):
            load_settings(None, environ={"CLAWGATE_WORKERS": "many"})

    def test_overrides_win_over_env(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Command-line overrides (--port, --host, --data-dir) apply last."""
        monkeypatch.chdir(tmp_path)
        settings = load_settings(None, environ={"CLAWGATE_PORT": "1111"}, overrides={"gateway.port": 2222})
        assert settings.gateway.port == 2222


class TestCertificateAuthorities:
    def test_standard_names_set_the_ca_paths(self, tmp_path: Path) -> None:
        """SSL_CERT_FILE and SSL_CERT_DIR (OpenSSL's names) set llm.ca_file and llm.ca_dir."""
        env = {"SSL_CERT_FILE": "/etc/ca/bundle.pem", "SSL_CERT_DIR": "/etc/ca/certs"}
        settings = load_settings(str(write_config(tmp_path, {})), environ=env)
        assert settings.llm.ca_file == "/etc/ca/bundle.pem"
        assert settings.llm.ca_dir == "/etc/ca/certs"

    def test_prefixed_names_win_and_the_environment_wins_over_the_file(self, tmp_path: Path) -> None:
        """CLAWGATE_SSL_CERT_FILE wins over SSL_CERT_FILE, which wins over the file's llm.ca_file."""
        path = write_config(tmp_path, {"llm": {"ca_file": "/from/file.pem"}})
        assert load_settings(str(path), environ={}).llm.ca_file == "/from/file.pem"
        standard = {"SSL_CERT_FILE": "/standard.pem"}
        assert load_settings(str(path), environ=standard).llm.ca_file == "/standard.pem"
        both = {**standard, "CLAWGATE_SSL_CERT_FILE": "/ours.pem"}
        assert load_settings(str(path), environ=both).llm.ca_file == "/ours.pem"

    def test_provider_calls_trust_the_configured_bundle_only(self, tmp_path: Path) -> None:
        """With llm.ca_file, the TLS context of provider calls holds that bundle's CAs, not certifi's."""
        pem = Path(certifi.where()).read_text()
        first = pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
        bundle = tmp_path / "private-ca.pem"
        bundle.write_text(first[first.index("-----BEGIN CERTIFICATE-----") :] + "\n")
        assert len(tls_context(LLMSettings(ca_file=str(bundle))).get_ca_certs()) == 1
        assert len(tls_context(LLMSettings()).get_ca_certs()) > 1
        with pytest.raises(FileNotFoundError):
            tls_context(LLMSettings(ca_file=str(tmp_path / "missing.pem")))


class TestSettings:
    def test_settings_are_frozen(self) -> None:
        """Settings cannot be changed after loading."""
        settings = Settings()
        with pytest.raises(AttributeError):
            settings.data_dir = "/elsewhere"  # type: ignore[misc]

    def test_data_path_expands_user(self) -> None:
        """data_dir may start with ~."""
        assert str(Settings(data_dir="~/x").data_path) == str(Path("~/x").expanduser())
