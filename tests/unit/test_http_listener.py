"""Serve's HTTP listener answers in one send: under a burst each send is a release of the GIL and a wait to take it
back, which was most of a Slack acknowledgement's time at 200 at once (bench/slack_ack.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from gitopsctl.metrics import listen


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), *((f"X-Header-{n}", str(n)) for n in range(5))])
    return [b'{"ok": true}']


@pytest.mark.parametrize("pooled", [True, False])
def test_an_answer_with_headers_and_a_body_leaves_in_one_send(monkeypatch, pooled):
    sends: list[tuple[str, int]] = []
    real_send, real_sendall = socket.socket.send, socket.socket.sendall

    def send(self, data, *args):
        sends.append((threading.current_thread().name, len(data)))
        return real_send(self, data, *args)

    def sendall(self, data, *args):
        sends.append((threading.current_thread().name, len(data)))
        return real_sendall(self, data, *args)

    monkeypatch.setattr(socket.socket, "send", send)
    monkeypatch.setattr(socket.socket, "sendall", sendall)
    server = listen("127.0.0.1", 0, app, what="a test", pooled=pooled)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="acceptor")
    serving.start()
    try:
        with socket.create_connection(server.server_address, timeout=10) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
    finally:
        server.shutdown()
        server.server_close()
        serving.join(10)
    assert answer.startswith(b"HTTP/1.0 200 OK") and answer.endswith(b'{"ok": true}') and b"X-Header-4: 4" in answer
    by_server = [size for name, size in sends if name != threading.current_thread().name]
    assert by_server == [len(answer)], f"the server sent the answer in {len(by_server)} pieces: {by_server}"
