#!/usr/bin/env python3
"""CDK entry point: ``cdk synth|deploy -c env=dev|prod`` (see cdk/README.md)."""

import aws_cdk as cdk

from users_api_infra.app_builder import build

app = cdk.App()
build(app)
app.synth()
