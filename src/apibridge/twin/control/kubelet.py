"""The twin as the kubelet and CNI of a ``lab up --kube`` lab's nodes: one host process for all of them.

What a node of a Kube-OVN cluster does for the API server, this agent does for the lab's nodes:

* registers each Node (its labels, taints and addresses from the lab's input), with capacity,
  allocatable, ``nodeInfo`` and a Ready condition, and keeps it Ready: a Lease in ``kube-node-lease``
  renewed every 10 s and the status' heartbeat every minute, as the kubelet does (the node lifecycle
  controller taints a node whose Lease stops);
* watches what the twin's model is made of (Pods, Services, EndpointSlices, Namespaces, Kube-OVN's Vpcs
  and Subnets, NADs, ApiBridges) and, on every change, reconciles the twin to the API server's state
  with :meth:`Lab.up <apibridge.twin.lab.Lab.up>` — the same incremental reconcile as ``lab up`` on a
  file: a new pod bound to a lab node becomes a network namespace wired as kube-ovn-cni wires it, a
  deleted one goes;
* reports each realized pod as kube-ovn-controller, Multus and the kubelet would: the annotations
  ``ovn.kubernetes.io/allocated``, ``ip_address``, ``mac_address``, ``cidr``, ``gateway``,
  ``logical_switch``, ``routed`` (and the same under each attachment's provider), Multus'
  ``k8s.v1.cni.cncf.io/network-status``, then the status: Running, Ready, ``podIPs``, ``hostIP``;
* finishes a graceful deletion (``deletionTimestamp``) once the pod's namespace is gone, as the kubelet
  does by deleting with grace period 0.

The twin still programs OVN from its own model (``admitted`` mode: pods as the API server admitted
them, bridges' objects only once the operator created them), not through a Kube-OVN controller.
Run as ``python -m apibridge.twin.control.kubelet --state DIR`` by ``lab up --kube``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from apibridge.kubeovn import rules
from apibridge.twin.control.cluster import AGENT, KubePlace
from apibridge.twin.control.kubeapi import JSON, Informer, KubeApi, KubeApiError, Resource
from apibridge.twin.kubeovn import cni, engine
from apibridge.twin.lab import Lab
from apibridge.twin.ovn.topology import LspNic, TwinPod
from apibridge.twin.pods.nsock import socket_in
from apibridge.twin.state import LabPlace

log = logging.getLogger("apibridge.twin.kubelet")

PODS = Resource("v1", "pods", True)
NODES = Resource("v1", "nodes", False)
LEASES = Resource("coordination.k8s.io/v1", "leases", True)
# what the twin's model is made of, besides the Nodes of the lab's own input
WATCHED = (
    PODS,
    Resource("v1", "namespaces", False),
    Resource("v1", "services", True),
    Resource("discovery.k8s.io/v1", "endpointslices", True),
    Resource(rules.KUBEOVN_API, "vpcs", False),
    Resource(rules.KUBEOVN_API, "subnets", False),
    Resource(rules.NAD_API, "network-attachment-definitions", True),
    Resource(rules.APIBRIDGE_API, "apibridges", False),
    Resource(rules.NETWORKING_API, "networkpolicies", True),  # Kube-OVN programs them (twin/ovn/netpol.py)
)
KIND_OF = rules.API_RESOURCES
LEASE_SECONDS = 40
RENEW_EVERY = 10.0
HEARTBEAT_EVERY = 60.0
DEBOUNCE = 0.02
TRIM_IDLE = 5.0  # seconds without a pass before the OVSDB servers are compacted
TRIM_EVERY = 120.0  # ... or at least this often while passes never stop
KUBELET_VERSION = "v1.36.3"
CAPACITY = {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
MANAGER = "apibridge-twin-kubelet"
PATCH_WORKERS = 16  # pod reports in flight (each thread keeps its own connection)


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def nodes_file(kp: KubePlace) -> Path:
    return kp.root / "nodes.json"


def snapshot_file(kp: KubePlace) -> Path:
    return kp.root / "cluster.json"


# --- what the agent writes -----------------------------------------------------------------------------------------
def node_object(node: Mapping[str, Any]) -> JSON:
    """The Node as the kubelet registers it (labels and taints of the lab's input)."""
    meta = node.get("metadata") or {}
    name = str(meta["name"])
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        **(meta.get("labels") or {}),
    }
    spec = {k: v for k, v in (node.get("spec") or {}).items() if k in ("taints", "podCIDR", "podCIDRs")}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": spec}


