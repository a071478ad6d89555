"""A pod the API server admitted without its bridge's mutation (the webhook was down, or bypassed) still
intends what the bridge gives: ``lab verify`` must fail on it, not expect the blocked path it has."""

from __future__ import annotations

from pathlib import Path

from apibridge.model.cluster import load_cluster
from apibridge.plan.planner import plan
from apibridge.twin.ovn.topology import build_topology

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apibridge"


def test_an_unmutated_pod_keeps_its_bridges_intent() -> None:
    cluster = load_cluster([str(EXAMPLE)])
    the_plan = plan(cluster)
    mutated = {p.ref: p for p in build_topology(cluster, the_plan).pods}
    admitted = {p.ref: p for p in build_topology(cluster, the_plan, admitted=True).pods}
    ref = next(r for r, p in mutated.items() if p.bridge and p.intent.api)  # a pod a bridge selects
    pod = admitted[ref]
    assert pod.bridge is None  # as admitted: no attachment, the bridge's mutation is not applied
    assert pod.intent.api, "the bridge still selects it: it intends the API server"
    assert all("admitted without the bridge's attachment" in w.why for w in pod.intent.wants)
