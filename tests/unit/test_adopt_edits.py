"""The one-line edits adopting drift writes: the field found by its managedFields path, the file kept as it was."""

from __future__ import annotations

import yaml

from gitopsctl.source.adopt import edit as edit_spot
from gitopsctl.source.adopt import find, written

DEPLOYMENT = """\
# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2  # raised for the sale
  template:
    spec:
      containers:
        - name: web
          image: "registry.local/web:v1"
          env:
            - {name: MODE, value: 'fast'}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: other
spec:
  replicas: 9
"""
REPLICAS = ("f:spec", "f:replicas")
MODE = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}', "f:env", 'k:{"name":"MODE"}', "f:value")


def changed(before: str, after: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]


def test_the_field_of_the_named_object_is_changed_on_its_line_with_its_comment_kept():
    (spot,) = find("web.yaml", DEPLOYMENT, "Deployment", "web", REPLICAS)
    after = edit_spot(DEPLOYMENT, spot, 5)
    assert changed(DEPLOYMENT, after) == [
        ("  replicas: 2  # raised for the sale", "  replicas: 5  # raised for the sale")
    ]
    assert list(yaml.safe_load_all(after))[1]["spec"]["replicas"] == 9


def test_a_keyed_list_item_in_flow_style_keeps_its_quotes():
    (spot,) = find("web.yaml", DEPLOYMENT, "Deployment", "web", MODE)
    after = edit_spot(DEPLOYMENT, spot, "safe")
    assert changed(DEPLOYMENT, after) == [
        ("            - {name: MODE, value: 'fast'}", "            - {name: MODE, value: 'safe'}")
    ]


def test_a_string_that_would_read_as_another_type_is_quoted():
    assert [written(v) for v in ("true", "5", "null", "v1.2", "a: b", 5, False, 0.5)] == [
        '"true"',
        '"5"',
        '"null"',
        "v1.2",
        '"a: b"',
        "5",
        "false",
        "0.5",
    ]
    (spot,) = find("web.yaml", DEPLOYMENT, "Deployment", "web", MODE)
    after = edit_spot(DEPLOYMENT, spot, "it's")
    assert (
        yaml.safe_load_all(after).__next__()["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "it's"
    )


def test_a_kustomizations_replicas_entry_holds_the_count():
    text = "resources:\n  - ../base\nreplicas:\n  - name: web\n    count: 1\n  - name: api\n    count: 4\n"
    (spot,) = find("kustomization.yaml", text, "Deployment", "web", REPLICAS)
    assert changed(text, edit_spot(text, spot, 3)) == [("    count: 1", "    count: 3")]


def test_what_one_line_cannot_say_is_not_found():
    anchored = "kind: Deployment\nmetadata:\n  name: web\nspec: &shared\n  replicas: 2\n"
    block = "kind: ConfigMap\nmetadata:\n  name: web\ndata:\n  script: |\n    echo hi\n"
    assert find("a.yaml", anchored, "Deployment", "web", REPLICAS) == []
    assert find("b.yaml", block, "ConfigMap", "web", ("f:data", "f:script")) == []
    assert find("c.yaml", "not: [valid", "Deployment", "web", REPLICAS) == []
    assert find("d.yaml", DEPLOYMENT, "Deployment", "renamed-web", REPLICAS) == []
