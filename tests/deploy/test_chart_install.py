"""The chart on a real API server: every rendering accepted by ``kubectl apply --dry-run=server``, and
``helm install`` / ``upgrade`` / ``uninstall`` with Helm 3 and Helm 4 (the combinations without
cert-manager: its CRDs are not here), including an upgrade from the previous chart with bridges in place.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube.cluster import KubeCluster, running
from kube.tools import HELMS

from .helm import NAMESPACE, RELEASE, HelmError, helm, values_file
from .support import CHART, REPO
from .test_chart import SCENARIOS, WITHOUT_CERT_MANAGER, render

pytestmark = [pytest.mark.kube, pytest.mark.timeout(300)]
# main's HEAD before the CRD became a template (chart 0.1.0, CRD in crds/): what an upgrade starts from.
PREVIOUS_CHART_COMMIT = "fcfa357"
CRD = "apibridges.apibridge.dev"


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """A control plane of its own, without the ApiBridge CRD: here Helm installs, adopts and keeps it."""
    with running(tmp_path_factory.mktemp("kube-helm"), with_chart_crd=False) as cluster:
        # the namespaces the value sets name (settings.dnsService: openshift-dns/dns-default), as their clusters have
        for name in sorted(
            {
                v["settings"]["dnsService"].split("/")[0]
                for v in SCENARIOS.values()
                if "dnsService" in v.get("settings", {})
            }
        ):
            ensure_namespace(cluster, name)
        yield cluster


def delete_crd(kube: KubeCluster) -> None:
    """What a user does on purpose after uninstalling (the chart keeps the CRD)."""
    kube.kubectl("delete", "crd", CRD, "--ignore-not-found", "--wait=true", "--timeout=60s")


def ensure_namespace(kube: KubeCluster, name: str) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_rendering_is_accepted_by_the_api_server(kube: KubeCluster, name: str) -> None:
    ensure_namespace(kube, NAMESPACE)
    docs = [d for d in render(SCENARIOS[name]) if not d["apiVersion"].startswith("cert-manager.io/")]
    result = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(docs), result.stdout


def previous_chart(directory: Path) -> Path:
    """deploy/chart as committed at PREVIOUS_CHART_COMMIT, extracted with git archive."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", PREVIOUS_CHART_COMMIT, "deploy/chart"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    chart = directory / "deploy" / "chart"
    assert (chart / "crds").is_dir(), "the previous chart is the one with crds/"
    return chart


def crd_version(kube: KubeCluster) -> str | None:
    crd = kube.get("apiextensions.k8s.io/v1", "customresourcedefinitions", CRD) or {}
    return (crd.get("metadata", {}).get("labels") or {}).get("helm.sh/chart")


def release_objects(kube: KubeCluster, namespace: str) -> dict[str, Any]:
    return {
        "deployments": kube.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments")["items"],
        "mwc": kube.get("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", RELEASE),
    }


@pytest.mark.parametrize("helm_version", HELMS)
def test_install_upgrade_uninstall(kube: KubeCluster, helm_version: str, tmp_path: Path) -> None:
    namespace = f"chart-{helm_version}"
    install = WITHOUT_CERT_MANAGER[0]
    args = ("--namespace", namespace, "--create-namespace")
    values = values_file(SCENARIOS[install], tmp_path)
    helm(helm_version, "install", RELEASE, str(CHART), *args, "-f", str(values), kubeconfig=kube.kubeconfig)
    try:
        objs = release_objects(kube, namespace)
        assert {d["metadata"]["name"] for d in objs["deployments"]} == {"apibridge-controller", "apibridge-webhook"}
        assert objs["mwc"] is not None
        for other in WITHOUT_CERT_MANAGER[1:]:
            values = values_file(SCENARIOS[other], tmp_path)
            helm(helm_version, "upgrade", RELEASE, str(CHART), *args, "-f", str(values), kubeconfig=kube.kubeconfig)
            hook = release_objects(kube, namespace)["mwc"]["webhooks"][0]
            want = (
                [namespace, *SCENARIOS[other]["webhook"].get("excludeNamespaces", ["kube-system"])]
                if "webhook" in SCENARIOS[other] and "excludeNamespaces" in SCENARIOS[other]["webhook"]
                else [namespace, "kube-system"]
            )
            assert hook["namespaceSelector"]["matchExpressions"][0]["values"] == want, other
        status = helm(helm_version, "status", RELEASE, "--namespace", namespace, kubeconfig=kube.kubeconfig).stdout
        assert "deployed" in status.lower()
    finally:
        helm(helm_version, "uninstall", RELEASE, "--namespace", namespace, kubeconfig=kube.kubeconfig, check=False)
    objs = release_objects(kube, namespace)
    assert not objs["deployments"] and objs["mwc"] is None
    assert kube.get("apiextensions.k8s.io/v1", "customresourcedefinitions", CRD) is not None, (
        "helm.sh/resource-policy: keep leaves the CRD (and every ApiBridge) on uninstall"
    )
    delete_crd(kube)


