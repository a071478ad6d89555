"""Pods grouped by (namespace, labels, annotations): the unit of per-pod work in ``check``.

Placement, bridge selection, the mutation and every annotation rule depend only on a pod's namespace,
labels and annotations. The model shares equal label and annotation maps between pods
(``objects.parse_podlike``), so pods stamped from one template are recognised by identity here, and a rule
works each group out once instead of once per pod (100,000 pods are a few thousand groups in a cluster
dump). A group holds its pods, so an ``id`` in the key cannot be reused while the groups live.
"""

from __future__ import annotations

from collections.abc import Iterable

from apibridge.model.objects import PodLike

# groups in the order of their first pod; each group's pods in input order
PodGroups = list[list[PodLike]]


def group_pods(pods: Iterable[PodLike]) -> PodGroups:
    """``pods`` grouped by (namespace, labels, annotations), by the identity of the shared maps."""
    groups: dict[tuple[str, int, int], list[PodLike]] = {}
    for pod in pods:
        key = (pod.namespace, id(pod.labels), id(pod.annotations))
        members = groups.get(key)
        if members is None:
            groups[key] = [pod]
        else:
            members.append(pod)
    return list(groups.values())
