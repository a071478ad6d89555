"""The operator process: probes and metrics always, the Lease election always, kopf only while leading.

Lifecycle of one process::

    connect ── serve /metrics /healthz /readyz ── campaign for the Lease
        └─ leading ──> start the worker, then kopf (--standalone, cluster-wide) ──> reconcile ...
              ├─ SIGTERM/SIGINT ──> stop kopf, release the Lease, exit 0
              └─ Lease lost ──────> stop kopf, exit 1 (the Deployment restarts us as a fresh candidate)

Exiting on lost leadership is what client-go controllers do: a deposed leader cannot know what the new
one has already written, and a fresh process starts from a clean watch cache. kopf installs its own
signal handlers when it starts; ours are put back right after, so a signal always goes through the
graceful path above (stop, release) instead of only stopping kopf.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import kopf

from apibridge.base.kubeclient import Client, KubeConfig, UnreachableError
from apibridge.operator import handlers
from apibridge.operator.controller import AlwaysLeading, Controller, ControllerConfig
from apibridge.operator.process import serve
from apibridge.operator.process.leader import LeaderElector, LeaseConfig, default_identity
from apibridge.operator.process.metrics import Metrics
from apibridge.plan.settings import Settings

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_LOST_LEADERSHIP = 1
EXIT_FAILED = 1


@dataclass(frozen=True)
class OperatorOptions:
    namespace: str
    metrics_port: int = 8080
    health_port: int = 8081
    bind_host: str = "0.0.0.0"
    rollout_rate: tuple[float, float] = (1.0, 10.0)
    restart_settle: float = 10.0
    restart_retry: float = 60.0
    restarts: bool = True
    lease_name: str = "apibridge-operator"
    lease_duration: float = 15.0
    identity: str = ""
    leader_election: bool = True
    resync_period: float = 300.0
    kube: KubeConfig = field(default_factory=KubeConfig)
    settings: Settings = field(default_factory=Settings)


class _State:
    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.elector: LeaderElector | None = None
        self.controller: Controller | None = None
        self.elector_task: asyncio.Task[None] | None = None
        self.worker: asyncio.Task[None] | None = None

    def liveness(self) -> tuple[bool, str]:
        for name, task in (("lease", self.elector_task), ("worker", self.worker)):
            if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
                return False, f"{name} loop died: {task.exception()!r}"
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        if self.controller is None:
            return (True, "standby") if self.elector is not None else (False, "starting")
        if not self.controller.ready.is_set():
            return False, "leading; waiting for the first reconcile pass"
        if self.controller.last_error:
            return False, f"leading; last pass failed: {self.controller.last_error}"
        return True, f"leading; {self.controller.passes} passes"


def _install_signals(state: _State) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, state.stop.set)


async def _first(*aws: Any) -> None:
    """Wait until the first of ``aws`` (tasks or coroutines) finishes; cancel the coroutines we wrapped."""
    tasks: list[asyncio.Future[Any]] = []
    owned: list[asyncio.Future[Any]] = []
    for aw in aws:
        if isinstance(aw, asyncio.Future):
            tasks.append(aw)
        else:
            task = asyncio.ensure_future(aw)
            tasks.append(task)
            owned.append(task)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in owned:
            task.cancel()


async def _connect(state: _State, kube: KubeConfig) -> Client | None:
    delay = 0.5
    while not state.stop.is_set():
        try:
            return await Client.connect(kube)
        except UnreachableError as exc:
            log.warning("%s; retrying in %.1fs", exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.stop.wait(), timeout=delay)
        delay = min(delay * 2, 10.0)
    return None


async def run(options: OperatorOptions) -> int:
    """Run until signalled (0) or deposed (1)."""
    state = _State()
    _install_signals(state)
    metrics = Metrics()
    runners = await serve.start(
        options.bind_host, options.metrics_port, options.health_port, metrics, state.liveness, state.readiness
    )
    try:
        client = await _connect(state, options.kube)
        if client is None:
            return EXIT_OK
        return await _lead(options, state, client, metrics)
    finally:
        for runner in runners:
            await runner.cleanup()


async def _lead(options: OperatorOptions, state: _State, client: Client, metrics: Metrics) -> int:
    identity = options.identity or default_identity()
    elector: LeaderElector | None = None
    if options.leader_election:
        elector = LeaderElector(
            client,
            LeaseConfig.scaled(options.namespace, identity, options.lease_duration, options.lease_name),
            on_change=lambda leading: metrics.leader.set(1 if leading else 0),
        )
        state.elector = elector
        state.elector_task = asyncio.create_task(elector.run(), name="lease")
        log.info("campaigning for lease %s/%s as %s", options.namespace, options.lease_name, identity)
        await _first(elector.leading.wait(), state.stop.wait(), state.elector_task)
        if state.stop.is_set() or not elector.leading.is_set():
            state.elector_task.cancel()
            return EXIT_OK if state.stop.is_set() else EXIT_FAILED
    else:
        metrics.leader.set(1)

    controller = Controller(
        client,
        metrics,
        elector or AlwaysLeading(),
        ControllerConfig(
            rollout_rate=options.rollout_rate,
            restart_settle=options.restart_settle,
            restart_retry=options.restart_retry,
            restarts=options.restarts,
            resync_period=options.resync_period,
            identity=identity,
            settings=options.settings,
        ),
    )
    state.controller = controller
    state.worker = asyncio.create_task(controller.run(), name="reconcile")
    existing = asyncio.all_tasks()
    kopf_stop = asyncio.Event()
    started = time.monotonic()
    kopf_tasks = await kopf.spawn_tasks(
        registry=handlers.build_registry(controller, client),
        settings=handlers.settings(),
        standalone=True,
        clusterwide=True,
        stop_flag=kopf_stop,
    )
    _install_signals(state)  # take the signals back from kopf: see the module docstring
    kopf_task = asyncio.create_task(kopf.run_tasks(kopf_tasks, ignored=existing), name="kopf")
    log.info(
        "leading: kopf started in %.2fs; planning with %s", time.monotonic() - started, options.settings.describe()
    )

    waits: list[Any] = [state.stop.wait(), kopf_task, state.worker]
    if elector is not None:
        waits += [elector.lost.wait(), state.elector_task]
    await _first(*waits)

    lost = elector is not None and elector.lost.is_set() and not state.stop.is_set()
    if kopf_task.done() and not state.stop.is_set():
        log.error("kopf stopped unexpectedly: %r", kopf_task.exception() if not kopf_task.cancelled() else "cancelled")
    kopf_stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(kopf_task, timeout=10)
    state.worker.cancel()
    with contextlib.suppress(BaseException):
        await state.worker
    if elector is not None:
        if lost:
            log.error("exiting: leadership lost")
            return EXIT_LOST_LEADERSHIP
        await elector.release()
        if state.elector_task is not None:
            state.elector_task.cancel()
    metrics.leader.set(0)
    return EXIT_OK if state.stop.is_set() else EXIT_FAILED
