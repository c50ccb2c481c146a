"""Hostile avatars against the real serving command, judged by memory, not by status code.

Each test resets the peak RSS (VmHWM) of every serving process (one per pod, and any children),
posts its uploads, and reads every peak again: the increase is what one upload, or a burst of
them, really cost. The bounds are the README's (Security notes on uploads), for the default
limits: AVATAR_MAX_PIXELS=25,000,000, AVATAR_MAX_FRAMES=200, AVATAR_DECODE_CONCURRENCY=1.
"""

from __future__ import annotations

import io
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.conftest import post_user
from tests.fixtures.images import (
    apng_many_frames,
    gif_canvas_bomb,
    gif_delay_overflow,
    gif_many_frames,
    webp_many_frames,
)

MIB = 1024 * 1024
# The README's bound on one upload's extra peak RSS at the default limits.
PER_UPLOAD_BOUND = 450 * MIB
# What an upload refused before its pixels are decoded may cost at most.
REFUSED_EARLY_BOUND = 64 * MIB
# The serving command is one process per pod (api/serve.py).
PROCESSES = 1
_emails = itertools.count()


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _kib(pid: int, field: str) -> int:
    return int(_status(pid)[field].split()[0]) * 1024


def serving_pids(master: int) -> list[int]:
    """The serving process and its children (it has none today), read from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Fields after the parenthesised command name: state, ppid, ...
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                children.append(int(entry.name))
    return [master, *sorted(children)]


class PeakRss:
    """VmHWM of every serving process, reset before and read after some uploads."""

    def __init__(self, master: int) -> None:
        self.master = master

    def reset(self) -> dict[int, int]:
        pids = serving_pids(self.master)
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")   # VmHWM := VmRSS
        return {pid: _kib(pid, "VmHWM") for pid in pids}

    def increase_since(self, before: dict[int, int]) -> dict[int, int]:
        return {pid: _kib(pid, "VmHWM") - start for pid, start in before.items()}


@pytest.fixture(scope="module")
def server(start_server, aws_env):
    """A server of its own (the default limits), so no other test's uploads touch its peaks."""
    url, process = start_server(aws_env)
    peaks = PeakRss(process.pid)
    assert len(serving_pids(process.pid)) == PROCESSES
    # Warm it up (Pillow loads its codecs on first use), so that is not counted.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: _post(url, _webp_still((64, 64))), range(16)))
    return url, peaks


def _post(url: str, avatar: bytes):
    return post_user(url, email=f"hostile-{os.getpid()}-{next(_emails)}@example.com",
                     avatar=avatar)


def _webp_still(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "navy").save(out, "WEBP", lossless=True, method=0)
    return out.getvalue()


def _report(name: str, increase: dict[int, int]) -> None:
    figures = ", ".join(f"{pid}: +{value / MIB:.0f} MiB" for pid, value in increase.items())
    print(f"\npeak RSS increase, {name}: {figures}")


HOSTILE = {
    # 1x1 logical screen, second frame 3000x3000 (~8 KB): refused before the frame is decoded.
    "gif-canvas-bomb": (gif_canvas_bomb, 400, "invalid_field", REFUSED_EARLY_BOUND),
    # 200,000 1x1 frames (~3.4 MB): refused at frame 201.
    "gif-200k-frames": (lambda: gif_many_frames(200_000), 413, "payload_too_large",
                        REFUSED_EARLY_BOUND),
    # Two identical frames of the longest GIF delay, loop count 0xFFFF: stored, delays cut.
    "gif-delay-overflow": (gif_delay_overflow, 201, None, REFUSED_EARLY_BOUND),
    # Animated PNG / WebP: a 4000x4000 canvas with one-pixel changes (a few KB; the header
    # is within the budget): the budget stops it at frame 2, after one canvas of decoding.
    "apng-canvas-x-frames": (lambda: apng_many_frames(3, (4000, 4000)), 413,
                             "payload_too_large", PER_UPLOAD_BOUND),
    "webp-canvas-x-frames": (lambda: webp_many_frames(3, (4000, 4000)), 413,
                             "payload_too_large", PER_UPLOAD_BOUND),
    "apng-201-frames": (lambda: apng_many_frames(201), 413, "payload_too_large",
                         REFUSED_EARLY_BOUND),
    "webp-201-frames": (lambda: webp_many_frames(201), 413, "payload_too_large",
                        REFUSED_EARLY_BOUND),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_upload_gets_a_documented_answer_and_bounded_memory(server, name):
    url, peaks = server
    make, status, code, bound = HOSTILE[name]
    avatar = make()
    before = peaks.reset()
    response = _post(url, avatar)
    increase = peaks.increase_since(before)
    _report(name, increase)
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code
    assert max(increase.values()) < bound, increase


def test_the_largest_legitimate_upload_stays_within_the_per_upload_bound(server):
    # A 5000x5000 WebP (25 Mpx, the whole budget in one frame) is the most memory-hungry
    # image measured: its decoder keeps two canvases of its own.
    url, peaks = server
    avatar = _webp_still((5000, 5000))
    before = peaks.reset()
    response = _post(url, avatar)
    increase = peaks.increase_since(before)
    _report("webp 5000x5000", increase)
    assert response.status_code == 201, response.text
    assert max(increase.values()) < PER_UPLOAD_BOUND, increase


def test_a_burst_of_the_largest_uploads_is_bounded_per_process_by_the_decode_cap(server):
    # Four at once: the process decodes one at a time (AVATAR_DECODE_CONCURRENCY), so it
    # grows by no more than one upload's bound, and the pod by no more than PROCESSES of them.
    url, peaks = server
    avatar = _webp_still((5000, 5000))
    before = peaks.reset()
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: _post(url, avatar), range(4)))
    increase = peaks.increase_since(before)
    _report("4 concurrent webp 5000x5000", increase)
    assert [r.status_code for r in responses] == [201] * 4
    assert max(increase.values()) < PER_UPLOAD_BOUND, increase
    assert sum(increase.values()) < PROCESSES * PER_UPLOAD_BOUND, increase


@pytest.mark.parametrize("name, code_point", [
    ("Ann\u2028Smith", "U+2028"), ("Ann\u2029Smith", "U+2029"), ("\u202eevil.exe", "U+202E"),
    ("Ann\u200bSmith", "U+200B"), ("\u3164", "U+3164"),
])
def test_invisible_and_layout_changing_names_get_a_clear_400(server, name, code_point):
    url, _ = server
    response = post_user(url, name=name, email=f"name-{next(_emails)}@example.com")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_field"
    assert error["message"].startswith("name: must not contain") and code_point in error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
