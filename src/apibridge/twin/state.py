"""Where a lab lives and what it remembers between commands.

``lab up``, ``verify``, ``trace``, ``exec``, ``status`` and ``down`` are separate processes, and
``down`` must work even after a crash. So everything a lab owns is derivable from its *name*: the
state directory (``$APIBRIDGE_LAB_DIR/<name>``, default ``/run/apibridge/lab/<name>``) and the
namespace prefix ``ab-<name>.`` (the dot cannot occur in a lab name, so lab ``a`` never claims lab
``a-b``'s namespaces). The record (``lab.json``) adds what cannot be derived: the input snapshot it
was built from (``input.json``, so later commands see exactly what ``up`` saw), the addresses
handed out (so a reconcile keeps them), per-pod fingerprints (so a reconcile recreates only pods
whose wiring changed), the failures and the skipped routes, and whether the last build completed
(a record is written when ``up`` starts and again when it ends).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from apibridge.base.errors import InputError, Location
from apibridge.twin.ovn.topology import Allocation

DEFAULT_BASE = Path("/run/apibridge/lab")
ENV_DIR = "APIBRIDGE_LAB_DIR"
DEFAULT_NAME = "default"
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$")
RECORD_VERSION = 1


@dataclass(frozen=True)
class LabPlace:
    """A lab's name, state directory and namespace prefix."""

    name: str
    root: Path

    @property
    def prefix(self) -> str:
        return f"ab-{self.name}."

    @property
    def record_file(self) -> Path:
        return self.root / "lab.json"

    @property
    def input_file(self) -> Path:
        return self.root / "input.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def run_dir(self) -> Path:
        """Pidfiles, logs and sockets of the lab's own servers (hub, API server stand-ins)."""
        return self.root / "run"

    @property
    def kube_dir(self) -> Path:
        """A ``lab up --kube`` lab's control plane (certificates, etcd, kubeconfigs); absent otherwise."""
        return self.root / "kube"

    @property
    def ca_file(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def marker(self) -> str:
        return f"{self.root.resolve()}/"

    def pod_netns(self, namespace: str, pod: str) -> str:
        return f"{self.prefix}{namespace}_{pod}"

    def node_netns(self, node: str) -> str:
        return f"{self.prefix}node.{node}"

    @property
    def outside_netns(self) -> str:
        """The network beyond the nodes (``twin/ovn/outside.py``): no ``_`` (pods) and no ``node.`` (nodes)."""
        return f"{self.prefix}outside"


def locate(name: str = DEFAULT_NAME, base: Path | None = None) -> LabPlace:
    """The place of lab ``name`` (``InputError`` for a name we could not turn into namespace names)."""
    if not _NAME.match(name):
        raise InputError(
            f"invalid lab name {name!r}: 1-24 characters of a-z, 0-9 and '-', alphanumeric at both ends",
            Location(field="--name"),
        )
    if base is None:
        env = os.environ.get(ENV_DIR, "").strip()
        base = Path(env) if env else DEFAULT_BASE
    return LabPlace(name, base.absolute() / name)


@dataclass
class PodRecord:
    ref: str  # ns/name, or node/<name>
    netns: str
    fingerprint: str
    host_ifnames: list[str]
    tcp: list[int] = field(default_factory=list)
    udp: list[int] = field(default_factory=list)
    host_routes: list[str] = field(default_factory=list)  # nodes: "<dst> via <gw>" on ovn0, updated in place


@dataclass
class ApiServerRecord:
    node: str
    netns: str
    pid: int
    pidfile: str
    port: int
    sans: list[str]


@dataclass
class LabRecord:
    name: str
    inputs: list[str] = field(default_factory=list)
    created: float = 0.0
    updated: float = 0.0
    allocations: dict[str, list[Any]] = field(default_factory=dict)  # lsp -> [switch, [addresses]]
    pods: dict[str, PodRecord] = field(default_factory=dict)  # ref -> record (nodes as node/<name>)
    failures: dict[str, str] = field(default_factory=dict)  # ref -> Kube-OVN's message
    skipped_routes: dict[str, list[str]] = field(default_factory=dict)  # ref -> "net1: dst via gw: why"
    apiservers: dict[str, ApiServerRecord] = field(default_factory=dict)
    hub_pid: int | None = None
    acl_fingerprint: str = ""  # of the ACL set last checked for OVN compile errors
    acl_errors: list[str] = field(default_factory=list)
    outside: str = ""  # fingerprint of the namespace beyond the nodes, "" when there is none
    assumptions: list[list[str]] = field(default_factory=list)
    # ``lab up --service-cidr``: the API ClusterIP of an input without the kubernetes Service (kept on reconcile)
    service_cidrs: list[str] = field(default_factory=list)
    build_started: float = 0.0  # when the last ``lab up`` began
    build_completed: float = 0.0  # when it finished; 0: it did not (killed, failed) — the next up rebuilds
    version: int = RECORD_VERSION

    def previous(self) -> dict[str, Allocation]:
        return {lsp: Allocation(str(v[0]), tuple(str(a) for a in v[1])) for lsp, v in self.allocations.items()}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LabRecord:
        raw = json.loads(text)
        pods = {k: PodRecord(**v) for k, v in raw.pop("pods", {}).items()}
        apis = {k: ApiServerRecord(**v) for k, v in raw.pop("apiservers", {}).items()}
        known = {f for f in cls.__dataclass_fields__}
        if "build_completed" not in raw:  # a record from before builds were tracked was written at the end of one
            raw["build_completed"] = raw.get("updated", 0.0)
        return cls(**{k: v for k, v in raw.items() if k in known}, pods=pods, apiservers=apis)


def read_record(place: LabPlace) -> LabRecord | None:
    try:
        return LabRecord.from_json(place.record_file.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_record(place: LabPlace, record: LabRecord) -> None:
    place.root.mkdir(parents=True, exist_ok=True)
    tmp = place.record_file.with_name(".lab.json.tmp")
    tmp.write_text(record.to_json())
    os.replace(tmp, place.record_file)
