"""AB214: a pod that intends the API server and will not reach it is an error, not a warning.

What the pod *intends* is ``apibridge.check.intent`` (the definition ``lab verify`` uses too);
whether it *will reach* the API server is what the routes rules worked out for the pod as
kube-ovn-cni would configure it (``PodAnalysis.api_families``: the families whose API ClusterIP a
route sends through an attachment on a default-VPC subnet). Where they disagree and no other
error already explains it, this finding names the evidence of intent and the missing path — the
case of a route written for another cluster's ClusterIP, one on eth0 of a custom VPC, or one under
a key kube-ovn-cni never reads. AB211 (an API attachment without an API route) is the same
verdict in its most common form, so it is an error too and this rule stays silent next to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from apibridge.kubeovn import rules

from ..findings import CODES
from ..intent import PodIntent

CODE = "AB214"


def unreached(
    intent: PodIntent, vpc: str | None, api_families: set[int], existing: Sequence[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    """(annotation key, message, hint) for each API ClusterIP the pod intends and will not reach.

    ``existing``: (code, field) of the pod's findings so far; any error among them already explains
    the pod's fate and silences this rule.
    """
    if vpc is None or vpc == rules.DEFAULT_VPC or not intent.api:
        return []
    if any(CODES[code].severity == "error" for code, _ in existing):
        return []
    out: list[tuple[str, str, str]] = []
    for want in intent.of_kind("api"):
        ip = want.network.network_address
        if ip.version in api_families:
            continue
        key = want.evidence or rules.NETWORKS_ANNOTATION
        out.append(
            (
                key,
                f"the pod intends the API server ({want.why}) but will not reach {ip}: no route sends it "
                f"through an attachment on a default-VPC subnet, and custom VPC {vpc} has no path of its own",
                f"route {ip}/{ip.max_prefixlen} via the gateway of the API attachment's subnet, "
                "or let an ApiBridge select the pod",
            )
        )
    return out
