"""A skill's archives, read and written without trusting them: the uploaded zip (one folder with a
``SKILL.md``) and the tar.gz of ``GET /v1/skills/export`` / ``POST /v1/skills/import``.

Every entry name is checked before anything is read: no absolute path, no drive letter, no ``..``,
no backslash (zip slip); no symlink, hard link or device; no encrypted entry. Sizes are checked
twice: the declared uncompressed sizes (their total, each one's ratio to its compressed size) before
reading, then the bytes actually read, which stop at the declared size and the caps (a zip bomb that
lies about its sizes is caught while it inflates). Nothing is written to disk: the files go to the
database (``clawgate.store.skills``).
"""

from __future__ import annotations

import io
import posixpath
import re
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any

import msgspec
import yaml

from clawgate.errors import InvalidRequest, PayloadTooLarge

__all__ = [
    "MAX_ARCHIVE_BYTES",
    "MAX_FILES",
    "MAX_RATIO",
    "MAX_UNPACKED_BYTES",
    "FrontMatter",
    "check_entry",
    "parse_skill_md",
    "read_tar",
    "slugify",
    "unpack_zip",
    "write_tar",
]

MAX_ARCHIVE_BYTES = 20 << 20
"""An uploaded zip or imported tar.gz (GoClaw's 20 MB); larger is 413."""
MAX_UNPACKED_BYTES = 64 << 20
"""What an archive may inflate to, in all."""
MAX_FILES = 1000
MAX_RATIO = 100
"""The largest uncompressed / compressed ratio of one entry (text compresses 3-10 times)."""
_CHUNK = 64 << 10
_SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")
_SKIPPED = ("__MACOSX/", ".DS_Store", "Thumbs.db")
SKILL_MD = "SKILL.md"


def _bad(detail: str) -> InvalidRequest:
    return InvalidRequest(detail=detail)


