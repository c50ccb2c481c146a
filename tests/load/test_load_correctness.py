"""Correctness under concurrent load: 20 clients for about 10 s against a dedicated server.

They mix GET /users (whole and paged) with POST /user, and some POSTs race for the same
emails in different cases. Afterwards the table and the bucket must agree with what the
clients were told: no 5xx, every 201 user stored with exactly its three attributes and an
avatar object, nothing left behind by a 409, and as many objects as users. No timing
assertions: the bounds only keep the test short.
"""

from __future__ import annotations

import io
import random
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests
from PIL import Image

from tests.fixtures.emulator import stop

CLIENTS = 20
DURATION_S = 10.0
MAX_REQUESTS_PER_CLIENT = 80
CONTESTED = [f"race{i}@load.example.org" for i in range(5)]
USER_KEYS = {"avatar_url", "email", "name"}


def _image(fmt: str, seed: int) -> bytes:
    rng = random.Random(seed)
    out = io.BytesIO()
    Image.frombytes("RGB", (24, 24), rng.randbytes(24 * 24 * 3)).save(out, format=fmt)
    return out.getvalue()


def _mixed_case(email: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in email)


@dataclass
class Outcome:
    method: str
    email: str | None
    status: int
    body: object


@dataclass
class Log:
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def _client(index: int, url: str, log: Log, start: threading.Barrier, images: list[tuple]) -> None:
    rng = random.Random(index)
    seq = 0
    with requests.Session() as session:
        start.wait()
        deadline = time.monotonic() + DURATION_S
        while time.monotonic() < deadline and seq < MAX_REQUESTS_PER_CLIENT:
            seq += 1
            roll = rng.random()
            try:
                if roll < 0.4:
                    path = "/users" if roll < 0.1 else "/users?limit=25"
                    response = session.get(url + path, timeout=60)
                    email = None
                else:
                    if roll < 0.65:
                        email = _mixed_case(rng.choice(CONTESTED), rng)
                    else:
                        email = f"Client{index}.N{seq}@Load.Example.org"
                    filename, data, content_type = rng.choice(images)
                    response = session.post(
                        url + "/user", timeout=60,
                        data={"name": f"Load Client {index}", "email": email},
                        files={"avatar": (filename, data, content_type)},
                    )
                try:
                    body = response.json()
                except ValueError:
                    body = response.text
                log.add(Outcome("GET" if email is None else "POST", email,
                                response.status_code, body))
            except requests.RequestException as error:
                log.error(f"client {index}: {type(error).__name__}: {error}")


def _key_of(avatar_url: str) -> str:
    return "avatars/" + avatar_url.rsplit("/avatars/", 1)[1]


@pytest.mark.timeout(180)
def test_concurrent_gets_and_posts_lose_nothing(clean_backend, aws_env, start_server,
                                                dynamodb, s3):
    url, process = start_server({**aws_env, "SERVER_THREADS": "4"})
    images = [("a.png", _image("PNG", 1), "image/png"),
              ("b.jpg", _image("JPEG", 2), "image/jpeg")]
    log = Log()
    start = threading.Barrier(CLIENTS)
    threads = [threading.Thread(target=_client, args=(i, url, log, start, images))
               for i in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=DURATION_S + 120)
        assert not any(thread.is_alive() for thread in threads), "a client did not stop"
    finally:
        stop(process)

    outcomes = log.outcomes
    assert log.errors == []
    assert [o for o in outcomes if o.status >= 500] == []
    gets = [o for o in outcomes if o.method == "GET"]
    posts = [o for o in outcomes if o.method == "POST"]
    assert gets and posts
    for o in gets:
        assert o.status == 200, o
        assert isinstance(o.body, list)
        assert all(set(user) == USER_KEYS for user in o.body), o.body[:3]
    assert {o.status for o in posts} <= {201, 409}, sorted({o.status for o in posts})

    created = [o for o in posts if o.status == 201]
    conflicts = [o for o in posts if o.status == 409]
    assert conflicts, "no duplicate email was exercised"
    for o in conflicts:
        assert o.body["error"]["code"] == "email_exists", o.body
    # One 201 per normalized email, whatever the case it was sent in.
    created_emails = [o.email.lower() for o in created]
    assert len(created_emails) == len(set(created_emails))
    for email in {o.email.lower() for o in posts if o.email.lower() in CONTESTED}:
        assert created_emails.count(email) == 1, email
    # Each 409 is a duplicate of a user that exists.
    assert {o.email.lower() for o in conflicts} <= set(created_emails)

    referenced = set()
    for o in created:
        email = o.email.lower()
        assert set(o.body) == USER_KEYS and o.body["email"] == email, o.body
        item = dynamodb.get_item(TableName="users", Key={"email": {"S": email}},
                                 ConsistentRead=True).get("Item")
        assert item == {key: {"S": o.body[key]} for key in USER_KEYS}, (email, item)
        key = _key_of(o.body["avatar_url"])
        s3.head_object(Bucket="users-api-avatars", Key=key)  # raises if it is missing
        referenced.add(key)

    assert dynamodb.scan(TableName="users", Select="COUNT")["Count"] == len(created)
    # The bucket is versioned: a 409's upload is undone with a plain delete (the serving role
    # has no s3:DeleteObjectVersion), so it leaves a delete marker over a noncurrent version,
    # which the bucket's noncurrent-version expiry removes. Live objects are exactly the users'.
    versions = s3.list_object_versions(Bucket="users-api-avatars", Prefix="avatars/")
    assert not versions.get("IsTruncated")
    live = [v["Key"] for v in versions.get("Versions", []) if v["IsLatest"]]
    assert len(live) == len(created)
    assert set(live) == referenced
    hidden = {v["Key"] for v in versions.get("Versions", []) if not v["IsLatest"]}
    markers = {m["Key"] for m in versions.get("DeleteMarkers", []) if m["IsLatest"]}
    assert hidden == markers and not markers & referenced