def node_status(node: Mapping[str, Any]) -> JSON:
    name = str((node.get("metadata") or {})["name"])
    addresses = list((node.get("status") or {}).get("addresses") or [])
    if not any(a.get("type") == "Hostname" for a in addresses):
        addresses.append({"type": "Hostname", "address": name})
    stamp = now()
    conditions = [
        {"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": m, "lastHeartbeatTime": stamp,
         "lastTransitionTime": stamp}
        for t, r, m in (
            ("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"),
        )
    ]  # fmt: skip
    conditions.append({
        "type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "the apibridge twin realizes this node's pods", "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    })  # fmt: skip
    return {
        "status": {
            "addresses": addresses,
            "capacity": dict(CAPACITY),
            "allocatable": dict(CAPACITY),
            "conditions": conditions,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": hashlib.md5(name.encode()).hexdigest(),
                "systemUUID": hashlib.md5(name.encode()).hexdigest(),
                "bootID": hashlib.md5(f"{name}{time.time()}".encode()).hexdigest(),
                "kernelVersion": "",
                "osImage": "apibridge OVN twin",
                "containerRuntimeVersion": "apibridge-twin://1",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
    }


def _ips(nic: LspNic) -> list[str]:
    return [str(ip) for ip in nic.ips]


def pod_annotations(pod: TwinPod, cidrs: Mapping[str, str]) -> dict[str, str]:
    """What kube-ovn-controller (allocation, ``routed``) and Multus (``network-status``) write on a pod."""
    out: dict[str, str] = {}
    status: list[JSON] = []
    for nic in pod.nics:
        provider = rules.OVN_PROVIDER if nic.provider == rules.OVN_PROVIDER else rules.subnet_provider(nic.provider)
        values = {
            rules.ALLOCATED: "true",
            rules.ROUTED: "true",
            rules.IP_ADDRESS: ",".join(_ips(nic)),
            rules.MAC_ADDRESS: nic.mac,
            rules.CIDR: cidrs.get(nic.switch, ""),
            rules.GATEWAY: ",".join(str(g) for g in nic.gateways),
            rules.LOGICAL_SWITCH: nic.switch,
        }
        for key, value in values.items():
            out[rules.provider_key(provider, key)] = value
        if nic.ifname == rules.PRIMARY_IFNAME:
            out[rules.provider_key(rules.OVN_PROVIDER, "pod_nic_type")] = "veth-pair"
            status.append({"name": "kube-ovn", "interface": nic.ifname, "ips": _ips(nic), "mac": nic.mac,
                           "default": True, "dns": {}, "gateway": [str(g) for g in nic.gateways]})  # fmt: skip
        else:
            nad = rules.nad_of_provider(rules.subnet_provider(nic.provider))
            name = f"{nad[1]}/{nad[0]}" if nad else nic.provider
            status.append({"name": name, "interface": nic.ifname, "ips": _ips(nic), "mac": nic.mac, "dns": {}})
    out[rules.NETWORK_STATUS_ANNOTATION] = json.dumps(status, indent=1)
    return out


def pod_status(pod: JSON, twin: TwinPod, host_ip: str) -> JSON:
    stamp = now()
    eth0 = twin.nic(rules.PRIMARY_IFNAME)
    ips = _ips(eth0) if eth0 else []
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = [
        {"name": c.get("name", ""), "ready": True, "started": True, "restartCount": 0, "image": c.get("image", ""),
         "imageID": "", "containerID": f"apibridge-twin://{twin.namespace}/{twin.name}/{c.get('name', '')}",
         "state": {"running": {"startedAt": stamp}}}
        for c in containers
    ]  # fmt: skip
    conditions = [
        {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    return {
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}] if host_ip else [],
            "podIP": ips[0] if ips else None,
            "podIPs": [{"ip": ip} for ip in ips],
            "startTime": ((pod.get("status") or {}).get("startTime")) or stamp,
            "containerStatuses": statuses,
        }
    }


def failed_status(message: str) -> JSON:
    stamp = now()
    return {
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
                {
                    "type": "PodReadyToStartContainers",
                    "status": "False",
                    "lastTransitionTime": stamp,
                    "reason": "FailedCreatePodSandBox",
                    "message": message,
                },
                {
                    "type": "Ready",
                    "status": "False",
                    "lastTransitionTime": stamp,
                    "reason": "ContainersNotReady",
                    "message": message,
                },
            ],
        }
    }


