"""A small local HTTP file server for download tests: Range support, drops, stalls, logs.

It binds 127.0.0.1 on a free port and runs in a daemon thread; nothing leaves the machine.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FILE_PATH = "/weights.pth"


@dataclass
class ServedRequest:
    path: str
    range: str | None
    status: int = 0
    body_bytes: int = 0


@dataclass
class RangeServer:
    """Serves ``payload`` at FILE_PATH; everything else is 404.

    - ``support_range``: honour ``Range: bytes=N-`` with 206 (else always 200, full body).
    - ``drop_after``: for the first ``drops`` responses, send only this many body bytes
      (with the full Content-Length) and then close the connection.
    - ``stall``: when set, a response sends its headers and then waits on this event.
    - ``requests``: one record per request, in order.
    """

    payload: bytes
    support_range: bool = True
    drop_after: int | None = None
    drops: int = 1
    stall: threading.Event | None = None
    requests: list[ServedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{FILE_PATH}"

    @property
    def body_bytes_sent(self) -> int:
        return sum(r.body_bytes for r in self.requests)

    def close(self) -> None:
        if self.stall is not None:
            self.stall.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _take_drop(self) -> int | None:
        with self._lock:
            if self.drop_after is None or self.drops <= 0:
                return None
            self.drops -= 1
            return self.drop_after


def _make_handler(server: RangeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            record = ServedRequest(self.path, self.headers.get("Range"))
            server.requests.append(record)
            if self.path != FILE_PATH:
                record.status = 404
                self.send_error(404, "Not Found")
                return
            data = server.payload
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", record.range or "")
            if server.support_range and match:
                start = int(match.group(1))
                if start >= len(data):
                    record.status = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                record.status = 206
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                record.status = 200
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if server.stall is not None:
                server.stall.wait(timeout=30)
            drop = server._take_drop()
            if drop is not None:
                body = body[:drop]
                self.close_connection = True
            try:
                for i in range(0, len(body), 4096):
                    self.wfile.write(body[i : i + 4096])
                    record.body_bytes += len(body[i : i + 4096])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # the client went away
                self.close_connection = True

    return Handler
