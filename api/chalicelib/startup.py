"""Process set-up (settings read, logging configured), once, on first use.

Lazy, so every entry point gets it without doing anything: the WSGI app (wsgi.py calls it at
import), `chalice local` and a Lambda handler importing app.py (the middleware calls it on the
first request). Importing app.py alone changes nothing about the process.
"""

from __future__ import annotations

import threading

from chalicelib import emf
from chalicelib.config import Settings, get_settings
from chalicelib.observability import configure_logging

_lock = threading.Lock()
_settings: Settings | None = None


def set_up() -> Settings:
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                settings = get_settings()
                configure_logging(settings.log_level)
                if settings.lambda_function_name:
                    # No /metrics to scrape on Lambda: the metrics go out in the logs (EMF).
                    emf.install(namespace=settings.lambda_function_name)
                _settings = settings
    return _settings
