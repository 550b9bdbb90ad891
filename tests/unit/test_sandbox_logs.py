"""Container logs derived from a pod's status (kubesandbox/logs.py), with plain pod dicts."""

from __future__ import annotations

import copy

import pytest

from kubesandbox.errors import ApiError
from kubesandbox.logs import LogOptions, lines, stream

T0 = "2025-03-01T10:00:00Z"
T1 = "2025-03-01T10:00:05Z"
WEB = {"name": "web", "image": "registry.local/app:v1", "ports": [{"name": "http", "containerPort": 8080}]}


def pod(
    containers: list[dict] | None = None, statuses: list[dict] | None = None, restart_policy: str = "Always"
) -> dict:
    return {
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"restartPolicy": restart_policy, "containers": containers or [WEB]},
        "status": {"phase": "Running" if statuses else "Pending", "containerStatuses": statuses or []},
    }


def running(name: str = "web", started: str = T0) -> dict:
    return {"name": name, "ready": True, "restartCount": 0, "state": {"running": {"startedAt": started}}}


def terminated(code: int, started: str = T0, finished: str = T1) -> dict:
    reason = "Completed" if code == 0 else "Error"
    return {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished}


def crashlooping(restarts: int, at: str = T1) -> dict:
    return {
        "name": "web",
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": terminated(1, at, at)},
    }


def refusal(pod_: dict, container: str | None = None, previous: bool = False) -> ApiError:
    with pytest.raises(ApiError) as err:
        lines(pod_, container, previous)
    assert err.value.code == 400 and err.value.reason == "BadRequest"
    return err.value


def body(pod_: dict, events=(), **query: str) -> str:
    return b"".join(stream(pod_, LogOptions.from_query(query, "web-1", now=1740823210.0), events)).decode()


def test_a_running_container_logs_its_start_up_at_its_start_time():
    assert lines(pod(statuses=[running()]), None, False) == [
        ("2025-03-01T10:00:00Z", "Starting web with image registry.local/app:v1"),
        ("2025-03-01T10:00:00.001Z", "Listening on port 8080 (http)"),
        ("2025-03-01T10:00:00.002Z", "Ready"),
    ]


def test_a_finished_job_pod_ends_with_its_completion_line():
    status = {"name": "web", "ready": False, "state": {"terminated": terminated(0)}}
    entries = lines(pod(statuses=[status], restart_policy="Never"), "web", False)
    assert entries[-1] == (T1, "Completed: web exited with code 0")
    assert [text for _, text in entries[:-1]] == [text for _, text in lines(pod(statuses=[running()]), None, False)]


def test_a_crashlooping_container_shows_its_last_run_and_the_crash_for_current_and_previous():
    image = {"name": "web", "image": "registry.local/app:v3-crashloop", "ports": WEB["ports"]}
    crashing = pod([image], [crashlooping(3)])
    expected = [
        (T1, "Starting web with image registry.local/app:v3-crashloop"),
        (
            "2025-03-01T10:00:05.001Z",
            "Error: web exited with code 1 (registry.local/app:v3-crashloop is a -crashloop image)",
        ),
    ]
    # the kubelet reads the dead instance for both while the next one waits to start
    assert lines(crashing, None, False) == expected
    assert lines(crashing, "web", True) == expected
    later = pod([image], [crashlooping(4, "2025-03-01T10:00:07Z")])
    assert lines(later, None, False)[0][0] == "2025-03-01T10:00:07Z"


def test_a_failed_job_pod_ran_then_crashed():
    image = {"name": "x", "image": "img:1-crashloop"}
    status = {"name": "x", "state": {"terminated": terminated(1)}}
    assert [text for _, text in lines(pod([image], [status], "Never"), None, False)] == [
        "Starting x with image img:1-crashloop",
        "Ready",
        "Error: x exited with code 1 (img:1-crashloop is a -crashloop image)",
    ]


