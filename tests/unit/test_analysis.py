"""Analysis: the safe condition evaluator, measurement judgement, assessment limits, the statistical judge."""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitopsctl.analysis.conditions import ConditionError, compile_condition
from gitopsctl.analysis.judge import FAIL, MARGINAL, NODATA, PASS, judge, judge_metric
from gitopsctl.analysis.measurement import (
    ERROR,
    FAILED,
    INCONCLUSIVE,
    RUNNING,
    SUCCESSFUL,
    Judgement,
    Limits,
    Measurement,
    assess,
    evaluate,
)
from gitopsctl.analysis.providers import ProviderError
from gitopsctl.analysis.providers.web import WebProvider, extract
from gitopsctl.analysis.run import compile_template, measure, render_query
from gitopsctl.config import AnalysisTemplate


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("result >= 0.99", 0.995, True),
        ("result >= 0.99", 0.91, False),
        ("result[0] < 0.5", [0.3, 0.9], True),
        ("result >= 0.99", [0.995], True),  # a one-series vector compares as its value
        ("isNaN(result)", float("nan"), True),
        ("isNaN(result)", [], True),
        ("result > 0.1 && result < 0.2", 0.15, True),
        ("result < 0.1 || !isNaN(result)", 0.5, True),
        ("0.9 <= result && result <= 1", 0.95, True),
        ("0.9 <= result <= 1", 0.95, True),  # expr 1.16+: 0.9 <= result && result <= 1
        ("0.9 <= result <= 1", 1.5, False),
        ("result | all(# > 0)", [1.0, 2.0], True),
        ("(result.data?.stats.errors ?? 0) < 5", {"data": None}, True),  # ?. makes the whole chain nil
        ("result == [0.5]", [0.5], True),
        ("abs(result - 1) < 0.01", 0.995, True),
        ("result.successRate >= 0.95 and result.ok", {"successRate": 0.97, "ok": True}, True),
        ("all(result, {# < 1000})", [120.0, 999.0], True),
        ("all(result, {# < 1000})", [120.0, 1001.0], False),
        ("'down' not in result", ["up", "up"], True),
        ("result == 'It worked!'", "It worked!", True),
        ("asFloat(result) >= 1.1", "1.1", True),
        ("default(result, 0) < 5", None, True),
    ],
)
def test_conditions(text, result, expected):
    assert compile_condition(text).evaluate(result) is expected


def test_the_seeds_rollback_rules_are_expressions():
    error_rate = compile_condition("mean(last(results, 3)) > 0.05")
    assert error_rate.evaluate(0.08, results=[0.0, 0.07, 0.08, 0.08]) is True
    assert error_rate.evaluate(0.01, results=[0.2, 0.01, 0.01, 0.01]) is False
    latency = compile_condition("result > mean(stable) + 2 * stddev(stable)")
    assert latency.evaluate(0.5, stable=[0.10, 0.12, 0.11, 0.13]) is True
    assert latency.evaluate(0.12, stable=[0.10, 0.12, 0.11, 0.13]) is False
    kpi = compile_condition("result < 0.8 * mean(stable)")
    assert kpi.evaluate(70, stable=[100, 100]) is True and kpi.evaluate(90, stable=[100, 100]) is False


