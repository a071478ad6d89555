"""``apibridge lab diff``: which kube-ovn lab to compare, bringing one up for FILEs and tearing it down.

The comparison itself is :mod:`apibridge.twin.kubeovn.diff`'s; this module only chooses the lab. The
model's side needs no lab of its own: the model engine writes exactly ``realize.desired`` of the lab's
topology, so one lab built with ``--engine kube-ovn`` from the FILEs holds both sides — the rows the real
kube-ovn-controller wrote, and the rows the model derives from the same objects (with the controller's pod
and node addresses, the one input the two engines allocate independently).

* ``lab diff FILE...``: a new lab (``diff-<random>``) from the FILEs, compared, torn down — also when the
  build or the comparison fails (``--keep`` leaves it up, to look at).
* ``lab diff --name LAB FILE...``: the FILEs applied to lab LAB (built with them when it does not exist,
  then torn down like a new one unless ``--keep``; reconciled and kept when it runs): a corpus of scenarios
  can share one control plane.
* ``lab diff --name LAB``: the running lab as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from apibridge.base.errors import InputError, Location
from apibridge.twin.kubeovn import diff, engine
from apibridge.twin.lab import Lab
from apibridge.twin.ovn import realize
from apibridge.twin.state import locate

Progress = Callable[[str], None]
SETTLE = 30.0  # s the controller may take to finish programming NB after the pods run


@dataclass
class DiffRun:
    name: str
    report: diff.DiffReport
    torn_down: bool = False
    pending: list[str] = field(default_factory=list)  # pods not running when compared (a failed CNI ADD, …)


def compare_running(name: str, settle: float = SETTLE) -> diff.DiffReport:
    """The model's rows against the controller's on running lab ``name``, once NB stops changing."""
    with Lab(locate(name)) as lab:
        lab.require()  # "is not up", with the command that builds it
        if not lab.engine.kube_ovn:
            raise InputError(
                f"lab {name!r} runs the {lab.engine.engine} engine: there is no controller's NB to compare with",
                Location(field="--name"),
                hint=f"apibridge lab up --kube --engine kube-ovn --name {name} FILE...",
            )

        def read() -> diff.DiffReport:
            return diff.compare(realize.desired(lab.desired().topology), realize.current(lab.nb()))

        return diff.settled(read, settle)


def run(files: Sequence[str], name: str | None, *, keep: bool, progress: Progress, settle: float = SETTLE) -> DiffRun:
    """See the module docstring. Without ``files`` ``name`` is required."""
    from apibridge.cli.lab_kube import up

    if not files:
        if name is None:
            raise InputError("nothing to compare", Location(field="FILE"), hint="apibridge lab diff FILE...")
        return DiffRun(name, compare_running(name, settle))
    lab_name = name or f"diff-{uuid.uuid4().hex[:8]}"
    existing = Lab(locate(lab_name))
    created = not existing.exists()
    if not created and not existing.engine.kube_ovn:
        raise InputError(
            f"lab {lab_name!r} runs the {existing.engine.engine} engine",
            Location(field="--name"),
            hint="name a lab built with --engine kube-ovn, or none (lab diff then builds its own)",
        )
    result = DiffRun(lab_name, diff.DiffReport())
    try:
        progress(f"building lab {lab_name} with kube-ovn-controller" if created else f"applying to lab {lab_name}")
        result.pending = up(lab_name, files, progress, engine_name=engine.KUBE_OVN).pods_pending
        progress("comparing the model's northbound rows with the controller's")
        result.report = compare_running(lab_name, settle)
    finally:
        if created and not keep:
            progress(f"tearing lab {lab_name} down")
            with Lab(locate(lab_name)) as lab:
                lab.down()
            result.torn_down = True
    return result
