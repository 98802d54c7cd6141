"""What every fake platform API shares: an HTTP/1.1 server on loopback in a daemon thread.

Stopping is fast: serve_forever polls its shutdown flag every POLL_INTERVAL (the standard library's default,
0.5 s, made every test using a fake wait half a second in teardown)."""
from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

POLL_INTERVAL = 0.02  # seconds between serve_forever's checks of the shutdown flag


class LoopbackServer:
    """Lifecycle of a fake: `start()` / `stop()` / context manager, and `base_url` for the app's settings."""

    name = "fake"
    path_prefix = ""  # what the platform's base URL carries after host:port (VK: "/method", Telegram: "/bot")

    def _serve(self, host: str, port: int, handler) -> None:
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path_prefix}"

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_INTERVAL,), name=self.name,
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
