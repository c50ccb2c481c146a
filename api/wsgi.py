"""WSGI entry point: the Chalice app behind the adapter, as gunicorn serves it."""

from app import app
from chalice_wsgi import ChaliceWSGIAdapter
from chalicelib.middleware import rejected_before_routing
from chalicelib.startup import set_up
from chalicelib.wiring import get_readiness, get_service

settings = set_up()
# Workers import this module after the fork: make the AWS clients now, not on the
# first request, so no user pays for them.
get_service()
get_readiness()

application = ChaliceWSGIAdapter(
    app,
    max_body_bytes=settings.max_request_bytes,
    on_reject=rejected_before_routing,
)
