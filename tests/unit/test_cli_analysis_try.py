"""``gitopsctl analysis try``: a template author's check, judged exactly as a measurement would be."""

from __future__ import annotations

import io
import json

import pytest

from gitopsctl.cli import main

BAND = ["--success", "result[0] >= 0.99", "--failure", "result[0] < 0.95"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["analysis", "try", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("result", "says"),
    [
        ("[0.995]", "Successful (result = [0.995])"),
        ("[0.97]", "Inconclusive: between the conditions: 0.97 < 0.99 and 0.97 >= 0.95 (result = [0.97])"),
        ("[0.9]", "Failed: 0.9 < 0.95 (result = [0.9])"),
        ("[]", "Inconclusive: no usable value ([]) (result = [])"),
        ("0.97", 'Error: could not evaluate success_condition "result[0] >= 0.99": cannot fetch 0 from float64'),
    ],
)
def test_each_phase_with_its_reason(capsys, result, says):
    code, out, err = run(capsys, *BAND, "--result", result)
    assert (code, err) == (0, "") and out.startswith(says), out


def test_the_prometheus_api_answer_is_shaped_as_the_provider_shapes_it(capsys, monkeypatch):
    answer = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.97"]}]}}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(answer)))
    code, out, _ = run(capsys, *BAND, "--result", "-", "-o", "json")
    assert code == 0 and json.loads(out) == {
        "phase": "Inconclusive",
        "message": "between the conditions: 0.97 < 0.99 and 0.97 >= 0.95",
        "result": [0.97],
    }


def test_argo_compatible_nan_and_the_web_provider(capsys):
    assert json.loads(run(capsys, "--failure", "result[0] > 0.05", "--result", "[NaN]", "-o", "json")[1]) == {
        "phase": "Inconclusive",
        "message": "no usable value ([nan])",
        "result": ["NaN"],
    }
    code, out, _ = run(capsys, "--failure", "result[0] > 0.05", "--result", "[NaN]", "--argo-compatible-nan")
    assert code == 0 and out.startswith("Successful")
    code, out, _ = run(capsys, "--provider", "web", "--success", "result.ok", "--result", '{"ok": true}')
    assert code == 0 and out == 'Successful (result = {"ok": true})\n'


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--success", "result >", "--result", "1"], '"result >" is not a condition'),
        (["--success", "result[0] ?? 0 > 1", "--result", "[1]"], "cannot be mixed"),
        (["--success", "result[0] > 1", "--result", '{"data": {"result": [{"value": [1]}]}}'], "no shape"),
        (["--success", "result[0] > 1", "--result", "nope"], "the result is not JSON"),
        (["--success", "result[0] > 1", "--result", '"text"'], "a Prometheus result is a number"),
        (["--result", "[1]"], "give a success condition, a failure condition, or both"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(capsys, args, sentence):
    code, out, err = run(capsys, *args)
    assert (code, out) == (2, "") and sentence in err and err.count("\n") == 1, err