@pytest.mark.parametrize(
    "text",
    [
        '__import__("os").system("x")',
        "open('/etc/passwd')",
        "[x for x in results]",
        "result >",
        "lambda: 1",
        "x > 1",
        "1",
        "result ** 1000000",
        "result.x ?? 0 > 5",  # expr refuses ?? mixed with another operator: here, not an Error mid-rollout
        "count(result) > 0",
        "results[0] >= 0.99",  # gitopsctl's run history, not this measurement: the sentence says so
        "result matches '^ok'",
        "result.Name() == 'hi'",
    ],
)
def test_anything_outside_the_grammar_is_refused(text):
    with pytest.raises(ConditionError):
        compile_condition(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("stddev(result) > 0.5", [math.nan, 1.0, 2.0]),
        ("result[0] / " + "9" * 400 + " > 0", [1.0]),
        ("0x" + "f" * 40 + " > 0", 1.0),
        ("9223372036854775807 + 1 > 0", 1.0),
        ("{(result): 1} == {}", [1.0]),
        ("result" + ".a" * 1000 + " == nil", {"a": None}),
        ("1" + "+1" * 1990 + " > 0", 1.0),
        ("len(map(0..9999, 0..9999)) > 0", 1.0),
        ("len(string(map(0..9999, 0..9999))) > 0", 1.0),
        ("uniq(0..9999) == []", 1.0),
        ("len(filter(0..9999, # in 0..9999)) > 0", 1.0),
        ("map(0..9999, 0..9999) == map(0..9999, 0..9999)", 1.0),
    ],
)
def test_a_hostile_condition_is_a_sentence_or_a_decision_within_a_second(text, value):
    """Found by an attack review: each of these crashed, ran for seconds or took gigabytes."""
    started = time.monotonic()
    try:
        outcome = compile_condition(text).evaluate(value)
    except ConditionError as e:
        assert str(e)
    else:
        assert isinstance(outcome, bool)
    assert time.monotonic() - started < 1.0


def test_deeply_nested_json_is_judged_not_crashed():
    value: object = 1.0
    for _ in range(900):
        value = {"a": value}
    assert evaluate(value, judged("result.a != nil"))[0] == SUCCESSFUL


def test_go_integers_wrap_and_keep_their_remainders():
    assert compile_condition("9223372036854775807 + 1 < 0").evaluate(1.0) is True  # int64 wraps, as in Go
    assert compile_condition("9007199254740993 % 2 == 1").evaluate(1.0) is True  # exact, not through a float
    assert compile_condition("-7 % 3 == -1").evaluate(1.0) is True  # the dividend's sign


def test_field_access_never_reaches_python_attributes():
    condition = compile_condition("result.__class__ == nil")
    assert condition.evaluate({"a": 1}) is True  # a missing key of a map is nil, as in expr
    with pytest.raises(ConditionError, match="cannot fetch __class__ from float64"):
        condition.evaluate(0.5)


@pytest.mark.parametrize(
    "text", ["all(0..9999, {all(0..9999, {# >= 0})})", "len(0..100000000) > 0", "result " + "+ result " * 3000 + "> 0"]
)
def test_a_hostile_condition_is_stopped_quickly(text):
    with pytest.raises(ConditionError):
        compile_condition(text).evaluate(1.0)


def judged(success: str | None, failure: str | None = None, **options) -> Judgement:
    return Judgement(
        compile_condition(success) if success else None, compile_condition(failure) if failure else None, **options
    )


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_nan_and_inf_are_never_a_success(value):
    for judgement in (judged("result >= 0"), judged(None, "result < 0"), judged("isNaN(result) || result >= 0")):
        phase, _ = evaluate(value, judgement)
        if math.isnan(value) or math.isinf(value):
            assert phase in (INCONCLUSIVE, FAILED)
        else:
            assert phase in (SUCCESSFUL, FAILED)


def test_empty_results_are_never_a_success_and_a_failure_condition_can_catch_them():
    assert evaluate([], judged("result[0] >= 0.99"))[0] == INCONCLUSIVE
    assert evaluate([], judged("len(result) == 0 || result[0] >= 0.95"))[0] == INCONCLUSIVE
    assert evaluate([], judged("result[0] >= 0.99", "isNaN(result)"))[0] == FAILED
    assert evaluate(None, judged(None, None))[0] == INCONCLUSIVE


