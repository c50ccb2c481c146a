"""The serving command's settings: defaults, and refusals at start (api/serve.py)."""

import pytest

from serve import ServingError, ServingSettings


def test_defaults_keep_the_idle_timeout_above_the_albs_and_apart_from_the_receive_bound():
    settings = ServingSettings.from_env({})
    assert settings.port == 8000 and settings.metrics_port == 9090
    assert settings.keepalive_timeout > 60  # the ALB's idle timeout
    assert settings.request_receive_timeout != settings.keepalive_timeout
    assert settings.threads >= 12  # a dozen hung requests still leave API threads free


def test_values_come_from_the_environment():
    settings = ServingSettings.from_env({
        "HOST": "0.0.0.0", "PORT": "8080", "METRICS_PORT": "9191", "SERVER_THREADS": "4",
        "SERVER_KEEPALIVE_TIMEOUT": "90", "SERVER_RECEIVE_TIMEOUT": "15",
        "SERVER_GRACEFUL_TIMEOUT": "25", "SERVER_CONNECTION_LIMIT": "50",
    })
    assert (settings.host, settings.port, settings.metrics_port, settings.threads) == (
        "0.0.0.0", 8080, 9191, 4)
    assert (settings.keepalive_timeout, settings.request_receive_timeout,
            settings.graceful_timeout, settings.connection_limit) == (90, 15, 25, 50)


@pytest.mark.parametrize("raw", ["0", "-1", "ten", "1.5", "²"])
def test_bad_numbers_are_refused_with_the_variable_named(raw):
    with pytest.raises(ServingError, match="SERVER_THREADS"):
        ServingSettings.from_env({"SERVER_THREADS": raw})
