"""The annotation keys a mutation writes come from one place (``rules.mutation_keys``), and every memo keys on them."""

from __future__ import annotations

from apibridge.admission.snapshot import Snapshot
from apibridge.kubeovn import rules
from apibridge.plan.mutation import pod_mutation

from .support import INGRESS, make_cluster


def test_every_key_the_mutation_writes_is_a_mutation_key() -> None:
    snap = Snapshot.build(make_cluster())
    for bridge_plan in snap.plan.bridges.values():
        written = pod_mutation({}, "ingress-nginx", bridge_plan)
        assert set(written) == set(rules.mutation_keys(bridge_plan.provider))


def test_the_webhook_memo_tells_pods_apart_by_every_mutation_key() -> None:
    """A pod that already carries one of the keys must not get the memoised answer of a pod without it."""
    snap = Snapshot.build(make_cluster())
    bridge_plan = snap.plan.bridges["tenant-a"]
    from apibridge.admission.mutate import pod_of
    from apibridge.admission.review import read_request

    from .support import pod, review

    bare = pod_of(read_request(review(pod(labels=INGRESS))))
    first = snap.changes(bridge_plan, bare)
    for key in rules.mutation_keys(bridge_plan.provider):
        carrying = pod_of(read_request(review(pod(labels=INGRESS, annotations={key: first[key]}))))
        assert key not in snap.changes(bridge_plan, carrying), key
