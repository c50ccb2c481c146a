import pytest

from chalicelib import avatar_keys
from chalicelib.config import VARIABLES, Settings, settings_from_env
from chalicelib.errors import ConfigurationError


def test_defaults_match_the_documented_contract():
    settings = settings_from_env({})
    assert settings == Settings()
    assert (settings.region, settings.users_table, settings.avatars_bucket) == (
        "us-east-1", "users", "users-api-avatars")
    assert settings.avatar_max_bytes == 5 * 1024 * 1024
    assert avatar_keys.public_base(settings) == "https://users-api-avatars.s3.us-east-1.amazonaws.com"


def test_environment_overrides():
    settings = settings_from_env({
        "AWS_REGION": "eu-south-1", "USERS_TABLE": "t", "AVATARS_BUCKET": "b",
        "AVATAR_BASE_URL": "http://127.0.0.1:4566/b/", "AVATAR_MAX_BYTES": "10",
        "LOG_LEVEL": "debug", "READINESS_CACHE_SECONDS": "0.5",
    })
    assert avatar_keys.public_base(settings) == "http://127.0.0.1:4566/b"
    assert (settings.region, settings.avatar_max_bytes, settings.log_level) == ("eu-south-1", 10, "DEBUG")
    assert settings.readiness_cache_seconds == 0.5


@pytest.mark.parametrize("env", [{"AVATAR_MAX_BYTES": "lots"}, {"AVATAR_MAX_BYTES": "0"},
                                 {"AVATAR_MAX_PIXELS": "-1"}, {"READINESS_CACHE_SECONDS": "soon"}])
def test_invalid_values_fail_at_start_up_with_the_variable_named(env):
    with pytest.raises(ConfigurationError, match=next(iter(env))):
        settings_from_env(env)


def test_the_declared_variables_are_exactly_the_ones_read():
    class Recording(dict):
        def __init__(self) -> None:
            super().__init__()
            self.read: set[str] = set()

        def get(self, key, default=None):
            self.read.add(key)
            return super().get(key, default)

    env = Recording()
    settings_from_env(env)
    assert env.read == set(VARIABLES)


def test_the_backend_deadline_is_at_most_eight_seconds():
    assert settings_from_env({}).backend_deadline_seconds == 8
    assert settings_from_env({"BACKEND_DEADLINE_SECONDS": "2.5"}).backend_deadline_seconds == 2.5
    for bad in ("0", "-1", "9", "soon"):
        with pytest.raises(ConfigurationError, match="BACKEND_DEADLINE_SECONDS"):
            settings_from_env({"BACKEND_DEADLINE_SECONDS": bad})
