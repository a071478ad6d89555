"""Which engine programs a kube lab's OVN northbound database, recorded in ``<lab>/kube/engine.json``.

``model`` (the default): the twin writes NB from its own reading of Kube-OVN (twin/ovn/topology.py).
``kube-ovn``: the real kube-ovn-controller writes it (:mod:`apibridge.twin.kubeovn.controller`) and the
twin only plays kube-ovn-cni (:mod:`apibridge.twin.kubeovn.cni`). The choice is made once, when the
lab is built: the NB and SB databases are created with the engine's schemas
(:mod:`apibridge.twin.kubeovn.schema`), so it cannot change on a running lab.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from apibridge.twin.state import LabPlace

MODEL = "model"
KUBE_OVN = "kube-ovn"
ENGINES = (MODEL, KUBE_OVN)


@dataclass(frozen=True)
class EngineConfig:
    engine: str = MODEL

    @property
    def kube_ovn(self) -> bool:
        return self.engine == KUBE_OVN


def config_file(place: LabPlace) -> Path:
    return place.kube_dir / "engine.json"


def schema_dir(place: LabPlace) -> Path:
    return place.kube_dir / "schemas"


def read(place: LabPlace) -> EngineConfig:
    try:
        data = json.loads(config_file(place).read_text())
    except (OSError, ValueError):
        return EngineConfig()
    return EngineConfig(str(data.get("engine", MODEL)))


def write(place: LabPlace, config: EngineConfig) -> None:
    place.kube_dir.mkdir(parents=True, exist_ok=True)
    config_file(place).write_text(json.dumps(asdict(config)))
