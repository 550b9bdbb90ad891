"""Reading hooks and waves from annotations, as Argo CD and Helm repositories write them."""

from __future__ import annotations

import pytest

from gitopsctl.errors import ManifestError
from gitopsctl.sync.hooks import hook_name, hooks_of, in_phase, phases_of, policies_of, wave_of


def obj(kind: str = "Job", name: str = "migrate", **annotations: str) -> dict:
    return {"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": name, "annotations": annotations}}


@pytest.mark.parametrize(
    ("annotations", "phases", "wave", "policies"),
    [
        ({}, (), 0, {"BeforeHookCreation"}),
        ({"argocd.argoproj.io/hook": "PreSync"}, ("PreSync",), 0, {"BeforeHookCreation"}),
        ({"gitopsctl.io/hook": "PostSync, SyncFail"}, ("PostSync", "SyncFail"), 0, {"BeforeHookCreation"}),
        ({"argocd.argoproj.io/hook": "Skip"}, ("Skip",), 0, {"BeforeHookCreation"}),
        (
            {
                "argocd.argoproj.io/hook": "Sync",
                "argocd.argoproj.io/sync-wave": "-2",
                "argocd.argoproj.io/hook-delete-policy": "HookSucceeded,HookFailed",
            },
            ("Sync",),
            -2,
            {"HookSucceeded", "HookFailed"},
        ),
        # gitopsctl's own names win over Argo CD's when both are there
        ({"gitopsctl.io/sync-wave": "3", "argocd.argoproj.io/sync-wave": "9"}, (), 3, {"BeforeHookCreation"}),
        # Helm's hooks, as Argo CD maps them
        (
            {"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "-5"},
            ("PreSync",),
            -5,
            {"BeforeHookCreation"},
        ),
        (
            {"helm.sh/hook": "post-upgrade", "helm.sh/hook-delete-policy": "hook-succeeded"},
            ("PostSync",),
            0,
            {"HookSucceeded"},
        ),
        ({"helm.sh/hook": "pre-delete"}, ("Skip",), 0, {"BeforeHookCreation"}),
        ({"helm.sh/hook-weight": "5"}, (), 0, {"BeforeHookCreation"}),  # a weight alone orders nothing
    ],
)
def test_annotations_read_as_argo_cd_and_helm_mean_them(annotations, phases, wave, policies):
    found = obj(**annotations)
    assert (phases_of(found), wave_of(found), set(policies_of(found))) == (phases, wave, policies)


@pytest.mark.parametrize(
    ("annotations", "problem"),
    [
        ({"argocd.argoproj.io/hook": "PostDelete"}, "hook phase 'PostDelete' is not one gitopsctl runs"),
        ({"argocd.argoproj.io/hook": "presync"}, "hook phase 'presync' is not one gitopsctl runs"),
        ({"argocd.argoproj.io/sync-wave": "first"}, "sync wave 'first' is not a whole number"),
        ({"argocd.argoproj.io/sync-wave": "1e9"}, "sync wave '1e9' is not a whole number"),
        ({"argocd.argoproj.io/hook-delete-policy": "Always"}, "hook delete policy 'Always' is not one of"),
    ],
)
def test_bad_annotations_are_refused_with_one_sentence(annotations, problem):
    with pytest.raises(ManifestError, match=problem):
        found = obj(**annotations)
        phases_of(found), wave_of(found), policies_of(found)


def test_hooks_are_named_per_revision_and_never_tracked():
    tracked = obj(**{"argocd.argoproj.io/hook": "PreSync", "gitopsctl.io/tracking-id": "web/dev"})
    tracked["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "gitopsctl", "gitopsctl.io/app": "web"}
    generated = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "smoke-", "annotations": {"argocd.argoproj.io/hook": "PostSync"}},
    }
    ordinary = obj(name="web")
    sha = "0123456789abcdef" * 2 + "01234567"
    hooks = hooks_of([tracked, generated, ordinary], sha)
    assert [h.ref.name for h in hooks] == ["migrate-01234567", "smoke-01234567"]
    meta = hooks[0].obj["metadata"]
    assert meta["labels"] == {"gitopsctl.io/app": "web", "gitopsctl.io/hook": "migrate"}
    assert "gitopsctl.io/tracking-id" not in meta["annotations"] and meta["annotations"]["gitopsctl.io/revision"] == sha
    assert len(hook_name("x" * 80, sha)) == 63 and hook_name("x" * 80, sha).endswith("-01234567")


def test_a_phase_runs_wave_by_wave():
    sha = "f" * 40
    found = hooks_of(
        [
            obj(name="b", **{"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/sync-wave": "1"}),
            obj(name="a", **{"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/sync-wave": "1"}),
            obj(name="first", **{"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/sync-wave": "-1"}),
            obj(name="after", **{"argocd.argoproj.io/hook": "PostSync"}),
        ],
        sha,
    )
    assert {w: [h.source_name for h in hs] for w, hs in in_phase(found, "PreSync").items()} == {
        -1: ["first"],
        1: ["a", "b"],
    }
    assert list(in_phase(found, "PostSync")) == [0]
    assert in_phase(found, "SyncFail") == {}
