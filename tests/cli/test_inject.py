"""``apibridge inject``: only the bridge's annotations are added, everything else is kept, twice is once."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from apibridge.cli.main import cli
from apibridge.kubeovn import networks, routes, rules
from apibridge.model.cluster import load_cluster
from apibridge.model.objects import TEMPLATE_PATHS

from .support import (
    DROPS_API,
    EXAMPLES,
    REPO,
    Invoke,
    assert_one_line_error,
    assert_warns_of_api_drops,
    documents,
    run_installed,
)

WORKLOAD = "examples/apibridge/workload.yaml"
CLUSTER = "examples/apibridge/"


def _pod_annotations(doc: dict[str, Any]) -> dict[str, str]:
    node: Any = doc
    for part in TEMPLATE_PATHS[doc["kind"]]:
        node = node[part]
    return dict(node.get("metadata", {}).get("annotations") or {})


def _without_annotations(doc: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for part in TEMPLATE_PATHS[out["kind"]]:
        node = node[part]
    annotations = node.get("metadata", {}).get("annotations")
    if annotations is not None:
        for key in keys:
            annotations.pop(key, None)
        if not annotations:
            del node["metadata"]["annotations"]
    return out


def _rendered(invoke: Invoke, *paths: str) -> dict[str, tuple[str, str, str]]:
    """bridge name -> (NAD namespace, NAD name, provider), as `render` plans them."""
    out = {}
    for doc in documents(invoke("render", *paths).stdout):
        if doc["kind"] == "Subnet":
            provider = doc["spec"]["provider"]
            nad = rules.nad_of_provider(provider)
            assert nad is not None
            out[doc["metadata"]["labels"][rules.BRIDGE_LABEL]] = (nad[1], nad[0], provider)
    return out


def test_selected_pods_get_the_attachment_and_the_routes(invoke: Invoke) -> None:
    result = invoke("inject", "-f", WORKLOAD, "--cluster", CLUSTER)
    assert result.exit_code == 0, result.stderr
    out = documents(result.stdout)
    cluster = load_cluster([str(EXAMPLES / "apibridge")])
    plans = _rendered(invoke, CLUSTER)
    api_routes = {f"{ip}/{ip.max_prefixlen}" for ip in cluster.api_cluster_ips()}
    selected = 0
    for doc in out:
        annotations = _pod_annotations(doc)
        if rules.NETWORKS_ANNOTATION not in annotations:
            continue
        selected += 1
        attached = {
            sel.ref(doc["metadata"]["namespace"])
            for sel in networks.parse(annotations[rules.NETWORKS_ANNOTATION]).selections
        }
        matching = [(ns, nad, provider) for ns, nad, provider in plans.values() if (ns, nad) in attached]
        assert len(matching) == 1
        _, _, provider = matching[0]
        routed = routes.parse(annotations[rules.provider_key(provider, rules.ROUTES)])
        assert api_routes <= {r.dst for r in routed}
        assert all(r.gw for r in routed)
        # port security on the attachment (issue 13): OVN drops its frames with another MAC or IP
        assert rules.port_security_on(annotations, provider), annotations
    assert selected == len(cluster.bridges)  # one workload per tenant in the example


def test_everything_else_is_unchanged(invoke: Invoke) -> None:
    original = documents((REPO / WORKLOAD).read_text())
    out = documents(invoke("inject", "-f", WORKLOAD, "--cluster", CLUSTER).stdout)
    assert len(out) == len(original)
    for before, after in zip(original, out, strict=True):
        added = set(_pod_annotations(after)) - set(_pod_annotations(before))
        assert _without_annotations(after, added) == before


def test_the_seed_deployment_keeps_its_annotations_and_gains_ours(invoke: Invoke) -> None:
    seed = EXAMPLES / "seed"
    args = (
        "--cluster",
        str(seed / "cluster.yaml"),
        "--cluster",
        str(seed / "seed.yaml"),
        "--cluster",
        str(EXAMPLES / "apibridge" / "bridges.yaml"),
    )
    result = invoke("inject", "-f", str(seed / "workload.yaml"), *args)
    assert result.exit_code == 0, result.stderr
    original = documents((seed / "workload.yaml").read_text())
    out = documents(result.stdout)
    for before, after in zip(original, out, strict=True):
        old, new = _pod_annotations(before), _pod_annotations(after)
        assert set(new) > set(old)  # ours were added
        for key, value in old.items():  # the seed's values are only ever appended to
            assert new[key].startswith(value)
        old_refs = networks.parse(old[rules.NETWORKS_ANNOTATION]).selections
        assert networks.parse(new[rules.NETWORKS_ANNOTATION]).selections[: len(old_refs)] == old_refs
        changed = {k for k in new if new[k] != old.get(k)}
        restored = _without_annotations(after, changed)
        assert _without_annotations(before, changed) == restored


def test_inject_is_idempotent(invoke: Invoke, tmp_path: Path) -> None:
    once = invoke("inject", "-f", WORKLOAD, "--cluster", CLUSTER)
    assert once.exit_code == 0
    injected = tmp_path / "injected.yaml"
    injected.write_text(once.stdout)
    twice = invoke(
        "inject",
        "-f",
        str(injected),
        "--cluster",
        "examples/apibridge/cluster.yaml",
        "--cluster",
        "examples/apibridge/bridges.yaml",
    )
    assert twice.exit_code == 0
    assert documents(twice.stdout) == documents(once.stdout)
    assert twice.stdout == once.stdout
    assert "injected" not in twice.stderr  # nothing changed the second time


def test_unknown_and_unselected_documents_pass_through(invoke: Invoke, tmp_path: Path) -> None:
    extra = [
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"x": [1, 2]}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "ingress-nginx"},
            "data": {"multi": "line one\nline two\n"},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "elsewhere", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "opted-out",
                "namespace": "ingress-nginx",
                "labels": {"app.kubernetes.io/name": "ingress-nginx"},
                "annotations": {rules.INJECT_ANNOTATION: "false"},
            },
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    ]
    original = documents((REPO / WORKLOAD).read_text())
    mixed = [extra[0], original[0], extra[1], extra[2], original[1], extra[3]]
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump_all(mixed, sort_keys=False))
    result = invoke(
        "inject",
        "-f",
        str(path),
        "--cluster",
        "examples/apibridge/cluster.yaml",
        "--cluster",
        "examples/apibridge/bridges.yaml",
    )
    assert result.exit_code == 0, result.stderr
    out = documents(result.stdout)
    assert [d["kind"] for d in out] == [d["kind"] for d in mixed]  # order kept
    for i in (0, 2, 3, 5):
        assert out[i] == mixed[i]
    for i in (1, 4):
        assert out[i] != mixed[i]


def test_json_output_is_a_list_of_the_same_documents(invoke: Invoke) -> None:
    as_yaml = documents(invoke("inject", "-f", WORKLOAD, "--cluster", CLUSTER).stdout)
    doc = json.loads(invoke("inject", "-f", WORKLOAD, "--cluster", CLUSTER, "-o", "json").stdout)
    assert doc["kind"] == "List"
    assert doc["items"] == as_yaml


def test_stdin(invoke: Invoke) -> None:
    from_file = invoke("inject", "-f", WORKLOAD, "--cluster", CLUSTER)
    from_stdin = invoke(
        "inject",
        "-f",
        "-",
        "--cluster",
        "examples/apibridge/cluster.yaml",
        "--cluster",
        "examples/apibridge/bridges.yaml",
        input=(REPO / WORKLOAD).read_text(),
    )
    assert from_stdin.exit_code == 0
    assert from_stdin.stdout == from_file.stdout


def test_bridges_may_come_with_the_workload(invoke: Invoke, tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text((EXAMPLES / "apibridge" / "bridges.yaml").read_text() + "\n---\n" + (REPO / WORKLOAD).read_text())
    result = invoke("inject", "-f", str(both), "--cluster", "examples/apibridge/cluster.yaml")
    assert result.exit_code == 0
    out = documents(result.stdout)
    assert [d["kind"] for d in out][:2] == ["ApiBridge", "ApiBridge"]
    reference = documents(invoke("inject", "-f", WORKLOAD, "--cluster", CLUSTER).stdout)
    assert out[2:] == reference


def test_without_bridges_nothing_changes_and_it_says_so(invoke: Invoke) -> None:
    result = invoke("inject", "-f", WORKLOAD, "--cluster", "examples/apibridge/cluster.yaml")
    assert result.exit_code == 0
    assert documents(result.stdout) == documents((REPO / WORKLOAD).read_text())
    assert "warning:" in result.stderr


@pytest.mark.parametrize("value", ["Bad_Name", '[{"namespace": "x"}]'])
def test_an_annotation_multus_would_reject_is_unusable_input(invoke: Invoke, tmp_path: Path, value: str) -> None:
    doc = documents((REPO / WORKLOAD).read_text())[0]
    doc["spec"]["template"]["metadata"]["annotations"] = {rules.NETWORKS_ANNOTATION: value}
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(doc))
    result = invoke(
        "inject",
        "-f",
        str(path),
        "--cluster",
        "examples/apibridge/cluster.yaml",
        "--cluster",
        "examples/apibridge/bridges.yaml",
    )
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, str(path), "(document 1)", "spec.template.metadata.annotations")


def test_inject_in_a_real_process_is_idempotent() -> None:
    once = run_installed("apibridge", "inject", "-f", WORKLOAD, "--cluster", CLUSTER)
    assert once.returncode == 0, once.stderr
    twice = run_installed(
        "apibridge",
        "inject",
        "-f",
        "-",
        "--cluster",
        "examples/apibridge/cluster.yaml",
        "--cluster",
        "examples/apibridge/bridges.yaml",
        input=once.stdout,
    )
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout == once.stdout


def test_stdin_objects_replace_their_older_copies_in_a_cluster_dump() -> None:
    """``kubectl get -o yaml | apibridge inject -f - --cluster dump/``: the piped objects are also in the dump."""
    workload = (EXAMPLES / "apibridge" / "workload.yaml").read_text()
    result = CliRunner().invoke(cli, ["inject", "-f", "-", "--cluster", str(EXAMPLES / "apibridge")], input=workload)
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(docs) == len([d for d in yaml.safe_load_all(workload) if d])
    assert all(
        rules.NETWORKS_ANNOTATION in d["spec"]["template"]["metadata"]["annotations"]
        for d in docs
        if d["kind"] == "Deployment"
    )


def test_a_selected_pod_that_stays_broken_is_reported_not_silently_passed() -> None:
    """Injection only appends; a route the pod already had with no gw still breaks it, and inject says so."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "ingress-nginx",
            "labels": {"app.kubernetes.io/name": "ingress-nginx"},
            "annotations": {"apibridge-tenant-a.kube-system.ovn.kubernetes.io/routes": '[{"dst":"10.96.0.1/32"}]'},
        },
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    result = CliRunner().invoke(
        cli, ["inject", "-f", "-", "--cluster", str(EXAMPLES / "apibridge")], input=yaml.safe_dump(pod)
    )
    assert result.exit_code == 1
    (out,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert rules.NETWORKS_ANNOTATION in out["metadata"]["annotations"]  # injected all the same
    assert "AB204" in result.stderr and "Pod/ingress-nginx/p" in result.stderr


def test_inject_warns_of_policies_that_drop_the_injected_pods_api_traffic(invoke: Invoke) -> None:
    """`check` exits 1 on AB310/AB313; the plan is sound (inject's exit contract stays: 0 and the manifests),
    but the user who injects must learn that the pods will not reach the API server."""
    result = invoke("inject", "-f", WORKLOAD, "--cluster", CLUSTER, "--cluster", str(DROPS_API))
    assert result.exit_code == 0, result.stderr
    assert documents(result.stdout)
    assert_warns_of_api_drops(result.stderr)
