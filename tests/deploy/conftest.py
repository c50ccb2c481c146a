"""Fixtures of the deploy-flow tests."""

import pytest

from devtools import emulator as moto


@pytest.fixture(scope="module")
def emulator():
    server = moto.start()
    try:
        # localhost, not 127.0.0.1: moto reads a bucket name from the host of other URLs.
        yield server.endpoint.replace("127.0.0.1", "localhost")
    finally:
        server.stop()
