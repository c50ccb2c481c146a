import pytest

from chalicelib.config import Settings, settings_from_env
from chalicelib.errors import ConfigurationError


def test_defaults_match_the_documented_contract():
    settings = settings_from_env({})
    assert settings == Settings()
    assert (settings.region, settings.users_table, settings.avatars_bucket) == (
        "us-east-1", "users", "users-api-avatars")
    assert settings.avatar_max_bytes == 5 * 1024 * 1024
    assert settings.public_avatar_base == "https://users-api-avatars.s3.us-east-1.amazonaws.com"


def test_environment_overrides():
    settings = settings_from_env({
        "AWS_REGION": "eu-south-1", "USERS_TABLE": "t", "AVATARS_BUCKET": "b",
        "AVATAR_BASE_URL": "http://127.0.0.1:4566/b/", "AVATAR_MAX_BYTES": "10",
        "LOG_LEVEL": "debug", "READINESS_CACHE_SECONDS": "0.5",
    })
    assert settings.public_avatar_base == "http://127.0.0.1:4566/b"
    assert (settings.region, settings.avatar_max_bytes, settings.log_level) == ("eu-south-1", 10, "DEBUG")
    assert settings.readiness_cache_seconds == 0.5


@pytest.mark.parametrize("env", [{"AVATAR_MAX_BYTES": "lots"}, {"AVATAR_MAX_BYTES": "0"},
                                 {"AVATAR_MAX_PIXELS": "-1"}, {"READINESS_CACHE_SECONDS": "soon"}])
def test_invalid_values_fail_at_start_up_with_the_variable_named(env):
    with pytest.raises(ConfigurationError, match=next(iter(env))):
        settings_from_env(env)
