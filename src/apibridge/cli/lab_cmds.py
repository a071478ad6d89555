"""``apibridge lab …`` and ``apibridge demo``: the OVN twin from the command line.

The twin library (``apibridge.twin``) does the work; these commands choose the lab (``--name``,
state under ``$APIBRIDGE_LAB_DIR/<name>``, default ``/run/apibridge/lab/<name>``), show progress on
stderr while it runs, and print results in the project's common style: text or ``-o json|yaml`` on
stdout, diagnostics on stderr. Every ``lab`` command (and ``demo``) uses one exit-code table:

* 0 — as intended;
* 1 — a result contradicts the intent (a leak, a blocked path, a failed pod);
* 2 — unusable input or usage (one line, never a traceback);
* 3 — the lab is not healthy: not up, a daemon or server dead, OVN not caught up, an incomplete
  build, or a step of the twin failed — each fault named with the command that recovers it.

How results look is ``apibridge.report.lab``'s business; a command here parses options, calls the
twin, hands the report over and picks the exit code.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from apibridge.base.errors import InputError, Location
from apibridge.base.kubeclient import ApiError, UnreachableError
from apibridge.cli.common import EXIT_FINDINGS, EXIT_OK, output_option, service_cidr_option
from apibridge.kubeovn.dualstack import IPNetwork
from apibridge.report import findings as report
from apibridge.report import lab as lab_report
from apibridge.report.console import Ui, activity, counting
from apibridge.report.manifests import dump
from apibridge.twin import demo
from apibridge.twin.control.kubeapi import KubeApiError
from apibridge.twin.health import DEFAULT_WAIT, LabUnhealthyError
from apibridge.twin.lab import Lab
from apibridge.twin.ovn.nb import NorthboundError
from apibridge.twin.ovn.topology import Topology
from apibridge.twin.pods.hub import HubError
from apibridge.twin.pods.probe import DEFAULT_PARALLEL
from apibridge.twin.proc import CommandError
from apibridge.twin.proof import explain, graph, trace
from apibridge.twin.proof.verify import DEFAULT_SAMPLE, verify
from apibridge.twin.state import DEFAULT_NAME, ENV_DIR, locate

F = TypeVar("F", bound=Callable[..., Any])
NAME_ENV = "APIBRIDGE_LAB_NAME"
EXIT_UNHEALTHY = 3  # the lab cannot answer: not up, a daemon dead, OVN behind, an incomplete build


def _name_option(default: str = DEFAULT_NAME) -> Callable[[F], F]:
    return click.option(
        "--name",
        default=default,
        show_default=True,
        envvar=NAME_ENV,
        metavar="NAME",
        help=f"Which lab (state under ${ENV_DIR}/NAME, default /run/apibridge/lab/NAME).",
    )


def _open(name: str) -> Lab:
    if os.geteuid() != 0:
        raise InputError(
            "the lab needs root (network namespaces, Open vSwitch)", Location(field="--name"), hint="run it with sudo"
        )
    return Lab(locate(name))


def twin_errors(func: F) -> F:
    """An unhealthy lab (its faults, each with its recovery) or a failure of the twin's machinery (a
    daemon, a command, the NB database; one line) — exit 3."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LabUnhealthyError as exc:
            lab_report.print_faults(Ui(), exc.faults)
            raise click.exceptions.Exit(EXIT_UNHEALTHY) from None
        except (CommandError, NorthboundError, HubError, OSError) as exc:
            log = _log_failure(kwargs.get("name"), exc)
            Ui().error(f"the lab failed: {exc}" + (f" (the full command is in {log})" if log else ""))
            raise click.exceptions.Exit(EXIT_UNHEALTHY) from None

    return wrapper  # type: ignore[return-value]


def _log_failure(name: object, exc: Exception) -> Path | None:
    """Append a failed command in full (argv, output) to the lab's log; its message on stderr is short."""
    if not isinstance(exc, CommandError) or not isinstance(name, str):
        return None
    try:
        log = locate(name).root / "log" / "lab.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {exc.step or 'command'} failed\n{exc.full}")
    except (OSError, InputError):
        return None
    return log


def _wait_option(func: F) -> F:
    return click.option(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        show_default=True,
        metavar="SECONDS",
        help="How long OVN may take to catch up (nb_cfg on every chassis) before the lab counts as lagging.",
    )(func)


