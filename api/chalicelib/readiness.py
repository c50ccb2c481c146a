"""The readiness probe behind /readyz: checks the table and the bucket, cached per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.errors import BackendMisconfigured, BackendUnavailable


@dataclass(frozen=True)
class Readiness:
    ready: bool
    # Each dependency -> "ok", or the kind of failure: "unavailable", "timeout" or
    # "misconfigured" (the log names the resource and the cause).
    checks: dict[str, str]
    # When a client (or a load balancer) should ask again after a "not ready"; None when only
    # a fix of the configuration can help.
    retry_after_seconds: int | None


class ReadinessProbe:
    def __init__(self, checks: dict[str, Callable[[], None]], cache_seconds: float) -> None:
        self._checks = checks
        self._cache_seconds = cache_seconds
        # Asking again before the cached answer expires would only get the same answer.
        self._retry_after = int(cache_seconds) or 1
        self._last: tuple[float, Readiness] | None = None
        self._lock = threading.Lock()

    def check(self) -> Readiness:
        """Check the table and the bucket, at most once per cache period per process.

        While one thread checks, concurrent callers get the previous answer instead of
        queueing behind it, so a slow dependency never ties up more than one thread."""
        cached = self._last
        if cached and time.monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        if not self._lock.acquire(blocking=cached is None):
            return cached[1]
        try:
            checks = {name: _probe(check) for name, check in self._checks.items()}
            ready = all(v == "ok" for v in checks.values())
            only_misconfigured = not ready and all(
                v in ("ok", "misconfigured") for v in checks.values())
            result = Readiness(ready, checks, None if only_misconfigured else self._retry_after)
            self._last = (time.monotonic(), result)
            return result
        finally:
            self._lock.release()


def _probe(check: Callable[[], None]) -> str:
    try:
        check()
    except (BackendUnavailable, BackendMisconfigured) as error:
        return error.kind
    return "ok"
