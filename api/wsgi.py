"""WSGI entry point: the Chalice app behind the adapter, as gunicorn serves it."""

from app import app, settings
from chalicelib.http import rejected_before_routing
from chalicelib.wiring import get_service
from chalicelib.wsgi_adapter import ChaliceWSGIAdapter

# Workers import this module after the fork: make the AWS clients now, not on the
# first request, so no user pays for them.
get_service()

application = ChaliceWSGIAdapter(
    app,
    max_body_bytes=settings.max_request_bytes,
    on_reject=rejected_before_routing,
)