def slim(obj: JSON) -> JSON:
    """An object as the model needs it (no managedFields: they are most of the bytes)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


_STATUS_KEYS = (rules.NETWORK_STATUS_ANNOTATION,)
_REPORTED_SUFFIXES = tuple(
    f".kubernetes.io/{k}"
    for k in (rules.ALLOCATED, rules.ROUTED, rules.IP_ADDRESS, rules.MAC_ADDRESS, rules.CIDR, rules.GATEWAY)
)


def model_fingerprint(
    docs: Sequence[JSON],
    written: Mapping[str, Mapping[str, str]] | None = None,
    parts: dict[str, str] | None = None,
    *,
    controller_annotations: bool = False,
) -> str:
    """What the twin is built from, without statuses, versions and the annotations this agent writes: a pod's
    status report must not make the twin reconcile again. ``written`` (pod uid -> the annotations this agent
    wrote on it) leaves out the rest of what it wrote on a realized pod — ``logical_switch``, ``pod_nic_type``:
    as in Kube-OVN, a pod's network annotations are read at allocation, and the no-op pass over the whole lab
    that each report caused cost 0.15-0.4 s per pod. ``controller_annotations`` (the kube-ovn engine): the
    allocation annotations are kube-ovn-controller's, and what the twin is wired from."""
    digest = hashlib.sha256()
    written = written or {}
    for doc in docs:
        meta = doc.get("metadata") or {}
        ours = written.get(str(meta.get("uid"))) or {} if doc.get("kind") == "Pod" else {}
        annotations = {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if k not in _STATUS_KEYS
            and (controller_annotations or not (doc.get("kind") == "Pod" and k.endswith(_REPORTED_SUFFIXES)))
            and k not in ours
        }
        body = {
            "kind": doc.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "labels": meta.get("labels"),
            "annotations": annotations,
            "spec": doc.get("spec"),
            "rest": {k: v for k, v in doc.items() if k not in ("metadata", "spec", "status")},
            "status": doc.get("status") if doc.get("kind") in ("Node", "Subnet") else None,
        }
        digest.update(json.dumps(body, sort_keys=True, default=str).encode())
        if parts is not None:
            parts[f"{doc.get('kind')}/{meta.get('namespace') or ''}/{meta.get('name')}"] = hashlib.sha256(
                json.dumps(body, sort_keys=True, default=str).encode()
            ).hexdigest()
    return digest.hexdigest()


