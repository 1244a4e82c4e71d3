"""ClawGate: an async gateway for AI agents.

The repository root holds the folders ``gateway/ rpc/ http/ store/ sql/``; they install as one
package, ``clawgate`` (``gateway`` is ``clawgate`` itself, the others its subpackages). When this
file runs from a source checkout (editable install), the repository root is appended to
``__path__`` so that ``clawgate.rpc`` and friends resolve to the sibling folders. ``http/`` has no
``__init__.py`` on purpose: it must never be importable as the top-level ``http``
(docs/architecture.md, "Layout").
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"
__all__ = ["__version__"]

_root = Path(__file__).resolve().parent.parent
if (_root / "pyproject.toml").is_file() and (_root / "rpc" / "__init__.py").is_file():
    __path__.append(str(_root))
del _root
