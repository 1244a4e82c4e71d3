"""The wheel holds every module: the package list in pyproject.toml names every package folder."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"clawgate": "gateway", "clawgate.rpc": "rpc", "clawgate.http": "http", "clawgate.store": "store",
           "clawgate.sql": "sql"}  # fmt: skip


class TestPackaging:
    def test_every_package_folder_is_listed(self) -> None:
        """A folder of Python modules missing from ``packages`` would be left out of ``pip install .``."""
        config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
        listed = set(config["packages"])
        assert config["package-dir"] == FOLDERS
        found = set(FOLDERS)
        for name, folder in FOLDERS.items():
            for init in (ROOT / folder).rglob("__init__.py"):
                rel = init.parent.relative_to(ROOT / folder)
                if rel.parts:
                    found.add(".".join([name, *rel.parts]))
        assert listed == found

    def test_http_never_shadows_the_standard_library(self) -> None:
        """``http/`` has no ``__init__.py``, so ``import http`` from the root finds the stdlib."""
        assert not (ROOT / "http" / "__init__.py").exists()

    def test_data_files_of_the_package_are_listed(self) -> None:
        """The templates and SOULs the services read (``clawgate/templates``, ``clawgate/souls``)
        match ``package-data``, or ``pip install .`` would leave them out."""
        config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
        patterns = config["package-data"]["clawgate"]
        data = [p.relative_to(ROOT / "gateway") for d in ("templates", "souls") for p in (ROOT / "gateway" / d).rglob("*")
                if p.is_file()]  # fmt: skip
        assert data
        assert [str(p) for p in data if not any(p.match(pattern) for pattern in patterns)] == []
