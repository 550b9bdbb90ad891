"""A watch as kube-apiserver serves it: headers at once, and a client that hangs up ends it quietly."""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time

from tests.conftest import wait_for


def _open_watch(sandbox, path: str) -> tuple[http.client.HTTPSConnection, http.client.HTTPResponse, float]:
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    connection = http.client.HTTPSConnection("127.0.0.1", sandbox.port, context=context, timeout=10)
    started = time.monotonic()
    connection.request("GET", path, headers={"Authorization": f"Bearer {sandbox.token}"})
    return connection, connection.getresponse(), time.monotonic() - started


def test_a_quiet_watch_answers_its_headers_at_once(sandbox, core):
    """No event for a minute: the client still has its response (and can stop it) at once, not at the first event."""
    core.create_namespace({"metadata": {"name": "quiet"}})
    listed = core.list_namespaced_config_map("quiet")
    rv = listed.metadata.resource_version
    connection, response, waited = _open_watch(
        sandbox, f"/api/v1/namespaces/quiet/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=60"
    )
    try:
        assert response.status == 200 and waited < 0.5, waited
    finally:
        connection.close()


def test_a_client_that_hangs_up_ends_its_watch_without_an_error_in_the_log(sandbox, core, caplog):
    caplog.set_level(logging.DEBUG, logger="kubesandbox")
    core.create_namespace({"metadata": {"name": "busy"}})
    server = sandbox._server
    connection, response, _ = _open_watch(sandbox, "/api/v1/namespaces/busy/configmaps?watch=1&timeoutSeconds=60")
    assert response.status == 200
    with_watch = len(server._open)  # the client's pooled connections and the watch's
    connection.close()  # the client goes away mid-stream
    for i in range(5):  # events the server must now fail to write (over the client's pooled connection)
        core.create_namespaced_config_map("busy", {"metadata": {"name": f"c{i}"}})
    wait_for(lambda: len(server._open) < with_watch, 10, message="the server to finish the abandoned watch")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]


def test_a_bad_selector_on_a_watch_is_an_error_answer_not_a_stream(sandbox):
    connection, response, _ = _open_watch(sandbox, "/api/v1/configmaps?watch=1&labelSelector=a%20b%20c")
    try:
        body = json.loads(response.read())
        assert response.status == 400 and body["kind"] == "Status" and body["reason"] == "BadRequest"
    finally:
        connection.close()
