"""The sandbox's structural-schema checks and pruning, each rule with kube-apiserver's cause for it."""

from __future__ import annotations

import copy

import pytest

from kubesandbox import schema
from kubesandbox.errors import ApiError
from kubesandbox.registry import ResourceType


def widget_type(spec: dict, **root) -> ResourceType:
    return ResourceType(
        "example.com",
        "v1",
        "widgets",
        "Widget",
        builtin=False,
        schema={"type": "object", "properties": {"spec": spec, **root.pop("properties", {})}, **root},
    )


def conform(rt: ResourceType, spec, field_validation="Warn", **kw) -> tuple[dict, list[str]]:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": copy.deepcopy(spec)}
    warnings: list[str] = []
    schema.conform(rt, obj, field_validation=field_validation, warnings=warnings, verb=kw.pop("verb", "create"), **kw)
    return obj, warnings


def causes(spec_schema: dict, spec) -> list[tuple[str, str, str]]:
    with pytest.raises(ApiError) as refused:
        conform(widget_type(spec_schema), spec)
    assert refused.value.code == 422
    return [(c["reason"], c["message"], c["field"]) for c in refused.value.details["causes"]]


def obj_schema(**props) -> dict:
    return {"type": "object", "properties": props}


@pytest.mark.parametrize(
    ("prop", "value", "expected"),
    [
        (
            {"type": "integer"},
            "3",
            ("FieldValueTypeInvalid", 'Invalid value: "string": spec.n in body must be of type integer: "string"'),
        ),
        (
            {"type": "integer"},
            True,
            ("FieldValueTypeInvalid", 'Invalid value: "boolean": spec.n in body must be of type integer: "boolean"'),
        ),
        (
            {"type": "string"},
            5,
            ("FieldValueTypeInvalid", 'Invalid value: "integer": spec.n in body must be of type string: "integer"'),
        ),
        (
            {"x-kubernetes-int-or-string": True},
            [1],
            ("FieldValueTypeInvalid", 'Invalid value: "array": spec.n in body must be of type integer,string: "array"'),
        ),
        (
            {"type": "string", "enum": ["a", "b"]},
            "x",
            ("FieldValueNotSupported", 'Unsupported value: "x": supported values: "a", "b"'),
        ),
        (
            {"type": "integer", "enum": [301, 302]},
            304,
            ("FieldValueNotSupported", 'Unsupported value: 304: supported values: "301", "302"'),
        ),
        (
            {"type": "integer", "minimum": 1, "exclusiveMinimum": True},
            1,
            ("FieldValueInvalid", "Invalid value: 1: spec.n in body should be greater than 1"),
        ),
        (
            {"type": "number", "maximum": 1.5},
            2,
            ("FieldValueInvalid", "Invalid value: 2: spec.n in body should be less than or equal to 1.5"),
        ),
        ({"type": "string", "maxLength": 3}, "long", ("FieldValueTooLong", "Too long: may not be more than 3 bytes")),
        (
            {"type": "string", "minLength": 1},
            "",
            ("FieldValueInvalid", 'Invalid value: "": spec.n in body should be at least 1 chars long'),
        ),
        (
            {"type": "string", "pattern": "^[a-z]+$"},
            "A",
            ("FieldValueInvalid", "Invalid value: \"A\": spec.n in body should match '^[a-z]+$'"),
        ),
        (
            {"type": "string", "format": "date-time"},
            "yesterday",
            (
                "FieldValueTypeInvalid",
                'Invalid value: "yesterday": spec.n in body must be of type date-time: "yesterday"',
            ),
        ),
        (
            {"type": "string", "format": "byte"},
            "not base64!",
            (
                "FieldValueTypeInvalid",
                'Invalid value: "not base64!": spec.n in body must be of type byte: "not base64!"',
            ),
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
            [],
            ("FieldValueInvalid", "Invalid value: 0: spec.n in body should have at least 1 items"),
        ),
        (
            {"type": "array", "items": {"type": "string"}, "maxItems": 1},
            ["a", "b"],
            ("FieldValueTooMany", "Too many: 2: must have at most 1 item"),
        ),
        (
            {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            ["a", "a"],
            ("FieldValueInvalid", 'Invalid value: "": spec.n in body shouldn\'t contain duplicates'),
        ),
    ],
)
def test_each_rule_refuses_with_kube_apiservers_cause(prop, value, expected):
    assert causes(obj_schema(n=prop), {"n": value}) == [(*expected, "spec.n")]


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ({"type": "integer"}, 3.0),  # a whole number is an integer
        ({"type": "number"}, 3),
        ({"x-kubernetes-int-or-string": True}, "50%"),
        ({"type": "string", "format": "date-time"}, "2026-01-02T03:04:05Z"),
        ({"type": "string", "format": "k8s-unknown-format"}, "anything"),  # formats it does not know pass
        ({"type": "integer", "format": "int32", "minimum": 0, "maximum": 100}, 100),
        ({"type": "string", "nullable": True}, None),
    ],
)
def test_valid_values_pass(prop, value):
    obj, _ = conform(widget_type(obj_schema(n=prop)), {"n": value})
    assert obj["spec"] == {"n": value}


