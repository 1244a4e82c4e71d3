"""The running configuration: one object that a live change swaps whole.

``config.patch|apply`` (``clawgate.services.config``) builds a new frozen ``Settings`` and hands it
to ``LiveSettings.swap``; it never touches the composition root. Whoever needs the running value
reads ``current`` at use time; whoever keeps state derived from it (the owner ids of the auth
service, the rate limiters) registers a follower, called with the old and the new settings.
"""

from __future__ import annotations

from collections.abc import Callable

from clawgate.config import Settings

__all__ = ["Follower", "LiveSettings"]

Follower = Callable[[Settings, Settings], None]
"""Called as ``follower(old, new)`` after a swap, in the order registered."""


class LiveSettings:
    """The running ``Settings`` of this process and those who follow its changes."""

    __slots__ = ("_current", "_followers")

    def __init__(self, settings: Settings) -> None:
        self._current = settings
        self._followers: list[Follower] = []

    @property
    def current(self) -> Settings:
        """The settings in force now; read at use time, never kept."""
        return self._current

    def follow(self, follower: Follower) -> None:
        """Call ``follower(old, new)`` after every ``swap``."""
        self._followers.append(follower)

    def swap(self, settings: Settings) -> None:
        """Put ``settings`` in force and tell the followers (synchronously: no await in between,
        so no request sees half a change)."""
        old, self._current = self._current, settings
        for follower in self._followers:
            follower(old, settings)