def test_argo_compatible_nan_gives_argo_rollouts_outcome_on_unusable_values():
    # Argo's documented examples (docs/features/analysis.md, "NaN and Infinity" and "Empty array")
    assert evaluate(math.nan, judged("isNaN(result) || result >= 0.95", argo_compatible_nan=True))[0] == SUCCESSFUL
    assert evaluate([], judged("len(result) == 0 || result[0] >= 0.95", argo_compatible_nan=True))[0] == SUCCESSFUL
    assert evaluate([math.nan], judged(None, "result[0] > 0.05", argo_compatible_nan=True))[0] == SUCCESSFUL
    phase, message = evaluate([], judged("result[0] >= 0.95", argo_compatible_nan=True, typed=True))
    assert phase == ERROR and "metric result is nil or empty" in message


def test_neither_condition_holding_is_inconclusive_between_them():
    band = judged("result[0] >= 0.99", "result[0] < 0.95", typed=True)
    assert evaluate([0.995], band) == (SUCCESSFUL, "")
    assert evaluate([0.97], band) == (INCONCLUSIVE, "between the conditions: 0.97 < 0.99 and 0.97 >= 0.95")
    assert evaluate([0.9], band) == (FAILED, "0.9 < 0.95")


def test_a_condition_that_cannot_be_evaluated_is_an_error_measurement():
    phase, message = evaluate([0.1, 0.2], judged("result > 0.5"))
    assert phase == ERROR and "index the vector, e.g. result[0]" in message
    phase, message = evaluate(0.5, judged("result[0] > 0.5"))
    assert phase == ERROR and 'could not evaluate success_condition "result[0] > 0.5"' in message


def m(phase: str) -> Measurement:
    return Measurement("success-rate", phase, 1.0, "t")


@pytest.mark.parametrize(
    ("phases", "limits", "expected"),
    [
        ([SUCCESSFUL] * 3, Limits(count=3), SUCCESSFUL),
        ([SUCCESSFUL] * 2, Limits(count=3), RUNNING),
        ([SUCCESSFUL, FAILED], Limits(count=3, failure_limit=0), FAILED),
        ([SUCCESSFUL, FAILED, SUCCESSFUL, SUCCESSFUL], Limits(count=3, failure_limit=1), SUCCESSFUL),
        ([INCONCLUSIVE, INCONCLUSIVE], Limits(count=5, inconclusive_limit=1), INCONCLUSIVE),
        ([ERROR] * 5, Limits(count=3, consecutive_error_limit=4), ERROR),
        ([ERROR] * 4, Limits(count=3, consecutive_error_limit=4), RUNNING),
        ([ERROR, ERROR, SUCCESSFUL, SUCCESSFUL, SUCCESSFUL], Limits(count=3, consecutive_error_limit=1), SUCCESSFUL),
        # inconclusive measurements never add up to a success, however many the limit allows
        ([INCONCLUSIVE] * 3, Limits(count=3, inconclusive_limit=10), RUNNING),
        ([INCONCLUSIVE, SUCCESSFUL, SUCCESSFUL], Limits(count=3, inconclusive_limit=10), RUNNING),
    ],
)
def test_assessment_limits(phases, limits, expected):
    assert assess([m(p) for p in phases], limits)[0] == expected


def test_the_judge_fails_a_canary_whose_latency_increased():
    stable = [0.100 + 0.002 * (i % 5) for i in range(30)]
    worse = [0.150 + 0.002 * (i % 5) for i in range(30)]
    same = [0.101 + 0.002 * (i % 5) for i in range(30)]
    assert judge_metric("p99", worse, stable).verdict == FAIL
    assert judge_metric("p99", same, stable).verdict == PASS
    assert judge_metric("kpi", worse, stable, bad="decrease").verdict == PASS


def test_the_judge_needs_enough_samples_and_notices_grown_variance():
    assert judge_metric("p99", [0.1] * 3, [0.1] * 30).verdict == NODATA
    stable = [0.100 + 0.001 * (i % 3) for i in range(40)]
    noisy = [0.100 + (0.03 if i % 2 else -0.03) for i in range(40)]
    verdict = judge_metric("p99", noisy, stable, bad="increase")
    assert verdict.verdict == FAIL and "variance" in verdict.reason


