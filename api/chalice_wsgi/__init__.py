"""Serve any Chalice app over WSGI (gunicorn, waitress, ...): see adapter.py.

Not part of chalicelib: the routes never import it, and it knows nothing about users-api.
"""

from chalice_wsgi.adapter import ChaliceWSGIAdapter, RejectHook

__all__ = ["ChaliceWSGIAdapter", "RejectHook"]
