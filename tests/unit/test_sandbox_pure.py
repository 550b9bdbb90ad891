"""Pure parts of the sandbox: selectors, patches, field ownership."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesandbox.errors import ApiError
from kubesandbox.fieldmanager import apply, fields_of, format_path, from_fields_v1, to_fields_v1
from kubesandbox.registry import BUILTINS, types_from_crd
from kubesandbox.selectors import parse_field_selector, parse_label_selector
from kubesandbox.structure import ATOMIC, SET, json_patch, list_keys, merge_patch

DEPLOYMENT = next(rt for rt in BUILTINS if rt.kind == "Deployment")
CONFIGMAP = next(rt for rt in BUILTINS if rt.kind == "ConfigMap")


def obj(labels: dict[str, str]) -> dict:
    return {"metadata": {"name": "x", "namespace": "ns", "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app in (web, db),tier", {"app": "db", "tier": "1"}, True),
        ("app in (web, db),tier", {"app": "db"}, False),
        ("app notin (web)", {"app": "db"}, True),
        ("!app", {"app": "db"}, False),
        ("", {"anything": "x"}, True),
    ],
)
def test_label_selectors(selector, labels, expected):
    assert parse_label_selector(selector)(obj(labels)) is expected


def test_a_malformed_label_selector_is_a_400():
    with pytest.raises(ApiError) as err:
        parse_label_selector("app in web")
    assert err.value.code == 400


def test_field_selectors_only_allow_supported_fields():
    fields = frozenset({"metadata.name", "metadata.namespace"})
    assert parse_field_selector("metadata.name=x,metadata.namespace!=other", fields)(obj({}))
    with pytest.raises(ApiError) as err:
        parse_field_selector("spec.replicas=1", fields)
    assert err.value.code == 400 and "field label not supported" in err.value.message


def test_list_keys_know_builtin_merge_keys_and_crd_schemas():
    assert list_keys(DEPLOYMENT, ("spec", "template", "spec", "containers")) == ("name",)
    assert list_keys(DEPLOYMENT, ("spec", "template", "spec", "containers", "ports")) == ("containerPort", "protocol")
    assert list_keys(DEPLOYMENT, ("metadata", "finalizers")) == SET
    assert list_keys(DEPLOYMENT, ("spec", "template", "spec", "containers", "args")) == ATOMIC
    crd = {
        "metadata": {"name": "routes.example.io"},
        "spec": {
            "group": "example.io",
            "names": {"plural": "routes", "kind": "Route"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "backends": {
                                            "type": "array",
                                            "x-kubernetes-list-type": "map",
                                            "x-kubernetes-list-map-keys": ["name"],
                                            "items": {"type": "object"},
                                        }
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    (route,) = types_from_crd(crd)
    assert list_keys(route, ("spec", "backends")) == ("name",)
    assert list_keys(route, ("spec", "other")) == ATOMIC


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10,
)
json_docs = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@given(json_docs)
def test_a_merge_patch_of_a_document_onto_itself_changes_nothing_but_nulls(doc):
    without_nulls = merge_patch({}, doc)
    assert merge_patch(without_nulls, without_nulls) == without_nulls


@given(json_docs, st.text(min_size=1, max_size=4), json_values)
def test_json_patch_add_then_remove_restores_the_document(doc, key, value):
    if key in doc:
        return
    pointer = "/" + key.replace("~", "~0").replace("/", "~1")
    added = json_patch(doc, [{"op": "add", "path": pointer, "value": value}])
    assert added[key] == value
    assert json_patch(added, [{"op": "remove", "path": pointer}]) == doc


@given(st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.text(max_size=4), max_size=5))
def test_fields_v1_round_trips(data):
    paths = fields_of(CONFIGMAP, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": data})
    assert from_fields_v1(to_fields_v1(paths)) == paths


def test_apply_conflicts_name_the_manager_and_the_field():
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "managedFields": []},
        "spec": {"replicas": 1},
    }
    owned = apply(
        DEPLOYMENT,
        live,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}},
        manager="gitopsctl",
        force=False,
        now="t",
    )
    with pytest.raises(ApiError) as err:
        apply(
            DEPLOYMENT,
            owned,
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}},
            manager="other",
            force=False,
            now="t",
        )
    assert err.value.code == 409
    assert err.value.message == 'Apply failed with 1 conflict: conflict with "gitopsctl" using apps/v1: .spec.replicas'


def test_field_paths_are_formatted_as_conflict_messages_show_them():
    path = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}', "f:image")
    assert format_path(path) == '.spec.template.spec.containers[name="app"].image'
