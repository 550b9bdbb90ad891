"""The sandbox's Kubernetes protobuf decoder, on hand-encoded messages and hostile bytes."""

from __future__ import annotations

import random

import pytest

from kubesandbox.errors import ApiError
from kubesandbox.protobuf import META, decode_protobuf, go_duration, schema

# `kubectl create secret generic s --from-literal=a=b` as kubectl v1.32 sends it (from its -v=10 log)
KUBECTL_SECRET = bytes.fromhex(
    "6b 38 73 00 0a 0c 0a 02 76 31 12 06 53 65 63 72 65 74 12 1d 0a 11 0a 01 73 12 00 1a 00 22 00 2a 00"
    "32 00 38 00 42 00 12 06 0a 01 61 12 01 62 1a 00 1a 00 22 00"
)


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative numbers go out as ten bytes, as Go writes them
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def number(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def delimited(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(field << 3 | 2) + varint(len(data)) + data


def entry(field: int, key: str, value: bytes | str) -> bytes:
    return delimited(field, delimited(1, key) + delimited(2, value))


def body(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + delimited(1, delimited(1, api_version) + delimited(2, kind)) + delimited(2, raw)


def named(name: str, *more: bytes) -> bytes:
    """ObjectMeta as Go writes it: every non-pointer field, empty or not, and an empty (zero) creationTimestamp."""
    empty = b"".join(delimited(n, "") for n in (2, 3, 4, 5, 6))
    return delimited(1, delimited(1, name) + empty + number(7, 0) + delimited(8, b"") + b"".join(more))


def error_of(data: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        decode_protobuf(data)
    return caught.value


def test_kubectls_own_secret_decodes_to_what_its_json_would_say():
    assert decode_protobuf(KUBECTL_SECRET) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "creationTimestamp": None},
        "data": {"a": "Yg=="},
    }


def test_time_is_rfc3339_at_seconds_and_the_zero_time_is_null():
    meta = named("shop", delimited(9, number(1, 0) + number(2, 0)))  # deletionTimestamp: the epoch, written out
    obj = decode_protobuf(body("v1", "Namespace", meta))
    assert obj["metadata"]["creationTimestamp"] is None
    assert obj["metadata"]["deletionTimestamp"] == "1970-01-01T00:00:00Z"
    stamped = delimited(1, delimited(1, "shop") + delimited(8, number(1, 1767225600) + number(2, 999_999_999)))
    assert decode_protobuf(body("v1", "Namespace", stamped))["metadata"] == {
        "name": "shop",
        "creationTimestamp": "2026-01-01T00:00:00Z",
    }


def test_micro_time_keeps_six_fraction_digits():
    spec = delimited(1, "me") + delimited(3, number(1, 1767225600) + number(2, 123_456_789)) + number(2, 0)
    lease = decode_protobuf(body("coordination.k8s.io/v1", "Lease", delimited(2, spec)))
    # leaseDurationSeconds is a Go pointer: an explicit zero stays
    assert lease["spec"] == {
        "holderIdentity": "me",
        "acquireTime": "2026-01-01T00:00:00.123456Z",
        "leaseDurationSeconds": 0,
    }


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (1_500_000_000, "1.5s"),
        (500_000_000, "500ms"),
        (1_500, "1.5µs"),
        (999, "999ns"),
        (-(61 * 10**9), "-1m1s"),
    ],
)
def test_durations_read_as_go_writes_them(nanoseconds, text):
    assert go_duration(nanoseconds) == text


def test_a_duration_message_is_its_go_string():
    assert schema().decode(f"{META}.Duration", memoryview(number(1, 90 * 10**9))) == "1m30s"
    assert schema().decode(f"{META}.Duration", memoryview(b"")) == "0s"


def test_int_or_string_is_the_int_or_the_string():
    ports = [
        delimited(1, number(3, 80) + delimited(4, number(1, 0) + number(2, 8080))),
        delimited(1, number(3, 443) + delimited(4, number(1, 1) + delimited(3, "https"))),
        delimited(1, number(3, 81) + delimited(4, b"")),
    ]
    service = decode_protobuf(body("v1", "Service", named("api") + delimited(2, b"".join(ports) + delimited(3, ""))))
    assert service["spec"] == {
        "ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": "https"}, {"port": 81, "targetPort": 0}]
    }


def test_quantities_are_their_strings_and_a_map_entry_without_value_is_its_zero():
    hard = (
        entry(1, "cpu", delimited(1, "500m"))
        + entry(1, "memory", delimited(1, "1Gi"))
        + delimited(1, delimited(1, "pods"))
    )
    quota = decode_protobuf(body("v1", "ResourceQuota", named("q") + delimited(2, hard)))
    assert quota["spec"]["hard"] == {"cpu": "500m", "memory": "1Gi", "pods": "0"}


def test_raw_extension_and_fields_v1_inline_their_json():
    managed = delimited(17, delimited(1, "kubectl") + delimited(7, delimited(1, b'{"f:data":{"f:a":{}}}')))
    revision = named("rev", managed) + delimited(2, delimited(1, b'{"spec":{"replicas":2}}')) + number(3, 4)
    obj = decode_protobuf(body("apps/v1", "ControllerRevision", revision))
    assert obj["data"] == {"spec": {"replicas": 2}} and obj["revision"] == 4
    assert obj["metadata"]["managedFields"] == [{"manager": "kubectl", "fieldsV1": {"f:data": {"f:a": {}}}}]


