"""The one gunicorn configuration: `gunicorn --config api/gunicorn.conf.py`, locally and in the image.

Every knob comes from the environment, read once here. Defaults fit a pod of about
0.5-1 CPU; the README's Performance section explains them.
"""

import os
import shutil
import sys
from pathlib import Path

API_DIR = Path(__file__).resolve().parent


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value else default


# gunicorn imports `wsgi:application` from here, whatever the caller's directory.
chdir = str(API_DIR)
wsgi_app = "wsgi:application"

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8000)}"
worker_class = "gthread"
# Never derived from cpu_count(): inside a container it sees the node, not the cgroup limit.
workers = _int("WEB_CONCURRENCY", 2)
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)
# SIGTERM: stop accepting, let in-flight requests finish for up to this long, then exit.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
# Longer than the ALB's 60 s idle timeout, so the balancer closes idle connections first.
keepalive = _int("GUNICORN_KEEPALIVE", 75)
# Bounded request lines and headers; bodies are bounded by the app (AVATAR_MAX_BYTES).
limit_request_line = 8190
limit_request_fields = 100
# The only writable path in the image is /tmp.
worker_tmp_dir = "/tmp"  # noqa: S108
# The runtime control socket would be written under $HOME, which is read-only in the image.
control_socket_disable = True
# The app writes JSON access lines itself; gunicorn's own would duplicate them.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# prometheus-client's multiprocess mode: every worker writes its samples to files here,
# and /metrics merges them. It must be set before any worker imports prometheus_client,
# and before the app's settings are read (they include it).
metrics_dir = Path(os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", "/tmp/users-api-metrics"))  # noqa: S108

# The app's own settings (LOG_LEVEL among them), read once; the workers inherit them.
sys.path.insert(0, str(API_DIR))
from chalicelib.config import get_settings  # noqa: E402

loglevel = get_settings().log_level.lower()


def on_starting(server) -> None:
    # Samples of an earlier run would be merged into this one's.
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
