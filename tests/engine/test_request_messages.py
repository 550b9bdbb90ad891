"""Where a request is shown is noted after the message is posted: a request that ended meanwhile stays ended."""

from __future__ import annotations

APPROVAL = """
[environments.prod.approval]
required = 1
users = ["bob"]
"""


def _pending_deploy(fleet):
    engine = fleet.engine
    engine.sync("trade-service", "prod", wait=True, timeout=30)
    engine = fleet.reload(APPROVAL)
    result = engine.deploy("trade-service", "prod", "v1.4.2", actor="alice")
    assert result.status == "PendingApproval"
    return engine, result.request


def test_a_message_noted_after_the_request_ended_never_brings_it_back(fleet):
    engine, request = _pending_deploy(fleet)
    engine.reject("trade-service", "prod", request=request.id, actor="bob")  # ended before the front end noted
    engine.note_request_message("trade-service", "prod", request.id, "C0PROD", "1700000001.000100")
    assert engine.pending("trade-service", "prod") is None


def test_a_message_noted_after_the_request_ended_goes_to_its_ended_record(fleet):
    engine, request = _pending_deploy(fleet)
    engine.note_request_message("trade-service", "prod", request.id, "C0DEPLOYS", "1700000001.000100")
    engine.reject("trade-service", "prod", request=request.id, actor="bob")
    engine.note_request_message("trade-service", "prod", request.id, "C0PROD", "1700000002.000100")
    assert engine.pending("trade-service", "prod") is None
    (ended,) = engine.promotions.requests.ended()
    assert ended.state == "Rejected"
    assert [m["channel"] for m in ended.messages] == ["C0DEPLOYS", "C0PROD"]  # both lose their buttons
