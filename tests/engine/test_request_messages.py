"""Where a request is shown is noted after the message is posted: a request that ended meanwhile stays ended."""

from __future__ import annotations

from gitopsctl.release.requests import ENDED_LABEL

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


def _ended_records(fleet) -> list:
    """The ended requests kept in prod's namespace, read from the cluster."""
    return fleet.core.list_namespaced_config_map("trading-prod", label_selector=ENDED_LABEL).items


def test_a_message_noted_after_the_request_ended_never_brings_it_back(fleet):
    engine, request = _pending_deploy(fleet)
    engine.reject("trade-service", "prod", request=request.id, actor="bob")  # ended before the front end noted
    assert engine.note_request_message("trade-service", "prod", request.id, "C0PROD", "1700000001.000100")
    assert engine.pending("trade-service", "prod") is None


def test_a_message_posted_just_before_the_request_ended_still_loses_its_buttons(fleet):
    """The front end notes its message once Slack took it: the request may have ended (and been swept) by then."""
    engine, request = _pending_deploy(fleet)
    requests = engine.promotions.requests
    engine.promotions.expire(approval_ttl=-1)  # nobody approved it in time, before the front end noted
    shown: list[list[str]] = []

    def show(ended):
        shown.append([m["ts"] for m in ended.messages])
        return True

    assert requests.sweep(show) == 0 and shown == []  # nothing shows it yet: kept for a late note
    assert engine.note_request_message("trade-service", "prod", request.id, "C0PROD", "1700000001.000100")
    assert requests.sweep(show) == 1
    assert shown == [["1700000001.000100"]]  # that message now says Expired, without buttons
    assert _ended_records(fleet) == []


def test_an_ended_request_no_message_showed_is_forgotten_after_the_grace(fleet, monkeypatch):
    engine, request = _pending_deploy(fleet)
    engine.reject("trade-service", "prod", request=request.id, actor="bob")
    requests = engine.promotions.requests
    assert requests.sweep(lambda ended: True) == 0
    monkeypatch.setattr("gitopsctl.release.requests.NOTE_GRACE", -1.0)
    assert requests.sweep(lambda ended: True) == 1 and _ended_records(fleet) == []
    assert not engine.note_request_message("trade-service", "prod", request.id, "C0PROD", "1700000001.000100")


def test_a_message_noted_while_the_leader_updates_the_others_is_not_forgotten(fleet):
    engine, request = _pending_deploy(fleet)
    engine.note_request_message("trade-service", "prod", request.id, "C0DEPLOYS", "1700000001.000100")
    engine.reject("trade-service", "prod", request=request.id, actor="bob")
    requests = engine.promotions.requests
    shown: list[list[str]] = []

    def show_while_another_front_end_notes(ended):
        shown.append([m["channel"] for m in ended.messages])
        if len(shown) == 1:
            engine.note_request_message("trade-service", "prod", request.id, "C0PROD", "1700000002.000100")
        return True

    assert requests.sweep(show_while_another_front_end_notes) == 0  # the record changed since it was read: kept
    assert requests.sweep(show_while_another_front_end_notes) == 1
    assert shown == [["C0DEPLOYS"], ["C0DEPLOYS", "C0PROD"]]
    assert _ended_records(fleet) == []


def test_a_message_noted_after_the_request_ended_goes_to_its_ended_record(fleet):
    engine, request = _pending_deploy(fleet)
    engine.note_request_message("trade-service", "prod", request.id, "C0DEPLOYS", "1700000001.000100")
    engine.reject("trade-service", "prod", request=request.id, actor="bob")
    engine.note_request_message("trade-service", "prod", request.id, "C0PROD", "1700000002.000100")
    assert engine.pending("trade-service", "prod") is None
    kept: list = []
    assert engine.promotions.requests.sweep(lambda ended: kept.append(ended) or False) == 0  # not shown yet: kept
    (ended,) = kept
    assert ended.state == "Rejected"
    assert [m["channel"] for m in ended.messages] == ["C0DEPLOYS", "C0PROD"]  # both lose their buttons
