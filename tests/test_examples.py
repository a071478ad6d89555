"""The examples say what the README and examples/README.md claim they say.

``examples/seed`` is the seed's fix as written, and it must be internally consistent (NAD provider,
Subnet provider, annotation keys and gateway agree) so that what ``check`` reports about it is the
tenancy problem, not a typo. ``examples/apibridge`` is the same cluster and the same workloads, with
ApiBridges instead of the hand-written annotations.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from apibridge.kubeovn import dualstack, networks, routes, rules
from apibridge.model.cluster import load_cluster
from apibridge.model.objects import TEMPLATE_PATHS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE_DIRS = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())


def _inputs(directory: Path) -> list[list[str]]:
    """A directory is one input; a phased one (``1-….yaml`` …) is cluster.yaml plus each phase."""
    phases = sorted(p for p in directory.glob("*.yaml") if p.name[:1].isdigit())
    if not phases:
        return [[str(directory)]]
    return [[str(directory / "cluster.yaml"), str(phase)] for phase in phases]


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _template_annotations(doc: dict[str, Any]) -> dict[str, str]:
    node: Any = doc
    for part in TEMPLATE_PATHS[doc["kind"]]:
        node = node[part]
    return dict(node["metadata"].get("annotations") or {})


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=lambda p: p.name)
def test_every_example_loads(example: Path) -> None:
    for paths in _inputs(example):
        cluster = load_cluster(paths)
        assert cluster.pods, f"{paths}: every example has a workload"
        assert rules.KUBERNETES_SERVICE in cluster.services


def test_examples_readme_explains_each_example() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for example in EXAMPLE_DIRS:
        assert f"`{example.name}/`" in readme


def test_seed_is_the_seed_and_consistent() -> None:
    cluster = load_cluster([str(EXAMPLES / "seed")])
    nad = cluster.nad(rules.SEED_NAD_NAMESPACE, rules.SEED_NAD_NAME)
    assert nad is not None and nad.config is not None
    provider = nad.derived_provider
    assert provider == nad.config.cni_provider()  # controller and CNI agree
    subnet = cluster.subnets[rules.SEED_SUBNET]
    assert subnet.provider == provider
    assert [str(c) for c in subnet.cidrs] == [rules.SEED_CIDR]
    assert subnet.vpc == rules.DEFAULT_VPC  # no vpc written: Kube-OVN puts it into the default VPC
    assert provider is not None
    for pod in cluster.pods:
        refs = {s.ref(pod.namespace) for s in networks.parse(pod.annotations[rules.NETWORKS_ANNOTATION]).selections}
        assert refs == {(rules.SEED_NAD_NAMESPACE, rules.SEED_NAD_NAME)}
        (route,) = routes.parse(pod.annotations[rules.provider_key(provider, rules.ROUTES)])
        assert route.dst in {dualstack.host_prefix(ip) for ip in cluster.api_cluster_ips()}
        assert route.gw == str(subnet.gateway(4))


def test_seed_puts_two_tenants_on_one_attachment_subnet() -> None:
    """The point of the second tenant: two custom VPCs, one shared L2 segment."""
    cluster = load_cluster([str(EXAMPLES / "seed")])
    vpcs = {cluster.pod_vpc(pod) for pod in cluster.pods}
    assert len(vpcs) == 2 and rules.DEFAULT_VPC not in vpcs
    attached = {
        a for pod in cluster.pods for a in networks.parse(pod.annotations[rules.NETWORKS_ANNOTATION]).selections
    }
    assert len(attached) == 1


def test_apibridge_example_is_the_seed_without_hand_written_annotations() -> None:
    assert (EXAMPLES / "apibridge" / "cluster.yaml").read_text() == (EXAMPLES / "seed" / "cluster.yaml").read_text()
    seed = _docs(EXAMPLES / "seed" / "workload.yaml")
    bridged = _docs(EXAMPLES / "apibridge" / "workload.yaml")
    assert len(seed) == len(bridged)
    for with_annotations, without in zip(seed, bridged, strict=True):
        stripped = copy.deepcopy(with_annotations)
        node: Any = stripped
        for part in TEMPLATE_PATHS[stripped["kind"]]:
            node = node[part]
        del node["metadata"]["annotations"]
        assert stripped == without
        assert not _template_annotations(without)


def test_one_bridge_per_tenant_vpc() -> None:
    cluster = load_cluster([str(EXAMPLES / "apibridge")])
    tenant_vpcs = {name for name, vpc in cluster.vpcs.items() if not vpc.assumed}
    assert sorted(b.vpc for b in cluster.bridges.values()) == sorted(tenant_vpcs)
    assert not (EXAMPLES / "apibridge" / "seed.yaml").exists()  # no hand-made NAD or Subnet
    assert not cluster.nads


def test_dualstack_example_is_dual_stack() -> None:
    cluster = load_cluster([str(EXAMPLES / "dualstack")])
    assert {ip.version for ip in cluster.api_cluster_ips()} == {4, 6}
    custom = [s for s in cluster.subnets.values() if not s.assumed]
    assert custom and all(s.protocol == "Dual" and {c.version for c in s.cidrs} == {4, 6} for s in custom)
    assert len(cluster.bridges) == 1


def test_the_readme_apibridge_reference_is_valid(tmp_path: Path) -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    blocks = [b.split("```")[0] for b in readme.split("```yaml\n")[1:]]
    bridges = [b for b in blocks if b.startswith(f"apiVersion: {rules.APIBRIDGE_API}")]
    assert bridges
    for i, block in enumerate(bridges):
        path = tmp_path / f"bridge{i}.yaml"
        path.write_text(block)
        cluster = load_cluster([str(EXAMPLES / "seed" / "cluster.yaml"), str(path)])
        assert cluster.bridges