def test_bytes_are_base64_and_unknown_fields_are_skipped():
    raw = named("cm") + entry(2, "mode", "fast") + entry(3, "blob", b"\x00\xff") + delimited(99, "from the future")
    assert decode_protobuf(body("v1", "ConfigMap", raw)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "creationTimestamp": None},
        "data": {"mode": "fast"},
        "binaryData": {"blob": "AP8="},
    }


@pytest.mark.parametrize("packed", [True, False])
def test_repeated_numbers_read_packed_or_not(packed):
    groups = [1000, -1, 2**40]
    encoded = delimited(4, b"".join(varint(g) for g in groups)) if packed else b"".join(number(4, g) for g in groups)
    pod = decode_protobuf(body("v1", "Pod", named("p") + delimited(2, delimited(14, encoded))))
    assert pod["spec"]["securityContext"] == {"supplementalGroups": groups}


def test_go_zero_scalars_drop_unless_the_field_is_a_pointer():
    spec = number(1, 0) + number(5, 0) + number(7, 0) + number(6, 3)  # replicas 0, minReadySeconds 0, paused false
    deployment = decode_protobuf(body("apps/v1", "Deployment", named("d") + delimited(2, spec) + delimited(3, b"")))
    assert deployment["spec"] == {"replicas": 0, "revisionHistoryLimit": 3}
    assert deployment["status"] == {}


def test_zeros_stay_where_go_json_writes_them_and_embedded_structs_are_inlined():
    status = number(3, 0) + number(4, 0) + number(5, 0) + number(6, 0) + number(1, 0)  # observedGeneration: omitempty
    pdb = decode_protobuf(body("policy/v1", "PodDisruptionBudget", named("pdb") + delimited(3, status)))
    assert pdb["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
    selector = delimited(1, delimited(1, "settings")) + delimited(2, "mode")  # LocalObjectReference is embedded
    env = delimited(7, delimited(1, "MODE") + delimited(2, "") + delimited(3, delimited(3, selector)))
    pod = decode_protobuf(body("v1", "Pod", named("p") + delimited(2, delimited(2, delimited(1, "app") + env))))
    assert pod["spec"]["containers"] == [
        {
            "name": "app",
            "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}],
        }
    ]


def test_a_go_slice_type_is_its_list():
    spec = delimited(3, "ann") + entry(5, "scopes", delimited(1, "read") + delimited(1, "write"))
    review = decode_protobuf(body("authorization.k8s.io/v1", "SubjectAccessReview", delimited(2, spec)))
    assert review["spec"] == {"user": "ann", "extra": {"scopes": ["read", "write"]}}


def test_delete_options_decode_in_any_group_version():
    options = number(1, 30) + delimited(4, "Foreground") + delimited(5, "All")
    assert decode_protobuf(body("apps/v1", "DeleteOptions", options)) == {
        "apiVersion": "apps/v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 30,
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    }


def test_a_body_without_the_magic_is_a_bad_request():
    error = error_of(b'{"kind":"Secret"}')
    assert error.code == 400 and "k8s\\x00" in error.message


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("apiextensions.k8s.io/v1", "CustomResourceDefinition"), ("v1", "Gadget"), ("apps/v9", "Deployment")],
)
def test_a_kind_without_a_schema_is_unsupported_media(api_version, kind):
    error = error_of(body(api_version, kind, b""))
    assert (error.code, error.reason) == (415, "UnsupportedMediaType") and kind in error.message


def test_a_body_naming_no_kind_or_an_encoding_is_refused():
    assert error_of(body("v1", "", b"")).code == 400
    encoded = body("v1", "Secret", b"") + delimited(3, "gzip")
    assert "gzip" in error_of(encoded).message


def test_wrong_wire_types_huge_lengths_and_long_varints_are_bad_requests():
    cases = {
        "wire type": body("v1", "ConfigMap", number(1, 5)),  # metadata as a number
        "past the end": b"k8s\x00" + varint(1 << 3 | 2) + varint(2**62),
        "10 bytes": b"k8s\x00" + b"\x08" + b"\xff" * 11,
        "not JSON": body("apps/v1", "ControllerRevision", delimited(2, delimited(1, b"[" * 100_000))),
        "out of range": body("v1", "Namespace", delimited(1, delimited(8, number(1, 2**62)))),
        "IntOrString": body("v1", "Service", delimited(2, delimited(1, delimited(4, number(1, 7))))),
        "wire type 3": b"k8s\x00" + varint(1 << 3 | 3),
    }
    for words, data in cases.items():
        error = error_of(data)
        assert error.code == 400 and words in error.message, (words, error.message)


def test_every_truncation_of_a_real_body_decodes_or_is_a_bad_request():
    for end in range(len(KUBECTL_SECRET)):
        try:
            decode_protobuf(KUBECTL_SECRET[:end])
        except ApiError as e:
            assert e.code == 400


def test_random_and_mutated_bytes_never_crash_the_decoder():
    rng = random.Random(20260101)
    samples = [b"k8s\x00" + rng.randbytes(rng.randrange(64)) for _ in range(3000)]
    for _ in range(3000):
        mutated = bytearray(KUBECTL_SECRET)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(4, len(mutated))] = rng.randrange(256)
        samples.append(bytes(mutated))
    for data in samples:
        try:
            decode_protobuf(data)
        except ApiError as e:
            assert e.code in (400, 415)