def _topology(lab: Lab) -> Topology:
    """The lab's topology; on the kube-ovn engine with the controller's router-port MACs (twin.kubeovn.align),
    so that trace's microflows, verify's explanations and graph match the NB the controller wrote."""
    topo = lab.desired().topology
    if lab.engine.kube_ovn:
        from apibridge.twin.kubeovn import align
        from apibridge.twin.ovn import realize

        topo = align.router_macs(topo, realize.current(lab.nb()))
    return topo


def _dump(document: Any, output: str) -> None:
    click.echo(dump(document, output), nl=False)


@click.group("lab")
def lab_group() -> None:
    """The OVN twin: real OVN/OVS daemons and network namespaces built from your manifests.

    \b
    apibridge lab up examples/seed/          build (or reconcile) the twin
    apibridge lab verify --adversarial       probe the reachability the intent promises
    apibridge lab trace ns/pod 10.96.0.1:443 the path in plain words, then ovn-trace
    apibridge lab exec ns/pod -- ip route    run a command inside a pod
    apibridge lab status | graph -o lab.svg | down
    """


@lab_group.command("up")
@click.argument("files", nargs=-1, metavar="[FILE...]")
@click.option(
    "--kube",
    is_flag=True,
    help="Behind a real control plane (etcd, kube-apiserver, controllers, scheduler, the chart).",
)
@click.option(
    "--engine",
    type=click.Choice(["model", "kube-ovn"]),
    default=None,
    help="With --kube: who programs OVN's northbound database: the twin's model of Kube-OVN (model, the "
    "default) or the real kube-ovn-controller (kube-ovn; the twin then plays kube-ovn-cni). Fixed when the lab "
    "is built.",
)
@service_cidr_option(
    "Without the default/kubernetes Service in the input, its ClusterIP is the first address of CIDR (else the "
    "lab keeps kubeadm's 10.96.0.1, and says so); kept by the lab for later reconciles."
)
@_name_option()
@output_option(("text", "json", "yaml"), "text")
@twin_errors
def up_command(
    files: tuple[str, ...],
    kube: bool,
    engine: str | None,
    service_cidrs: tuple[IPNetwork, ...],
    name: str,
    output: str,
) -> None:
    """Build the twin from manifests, or reconcile a running one to them.

    Without FILE: the lab's own input again — restarts dead daemons and servers, recreates lost
    namespaces. A lab whose last build did not complete is rebuilt, not reconciled.

    With --kube (or on a lab built with it): the twin is the kubelet and CNI of a real control plane;
    the FILEs go through its API server (see `apibridge lab kubeconfig`).
    """
    ui = Ui()
    if kube or _open(name).kube:
        if service_cidrs:
            raise InputError(
                "--service-cidr is for a plain lab: a kube lab takes the API ClusterIP from its kube-apiserver",
                Location(field="--service-cidr"),
                hint="include the default/kubernetes Service in the FILEs (its ClusterIP sets the lab's range)",
            )
        lab_kube_up(ui, name, files, output, engine)
        return
    if engine is not None:
        raise InputError("--engine needs --kube (a plain lab has no API server to run a controller against)",
                         Location(field="--engine"))  # fmt: skip
    with _open(name) as lab, activity(ui.err, "starting") as step:
        result = lab.up(files, progress=step, service_cidrs=[str(c) for c in service_cidrs] or None)
    if output == "text":
        report.print_assumptions(ui.err, result.assumptions)
        lab_report.print_up(ui, result)
    else:
        _dump(lab_report.up_document(result), output)
    if result.failures:  # the input asks for these pods: one that failed contradicts the intent (exit table: 1)
        ui.error(
            f"{len(result.failures)} pod(s) failed as Kube-OVN would fail them: "
            + "; ".join(f"{ref}: {why}" for ref, why in sorted(result.failures.items()))
        )
        raise click.exceptions.Exit(EXIT_FINDINGS)


