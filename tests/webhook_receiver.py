"""A webhook receiver on 127.0.0.1 for tests: answers from a script, records what it was sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    answers: list[tuple[int, str]]  # (status, body) per call; the last one repeats
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def answer(self) -> tuple[int, str]:
        return self.answers[min(len(self.calls) - 1, len(self.answers) - 1)]


@contextmanager
def receiver(*answers: tuple[int, str], path: str = "/hook") -> Iterator[Receiver]:
    found = Receiver(list(answers) or [(200, "ok")])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            found.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status, text = found.answer()
            payload = text.encode()
            self.send_response(status)
            if status in (301, 302, 307, 308):
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
