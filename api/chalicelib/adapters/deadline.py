"""One deadline per request, across every SDK call and every retry the request makes.

Per-call timeouts alone add up: POST /user makes two or three calls, the whole listing one per
1 MB page, and the SDK retries each call. So each request opens a deadline (the middleware does,
BACKEND_DEADLINE_SECONDS), and every attempt of every call on a client given to `bound_by_deadline`
reads for at most the time that is left; once it has passed, no attempt starts. The clock starts
at the request's first backend call, so time spent before it (an avatar waiting for its turn to
be decoded) is not taken from the backend. Outside a request (the operator's commands) there is
no deadline and the client's own timeouts apply.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from botocore.exceptions import BotoCoreError


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end: float | None = None  # set by the request's first backend call

    def left(self) -> float:
        if self.end is None:
            self.end = time.monotonic() + self.seconds
        return self.end - time.monotonic()


_deadline: ContextVar[_Deadline | None] = ContextVar("backend_deadline", default=None)
# An attempt never gets less than this to read its answer, so a nearly spent deadline still
# fails as a timeout rather than as a zero-length read.
_MIN_READ_SECONDS = 0.05


class DeadlineExceeded(BotoCoreError):
    fmt = "the request's backend deadline of {seconds:g} s has passed"


@contextmanager
def backend_deadline(seconds: float) -> Iterator[None]:
    token = _deadline.set(_Deadline(seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def _before_send(request, **_: object) -> None:
    current = _deadline.get()
    if current is None:
        return
    left = current.left()
    if left <= 0:
        raise DeadlineExceeded(seconds=current.seconds)
    config = request.context.get("client_config")
    configured = getattr(config, "read_timeout", None) or left
    # botocore reads a per-request read timeout from the request's context.
    request.context["read_timeout"] = max(_MIN_READ_SECONDS, min(configured, left))


def _before_retry(caught_exception=None, response=None, **_: object) -> None:
    """A failed attempt with the deadline spent ends the call now, before the SDK's back-off
    sleep; a successful answer is always kept, however late."""
    current = _deadline.get()
    if current is None:
        return
    failed = caught_exception is not None or (
        response is not None and getattr(response[0], "status_code", 200) in (429, 500, 502, 503, 504))
    if failed and current.left() <= 0:
        raise DeadlineExceeded(seconds=current.seconds)


def bound_by_deadline(client):
    """Make every attempt of `client` respect the current request's deadline."""
    client.meta.events.register("before-send", _before_send)
    client.meta.events.register_first("needs-retry", _before_retry)
    return client
