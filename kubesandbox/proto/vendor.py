"""Re-vendor Kubernetes' generated.proto files, and write go_fields.txt: what they leave out of the Go structs.

Run from the repository root with clones of kubernetes/api and kubernetes/apimachinery:

    python kubesandbox/proto/vendor.py API_REPO APIMACHINERY_REPO

Three things the .proto files do not say change the JSON of a decoded message:

- ``pointer``: a scalar that is a Go pointer. Go writes every non-pointer scalar,
  zero or not, but a pointer only when set, so only a pointer's zero on the wire
  is a value (``replicas: 0``); JSON's omitempty drops the other zeros.
- ``always``: a non-pointer scalar without omitempty, whose zero JSON does write
  (``PodDisruptionBudgetStatus.currentHealthy: 0``).
- ``inline``: an embedded struct with no JSON name (``json:""``), a message of its
  own on the wire whose fields JSON puts in its parent's (``IngressRule.http``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

API_GROUPS = (
    "core/v1",
    "apps/v1",
    "batch/v1",
    "rbac/v1",
    "networking/v1",
    "policy/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "coordination/v1",
    "scheduling/v1",
    "authentication/v1",
    "authorization/v1",
)
APIMACHINERY_DIRS = ("pkg/apis/meta/v1", "pkg/runtime", "pkg/util/intstr", "pkg/api/resource", "pkg/runtime/schema")
HERE = Path(__file__).parent
STRUCT = re.compile(r"^type (\w+) struct \{")
# a struct field, or an embedded one (no name, just its type), with its json and protobuf tags
GO_FIELD = re.compile(r'^\s+\*?([\w.]+)(?:\s+(\*?[\w.\[\]]+))?\s+`(?:json:"([^"]*)")?[^`]*protobuf:"([^"]*)"')
PROTO_MESSAGE = re.compile(r"^message (\w+) \{")
PROTO_SCALAR_FIELD = re.compile(r"^\s+optional (?:bool|string|int32|int64) (\w+) = ")


def git_show(repo: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "show", f"HEAD:{path}"], capture_output=True, text=True, check=True
    ).stdout


def proto_scalars(proto: str) -> set[tuple[str, str]]:
    """(message, field) for each singular scalar field of a .proto file."""
    found, message = set(), None
    for line in proto.splitlines():
        if match := PROTO_MESSAGE.match(line):
            message = match.group(1)
        elif message and (match := PROTO_SCALAR_FIELD.match(line)):
            found.add((message, match.group(1)))
    return found


def go_fields(repo: str, directory: str, proto: str) -> list[str]:
    """``how package.Message.field`` for each field of ``directory``'s Go structs whose JSON the .proto cannot tell."""
    package = re.search(r"^package ([\w.]+);", proto, re.MULTILINE).group(1)
    scalars = proto_scalars(proto)
    listing = subprocess.run(
        ["git", "-C", repo, "ls-tree", "--name-only", "HEAD", f"{directory}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found = []
    for path in listing:
        if not path.endswith(".go") or path.endswith("_test.go") or "generated" in path:
            continue
        struct = None
        for line in git_show(repo, path).splitlines():
            if match := STRUCT.match(line):
                struct = match.group(1)
            elif line.startswith("}"):
                struct = None
            elif struct and (match := GO_FIELD.match(line)):
                go_name, go_type, json_tag, protobuf_tag = match.groups()
                json_name, *json_options = (json_tag or "").split(",")
                named = re.search(r"name=(\w+)", protobuf_tag)
                # with no name= the protobuf name is the Go name's, here an embedded field's type
                type_name = go_name.rpartition(".")[2]
                name = named.group(1) if named else type_name[0].lower() + type_name[1:]
                field = f"{package}.{struct}.{name}"
                embedded_unnamed = go_type is None and json_tag is not None and json_name == ""
                if embedded_unnamed:  # Go's JSON puts its fields in the parent's
                    found.append(f"inline {field}")
                elif go_type and (struct, name) in scalars:
                    if go_type.startswith("*"):
                        found.append(f"pointer {field}")
                    elif "omitempty" not in json_options:
                        found.append(f"always {field}")
    return found


def main(api_repo: str, apimachinery_repo: str) -> None:
    sources = [(api_repo, f"k8s.io/api/{g}", g) for g in API_GROUPS]
    sources += [(apimachinery_repo, f"k8s.io/apimachinery/{d}", d) for d in APIMACHINERY_DIRS]
    lines = []
    for repo, import_path, directory in sources:
        text = git_show(repo, f"{directory}/generated.proto")
        target = HERE / import_path / "generated.proto"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        lines += go_fields(repo, directory, text)
    (HERE / "go_fields.txt").write_text("\n".join(sorted(set(lines))) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