# --- the agent ------------------------------------------------------------------------------------------------------
class Agent:
    def __init__(self, place: LabPlace) -> None:
        self.place = place
        self.kp = KubePlace(place)
        settings = self.kp.settings()
        self.api = KubeApi(settings.url, place.ca_file, self.kp.token(AGENT))
        self.nodes: list[JSON] = json.loads(nodes_file(self.kp).read_text())
        self.node_names = {str(n["metadata"]["name"]) for n in self.nodes}
        self.host_ips = {
            str(n["metadata"]["name"]): next(
                (a["address"] for a in (n.get("status") or {}).get("addresses") or [] if a.get("type") == "InternalIP"),
                "",
            )
            for n in self.nodes
        }
        self.changed = threading.Event()
        self.stopping = threading.Event()
        self.engine = engine.read(place)
        watched = (*WATCHED, NODES) if self.engine.kube_ovn else WATCHED  # kube-ovn: the controller's node annotations
        self.informers = {r.plural: Informer(self.api, r, self.changed.set) for r in watched}
        self.reported: dict[str, str] = {}  # pod uid -> fingerprint of what we reported
        self.written: dict[str, dict[str, str]] = {}  # pod uid -> the annotations we wrote on it
        # Pod reports (gateway check, annotations, status) run here, not in the reconcile pass: the next pass
        # (a burst's later pods) starts while the earlier pods' reports are in flight, as kubelets on many
        # nodes would report in parallel.
        self.reports = ThreadPoolExecutor(max_workers=PATCH_WORKERS, thread_name_prefix="report")
        self.untrimmed = False  # a pass ran since the OVSDB servers were last compacted
        self.last_pass = self.last_trim = time.monotonic()  # when the last pass ended, when the servers were trimmed
        self.last_model = ""  # fingerprint of the documents the twin was last reconciled to
        self.last_parts: dict[str, str] = {}  # the same per object (``kind/namespace/name``): what changed
        self.lab = Lab(place)

    # ---- nodes ----
    def register(self) -> None:
        seeds: dict[str, dict[str, str]] = {}
        if self.engine.kube_ovn:
            # a chassis per node, each found by kube-ovn-controller through its hostname, the Node's name
            chassis = {c.node: c.name for c in self.lab.daemons.all_chassis if c.node}
            for twin in self.lab.desired().topology.nodes:
                seeds[twin.name] = cni.node_seed(twin, chassis.get(twin.name))
        for node in self.nodes:
            name = str(node["metadata"]["name"])
            body = node_object(node)
            if name in seeds:
                body["metadata"]["annotations"] = seeds[name]
            self.api.apply(NODES, body, manager=MANAGER)
            self.api.merge_patch(NODES, name, node_status(node), sub="status")
        self.renew()

    def renew(self) -> None:
        for name in sorted(self.node_names):
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": micro_now()},
            }
            try:
                self.api.apply(LEASES, lease, manager=MANAGER)
            except KubeApiError as exc:
                log.warning("renewing the Lease of node %s: %s", name, exc)

    def heartbeat_loop(self) -> None:
        last_status = time.monotonic()
        while not self.stopping.wait(RENEW_EVERY):
            self.renew()
            if time.monotonic() - last_status >= HEARTBEAT_EVERY:
                last_status = time.monotonic()
                for node in self.nodes:
                    try:
                        self.api.merge_patch(NODES, str(node["metadata"]["name"]), node_status(node), sub="status")
                    except KubeApiError as exc:
                        log.warning("node status: %s", exc)

    # ---- pods ----
    def snapshot(self) -> tuple[list[JSON], list[JSON]]:
        """(the model's documents, pods being deleted) from the informers' caches."""
        docs: list[JSON] = [{k: v for k, v in n.items()} for n in self.nodes]
        deleting: list[JSON] = []
        if "nodes" in self.informers:  # kube-ovn: the lab's Nodes with the annotations the controller wrote
            have = {str(o["metadata"]["name"]): o["metadata"].get("annotations") or {}
                    for o in self.informers["nodes"].items()}  # fmt: skip
            docs = [
                {**n, "metadata": {**n["metadata"], "annotations": have.get(str(n["metadata"]["name"]), {})}}
                for n in docs
            ]
        for plural, informer in self.informers.items():
            if plural == "nodes":
                continue
            api_version, kind = KIND_OF[plural]
            for obj in informer.items():
                obj = {**slim(obj), "apiVersion": api_version, "kind": kind}
                if plural == "pods":
                    spec = obj.get("spec") or {}
                    if spec.get("nodeName") not in self.node_names:
                        continue
                    if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                        continue
                    if (obj.get("metadata") or {}).get("deletionTimestamp"):
                        deleting.append(obj)
                        continue
                docs.append(obj)
        return docs, deleting

    def reconcile(self) -> None:
        docs, deleting = self.snapshot()
        parts: dict[str, str] = {}
        fingerprint = model_fingerprint(docs, self.written, parts, controller_annotations=self.engine.kube_ovn)
        if fingerprint == self.last_model and not deleting:
            return  # only statuses changed (our own reports among them): nothing the twin is made of
        self.last_model = fingerprint
        changed = sorted(k for k in {*parts, *self.last_parts} if parts.get(k) != self.last_parts.get(k))
        self.last_parts = parts
        log.info("model changed: %s%s", ", ".join(changed[:6]), f" (+{len(changed) - 6})" if len(changed) > 6 else "")
        path = snapshot_file(self.kp)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}, default=str))
        tmp.replace(path)
        t0 = time.monotonic()
        report = self.lab.up([str(path)], trim=False)  # trimmed once idle (``run``): not on a pod's path
        self.untrimmed, self.last_pass = True, time.monotonic()
        desired = self.lab.last
        log.info(
            "reconciled in %.3fs: +%d -%d ~%d pods (%s)", time.monotonic() - t0, len(report.added),
            len(report.removed), len(report.recreated), " ".join(f"{k} {v:.3f}" for k, v in report.timings.items()),
        )  # fmt: skip
        if desired is None:
            return
        fresh = {p.ref for p in desired.topology.pods if p.ref in {*report.added, *report.recreated} and not p.failure}
        cidrs = {s.name: ",".join(str(c) for c in s.cidrs) for s in desired.cluster.subnets.values()}
        patches: list[tuple[TwinPod, dict[str, str] | None, JSON]] = []
        by_ref = {
            f"{d['metadata'].get('namespace')}/{d['metadata']['name']}": d for d in docs if d.get("kind") == "Pod"
        }
        for twin in desired.topology.pods:
            pod = by_ref.get(twin.ref)
            if pod is None:
                continue
            uid = str(pod["metadata"].get("uid"))
            if twin.failure:
                fp = "failed:" + twin.failure
                if self.reported.get(uid) != fp:
                    patches.append((twin, None, failed_status(twin.failure)))
                    self.reported[uid] = fp
                continue
            annotations = pod_annotations(twin, cidrs)
            if self.engine.kube_ovn:  # the allocation is the controller's; Multus' network-status is ours
                annotations = {k: v for k, v in annotations.items() if k in _STATUS_KEYS}
            fp = hashlib.sha256(json.dumps(annotations, sort_keys=True).encode()).hexdigest()
            have = pod["metadata"].get("annotations") or {}
            running = (pod.get("status") or {}).get("phase") == "Running"
            if self.reported.get(uid) == fp or (running and all(have.get(k) == v for k, v in annotations.items())):
                self.reported[uid] = fp
                continue
            patches.append((twin, annotations, pod_status(pod, twin, self.host_ips.get(twin.node, ""))))
            self.reported[uid] = fp
            self.written[uid] = annotations
        # the reports first: the fingerprint below is a pass over every document (0.1-0.3 s with a hundred pods
        # under load) that the pods' Running need not wait for; the next pass starts only after it
        for reported_pod, written, status in patches:
            self.reports.submit(self._report, reported_pod, written, status, reported_pod.ref in fresh)
        if patches:  # what the twin is made of, seen as the next pass will see it once the reports are in
            self.last_model = model_fingerprint(docs, self.written, parts, controller_annotations=self.engine.kube_ovn)
            self.last_parts = parts
        for pod in deleting:
            meta = pod["metadata"]
            try:
                self.api.request(
                    "DELETE",
                    PODS.path(meta.get("namespace"), meta["name"]),
                    {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                     "preconditions": {"uid": meta.get("uid")}},
                )  # fmt: skip
            except KubeApiError as exc:
                if exc.status not in (404, 409):
                    log.warning("deleting pod %s/%s: %s", meta.get("namespace"), meta["name"], exc)
            self.reported.pop(str(meta.get("uid")), None)
            self.written.pop(str(meta.get("uid")), None)

    def _gateway_check(self, pod: TwinPod) -> None:
        """kube-ovn-cni's gateway check before the CNI ADD returns: one datagram towards each gateway from
        inside the pod, so its neighbour entries resolve now, against installed flows."""
        netns = self.place.pod_netns(pod.namespace, pod.name)
        for nic in pod.nics:
            for gw in nic.gateways:
                family = socket.AF_INET6 if gw.version == 6 else socket.AF_INET
                try:
                    with socket_in(netns, family, socket.SOCK_DGRAM) as sock:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, nic.ifname.encode())
                        sock.sendto(b"", (str(gw), 9))  # discard port: only the neighbour lookup matters
                except OSError as exc:
                    log.debug("gateway check %s %s: %s", pod.ref, gw, exc)

    def _report(self, twin: TwinPod, annotations: dict[str, str] | None, status: JSON, fresh: bool) -> None:
        """One pod's report: for a pod just wired, the gateway check first (kube-ovn-cni's, before the CNI ADD
        returns), then what the controllers and the kubelet write."""
        try:
            if fresh:
                self._gateway_check(twin)
            self._patch(twin, annotations, status)
            log.debug("reported pod %s", twin.ref)
        except Exception:  # a report thread must not die silently
            log.exception("reporting pod %s", twin.ref)

    def _patch(self, twin: TwinPod, annotations: dict[str, str] | None, status: JSON) -> None:
        # One write: the pods/status subresource takes metadata too (kube-apiserver's podStatusStrategy resets
        # only spec, deletionTimestamp and ownerReferences), so the controllers' annotations and the kubelet's
        # status go in one request — half the API writes of a burst, which queued behind each other.
        body = {**status, "metadata": {"annotations": annotations}} if annotations else status
        try:
            self.api.merge_patch(PODS, twin.name, body, twin.namespace, sub="status")
        except KubeApiError as exc:
            if exc.status != 404:
                log.warning("reporting pod %s: %s", twin.ref, exc)

    def _trim_when_due(self) -> None:
        """What ``Lab.up`` does after a build (compact the OVSDB servers), once no pass ran for ``TRIM_IDLE`` s —
        or, under changes that never settle, at least every ``TRIM_EVERY`` s."""
        at = time.monotonic()
        if self.untrimmed and (at - self.last_pass >= TRIM_IDLE or at - self.last_trim >= TRIM_EVERY):
            self.untrimmed = False
            self.last_trim = at
            self.lab.daemons.trim()

    def run(self) -> None:
        self.register()
        threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True).start()
        for informer in self.informers.values():
            informer.start()
        for plural in ("pods", "namespaces", "services", "endpointslices", "subnets", "vpcs"):
            self.informers[plural].synced.wait(60)
        ready = self.place.kube_dir / "agent.ready"
        first = True
        while not self.stopping.is_set():
            if not first:
                changed = self.changed.wait(1.0)
                self._trim_when_due()
                if not changed:
                    continue
            self.stopping.wait(DEBOUNCE)
            self.changed.clear()
            try:
                self.reconcile()
            except Exception:  # one failed pass must not end the node: log it, try again on the next change
                log.exception("reconcile failed")
                self.stopping.wait(1.0)
                self.changed.set()
                continue
            if first:
                ready.write_text(now())
                first = False
        self.reports.shutdown(wait=True)
        self.lab.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apibridge.twin.control.kubelet", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--state", type=Path, required=True, help="the lab's state directory")
    args = parser.parse_args(argv)
    level = logging.DEBUG if os.environ.get("APIBRIDGE_AGENT_DEBUG") else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    root: Path = args.state.resolve()
    agent = Agent(LabPlace(root.name, root))
    signal.signal(signal.SIGTERM, lambda *_: agent.stopping.set())
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
