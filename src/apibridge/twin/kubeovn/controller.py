"""kube-ovn-controller (``.tools/bin/kube-ovn-controller``, scripts/tools.sh) for a kube lab.

It runs in the control-plane node's namespace, like the lab's kube-controller-manager, so its health and
metrics ports (``--pprof-port``, 10660) are the node's and two labs never collide; it reaches
kube-apiserver on that namespace's loopback and the lab's NB and SB ovsdb-servers on their unix sockets
(paths, not addresses: any namespace reaches them). Its flags are the lab's CIDRs, as the Kube-OVN chart
passes them (charts/kube-ovn/templates/controller-deploy.yaml, v1.16.2): ``--default-cidr``/
``--default-gateway`` of ``ovn-default``, ``--node-switch-cidr``/``--node-switch-gateway`` of ``join``,
``--service-cluster-ip-range`` of the API server. Its identity is the chart's: ServiceAccount
kube-system/ovn bound to ``system:ovn`` (:mod:`apibridge.twin.kubeovn.rbac`), its token from the
TokenRequest API when the lab is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.twin.control import cluster as cp
from apibridge.twin.ovn.daemons import LabPaths

PROCESS = "kube-ovn-controller"


@dataclass(frozen=True)
class ControllerSettings:
    default_cidr: str
    default_gateway: str
    join_cidr: str
    join_gateway: str
    service_cidr: str
    node: str  # KUBE_NODE_NAME: the node it runs on
    enable_lb: bool = True


def settings_for(cluster: Cluster, service_cidrs: list[str], node: str) -> ControllerSettings:
    """The controller's flags from the lab's model (the defaults it fills in for join and ovn-default)."""
    default = cluster.subnets[rules.DEFAULT_SUBNET]
    join = cluster.subnets[rules.JOIN_SUBNET]
    return ControllerSettings(
        ",".join(str(c) for c in default.cidrs),
        ",".join(str(g) for g in default.gateways),
        ",".join(str(c) for c in join.cidrs),
        ",".join(str(g) for g in join.gateways),
        ",".join(service_cidrs),
        node,
    )


CLUSTER_ROUTER = "ovn-cluster"  # --cluster-router's default (pkg/controller/config.go, v1.16.2)


def default_vpc() -> tuple[dict[str, Any], dict[str, Any]]:
    """The default Vpc and the status ``InitDefaultVpc`` gives it (pkg/controller/init.go, v1.16.2), created
    before the controller starts — the restart path of a cluster, where the Vpc exists already.

    Why: on a fresh start ``InitDefaultVpc`` creates the Vpc and sets ``status.standby``, while the Vpc's own
    handlers merge-patch the *whole* status from their informer's copy (``handleUpdateVpcStatus``,
    pkg/controller/vpc.go:188): when that copy predates InitDefaultVpc's update (seen under load on a 2-core
    machine), ``standby`` goes back to false, the ``join`` Subnet waits for a standby Vpc ("the vpc
    'ovn-cluster' not standby yet") and the Vpc waits for join's switch, for ever: init runs once per process.
    A Vpc that already has that status gives every cached copy ``standby: true``."""
    body = {"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": CLUSTER_ROUTER}, "spec": {}}
    status = {"standby": True, "default": True, "router": CLUSTER_ROUTER, "defaultLogicalSwitch": rules.DEFAULT_SUBNET}
    return body, {"status": status}


def argv(kp: cp.KubePlace, paths: LabPaths, s: ControllerSettings) -> list[str]:
    return [
        str(cp.find_tool(PROCESS)),
        f"--kubeconfig={kp.root / 'kube-ovn-controller.kubeconfig'}",
        f"--ovn-nb-addr={paths.nb_remote}",
        f"--ovn-sb-addr={paths.sb_remote}",
        f"--default-cidr={s.default_cidr}",
        f"--default-gateway={s.default_gateway}",
        f"--node-switch-cidr={s.join_cidr}",
        f"--node-switch-gateway={s.join_gateway}",
        f"--service-cluster-ip-range={s.service_cidr}",
        f"--enable-lb={str(s.enable_lb).lower()}",
        "--enable-np=true",
        "--enable-metrics=false",
        "--enable-eip-snat=false",
        "--keep-vm-ip=false",
        "--enable-live-migration-optimize=false",
        "--gc-interval=0",  # its GC also deletes what it does not know (a second controller's lab, our chassis)
        "--log_file_max_size=0",
        "--logtostderr=true",
        "--v=3",
    ]


def token_file(kp: cp.KubePlace) -> Path:
    """ServiceAccount kube-system/ovn's token (:mod:`apibridge.twin.kubeovn.rbac`), written when the lab is built."""
    return kp.root / "kube-ovn-controller.token"


def start(kp: cp.KubePlace, settings: cp.KubeSettings, paths: LabPaths, s: ControllerSettings) -> bool:
    """Start it unless it runs; True when started."""
    if cp.alive(kp, PROCESS):
        return False
    try:
        token = token_file(kp).read_text().strip()
    except OSError:
        raise RuntimeError(
            f"{token_file(kp)} is missing: the lab predates the controller's own identity; rebuild it "
            "(apibridge lab down, then lab up --kube --engine kube-ovn FILE...)"
        ) from None
    cp.write_kubeconfig(
        kp.root / "kube-ovn-controller.kubeconfig",
        f"https://127.0.0.1:{settings.port}",
        kp.lab.ca_file,
        token,
        "lab",
        "kube-system",
    )
    env = {
        "KUBECONFIG": str(kp.root / "kube-ovn-controller.kubeconfig"),  # controller-runtime's client reads this
        "KUBE_NODE_NAME": s.node,
        "POD_NAME": "kube-ovn-controller-lab",
        "POD_NAMESPACE": "kube-system",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    # Kube-OVN creates /var/log/kube-ovn/kube-ovn-controller.log or exits (util.InitLogFilePerm, pkg/util/log.go):
    # give it the lab's own /var/log, bound in the mount namespace `ip netns exec` makes for it alone
    varlog = kp.root / "var-log"
    (varlog / "kube-ovn").mkdir(parents=True, exist_ok=True)
    wrapped = ["sh", "-c", 'mount --bind "$0" /var/log && exec "$@"', str(varlog), *argv(kp, paths, s)]
    cp.spawn(kp, PROCESS, wrapped, netns=settings.netns, env=env)
    return True
