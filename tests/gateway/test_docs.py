"""The README and config.example.json stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from clawgate import config
from clawgate.cli import example_config

ROOT = Path(__file__).resolve().parents[2]
SERVE = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/clawgate serve"
TEST = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"


def dotted_keys(document: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in document.items():
        if isinstance(value, dict) and value:
            keys += dotted_keys(value, f"{prefix}{key}.")
        else:
            keys.append(prefix + key)
    return keys


class TestConfigExample:
    def test_file_equals_generated_defaults(self) -> None:
        """config.example.json is exactly `clawgate config-example` (regenerate it with that command)."""
        assert (ROOT / "config.example.json").read_bytes() == example_config()

    def test_example_holds_every_setting(self) -> None:
        """The example parses back into the default settings."""
        document = orjson.loads(example_config())
        assert config.settings_from_mapping(document) == config.Settings()
        assert "config_path" not in document


class TestReadme:
    def test_starts_with_the_two_commands(self) -> None:
        """The README opens with the serve command and the test command, in that order."""
        lines = (ROOT / "README.md").read_text().splitlines()
        assert lines[:4] == ["```sh", SERVE, TEST, "```"]

    def test_test_command_matches_ci(self) -> None:
        """.ci/run runs the README's test command byte for byte."""
        readme_line = (ROOT / "README.md").read_text().splitlines()[2]
        ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
        assert f"{readme_line} || status=1" in ci_lines

    def test_every_setting_and_variable_is_documented(self) -> None:
        """The configuration table names every key of the example and every environment variable."""
        readme = (ROOT / "README.md").read_text()
        for key in dotted_keys(orjson.loads(example_config())):
            if key != "providers":
                assert f"| `{key}` |" in readme, key
        # _ENV is the loader's table of variable suffixes; reading it keeps this test exhaustive.
        for suffix in config._ENV:
            assert f"`CLAWGATE_{suffix}` / `GOCLAW_{suffix}`" in readme, suffix


class TestArchitecture:
    def test_cited_documents_and_sections_exist(self) -> None:
        """Sources cite docs/architecture.md (not a DESIGN.md outside the repository), and every
        section they name is a heading there."""
        headings = set(re.findall(r"^#+ (.+)$", (ROOT / "docs" / "architecture.md").read_text(), re.M))
        sources = [ROOT / "pyproject.toml"] + [
            path
            for folder in ("gateway", "rpc", "http", "store", "sql", "tests")
            for path in (ROOT / folder).rglob("*.py")
        ]
        cited = 0
        for path in sources:
            if path == Path(__file__).resolve():
                continue
            text = path.read_text()
            assert "DESIGN.md" not in text, path
            for section in re.findall(r'docs/architecture\.md[,:] "([^"]+)"', text):
                assert any(heading.startswith(section) for heading in headings), (path, section)
                cited += 1
        assert cited >= 3
