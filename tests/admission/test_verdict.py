"""The plan's verdict binds the webhook, per bridge: a refused bridge injects nothing, a sound one goes on."""

from __future__ import annotations

from apibridge.admission.mutate import admit
from apibridge.admission.snapshot import Snapshot
from apibridge.model.cluster import Cluster
from apibridge.model.load import load_documents, parse_text

from .support import EXAMPLES, INGRESS, pod, review

# tenant-b's bridge with a CIDR that holds the API ClusterIP (AB014): check and render refuse it
BAD_B = """
apiVersion: apibridge.dev/v1alpha1
kind: ApiBridge
metadata: {name: tenant-b}
spec: {vpc: tenant-b, cidrBlock: 10.96.0.0/24}
"""


def _snapshot() -> Snapshot:
    docs = [
        d
        for d in load_documents([str(EXAMPLES / "cluster.yaml"), str(EXAMPLES / "bridges.yaml")])
        if not (d.body.get("kind") == "ApiBridge" and d.body["metadata"]["name"] == "tenant-b")
    ]
    return Snapshot.build(Cluster.from_documents([*docs, *parse_text(BAD_B, "bad")]))


def test_a_refused_bridge_injects_nothing_and_the_answer_names_no_bridge() -> None:
    outcome = admit(_snapshot(), review(pod("tenant-b"), namespace="tenant-b"))
    assert outcome.result == "refused"
    assert outcome.review is not None
    response = outcome.review["response"]
    assert response["allowed"] is True and "patch" not in response
    assert "tenant-b" not in str(response["warnings"])  # names neither the bridge nor its objects


def test_a_sound_bridge_beside_it_still_injects() -> None:
    outcome = admit(_snapshot(), review(pod(labels=INGRESS), namespace="ingress-nginx"))
    assert outcome.result == "mutated"