def test_the_judgement_scores_metrics():
    passing = judge_metric("a", [1.0] * 20, [1.0] * 20)
    failing = judge_metric("b", [2.0 + i * 0.01 for i in range(20)], [1.0 + i * 0.01 for i in range(20)])
    assert judge([passing, passing]).verdict == PASS
    assert judge([passing, passing, passing, failing], pass_score=95, marginal_score=70).verdict == MARGINAL
    assert judge([failing, passing]).verdict == FAIL
    assert judge([passing, judge_metric("c", [1.0], [1.0])]).verdict == NODATA


def test_queries_are_templated():
    assert (
        render_query(
            'rate(x{app="{{app}}",track="{{track}}",ns="{{namespace}}"}[1m])',
            {"app": "trade", "track": "canary", "namespace": "trading"},
        )
        == 'rate(x{app="trade",track="canary",ns="trading"}[1m])'
    )


def test_web_json_paths():
    doc = {"data": {"rates": [{"ok": 0.99}, {"ok": 0.5}]}}
    assert extract(doc, "$.data.rates[1].ok") == 0.5
    with pytest.raises(ProviderError, match="nothing at"):
        extract(doc, "data.missing")


@pytest.fixture
def json_server():
    body = {"value": json.dumps({"metrics": {"success_rate": 0.97}}).encode()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body["value"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics", body
    server.shutdown()


def test_the_web_provider_measures_and_a_dead_endpoint_is_an_error_measurement(json_server):
    url, _ = json_server
    template = AnalysisTemplate(
        "success-rate", "web", "metrics.success_rate", success_condition="result >= 0.99", url=url
    )
    compiled = compile_template(template)
    measured = measure(compiled, WebProvider(url), {})
    assert (measured.phase, measured.value) == (FAILED, 0.97)
    dead = measure(compiled, WebProvider("http://127.0.0.1:9/nothing", timeout=1), {})
    assert dead.phase == ERROR and "could not be read" in dead.message


@pytest.mark.parametrize(
    ("document", "query", "condition", "phase", "value"),
    [
        # as Argo's web provider: whatever JSON is at the path, for the condition to read
        ({"data": {"ok": True}}, "{$.data.ok}", "result == true", SUCCESSFUL, True),
        (
            {"data": {"ok": True, "successPercent": 0.95}},
            "data",
            "result.ok && result.successPercent >= 0.90",
            SUCCESSFUL,
            {"ok": True, "successPercent": 0.95},
        ),
        ({"status": "It worked!"}, "status", "result == 'It worked!'", SUCCESSFUL, "It worked!"),
        ({"count": 3}, "count", "result % 2 == 1", ERROR, 3.0),  # JSON numbers are floats, as Go decodes them
    ],
)
def test_the_web_provider_hands_the_condition_any_json(json_server, document, query, condition, phase, value):
    url, body = json_server
    body["value"] = json.dumps(document).encode()
    template = AnalysisTemplate("check", "web", query, success_condition=condition, url=url)
    measured = measure(compile_template(template), WebProvider(url), {})
    assert (measured.phase, measured.value) == (phase, value), measured


@pytest.mark.parametrize(
    ("text", "value", "results", "holds", "shown"),
    [
        ("result >= 0.99", 0.91, [], False, "0.91 < 0.99"),
        ("result < 500", 731.25, [], False, "731.2 >= 500"),
        ("mean(last(results, 3)) > 0.05", 0.1, [0.04, 0.07, 0.1], True, "0.07 > 0.05"),
        ("result > 0.5 and result < 2", 3.0, [], False, "result > 0.5 and result < 2 is false for 3"),
    ],
)
def test_a_condition_explains_its_outcome_with_the_numbers(text, value, results, holds, shown):
    assert compile_condition(text).explain(value, results, holds=holds) == shown
