"""Test-only: record every AWS call this Python process makes, for the rehearsal's IAM check.

The rehearsal puts this directory first on PYTHONPATH of the processes it starts (the serving
command, the sweep) and names a file in USERS_API_RECORD_AWS_CALLS; Python imports
``sitecustomize`` at start-up, so every botocore client created afterwards reports its calls
through botocore's own event hooks, without a line of the app changing. One JSON object per
line (appended with O_APPEND, so the serving processes' workers can share the file):

    {"service": "dynamodb", "operation": "PutItem", "params": {...}, "status": 200}

Only the parameters that name a resource or an IAM context key are kept (no bodies, no items).
Nothing here runs unless the variable is set; it is never on the image's path.
"""

from __future__ import annotations

import json
import os

RECORD_TO = os.environ.get("USERS_API_RECORD_AWS_CALLS")
# The request parameters an IAM decision depends on (resource names and condition keys).
KEPT_PARAMS = ("TableName", "Bucket", "Key", "Prefix", "VersionId", "RoleArn")


def _remember(params, context, **_):
    context["rehearsal_params"] = {k: params[k] for k in KEPT_PARAMS if k in params}


def _write(http_response, model, context, **_):
    record = {
        "service": model.service_model.signing_name,
        "operation": model.name,
        "params": context.get("rehearsal_params", {}),
        "status": getattr(http_response, "status_code", None),
        "pid": os.getpid(),
    }
    fd = os.open(RECORD_TO, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


def _install() -> None:
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self, *args, **kwargs):
        client = original(self, *args, **kwargs)
        client.meta.events.register("provide-client-params", _remember)
        client.meta.events.register("after-call", _write)
        return client

    botocore.session.Session.create_client = create_client


if RECORD_TO:
    _install()
