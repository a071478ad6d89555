"""The story in one run: no access, the seed's fix (and its leak), strict ApiBridges (and no leak).

One lab, three inputs applied by reconcile (``lab up`` on the running lab), a verify after each:

1. **no access** — the ingress controller in custom VPC tenant-a cannot reach
   ``https://10.96.0.1/version``; neither can tenant-b's operator.
2. **the seed's fix as written** — both reach the API through ``net1``, *and* they reach each other
   through the shared attachment subnet: verify reports that as a failed expectation (a leak), and
   for the demo that leak is the point of the phase.
3. **strict ApiBridges** — both reach the API, the default backend (not selected) still does not,
   no tenant reaches another, also when every attached pod adds routes through its attachment
   itself (``--adversarial``).

The demo judges each phase against what the story expects and returns a table of checks; the CLI
prints it and exits 0 only if every phase behaved as expected. The scenario is embedded in the
package (``demo_scenario/``: a ``cluster.yaml`` plus one file per phase; ``examples/demo`` in the
repository points at it), so an installed ``apibridge demo`` needs nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from apibridge.base.errors import InputError, Location
from apibridge.twin.lab import Lab, UpReport
from apibridge.twin.proof import graph
from apibridge.twin.proof.verify import Checked, VerifyReport, verify

CONTROLLER = "ingress-nginx/ingress-nginx-controller"
BACKEND = "ingress-nginx/default-backend"
OPERATOR = "tenant-b/operator"
PHASE_FILES = ("1-no-access.yaml", "2-seed.yaml", "3-bridges.yaml")


@dataclass(frozen=True)
class Phase:
    key: str
    title: str
    file: str
    api: dict[str, bool]  # pod -> reaches the API?
    cross_tenant_leak: bool  # does the story expect tenants to reach each other?
    adversarial: bool


PHASES = (
    Phase(
        "no-access", "1 no access", PHASE_FILES[0], {CONTROLLER: False, OPERATOR: False, BACKEND: False}, False, False
    ),
    Phase("seed", "2 seed as written", PHASE_FILES[1], {CONTROLLER: True, OPERATOR: True, BACKEND: False}, True, False),
    Phase(
        "bridges",
        "3 strict ApiBridges",
        PHASE_FILES[2],
        {CONTROLLER: True, OPERATOR: True, BACKEND: False},
        False,
        True,
    ),
)
SHORT = {CONTROLLER: "controller", OPERATOR: "operator", BACKEND: "default-backend"}


@dataclass(frozen=True)
class Check:
    phase: str
    name: str
    expected: str
    observed: str
    ok: bool


@dataclass
class PhaseResult:
    phase: Phase
    up: UpReport
    verify: VerifyReport
    adversarial: VerifyReport | None
    checks: list[Check] = field(default_factory=list)

    @property
    def leaks(self) -> list[Checked]:
        return [c for r in (self.verify, self.adversarial) if r is not None for c in r.leaks()]


@dataclass
class DemoReport:
    phases: list[PhaseResult] = field(default_factory=list)
    graph: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.phases) and all(c.ok for p in self.phases for c in p.checks)


EMBEDDED_SCENARIO = Path(__file__).resolve().parent / "demo_scenario"


def scenario_dir(explicit: Path | None = None) -> Path:
    """The embedded scenario (or ``explicit``); it must hold cluster.yaml and one file per phase."""
    directory = explicit or EMBEDDED_SCENARIO
    missing = [f for f in ("cluster.yaml", *PHASE_FILES) if not (directory / f).is_file()]
    if missing:
        raise InputError(
            f"demo scenario incomplete: no {', '.join(missing)}",
            Location(str(directory)),
            hint="a scenario directory holds cluster.yaml and " + ", ".join(PHASE_FILES),
        )
    return directory


def _api_reaches(report: VerifyReport, pod: str) -> bool | None:
    probes = [c for c in report.checked if c.exp.kind == "api" and c.exp.source == pod]
    return None if not probes else all(c.result == "reach" for c in probes)


def _cross_tenant(report: VerifyReport) -> list[Checked]:
    """Leaks between two custom VPCs (the default VPC is not a tenant)."""
    return [
        c
        for c in report.leaks()
        if c.exp.kind == "cross-vpc"
        and c.exp.to_pod
        and not c.exp.to_pod.startswith("kube-system/")
        and not c.exp.source.startswith("kube-system/")
    ]


def judge(phase: Phase, report: VerifyReport, adversarial: VerifyReport | None) -> list[Check]:
    checks: list[Check] = []
    for pod, want in phase.api.items():
        got = _api_reaches(report, pod)
        observed = "not in the lab" if got is None else ("reaches" if got else "blocked")
        checks.append(Check(phase.key, f"{SHORT[pod]} → API", "reaches" if want else "blocked", observed, got is want))
    leaks = _cross_tenant(report)
    observed = f"LEAK ({len(leaks)} paths)" if leaks else "isolated"
    expected = "LEAK (the seed's flaw)" if phase.cross_tenant_leak else "isolated"
    checks.append(Check(phase.key, "tenant-a ↔ tenant-b", expected, observed, bool(leaks) == phase.cross_tenant_leak))
    others = [c for c in report.failures if c not in leaks]
    checks.append(
        Check(
            phase.key,
            "rest of verify",
            "as intended",
            "as intended" if not others else f"{len(others)} unexpected",
            not others,
        )
    )
    if adversarial is not None:
        bad = adversarial.failures
        checks.append(
            Check(
                phase.key, "adversarial verify", "no leak", "no leak" if not bad else f"{len(bad)} unexpected", not bad
            )
        )
    return checks


def run_demo(
    lab: Lab,
    scenario: Path,
    *,
    graph_file: Path | None,
    on_phase: Callable[[Phase], None] | None = None,
    on_step: Callable[[str], None] | None = None,
    on_result: Callable[[PhaseResult], None] | None = None,
    timeout: float = 1.0,
) -> DemoReport:
    """Run the three phases on ``lab`` (reconciling between them) and judge each."""
    t0 = time.monotonic()
    report = DemoReport()
    step = on_step or (lambda _: None)
    for phase in PHASES:
        if on_phase:
            on_phase(phase)
        up = lab.up([str(scenario / "cluster.yaml"), str(scenario / phase.file)], progress=step)
        desired = lab.desired()
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        step("verifying reachability")
        checked = verify(desired.topology, netns, ca_file=lab.place.ca_file, timeout=timeout)
        adversarial = None
        if phase.adversarial:
            step("verifying again, adversarially")
            adversarial = verify(desired.topology, netns, ca_file=lab.place.ca_file, adversarial=True, timeout=timeout)
        result = PhaseResult(phase, up, checked, adversarial, judge(phase, checked, adversarial))
        report.phases.append(result)
        if on_result:
            on_result(result)
    if graph_file is not None:
        step("drawing the lab")
        report.graph = graph.render(
            graph.to_dot(lab.desired().topology, "apibridge demo: strict ApiBridges"), graph_file
        )
    report.seconds = time.monotonic() - t0
    return report
