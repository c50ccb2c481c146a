"""Fixtures shared by the whole suite live in tests/fixtures/; each area registers its module here."""

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.cdk_synth",
    "tests.fixtures.apigateway",
]
