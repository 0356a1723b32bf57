"""More faults for ``tests/support/loopback.py``'s server, for the HTTP client's edge cases.

``faulty_server(routes, ...)`` is a ``LoopbackServer`` whose fault scripts also understand:

- ``"<status>:<retry-after>"``, e.g. ``"503:7"``: that status with ``Retry-After: 7``;
- ``gzip``: 200 with the body gzip-compressed and ``Content-Encoding: gzip`` (a server that
  ignores ``Accept-Encoding: identity``);
- ``bad_range``: 206 whose ``Content-Range`` starts at 0 whatever range was asked for.

Everything else is the loopback server's own behaviour (127.0.0.1 only, bounded requests).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping

from tests.support.loopback import LoopbackServer, Request, Route, _Handler


class _FaultHandler(_Handler):
    def _serve(self, route: Route, fault: str, req: Request) -> None:
        payload = route.body(req) if callable(route.body) else route.body
        if ":" in fault:
            status, after = fault.split(":", 1)
            self._answer(int(status), b"", {"Retry-After": after})
        elif fault == "gzip":
            self._answer(200, gzip.compress(payload, mtime=0), {"Content-Encoding": "gzip"})
        elif fault == "bad_range":
            end = len(payload) - 1
            self._answer(206, payload, {"Content-Range": f"bytes 0-{end}/{len(payload)}"})
        else:
            super()._serve(route, fault, req)

    def _answer(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def faulty_server(routes: Mapping[str, Route], **kwargs: object) -> LoopbackServer:
    """A ``LoopbackServer`` (same arguments) with the extra faults above."""
    server = LoopbackServer(routes, **kwargs)  # type: ignore[arg-type]
    server._server.RequestHandlerClass = _FaultHandler
    return server
