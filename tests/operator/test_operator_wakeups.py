"""The controller wakes for changes a plan or a drift verdict can see, and not for status churn."""

from __future__ import annotations

import copy

from opkit import bridge, pod

from apibridge.operator.controller import Controller
from apibridge.operator.process.metrics import Metrics


def controller() -> Controller:
    return Controller(client=None, metrics=Metrics())  # type: ignore[arg-type]  # no API calls here


def woke(c: Controller) -> bool:
    was = c._wake.is_set()
    c._wake.clear()
    return was


def test_wakes_on_change_not_on_repeats_or_status() -> None:
    c = controller()
    b = bridge("tenant-a")
    b["metadata"]["resourceVersion"] = "1"
    c.notify(None, b)
    assert woke(c)
    c.notify("MODIFIED", b)
    assert not woke(c)
    with_status = copy.deepcopy(b)
    with_status["status"] = {"podsInjected": 3}
    with_status["metadata"]["resourceVersion"] = "2"
    c.notify("MODIFIED", with_status)  # our own status write coming back
    assert not woke(c)
    changed = copy.deepcopy(with_status)
    changed["spec"]["isolation"] = "open"
    c.notify("MODIFIED", changed)
    assert woke(c)
    c.notify("DELETED", changed)
    assert woke(c)


def test_pod_phase_and_annotations_matter_but_pod_ips_do_not() -> None:
    c = controller()
    p = pod("x")
    p["status"] = {"phase": "Pending"}
    c.notify(None, p)
    assert woke(c)
    p2 = copy.deepcopy(p)
    p2["status"]["podIP"] = "10.0.1.9"
    c.notify("MODIFIED", p2)
    assert not woke(c)
    p2["status"]["phase"] = "Succeeded"
    c.notify("MODIFIED", p2)
    assert woke(c)
    p2["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = "kube-system/x"
    c.notify("MODIFIED", p2)
    assert woke(c)


def test_node_heartbeats_do_not_wake() -> None:
    c = controller()
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
            "conditions": [{"type": "Ready", "lastHeartbeatTime": "t1"}],
        },
    }
    c.notify(None, node)
    assert woke(c)
    node["status"]["conditions"][0]["lastHeartbeatTime"] = "t2"
    c.notify("MODIFIED", node)
    assert not woke(c)
    node["status"]["addresses"][0]["address"] = "172.18.0.3"
    c.notify("MODIFIED", node)
    assert woke(c)
