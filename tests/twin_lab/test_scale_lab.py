"""Verify by equivalence class on generated tenants whose reachability is known by construction.

The expected answers come from :mod:`apibridge.twin.proof.synthetic` (a pod's name says whether its
tenant's ApiBridge selects it), not from the verifier's own expectations: the verifier must agree
with the construction on every probe, and the probes must agree with both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from apibridge.twin.proof import explain, synthetic
from apibridge.twin.proof.verify import verify

from .conftest import example, running_lab

pytestmark = pytest.mark.ovn


def test_class_verify_of_generated_tenants_matches_the_construction_on_both_nodes(tmp_path: Path) -> None:
    manifests = tmp_path / "tenants.yaml"
    manifests.write_text(yaml.safe_dump_all(synthetic.manifests(60)))
    with running_lab("cls") as lab:
        up = lab.up([str(manifests)])
        assert up.pods_up == 60 and not up.failures and up.nodes == 2
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        topo = lab.desired().topology
        result = verify(topo, netns, ca_file=lab.place.ca_file, seed=7, sample=8)
        cov = result.coverage
        assert cov is not None and not cov.exhaustive
        # 10 tenants x 2 nodes x (selected or not): what the construction makes different
        assert (cov.pods, cov.classes, cov.seed, cov.sampled) == (60, 40, 7, 8)
        assert cov.pairs == 40 * 39 + 20  # every ordered pair; a class with two pods also to itself
        judged = 0
        for c in result.checked:
            e = c.exp
            k = synthetic.known(e.source, api=e.kind == "api", to_pod=e.to_pod if e.kind != "attachment" else None)
            if k is None:
                continue
            judged += 1
            assert (e.expect == "reach") == k.reach, (e, k)
            assert (c.result == "reach") == k.reach, (c.message(), k)
        assert judged > 1500
        assert result.failed == 0, [c.message() for c in result.failures][:5]
        nodes = {topo.pod(c.exp.source).node for c in result.checked if topo.pod(c.exp.source)}  # type: ignore[union-attr]
        assert nodes == {"node-0", "node-1"}
        kinds = {c.exp.kind for c in result.checked}
        assert {"api", "same-vpc", "cross-vpc", "node", "attachment"} <= kinds


def test_a_contradiction_is_explained_by_ovn_trace_and_ofproto_trace() -> None:
    with running_lab("why") as lab:
        lab.up([example("seed")])  # the seed's shared attachment subnet: a leak between tenants
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        topo = lab.desired().topology
        result = verify(topo, netns, ca_file=lab.place.ca_file, seed=1)
        assert result.leaks()
        assert explain.explain_failures(result, topo, lab.daemons) == result.failed
        for c in result.failures:
            ovn, datapath = c.explanation
            assert ovn.startswith("ovn-trace: ") and "delivered" in ovn, ovn
            assert datapath.startswith("ofproto/trace: datapath actions ") and "drop" not in datapath, datapath
        assert all(not c.explanation for c in result.checked if c.ok)  # expected results need no trace
