"""Conditions written for Argo Rollouts, decided as Argo decides them.

The cases of Argo Rollouts' own ``utils/evaluate/evaluate_test.go`` (at
9f8d111), and every distinct condition in its docs/, examples/ and test/
folders: each must be accepted by config check (or refused with the sentence
docs/analysis.md gives).
"""

from __future__ import annotations

import pytest

from gitopsctl.analysis.conditions import ConditionError, compile_condition
from gitopsctl.analysis.measurement import ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL, Judgement, evaluate


def phase(value, success=None, failure=None):
    judgement = Judgement(
        compile_condition(success) if success else None,
        compile_condition(failure) if failure else None,
        argo_compatible_nan=True,
    )
    return evaluate(value, judgement)


@pytest.mark.parametrize(
    ("success", "failure", "expected"),
    [
        ("true", "false", SUCCESSFUL),  # TestEvaluateResultWithSuccess
        ("true", "true", FAILED),  # TestEvaluateResultWithFailure
        ("false", "false", INCONCLUSIVE),  # TestEvaluateResultInconclusive
        (None, "false", SUCCESSFUL),  # TestEvaluateResultNoSuccessConditionAndNotFailing
        ("false", None, FAILED),  # TestEvaluateResultNoFailureConditionAndNotSuccessful
        (None, None, SUCCESSFUL),  # TestEvaluateResultNoFailureConditionAndNoSuccessCondition
        ("result == true", "true", FAILED),
    ],
)
def test_argos_evaluate_result_cases(success, failure, expected):
    assert phase(True, success, failure)[0] == expected


@pytest.mark.parametrize(
    ("value", "condition", "expected"),
    [
        (True, "result == true", True),  # TestEvaluateConditionWithSuccess
        (True, "result == false", False),  # TestEvaluateConditionWithFailure
        (
            {"service_apdex": {"label": None, "values": {"values": [2.0, 2.0]}}},
            "all(result.service_apdex.values.values, {# > 1})",
            True,
        ),
        ([2.0, 2.0], "2 in result", True),  # TestEvaluateInOperator
        (5.0, "result > 1", True),  # TestEvaluateFloat64
        ("1", "asInt(result) == 1", True),  # TestEvaluateAsInt
        (1, "asInt(result) == 1", True),
        (1.123, "asInt(result) == 1", True),
        ("1.1", "asFloat(result) == 1.1", True),  # TestEvaluateAsFloat
        ("1.1", "asFloat(result) >= 1.1", True),
        ("1.1", "asFloat(result) <= 1.1", True),
        (1.1, "asFloat(result) == 1.1", True),
        (1, "asFloat(result) >= 1", True),
    ],
)
def test_argos_eval_condition_cases(value, condition, expected):
    assert compile_condition(condition).evaluate(value) is expected


@pytest.mark.parametrize(
    ("value", "condition", "message"),
    [
        (True, "result.Name() == 'hi'", None),  # TestEvaluateInvalidStruct: refused at config check here
        ("1.1", "asInt(result) == 1.1", "invalid syntax"),  # TestEvaluateAsIntPanic
        ("NotANum", "asFloat(result) == 1.1", 'strconv.ParseFloat: parsing "NotANum": invalid syntax'),
        ("1.1", 'asFloat(result) == "1.1"', r"mismatched types float64 and string"),
    ],
)
def test_argos_error_cases(value, condition, message):
    try:
        compiled = compile_condition(condition)
    except ConditionError:
        assert message is None
        return
    judged, why = evaluate(value, Judgement(compiled, None, typed=True, argo_compatible_nan=True))
    assert judged == ERROR and message in why


def test_argos_nil_and_empty_messages():
    for empty in (None, []):  # TestEvaluateResultErrorMessageWithNilResult / WithEmptySlice
        judged, why = phase(empty, "result[0] >= 0.95")
        assert judged == ERROR and "metric result is nil or empty" in why and "success_condition" in why


def test_an_unknown_name_is_refused_at_config_check_where_argo_errs_at_every_measurement():
    # TestErrorWithInvalidReference, TestEvaluateResultErrorMessageOnFailureCondition
    for condition in ("invalidVariable", "invalidVar == true", "a == true"):
        with pytest.raises(ConditionError, match="uses"):
            compile_condition(condition)


# every distinct successCondition/failureCondition in Argo Rollouts' docs/, examples/ and test/
# (git grep -h -E "(success|failure)Condition:" HEAD -- docs examples test), placeholders left out
ARGO_CONDITIONS = [
    "result[0] >= 0.95",
    "result[0] >= 10",
    "result[0] <= 0.95",
    "result >= 0.95",
    "result == true",
    "result[0] >= 0.90",
    "result.major == '1'",
    "result == 'It worked!'",
    "result <= 0.01",
    "default(result, 0) < 5",
    "default(result, 0) < 10",
    "default(result, 0) < 0.05",
    "result.ok && result.successPercent >= 0.90",
    "result[0] >= 0.99",
    "result[0] <= 0.01",
    "result.successRate >= 0.95",
    "result.Status == 999",
    "result == 'true'",
    'result == "I am OK"',
    "max(result) < 0.05",
    "len(result) > 0 && result[0] >= 0.95",
    "len(result) == 0 || result[0] >= 0.95",
    "isNaN(result) || result >= 0.95",
    "len(result[0].Values) >= 5 and all(result[0].Values, {# <= 0.01})",
    "all(result.service_apdex.values.values, {asFloat(.value) >= 9900})",
    "all(result, # < 1000)",
    "result[0] < 0.50",
    "result.Status == -1",
    "result < 0.95",
    "isInf(result)",
]


@pytest.mark.parametrize("condition", ARGO_CONDITIONS)
def test_every_condition_in_argos_documentation_is_accepted(condition):
    compile_condition(condition)


def test_the_one_argo_docs_condition_that_never_worked_there_is_refused_with_the_fix():
    # docs write "results[0] >= 90.000000"; Argo answers "unknown name results" at every measurement
    with pytest.raises(ConditionError, match=r"write result\[0\]"):
        compile_condition("results[0] >= 90.000000")
