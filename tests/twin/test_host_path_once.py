"""A node's nft rulesets (kube-proxy's DNAT, kube-ovn-cni's masquerade) are loaded into its namespace when they
changed or the namespace is new, not in every ``Lab.up``: in ``lab up --kube`` every watch event is a pass of the
node agent, and each paid an ``ip netns exec … nft -f`` (23 ms p50, 43 ms max at load 10.6) on the path of the
pods it realized."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from apibridge.twin import lab as lab_module
from apibridge.twin.lab import Lab


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The rulesets ``nft -f`` was given, with the namespace it ran in."""
    calls: list[tuple[str, str]] = []

    def run(argv: list[str], **kw: Any) -> None:
        assert argv[:3] == ["ip", "netns", "exec"] and argv[4:] == ["nft", "-f", "-"], argv
        calls.append((argv[3], kw["input"]))

    monkeypatch.setattr(lab_module, "run", run)
    monkeypatch.setattr(lab_module.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(lab_module.hostpath, "kube_proxy_ruleset", lambda topo, version: topo.ruleset)
    monkeypatch.setattr(lab_module.hostpath, "masquerade_ruleset", lambda topo: "")
    return calls


def up(fake: Any, ruleset: str, *, kept: bool) -> None:
    topo = SimpleNamespace(nodes=[SimpleNamespace(name="n1")], ruleset=ruleset, kube_proxy=True)
    record = SimpleNamespace(pods={"node/n1": SimpleNamespace(netns="lab-node-n1")})
    report = SimpleNamespace(kept=["node/n1"] if kept else [], notes=[])
    Lab._host_path(fake, topo, record, report, "v1.16.2")  # type: ignore[arg-type]


def fake_lab() -> Any:
    return SimpleNamespace(engine=SimpleNamespace(kube_ovn=False), _host_path_loaded={})


def test_an_unchanged_ruleset_in_a_kept_namespace_is_not_loaded_again(loads: list[tuple[str, str]]) -> None:
    fake = fake_lab()
    up(fake, "table A", kept=False)  # the node's namespace was just made
    up(fake, "table A", kept=True)
    up(fake, "table A", kept=True)
    assert loads == [("lab-node-n1", "table A")]


def test_a_changed_ruleset_is_loaded(loads: list[tuple[str, str]]) -> None:
    fake = fake_lab()
    up(fake, "table A", kept=False)
    up(fake, "table B", kept=True)  # a Service or its endpoints changed
    assert loads == [("lab-node-n1", "table A"), ("lab-node-n1", "table B")]


def test_a_namespace_made_again_gets_the_ruleset_again(loads: list[tuple[str, str]]) -> None:
    fake = fake_lab()
    up(fake, "table A", kept=False)
    up(fake, "table A", kept=False)  # removed and made afresh (or rewired in place): its table is not ours to trust
    assert len(loads) == 2


def test_another_lab_instance_loads_it_once(loads: list[tuple[str, str]]) -> None:
    up(fake_lab(), "table A", kept=True)  # `lab up` on a running lab: this instance never loaded it
    assert len(loads) == 1
