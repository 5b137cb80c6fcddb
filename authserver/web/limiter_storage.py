"""Rate-limit counters kept in the worker's memory, for when no Redis is configured.

limits' own memory storage starts a timer thread to sweep expired counters whenever the last
one has finished, which under load is nearly every request: starting it cost the token
endpoint about a fifth of its time. This one sweeps inline, at most once a second.
"""

from __future__ import annotations

import time

from limits.storage import MemoryStorage

SCHEME = "local-memory"
SWEEP_INTERVAL_SECONDS = 1.0


class LocalMemoryStorage(MemoryStorage):
    """limits' memory storage, sweeping expired counters without a thread."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 (limits registers storages by this class attribute)

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        self.next_sweep = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()

    # MemoryStorage calls this (name-mangled) before each change of a counter.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + SWEEP_INTERVAL_SECONDS
            self._MemoryStorage__expire_events()