def check_entry(name: str) -> str:
    """``name`` as a clean relative POSIX path. Raises: InvalidRequest for an absolute path, a drive
    letter, a backslash, a ``..`` part or a control character (zip slip)."""
    if not name or "\\" in name or any(ord(c) < 32 for c in name):
        raise _bad(f"archive entry {name[:200]!r}: a backslash or a control character in its name")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _bad(f"archive entry {name[:200]!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _bad(f"archive entry {name[:200]!r} points outside the archive (..)")
    clean = "/".join(parts)
    if len(clean) > 512:
        raise _bad(f"archive entry {name[:200]!r}: paths are at most 512 characters")
    return clean


def _skipped(path: str) -> bool:
    return path.startswith(_SKIPPED[0]) or posixpath.basename(path) in _SKIPPED[1:]


class _Budget:
    """The bytes an archive may still inflate to."""

    def __init__(self) -> None:
        self.left = MAX_UNPACKED_BYTES

    def read(self, stream: IO[bytes], declared: int, name: str) -> bytes:
        """Read one entry: at most its declared size, and within the budget."""
        out = bytearray()
        while chunk := stream.read(_CHUNK):
            out += chunk
            if len(out) > declared:
                raise _bad(f"archive entry {name!r} inflates past its declared size (a zip bomb?)")
            if len(out) > self.left:
                raise _bad(f"the archive inflates past {MAX_UNPACKED_BYTES} bytes (a zip bomb?)")
        self.left -= len(out)
        return bytes(out)


def _check_declared(entries: list[tuple[str, int, int]]) -> None:
    """(name, uncompressed, compressed) of every file entry, before any is read."""
    if len(entries) > MAX_FILES:
        raise _bad(f"the archive holds {len(entries)} files; at most {MAX_FILES}")
    if sum(size for _, size, _ in entries) > MAX_UNPACKED_BYTES:
        raise _bad(f"the archive declares more than {MAX_UNPACKED_BYTES} bytes uncompressed (a zip bomb?)")
    for name, size, packed in entries:
        if size > 1 << 20 and size > MAX_RATIO * max(packed, 1):
            raise _bad(f"archive entry {name!r} compresses {size // max(packed, 1)} times (a zip bomb?)")


def unpack_zip(data: bytes) -> dict[str, bytes]:
    """The files of an uploaded skill zip, keyed by their path inside the skill folder (a single
    top-level folder holding ``SKILL.md`` is stripped, as zip tools wrap one).

    Raises: PayloadTooLarge (over 20 MB); InvalidRequest for anything unsafe or no ``SKILL.md``.
    """
    if len(data) > MAX_ARCHIVE_BYTES:
        raise PayloadTooLarge(limit=MAX_ARCHIVE_BYTES)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _bad("the file is not a zip archive") from None
    with archive:
        infos: list[tuple[zipfile.ZipInfo, str]] = []
        for info in archive.infolist():
            path = check_entry(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise _bad(f"archive entry {info.filename!r} is a symbolic link; links are refused")
            if info.flag_bits & 0x1:
                raise _bad(f"archive entry {info.filename!r} is encrypted")
            if info.is_dir() or not path or _skipped(path):
                continue
            infos.append((info, path))
        _check_declared([(p, i.file_size, i.compress_size) for i, p in infos])
        prefix = _wrapper([p for _, p in infos])
        budget, files = _Budget(), {}
        for info, path in infos:
            if prefix and not path.startswith(prefix):
                continue
            try:
                with archive.open(info) as stream:
                    content = budget.read(stream, info.file_size, info.filename)
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, RuntimeError) as exc:
                raise _bad(f"archive entry {info.filename!r} cannot be read: {exc}") from None
            files[path.removeprefix(prefix)] = content
    return files


def _wrapper(paths: list[str]) -> str:
    """The folder prefix to strip ("" when ``SKILL.md`` is at the root). Raises: no ``SKILL.md``."""
    if SKILL_MD in paths:
        return ""
    tops = {p.split("/", 1)[0] for p in paths}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/{SKILL_MD}" in paths:
            return f"{top}/"
    raise _bad("the zip must hold SKILL.md at its root (or inside one top-level folder)")


@dataclass(frozen=True, slots=True)
class FrontMatter:
    name: str
    description: str
    slug: str
    tags: list[str]
    fields: dict[str, Any]  # every front matter field, as JSON
    body: str


def slugify(name: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", name.lower())).strip("-")[:100].strip("-")


def parse_skill_md(content: bytes) -> FrontMatter:
    """``SKILL.md``'s YAML front matter (``name`` required; ``description``, ``slug``, ``tags`` and
    any other field) and its body.

    Raises: InvalidRequest (not UTF-8, no front matter, a front matter that is not a YAML mapping,
    no name, a slug that is not ``[a-z0-9-]``).
    """
    try:
        text = content.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise _bad("SKILL.md is not UTF-8 text") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise _bad("SKILL.md has no YAML front matter: it must start with a '---' line, then name: and "
                   "description:, then '---'")  # fmt: skip
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        raise _bad("SKILL.md's front matter is not closed by a '---' line") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        raise _bad(f"SKILL.md's front matter is not valid YAML: {str(exc)[:300]}") from None
    if not isinstance(meta, dict):
        raise _bad("SKILL.md's front matter must be a YAML mapping (name: ..., description: ...)")
    try:
        fields = msgspec.json.decode(msgspec.json.encode({str(k): v for k, v in meta.items()}))
    except (TypeError, msgspec.EncodeError):
        raise _bad(
            "SKILL.md's front matter holds values that are not JSON (use text, numbers, lists)"
        ) from None
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise _bad("SKILL.md's front matter needs a name (text, at most 200 characters)")
    description = meta.get("description")
    slug = meta.get("slug")
    slug = slug if isinstance(slug, str) and slug else slugify(name)
    if not _SLUG.match(slug):
        raise _bad(f"invalid skill slug {slug[:120]!r}: lowercase letters, digits and '-'")
    tags = meta.get("tags")
    return FrontMatter(
        name=name.strip(),
        description=description.strip()[:2000] if isinstance(description, str) else "",
        slug=slug,
        tags=[str(t)[:64] for t in tags][:50] if isinstance(tags, list) else [],
        fields=fields,
        body="\n".join(lines[end + 1 :]),
    )


def _gunzip(data: bytes) -> bytes:
    """``data`` inflated, stopping as soon as it passes the cap (a gzip bomb never inflates in full)."""
    cap = MAX_UNPACKED_BYTES + (MAX_FILES + 2) * 1024  # the files plus their tar headers
    inflater = zlib.decompressobj(wbits=31)
    out = bytearray()
    try:
        view = memoryview(data)
        for at in range(0, len(data), _CHUNK):
            out += inflater.decompress(view[at : at + _CHUNK], cap + 1 - len(out))
            if len(out) > cap or inflater.unconsumed_tail:
                raise _bad(f"the archive inflates past {MAX_UNPACKED_BYTES} bytes (a gzip bomb?)")
        out += inflater.flush()
    except zlib.error:
        raise _bad("the file is not a tar.gz archive") from None
    if not inflater.eof:
        raise _bad("the tar.gz archive is truncated")
    return bytes(out)


def read_tar(data: bytes, max_member: int = MAX_UNPACKED_BYTES) -> list[tuple[str, bytes]]:
    """The regular files of a tar.gz, (checked path, content), with the zip's checks (slip, links,
    devices, declared and actual sizes; no file over ``max_member`` bytes). Raises:
    PayloadTooLarge; InvalidRequest."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise PayloadTooLarge(limit=MAX_ARCHIVE_BYTES)
    plain = _gunzip(data)
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as archive:
            return _tar_files(archive, archive.getmembers(), max_member)
    except (tarfile.TarError, EOFError, OSError):
        raise _bad("the file is not a tar archive") from None


def _tar_files(
    archive: tarfile.TarFile, members: list[tarfile.TarInfo], max_member: int
) -> list[tuple[str, bytes]]:
    regular: list[tuple[tarfile.TarInfo, str]] = []
    for member in members:
        path = check_entry(member.name)
        if member.issym() or member.islnk():
            raise _bad(f"archive entry {member.name!r} is a link; links are refused")
        if member.isdir():
            continue
        if not member.isfile():
            raise _bad(f"archive entry {member.name!r} is not a regular file")
        if member.size > max_member:
            raise _bad(f"archive entry {member.name!r} is {member.size} bytes; at most {max_member}")
        regular.append((member, path))
    _check_declared([(p, m.size, m.size) for m, p in regular])
    budget, out = _Budget(), []
    for member, path in regular:
        try:
            stream = archive.extractfile(member)
            content = b"" if stream is None else budget.read(stream, member.size, member.name)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise _bad(f"archive entry {member.name!r} cannot be read: {exc}") from None
        out.append((path, content))
    return out


def write_tar(files: list[tuple[str, bytes]]) -> bytes:
    """A tar.gz of ``files`` (path, content), regular files with mode 0644."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, content in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(content), 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
