"""``multipart/form-data`` bodies (the vault's and the skills' uploads), parsed by the standard
library's email parser."""

from __future__ import annotations

import email.parser
import email.policy
from typing import Any

from clawgate.errors import UnsupportedMediaType, invalid_field

__all__ = ["parse_form_bytes"]


def parse_form_bytes(
    content_type: str | None, raw: bytes
) -> tuple[dict[str, str], list[tuple[str, str, bytes]]]:
    """The text fields and the files (part name, file name, bytes) of a ``multipart/form-data`` body.
    A part is a file when it has a file name or is named ``file`` / ``files``.

    Raises: UnsupportedMediaType (not multipart), InvalidRequest (malformed, a field twice, a file
    without a name, a field not UTF-8)."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise UnsupportedMediaType(content_type=content_type or "")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart() or message.defects:
        raise invalid_field("$", "the multipart body is malformed (boundary?)")
    fields: dict[str, str] = {}
    files: list[tuple[str, str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data: Any = part.get_payload(decode=True) or b""
        if not isinstance(name, str) or not name:
            raise invalid_field("$", "every form part needs a name")
        filename = part.get_filename()
        if filename is not None or name in ("file", "files"):
            label = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
            if not label:
                raise invalid_field(f"$.{name}", "an uploaded file needs a file name")
            files.append((name, label, bytes(data)))
            continue
        if name in fields:
            raise invalid_field(f"$.{name}", "a form field given twice")
        try:
            fields[name] = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_field(f"$.{name}", "a form field is not UTF-8 text") from None
    return fields, files
