"""Development-only tools: the embedded emulator, its bootstrap and `make run`.

Nothing in the production package (chalicelib, the WSGI adapter, wsgi.py, manage.py) imports
this package, and the image does not ship it (container/Dockerfile.dockerignore); a test
checks both.
"""
