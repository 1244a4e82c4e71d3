"""``exec``: run one allowed program, off unless the tenant turns it on (the gateway's owner only).

Safety (the advisories of issue 13): the command is an argv list, never a shell string, so ``;``,
``&&`` and ``$()`` inside an argument reach the program literally; the program is resolved on a
minimal PATH (or taken as an absolute path), symlinks followed, and that real path must be one of the
tenant's ``allowed_programs`` resolved the same way (a name or a link cannot smuggle in another
binary); the resolved path is what runs. The child starts in the workspace (``working_dir`` inside
it), in a new session (its own process group), with an environment built from nothing (PATH, HOME,
LANG and the tenant's non-secret ``env``, never ``CLAWGATE_*``/``GOCLAW_*`` or a key), with resource
limits (CPU seconds, address space, file size, open files) set in the child, and is killed with its
whole group on timeout or when the run is aborted (the tool's task cancelled). Allowing an
interpreter (``sh``, ``python3``) allows everything it can do: the allowlist is the boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import shutil
import signal
import time
from pathlib import Path
from typing import Annotated, Any

from msgspec import Meta, Struct

from clawgate.tools import ToolContext, ToolError, register
from clawgate.tools.files import contained

__all__ = ["ExecSettings", "resolve_program", "run_program"]

MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
_SECRET_NAME = re.compile(r"^(CLAWGATE_|GOCLAW_)|(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)


class ExecSettings(Struct, kw_only=True, forbid_unknown_fields=True):
    """A tenant's ``exec`` settings (set by the gateway's owner)."""

    allowed_programs: list[Annotated[str, Meta(min_length=1, max_length=4096)]] = []
    timeout_seconds: Annotated[float, Meta(gt=0, le=600)] = 30.0
    cpu_seconds: Annotated[int, Meta(ge=1, le=3600)] = 30
    memory_mb: Annotated[int, Meta(ge=16, le=16384)] = 512
    max_output_bytes: Annotated[int, Meta(ge=1024, le=1_000_000)] = 64_000
    env: dict[
        Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")], Annotated[str, Meta(max_length=4096)]
    ] = {}


def resolve_program(name: str) -> str | None:
    """The real path of ``name`` (absolute, or looked up on the minimal PATH), or None."""
    if "\x00" in name:
        return None
    found = name if os.path.isabs(name) else shutil.which(name, path=MINIMAL_PATH)
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        return None
    return os.path.realpath(found)


def _environment(workspace: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in extra.items() if not _SECRET_NAME.search(k)}
    env.update(PATH=MINIMAL_PATH, HOME=str(workspace), LANG="C.UTF-8", TMPDIR=str(workspace))
    return env


def _limits(conf: ExecSettings) -> Any:
    cpu, memory = conf.cpu_seconds, conf.memory_mb * 1024 * 1024
    size = 100 * 1024 * 1024

    def apply() -> None:  # runs in the child between fork and exec: setrlimit only
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    return apply


async def _drain(stream: asyncio.StreamReader | None, out: bytearray, cap: int) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        room = cap - len(out)
        if room > 0:
            out += chunk[:room]


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def run_program(argv: list[str], cwd: Path, workspace: Path, conf: ExecSettings) -> str:
    """Run ``argv`` (argv[0] already resolved and allowed); the result as text for the model.

    Cancellation kills the child's process group and waits for it before re-raising."""
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=_environment(workspace, conf.env), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            preexec_fn=_limits(conf),
        )  # fmt: skip
    except OSError as exc:
        raise ToolError(f"cannot start {argv[0]}: {exc.strerror}") from None
    out, err = bytearray(), bytearray()
    timed_out = False
    try:
        try:
            await asyncio.wait_for(
                asyncio.gather(_drain(proc.stdout, out, conf.max_output_bytes),
                               _drain(proc.stderr, err, conf.max_output_bytes), proc.wait()),
                conf.timeout_seconds,
            )  # fmt: skip
        except TimeoutError:
            timed_out = True
    finally:
        if proc.returncode is None or timed_out:
            _kill(proc)
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(proc.wait())
    took = time.monotonic() - started
    head = (
        f"killed after {conf.timeout_seconds:g} s (timeout)" if timed_out else f"exit code {proc.returncode}"
    )
    text = f"{head} in {took:.2f} s\n--- stdout ---\n{out.decode('utf-8', 'replace')}"
    if err:
        text += f"\n--- stderr ---\n{err.decode('utf-8', 'replace')}"
    return text


def checked_argv(args: dict[str, Any], conf: ExecSettings) -> list[str]:
    """The command of a call with argv[0] replaced by its allowed real path. Raises: ToolError."""
    command = args.get("command")
    if isinstance(command, str):
        raise ToolError("command must be a list of arguments (argv), not a shell string")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise ToolError("command must be a non-empty list of strings (argv)")
    if len(command) > 256 or sum(len(a) for a in command) > 65536 or any("\x00" in a for a in command):
        raise ToolError("command is too long or contains NUL")
    program = resolve_program(command[0])
    allowed = {p for p in map(resolve_program, conf.allowed_programs) if p is not None}
    if program is None or program not in allowed:
        raise ToolError(f"program {command[0]!r} is not in this tenant's exec allowlist")
    return [program, *command[1:]]


@register(
    "exec",
    "Run an allowed program with arguments (an argv list, no shell) in your workspace; returns its exit "
    "code and output.",
    {"type": "object", "required": ["command"], "properties": {
        "command": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                    "description": "Program then arguments, e.g. [\"ls\", \"-la\"]"},
        "working_dir": {"type": "string", "description": "Folder of the workspace to run in"}}},
)  # fmt: skip
async def exec_program(ctx: ToolContext, args: dict[str, Any]) -> str:
    if ctx.builtin is None:
        raise ToolError("exec is not available here")
    conf = await ctx.builtin.settings_of(ctx.tenant_id, "exec", ExecSettings)
    argv = checked_argv(args, conf)
    root = ctx.builtin.workspace(ctx)
    cwd = contained(root, args.get("working_dir"), default=".")
    if not cwd.is_dir():
        raise ToolError("working_dir is not a folder of the workspace")
    return await run_program(argv, cwd, root, conf)