def test_an_int32_out_of_range_is_reported_under_a_nil_path_as_apiextensions_does():
    assert causes(obj_schema(n={"type": "integer", "format": "int32"}), {"n": 2**31}) == [
        (
            "FieldValueInvalid",
            'Invalid value: "": Checked value must be of type integer with format int32 in spec.n',
            "<nil>",
        )
    ]


def test_required_fields_nested_in_lists_are_named_by_index():
    spec = obj_schema(refs={"type": "array", "items": {"type": "object", "required": ["name"], "properties": {}}})
    spec["required"] = ["hosts"]
    assert causes(spec, {"refs": [{}, {}]}) == [
        ("FieldValueRequired", "Required value", "spec.refs[0].name"),
        ("FieldValueRequired", "Required value", "spec.refs[1].name"),
        ("FieldValueRequired", "Required value", "spec.hosts"),
    ]


def test_list_types_set_and_map_refuse_duplicates():
    spec = obj_schema(
        tags={"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        ports={
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": obj_schema(name={"type": "string"}, port={"type": "integer"}),
        },
    )
    found = causes(
        spec, {"tags": ["a", "b", "a", "a"], "ports": [{"name": "http", "port": 1}, {"name": "http", "port": 2}]}
    )
    assert found == [
        ("FieldValueDuplicate", 'Duplicate value: "a"', "spec.tags[2]"),
        ("FieldValueDuplicate", 'Duplicate value: {"name":"http"}', "spec.ports[1]"),
    ]


def test_unknown_fields_are_pruned_with_a_warning_each_and_nulls_of_non_nullable_fields_dropped():
    rt = widget_type(
        obj_schema(
            known={"type": "string"},
            open={
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"n": {"type": "integer"}},
            },
            labels={"type": "object", "additionalProperties": {"type": "string"}},
            items={"type": "array", "items": obj_schema(a={"type": "string"})},
            child={
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {"spec": {"type": "object"}},
            },
        )
    )
    spec = {
        "known": None,
        "extra": 1,
        "open": {"kept": {"deep": 1}, "n": 2},
        "labels": {"a": "b"},
        "items": [{"a": "x", "b": "y"}],
        "child": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}},
    }
    obj, warnings = conform(rt, spec)
    assert obj["spec"] == {
        "open": {"kept": {"deep": 1}, "n": 2},
        "labels": {"a": "b"},
        "items": [{"a": "x"}],
        "child": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
    }
    assert warnings == [
        'unknown field "spec.child.data"',
        'unknown field "spec.extra"',
        'unknown field "spec.items[0].b"',
    ]
    assert conform(rt, spec, "Ignore")[1] == []


def test_strict_refuses_unknown_fields_by_verb():
    rt = widget_type(obj_schema())
    with pytest.raises(ApiError) as refused:
        conform(rt, {"x": 1}, "Strict")
    assert (refused.value.code, refused.value.message) == (
        400,
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.x"',
    )
    with pytest.raises(ApiError) as refused:
        conform(rt, {"x": 1}, "Strict", verb="patch")
    assert refused.value.code == 422
    assert refused.value.details["causes"][0]["field"] == "patch"


def test_a_status_write_is_checked_against_the_status_schema_alone():
    rt = widget_type(obj_schema(n={"type": "integer"}), properties={"status": obj_schema(ready={"type": "boolean"})})
    obj = {"metadata": {"name": "w"}, "spec": {"n": "stale"}, "status": {"ready": "yes"}}
    with pytest.raises(ApiError) as refused:
        schema.conform(rt, obj, field_validation="Warn", warnings=None, verb="update", subresource="status")
    assert refused.value.details["causes"] == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "string": ready in body must be of type boolean: "string"',
            "field": "status.ready",
        }
    ]


def test_no_schema_or_an_open_root_accepts_anything():
    anything = {"any": [{"thing": None}]}
    no_schema = ResourceType("example.com", "v1", "widgets", "Widget", builtin=False)
    assert conform(no_schema, anything, "Strict")[0]["spec"] == anything
    open_root = ResourceType(
        "example.com",
        "v1",
        "widgets",
        "Widget",
        builtin=False,
        schema={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    )
    assert conform(open_root, anything, "Strict") == (conform(no_schema, anything)[0], [])


def test_server_side_apply_of_undeclared_fields_is_a_500_naming_each():
    rt = widget_type(obj_schema(known={"type": "string"}))
    applied = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"a": 1, "b": 2}}
    with pytest.raises(ApiError) as refused:
        schema.check_applied(rt, applied)
    assert (refused.value.code, refused.value.message) == (
        500,
        "failed to create typed patch object (/w; example.com/v1, Kind=Widget): errors:\n"
        "  .spec.a: field not declared in schema\n  .spec.b: field not declared in schema",
    )
    assert applied["spec"] == {"a": 1, "b": 2}  # checked on a copy


def test_the_directive_defaults_to_warn_and_refuses_unknown_ones():
    assert schema.directive(None, "PatchOptions") == "Warn"
    assert schema.directive("Strict", "PatchOptions") == "Strict"
    with pytest.raises(ApiError) as refused:
        schema.directive("strict", "PatchOptions")
    assert refused.value.message.startswith(
        'PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value'
    )