@lab_group.command("tools", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def tools_command(args: tuple[str, ...]) -> None:
    """Build the Go tools `lab up --kube` runs (kube-apiserver, controller-manager, scheduler, kubectl, etcd,
    Helm) from the Go module proxy into a per-machine cache, once; `--check` only says what is missing."""
    from apibridge.cli.lab_kube import tools_env, tools_script

    script = tools_script()
    os.execvpe("bash", ["bash", str(script), *args], tools_env(script))


@lab_group.command("doctor")
@_name_option()
@output_option(("text", "json", "yaml"), "text")
@click.pass_context
@twin_errors
def doctor_command(ctx: click.Context, name: str, output: str) -> None:
    """Check the lab's install end to end, like `linkerd check` (a lab built with `lab up --kube`): CRD,
    webhook configuration, certificates, the API server reaching the webhook, the operator's Lease, every
    bridge's objects and conditions, pods lacking their attachment. Exit 1 if a check fails."""
    from apibridge.cli.lab_kube import doctor
    from apibridge.operator.diagnose.install import render_text

    try:
        result = doctor(name)
    except (KubeApiError, UnreachableError, ApiError) as exc:
        Ui().error(f"the lab's API server does not answer: {exc}")
        raise click.exceptions.Exit(EXIT_UNHEALTHY) from None
    if output != "text":
        _dump(result.to_json(), output)
    else:
        click.echo(render_text(result), nl=False)
    ctx.exit(EXIT_OK if result.failed == 0 else EXIT_FINDINGS)


@lab_group.command("kubeconfig")
@_name_option()
def kubeconfig_command(name: str) -> None:
    """Print the kubeconfig path of a lab built with `lab up --kube` (e.g. KUBECONFIG=$(apibridge lab kubeconfig))."""
    from apibridge.cli.lab_kube import kubeconfig_path

    click.echo(str(kubeconfig_path(name)))


def lab_kube_up(ui: Ui, name: str, files: tuple[str, ...], output: str, engine: str | None = None) -> None:
    from apibridge.cli import lab_kube

    with activity(ui.err, "starting") as step:
        try:
            result = lab_kube.up(name, files, step, engine_name=engine)
        except RuntimeError as exc:
            ui.error(f"the lab failed: {exc}")
            raise click.exceptions.Exit(EXIT_UNHEALTHY) from None
    doc = {
        "name": result.name,
        "apiserver": result.url,
        "kubeconfig": str(result.kubeconfig),
        "started": result.started,
        "applied": result.applied,
        "pods_running": result.pods_running,
        "pods_pending": result.pods_pending,
        "seconds": round(result.seconds, 2),
    }
    if output != "text":
        _dump(doc, output)
    else:
        click.echo(
            f"lab {name}: kube-apiserver {result.url}, {result.pods_running} pods running"
            f"{f', {len(result.pods_pending)} pending' if result.pods_pending else ''}, {result.seconds:.1f} s\n"
            f"  export KUBECONFIG={result.kubeconfig}"
        )
        for pending in result.pods_pending[:10]:
            ui.warning(f"not ready yet: {pending}")
    if result.pods_pending:
        raise click.exceptions.Exit(EXIT_FINDINGS)


# --- verify ----------------------------------------------------------------------------------------


@lab_group.command("diff")
@click.argument("files", nargs=-1, metavar="[FILE...]")
@click.option(
    "--name",
    default=None,
    envvar=NAME_ENV,
    metavar="NAME",
    help="The kube-ovn lab to compare (with FILE: to apply them to; built and torn down when it does not exist). "
    "Default with FILE: a new lab, torn down afterwards.",
)
@click.option("--keep", is_flag=True, help="With FILE: leave the lab it built up (to look at it).")
@click.option(
    "--settle",
    type=float,
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="How long the controller may take to finish programming OVN before the rows are compared.",
)
@output_option(("text", "json", "yaml"), "text")
@twin_errors
def diff_command(files: tuple[str, ...], name: str | None, keep: bool, settle: float, output: str) -> None:
    """The same manifests realized by the model and by the real kube-ovn-controller, compared row by row.

    \b
    apibridge lab diff examples/seed/          build a kube-ovn lab, compare, tear it down
    apibridge lab diff --name LAB              compare a lab built with --engine kube-ovn

    Load balancers and their switches, router policies and static routes, ACLs and port groups, switch ports
    with addresses and options, NB_Global options; normalised for names and UUIDs that legitimately differ.
    Exit 1 when a difference is not in the reviewed list of known ones (docs/kube-ovn-engine.md).

    \b
    JSON: {"same": n, "differences": [{"table", "key", "model", "kube_ovn", "known"}], "unexplained": k}
    """
    from apibridge.cli import lab_diff

    if (name is not None or files) and os.geteuid() != 0:
        raise InputError("the lab needs root (network namespaces, Open vSwitch)", Location(field="FILE"),
                         hint="run it with sudo")  # fmt: skip
    ui = Ui()
    with activity(ui.err, "starting") as step:
        try:
            run = lab_diff.run(files, name, keep=keep, progress=step, settle=settle)
        except RuntimeError as exc:
            ui.error(f"the lab failed: {exc}")
            raise click.exceptions.Exit(EXIT_UNHEALTHY) from None
    result = run.report
    for pending in run.pending[:10]:
        ui.warning(f"not running: {pending}")
    if output != "text":
        _dump(result.document(), output)
    else:
        for d in result.differences:
            mark = f"known: {d.known}" if d.known else "UNEXPLAINED"
            click.echo(f"{d.table} {d.key}: {mark}\n  model:    {d.model}\n  kube-ovn: {d.kube_ovn}")
        click.echo(f"diff: {result.same} same, {len(result.differences)} different, {result.unexplained} unexplained")
    if run.torn_down:
        ui.info(f"lab {run.name} torn down")
    elif files:
        ui.info(f"lab {run.name} left up: apibridge lab down --name {run.name}")
    if result.unexplained:
        raise click.exceptions.Exit(EXIT_FINDINGS)


@lab_group.command("verify")
@click.option("--adversarial", is_flag=True, help="Attached pods first route everything through their attachment.")
@click.option("--timeout", type=float, default=1.0, show_default=True, help="Seconds before a probe counts as blocked.")
@click.option(
    "--parallel",
    type=int,
    default=DEFAULT_PARALLEL,
    show_default=True,
    help="Probes expected to be answered in flight at once (measured on a 2-core machine; see bench/lab.py).",
)
@click.option("--all", "show_all", is_flag=True, help="List every probe, not only the unexpected ones.")
@click.option("--exhaustive", is_flag=True, help="The full matrix instead of pairs of equivalence classes.")
@click.option("--seed", type=int, help="Seed of the random sample (default: a new one, shown in the report).")
@click.option(
    "--sample", type=int, default=DEFAULT_SAMPLE, show_default=True, help="Pods probed beyond the representatives."
)
@_wait_option
@_name_option()
@output_option(("text", "json", "yaml"), "text")
@click.pass_context
@twin_errors
def verify_command(
    ctx: click.Context,
    adversarial: bool,
    timeout: float,
    parallel: int,
    show_all: bool,
    exhaustive: bool,
    seed: int | None,
    sample: int,
    wait: float,
    name: str,
    output: str,
) -> None:
    """Probe, from inside the pods, what the intent says must and must not be reachable.

    Pods that are the same to the network (node, subnets, attachments and routes, bridge, ports) form
    an equivalence class: every ordered pair of classes is probed with representatives, every
    destination kind, plus a seeded random sample of other pods (--exhaustive: the full matrix). A
    probe expected to reach that times out is retried (bounded) before it counts; a result that
    contradicts the intent is explained with ovn-trace and ofproto/trace.

    \b
    JSON: {"probes": [{"from", "to", "to_pod", "port", "expect", "result", "ok", "detail"}],
           "passed": n, "failed": m}
    The lab is checked first (daemons alive, OVN caught up, build complete): if it is not healthy,
    nothing is probed, its faults are named and the exit code is 3. Exit 1 when any probe did not
    behave as expected (a leak, or a blocked path).
    """

    ui = Ui()
    with _open(name) as lab:
        lab.require_healthy(wait)
        topo = _topology(lab)
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        with counting(ui.err, "probing" + (" adversarially" if adversarial else "")) as done:
            result = verify(
                topo,
                netns,
                ca_file=lab.place.ca_file,
                adversarial=adversarial,
                timeout=timeout,
                parallel=parallel,
                done=done,
                exhaustive=exhaustive,
                seed=seed,
                sample=sample,
            )
        explain.explain_failures(result, topo, lab.daemons)
    if output != "text":
        _dump(result.to_json(), output)
    else:
        lab_report.print_verify(ui, result, show_all=show_all)
    ctx.exit(EXIT_OK if result.failed == 0 else EXIT_FINDINGS)


# --- trace -----------------------------------------------------------------------------------------


@lab_group.command("trace")
@click.argument("pod", metavar="POD")
@click.argument("dest", metavar="DEST[:PORT]")
@click.option("--udp", is_flag=True, help="Trace UDP instead of TCP.")
@click.option("--via", metavar="IFNAME", help="Send through this interface (default: the pod's own route).")
@click.option("--summary", "summary_only", is_flag=True, help="Only the plain-words path.")
@_name_option()
@output_option(("text", "json", "yaml"), "text")
@twin_errors
def trace_command(pod: str, dest: str, udp: bool, via: str | None, summary_only: bool, name: str, output: str) -> None:
    """The path of one packet from POD to DEST, in plain words, then the ovn-trace behind it.

    Exit 3 if the lab is not healthy (a dead daemon, OVN behind): the trace would describe stale flows.
    """

    ui = Ui()
    with _open(name) as lab:
        rec = lab.resolve(pod)
        lab.require_healthy()  # ovn-trace reads the live southbound database: stale flows would be described
        topo = _topology(lab)
        twin_pod = topo.pod(rec.ref)
        if twin_pod is None:
            raise InputError(f"{rec.ref} is a node; trace starts at a pod", Location(field="POD"))
        request = trace.build_request(topo, twin_pod, rec.netns, dest, protocol="udp" if udp else "tcp", via=via)
        sb = lab.daemons.paths.sb_remote
        text, summary = trace.trace(topo, request, sb, env=lab.daemons.env())
    if output != "text":
        _dump(lab_report.trace_document(request, summary, text), output)
        return
    lab_report.print_trace(ui, request, summary)
    if not summary_only:
        lab_report.print_trace_command(ui, request.argv(sb))
        click.echo(text.rstrip())


# --- exec / status / down / graph --------------------------------------------------------------------


@lab_group.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("pod", metavar="POD")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD...")
@_name_option()
def exec_command(pod: str, command: tuple[str, ...], name: str) -> None:
    """Run CMD inside POD's network namespace (``ip netns exec``); its exit code is ours."""
    args = list(command[1:] if command and command[0] == "--" else command)
    if not args:
        raise InputError("no command given", Location(field="CMD"), hint="apibridge lab exec POD -- CMD...")
    with _open(name) as lab:
        argv = lab.exec_argv(pod, args)
    os.execvp(argv[0], argv)


@lab_group.command("status")
@_wait_option
@_name_option()
@output_option(("text", "json", "yaml"), "text")
@click.pass_context
@twin_errors
def status_command(ctx: click.Context, wait: float, name: str, output: str) -> None:
    """Health (daemons alive, OVN caught up, build complete), pods and northbound row counts.

    Exit 3 if the lab is not healthy (each fault named with the command that recovers it).
    """
    ui = Ui()
    with _open(name) as lab:
        s = lab.status(wait)
    if output != "text":
        _dump(lab_report.status_document(s), output)
    else:
        lab_report.print_status(ui, s)
    ctx.exit(EXIT_OK if s.healthy else EXIT_UNHEALTHY)


@lab_group.command("down")
@_name_option()
@twin_errors
def down_command(name: str) -> None:
    """Stop the lab's processes, delete its namespaces and state (also after a crash)."""
    ui = Ui()
    with _open(name) as lab:
        result = lab.down()
    lab_report.print_down(ui, name, result)


@lab_group.command("graph")
@click.option(
    "-o",
    "--output",
    "output_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="FILE.svg, .png, .pdf (rendered with dot) or .dot",
)
@_name_option()
@twin_errors
def graph_command(output_file: Path, name: str) -> None:
    """Draw the lab: VPCs, subnets, pods, attachments, routes to the API, ACL fences."""

    with _open(name) as lab:
        topo = _topology(lab)
    path = graph.render(graph.to_dot(topo, f"apibridge lab {name}"), output_file)
    lab_report.print_wrote(Ui(), path)


# --- demo --------------------------------------------------------------------------------------------


@click.command("demo")
@click.option(
    "--scenario",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    metavar="DIR",
    help="Scenario directory (default: the embedded one, also at examples/demo).",
)
@click.option(
    "--graph",
    "graph_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("apibridge-demo.svg"),
    show_default=True,
    help="Where to draw the final lab.",
)
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards (explore it with lab trace/exec).")
@_name_option("demo")
@click.pass_context
@twin_errors
def demo_command(ctx: click.Context, scenario: Path | None, graph_file: Path, keep: bool, name: str) -> None:
    """The story on the real OVN twin: no access → the seed's fix (and its leak) → strict ApiBridges."""

    out = Ui().out
    directory = demo.scenario_dir(scenario)
    t0 = time.monotonic()
    lab_report.print_demo_start(out, directory)
    with _open(name) as lab:
        try:
            with activity(out, "starting") as step:
                result = demo.run_demo(
                    lab,
                    directory,
                    graph_file=graph_file.absolute(),
                    on_phase=functools.partial(lab_report.print_phase_start, out),
                    on_step=step,
                    on_result=functools.partial(lab_report.print_phase, out),
                )
        finally:
            if not keep:
                lab.down()
    lab_report.print_demo(out, result, seconds=time.monotonic() - t0, kept=name if keep else None)
    ctx.exit(EXIT_OK if result.ok else EXIT_FINDINGS)
