"""Dev-only avatar server: plays CloudFront's part in front of the local emulator.

In AWS, CloudFront (with origin access control) serves `avatars/*` from the private bucket, so an
avatar_url opens in a browser while the bucket stays private. `make run` starts this server in
the same way: it answers GET and HEAD of `/avatars/<key>` by reading the object with the SDK (its
own credentials, as OAC signs CloudFront's reads), with a long-lived Cache-Control, because an
avatar key is random and its object is never rewritten. Nothing outside `avatars/` is served, and
the emulator's bucket gets no public access. Not part of the image.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

AVATARS_PREFIX = "avatars/"
CACHE_CONTROL = "public, max-age=31536000, immutable"


def _handler(s3, bucket: str) -> type[BaseHTTPRequestHandler]:
    class AvatarHandler(BaseHTTPRequestHandler):
        server_version = "users-api-dev-avatars"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer(with_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(with_body=False)

        def _answer(self, with_body: bool) -> None:
            key = unquote(urlsplit(self.path).path).lstrip("/")
            if not key.startswith(AVATARS_PREFIX) or "/" in key[len(AVATARS_PREFIX):]:
                return self._plain(404, "not an avatar", with_body)
            try:
                stored = s3.get_object(Bucket=bucket, Key=key)
            except ClientError as error:
                missing = error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404")
                return self._plain(404 if missing else 502, "no such avatar" if missing
                                   else "the bucket did not answer", with_body)
            except BotoCoreError:
                return self._plain(502, "the bucket did not answer", with_body)
            data = stored["Body"].read()
            self.send_response(200)
            self.send_header("Content-Type", stored.get("ContentType", "application/octet-stream"))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", CACHE_CONTROL)
            self.send_header("X-Content-Type-Options", "nosniff")
            if stored.get("ETag"):
                self.send_header("ETag", stored["ETag"])
            self.end_headers()
            if with_body:
                self.wfile.write(data)

        def _plain(self, status: int, message: str, with_body: bool) -> None:
            body = (message + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # a dev tool: the API's own access log is the one that matters

    return AvatarHandler


def start_avatar_server(host: str, port: int, s3, bucket: str) -> ThreadingHTTPServer:
    """Serve avatars from `bucket` on host:port in a background thread; `.shutdown()` stops it."""
    server = ThreadingHTTPServer((host, port), _handler(s3, bucket))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="avatar-server", daemon=True).start()
    return server
