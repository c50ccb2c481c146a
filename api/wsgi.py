"""WSGI entry point: the Chalice app behind the adapter, as the serving command (serve.py) serves it."""

from app import app
from chalice_wsgi import ChaliceWSGIAdapter
from chalicelib.middleware import answered_by_gateway, rejected_before_routing
from chalicelib.startup import set_up
from chalicelib.wiring import get_readiness, get_service

settings = set_up()
# Make the AWS clients now, at start, not on the first request, so no user pays for them.
get_service()
get_readiness()

application = ChaliceWSGIAdapter(
    app,
    max_body_bytes=settings.max_request_bytes,
    on_reject=rejected_before_routing,
    on_gateway_answer=answered_by_gateway,
)
