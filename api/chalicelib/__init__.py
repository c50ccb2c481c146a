"""users-api application code: everything but the route declarations in app.py."""