def test_refusals_carry_kube_apiserver_and_kubelet_messages():
    two = [WEB, {"name": "sidecar", "image": "proxy:1"}]
    assert refusal(pod(statuses=[running()]), "nope").message == "container nope is not valid for pod web-1"
    assert (
        refusal(pod(two, [running(), running("sidecar")])).message
        == "a container name must be specified for pod web-1, choose one of: [web sidecar]"
    )
    assert refusal(pod()).message == 'container "web" in pod "web-1" is waiting to start: ContainerCreating'
    waiting = {"name": "web", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
    assert (
        refusal(pod(statuses=[waiting])).message
        == 'container "web" in pod "web-1" is waiting to start: ImagePullBackOff'
    )
    assert (
        refusal(pod(statuses=[running()]), previous=True).message
        == 'previous terminated container "web" in pod "web-1" not found'
    )
    assert (
        lines(pod(two, [running(), running("sidecar")]), "sidecar", False)[0][1]
        == "Starting sidecar with image proxy:1"
    )


def test_timestamps_tail_since_and_limit_bytes():
    running_pod = pod(statuses=[running()])
    assert body(running_pod) == "Starting web with image registry.local/app:v1\nListening on port 8080 (http)\nReady\n"
    assert body(running_pod, timestamps="true", tailLines="1") == "2025-03-01T10:00:00.002Z Ready\n"
    assert body(running_pod, tailLines="0") == ""
    assert body(running_pod, limitBytes="10") == "Starting w"
    job = pod(statuses=[{"name": "web", "state": {"terminated": terminated(0)}}], restart_policy="Never")
    # now is 10:00:10: the last 7 seconds hold the completion line alone
    assert body(job, sinceSeconds="7") == "Completed: web exited with code 0\n"
    assert body(job, sinceTime="2025-03-01T10:00:01Z") == "Completed: web exited with code 0\n"


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        (
            {"tailLines": "-1"},
            422,
            'PodLogOptions "web-1" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0',
        ),
        (
            {"limitBytes": "0"},
            422,
            'PodLogOptions "web-1" is invalid: limitBytes: Invalid value: 0: must be greater than 0',
        ),
        (
            {"sinceSeconds": "0"},
            422,
            'PodLogOptions "web-1" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0',
        ),
        ({"sinceSeconds": "5", "sinceTime": T0}, 422, "at most one of `sinceTime` or `sinceSeconds` may be specified"),
        ({"tailLines": "ten"}, 400, 'strconv.ParseInt: parsing "ten": invalid syntax'),
    ],
)
def test_log_options_are_checked_as_kube_apiserver_checks_them(query, code, message):
    with pytest.raises(ApiError) as err:
        LogOptions.from_query(query, "web-1")
    assert err.value.code == code and message in err.value.message


def test_query_booleans_are_true_unless_zero_or_false():
    options = LogOptions.from_query({"follow": "", "previous": "0", "timestamps": "False"}, "web-1")
    assert (options.follow, options.previous, options.timestamps) == (True, False, False)


def test_follow_streams_a_job_pod_to_its_completion_then_ends():
    job = pod(statuses=[running()], restart_policy="Never")
    done = copy.deepcopy(job)
    done["status"]["containerStatuses"] = [{"name": "web", "state": {"terminated": terminated(0)}}]
    after = {"type": "MODIFIED", "object": {**done, "metadata": {**done["metadata"], "labels": {"x": "y"}}}}
    events = iter([None, {"type": "MODIFIED", "object": job}, {"type": "MODIFIED", "object": done}, after])
    chunks = list(stream(job, LogOptions(follow=True), events))
    assert b"".join(chunks).decode().splitlines()[-2:] == ["Ready", "Completed: web exited with code 0"]
    assert next(events) is after  # ended with the instance, without waiting for more


def test_follow_ends_when_the_pod_goes_or_its_container_is_done():
    live = pod(statuses=[running()])
    chunks = stream(live, LogOptions(follow=True, tail_lines=1), [{"type": "DELETED", "object": live}, None])
    assert list(chunks) == [b"Ready\n"]
    crashing = pod([{"name": "web", "image": "a:1-crashloop"}], [crashlooping(2)])
    untouched = iter([None])
    assert len(list(stream(crashing, LogOptions(follow=True), untouched))) == 2
    assert next(untouched) is None  # the dead instance was all there is: no wait for the next run


def test_refusals_are_raised_before_the_stream_starts():
    with pytest.raises(ApiError):
        stream(pod(), LogOptions(follow=True))