def bridge(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apibridge.dev/v1alpha1",
        "kind": "ApiBridge",
        "metadata": {"name": name},
        "spec": {"vpc": name},
    }


ADOPT = (
    "The ApiBridge CRD was installed from crds/ by chart 0.1.0, without Helm's ownership metadata; "
    "deploy/chart/README.md, 'Upgrading from 0.1.0', gives the two kubectl commands that hand it to the release"
)


@pytest.mark.parametrize("helm_version", HELMS)
def test_upgrade_from_the_previous_chart_keeps_bridges_and_upgrades_the_crd(
    kube: KubeCluster, helm_version: str, tmp_path: Path
) -> None:
    namespace = f"upgrade-{helm_version}"
    args = ("--namespace", namespace, "--create-namespace")
    values = values_file(SCENARIOS["tls-from-values"], tmp_path)
    old = previous_chart(tmp_path / "previous")
    helm(helm_version, "install", RELEASE, str(old), *args, "-f", str(values), kubeconfig=kube.kubeconfig)
    try:
        assert crd_version(kube) is None  # crds/: no chart label, never touched again by Helm
        # served a moment after Helm returns (429 "storage is (re)initializing" until then)
        kube.wait(
            lambda: kube.request("GET", "/apis/apibridge.dev/v1alpha1/apibridges") is not None, what="ApiBridges served"
        )
        uids = {n: kube.create(bridge(n))["metadata"]["uid"] for n in ("tenant-a", "tenant-b")}
        # Helm refuses to take over an object another party created: first the refusal, then the adoption
        with pytest.raises(HelmError, match="invalid ownership metadata"):
            helm(helm_version, "upgrade", RELEASE, str(CHART), *args, "-f", str(values), kubeconfig=kube.kubeconfig)
        adopt(kube, namespace)
        helm(helm_version, "upgrade", RELEASE, str(CHART), *args, "-f", str(values), kubeconfig=kube.kubeconfig)
        version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
        assert crd_version(kube) == f"apibridge-{version}", ADOPT
        crd = kube.get("apiextensions.k8s.io/v1", "customresourcedefinitions", CRD) or {}
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert current_uids(kube) == uids
        # a later chart that changes the schema: `helm upgrade` is all it takes now
        newer = changed_schema_chart(tmp_path / "newer")
        helm(helm_version, "upgrade", RELEASE, str(newer), *args, "-f", str(values), kubeconfig=kube.kubeconfig)
        crd = kube.get("apiextensions.k8s.io/v1", "customresourcedefinitions", CRD) or {}
        spec_props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        assert "upgradeProbe" in spec_props
        assert current_uids(kube) == uids
    finally:
        helm(helm_version, "uninstall", RELEASE, "--namespace", namespace, kubeconfig=kube.kubeconfig, check=False)
    assert current_uids(kube) == uids, "uninstall keeps the CRD and the bridges"
    kube.delete_all("apibridge.dev/v1alpha1", "apibridges")
    delete_crd(kube)


def adopt(kube: KubeCluster, namespace: str) -> None:
    """The README's one-time commands for an upgrade from chart 0.1.0."""
    kube.kubectl(
        "annotate",
        "--overwrite",
        "crd",
        CRD,
        f"meta.helm.sh/release-name={RELEASE}",
        f"meta.helm.sh/release-namespace={namespace}",
    )
    kube.kubectl("label", "--overwrite", "crd", CRD, "app.kubernetes.io/managed-by=Helm")


def current_uids(kube: KubeCluster) -> dict[str, str]:
    """The bridges by name and uid; after a CRD change the API server re-initializes its storage for a
    moment (429), so this waits for an answer."""
    items = kube.wait(lambda: kube.request("GET", "/apis/apibridge.dev/v1alpha1/apibridges"), what="ApiBridges served")[
        "items"
    ]
    return {o["metadata"]["name"]: o["metadata"]["uid"] for o in items}


def changed_schema_chart(directory: Path) -> Path:
    """This chart with one more optional spec field and a higher version: a schema change to upgrade to."""
    import shutil

    chart = directory / "chart"
    shutil.copytree(CHART, chart)
    crd_path = chart / "files" / "apibridges.apibridge.dev.yaml"
    crd = yaml.safe_load(crd_path.read_text())
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["upgradeProbe"] = {
        "type": "string"
    }
    crd_path.write_text(yaml.safe_dump(crd))
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = meta["version"] + "-next"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    return chart
