"""``lab up --kube --engine kube-ovn``: the real kube-ovn-controller (scripts/tools.sh builds it) programs
the lab's NB from the real kube-apiserver; the twin only plays kube-ovn-cni.

One lab for the module, on the seed's configuration plus an un-annotated pod: as with the model engine, the
ingress pod reaches the real API server and the un-annotated pod is blocked — here through the logical
network Kube-OVN itself built (docs/kube-ovn-engine.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from apibridge.twin.lab import Lab

from .conftest import assert_clean, data, example
from .test_kube_lab import KUBECTL, KubeLab

pytestmark = pytest.mark.ovn


@pytest.fixture(scope="module")
def kovn_lab() -> Iterator[KubeLab]:
    base = Path(tempfile.mkdtemp(prefix="abo-", dir="/tmp"))
    kl = KubeLab(base, f"to{uuid.uuid4().hex[:6]}")
    try:
        up = kl.run(
            "up", "--kube", "--engine", "kube-ovn", example("seed"), data("plain-pod.yaml"), "-o", "json", timeout=400
        )
        assert up.returncode == 0, up.stderr + up.stdout
        yield kl
    finally:
        settings = kl.lab.place.kube_dir / "settings.json"
        host_link = json.loads(settings.read_text())["host_ifname"] if settings.exists() else None
        down = kl.run("down")
        try:
            assert down.returncode == 0, down.stderr
            assert_clean(kl.lab)
            if host_link:
                links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
                assert host_link not in links
        finally:
            shutil.rmtree(base, ignore_errors=True)


def test_the_northbound_database_is_kube_ovn_controllers(kovn_lab: KubeLab) -> None:
    nb = f"unix:{kovn_lab.lab.daemons.paths.nb_remote.removeprefix('unix:')}"
    switches = subprocess.run(
        ["ovsdb-client", "dump", nb, "OVN_Northbound", "Logical_Switch_Port", "name", "external_ids"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert "vendor=kube-ovn" in switches and "node-kind-control-plane" in switches
    schema = subprocess.run(["ovsdb-client", "get-schema-version", nb], capture_output=True, text=True, check=True)
    assert schema.stdout.strip() == "7.11.0"  # Kube-OVN's schema, not Debian's 7.0.0


def test_pods_carry_the_controllers_allocation(kovn_lab: KubeLab) -> None:
    pod = kovn_lab.kubectl("get", "pods", "-n", "ingress-nginx", "-l", "app.kubernetes.io/name=ingress-nginx")
    annotations = pod["items"][0]["metadata"]["annotations"]
    provider = "api-ovn-nad.kube-system.ovn"
    assert annotations["ovn.kubernetes.io/logical_switch"] == "tenant-a-subnet"
    assert annotations[f"{provider}.kubernetes.io/logical_switch"] == "vpc-apiserver-subnet"
    assert annotations[f"{provider}.kubernetes.io/routed"] == "true"


def test_the_ingress_pod_reaches_the_real_api_server_and_the_unannotated_pod_is_blocked(kovn_lab: KubeLab) -> None:
    verify = kovn_lab.run("verify", "-o", "json")
    result = json.loads(verify.stdout)
    api = {p["from"].rsplit("-", 2)[0] if "controller" in p["from"] else p["from"]: p for p in result["probes"]
           if p["kind"] == "api"}  # fmt: skip
    backend = api.pop("ingress-nginx/backend")
    assert backend["result"] == "blocked" and backend["ok"], backend
    reached = [p for p in api.values() if p["result"] == "reach" and "v1.36.3" in p["detail"]]
    assert len(reached) == 2, api  # the ingress controller and tenant-b's operator, as with the model engine
    # the seed's shared attachment subnet leaks between tenants, as the model engine shows too
    assert {p["kind"] for p in result["probes"] if not p["ok"]} <= {"cross-vpc"}


def test_lab_diff_finds_no_unexplained_difference_on_the_seed(kovn_lab: KubeLab) -> None:
    done = kovn_lab.run("diff", "-o", "json")
    result = json.loads(done.stdout)
    assert done.returncode == 0 and result["unexplained"] == 0, json.dumps(result["differences"], indent=1)
    assert result["same"] > 40 and all(d["known"] for d in result["differences"])


def test_each_node_has_a_chassis_the_controller_finds_by_the_node_name(kovn_lab: KubeLab) -> None:
    """A chassis per node: its hostname is the Node's name (kube-ovn-controller looks chassis up by hostname)
    and the Node's ``ovn.kubernetes.io/chassis`` names that chassis, each Node its own."""
    daemons = Lab(kovn_lab.lab.place).daemons
    rows = daemons.sbctl("-f", "csv", "--data=bare", "--no-headings", "--columns=name,hostname", "list", "Chassis")
    hostname_of = dict(line.split(",", 1) for line in rows.stdout.splitlines() if line)
    nodes = {n["metadata"]["name"]: n["metadata"]["annotations"] for n in kovn_lab.kubectl("get", "nodes")["items"]}
    assert nodes and len(hostname_of) == len(nodes), (hostname_of, list(nodes))
    for node, notes in nodes.items():
        chassis = notes["ovn.kubernetes.io/chassis"]
        assert hostname_of.get(chassis) == node, (node, chassis, hostname_of)


def test_trace_follows_the_controllers_network(kovn_lab: KubeLab) -> None:
    """The microflow goes to the router port's MAC the controller chose (random, not the model's), so the
    ingress pod's trace is delivered to the API server's node, and the un-annotated pod's trace ends at the
    router of its custom VPC (no route to the ClusterIP), not in a switch's L2 lookup."""
    pod = kovn_lab.kubectl("get", "pods", "-n", "ingress-nginx", "-l", "app.kubernetes.io/name=ingress-nginx")
    name = pod["items"][0]["metadata"]["name"]
    ingress = kovn_lab.run("trace", f"ingress-nginx/{name}", "10.96.0.1:443", "--summary")
    assert ingress.returncode == 0 and "delivered to node/kind-control-plane" in ingress.stdout, ingress.stdout
    backend = kovn_lab.run("trace", "ingress-nginx/backend", "10.96.0.1:443", "--summary")
    assert "l2_unknown" not in backend.stdout and "delivered to node" not in backend.stdout, backend.stdout


def test_graph_draws_the_lab(kovn_lab: KubeLab, tmp_path: Path) -> None:
    out = tmp_path / "lab.dot"
    done = kovn_lab.run("graph", "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "vpc-apiserver-subnet" in text and "tenant-a-subnet" in text


def test_the_controller_runs_as_the_charts_service_account(kovn_lab: KubeLab) -> None:
    """Its token is ServiceAccount kube-system/ovn's (bound to the chart's system:ovn), not the lab's admin,
    and nothing it needed for the seed was forbidden."""
    from apibridge.twin.control import cluster as cp
    from apibridge.twin.kubeovn import controller

    kp = cp.KubePlace(kovn_lab.lab.place)
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
              "spec": {"token": controller.token_file(kp).read_text().strip()}}  # fmt: skip
    kubeconfig = kovn_lab.run("kubeconfig").stdout.strip()
    done = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", "create", "-f", "-", "-o", "json"],
        input=json.dumps(review), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout)["status"]["user"]["username"] == "system:serviceaccount:kube-system:ovn"
    log = (kovn_lab.lab.place.run_dir / "kube-kube-ovn-controller.log").read_text()
    assert "forbidden" not in log.lower(), [line for line in log.splitlines() if "forbidden" in line.lower()][:5]
