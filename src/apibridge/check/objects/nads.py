"""NetworkAttachmentDefinition rules: the config, its provider, and the Subnet bound to it.

Two components read one NAD differently. kube-ovn-controller *derives* the provider from the NAD's
name and namespace (``<nad>.<ns>.ovn``) and allocates under that name; kube-ovn-cni sends the
config's own ``provider`` field (``ovn`` when empty) and waits 20 s for an address under *that*
name. When they differ the pod fails with "no address allocated". Since Kube-OVN 1.15 a provider
bound to no Subnet fails the whole pod ("provider X is not bound to any subnet").
"""

from __future__ import annotations

from collections.abc import Mapping

from apibridge.kubeovn import rules
from apibridge.model.objects import Nad

from ..findings import Finding, finding
from ..index import View, is_attachment_subnet
from .subnets import SubnetReporter


def _refs_text(users: tuple[int, list[str]] | None) -> str:
    if not users or not users[0]:
        return ""
    count, samples = users
    shown = sorted(samples)[:3]
    more = f" and {count - len(shown)} more" if count > len(shown) else ""
    return f"; used by {', '.join(shown)}{more}"


def _report(view: View, nad: Nad, code: str, field: str, message: str, hint: str) -> Finding:
    owner = view.planned_nads.get((nad.meta.namespace or "default", nad.meta.name))
    if owner is not None:
        return finding(
            code, owner.bridge.meta.ref, "spec.nadNamespace", f"planned NAD {nad.meta.name}: {message}", hint
        )
    return finding(code, nad.meta.ref, field, message, hint)


def check_nads(
    view: View, users: Mapping[tuple[str, str], tuple[int, list[str]]], providers_named: set[str]
) -> list[Finding]:
    """``users``: how many pods reference each NAD, and a few of them; ``providers_named``: providers of the
    pods' provider-scoped annotation keys."""
    out: list[Finding] = []
    for key in sorted(view.nads):
        nad = view.nads[key]
        ns, name = key
        used_by = _refs_text(users.get(key))
        if nad.config is None:
            out.append(
                _report(
                    view,
                    nad,
                    "AB032",
                    "spec.config",
                    f"spec.config is {nad.config_error}; Multus cannot load it{used_by}",
                    'write a JSON object: {"cniVersion":"0.3.1","type":'
                    f'"kube-ovn","server_socket":"{rules.NAD_SERVER_SOCKET}","provider":'
                    f'"{rules.nad_provider(name, ns)}"}}',
                )
            )
            continue
        config = nad.config
        derived = nad.derived_provider
        if derived is None:
            ovn_provider = rules.nad_provider(name, ns)
            if ovn_provider in providers_named or view.subnets_for_provider(ovn_provider):
                kind = config.raw.get("type") if isinstance(config.raw.get("type"), str) else config.kind
                out.append(
                    _report(
                        view,
                        nad,
                        "AB033",
                        "spec.config",
                        f"config is type {kind} (not "
                        f"{rules.NAD_TYPE}), yet provider {ovn_provider} is used by a Subnet or pod "
                        "annotations; Kube-OVN ignores this attachment",
                        f'set "type": "{rules.NAD_TYPE}" in spec.config',
                    )
                )
            continue
        where = "" if config.kind == "kube-ovn" else ' in "ipam"'
        if not config.server_socket:  # kube-ovn v1.16.2 cmd/cni/cni.go loadNetConf
            out.append(
                _report(
                    view,
                    nad,
                    "AB045",
                    "spec.config",
                    f'config has no "server_socket"{where}; kube-ovn-cni fails every pod that attaches it '
                    f'("server_socket is required in cni.conf"){used_by}',
                    f'add "server_socket": "{rules.NAD_SERVER_SOCKET}"{where}',
                )
            )
        if not config.provider:
            out.append(
                _report(
                    view,
                    nad,
                    "AB035",
                    "spec.config",
                    f'config has no "provider"{where}; kube-ovn-cni sends "{rules.OVN_PROVIDER}" and '
                    + (
                        "configures the attachment with eth0's address, MAC and routes, then moves eth0's OVS "
                        "port binding (iface-id) to it (CleanDuplicatePort, kube-ovn v1.16.2): the pod runs with "
                        "eth0 detached from its primary network"
                        if config.kind == "kube-ovn"
                        else "the attachment gets eth0's address (its IPAM answers for the primary network)"
                    )
                    + used_by,
                    f'add "provider": "{derived}"{where}',
                )
            )
        elif config.kind == "kube-ovn":
            if config.provider != derived:
                out.append(
                    _report(
                        view,
                        nad,
                        "AB034",
                        "spec.config",
                        f"config provider {config.provider!r} differs "
                        f"from {derived!r}, the provider kube-ovn-controller derives from the NAD's name "
                        "and namespace; kube-ovn-cni waits 20 s for an address under the wrong name and "
                        f'fails "no address allocated"{used_by}',
                        f'set "provider": "{derived}"',
                    )
                )
        elif config.provider != derived:
            out.append(
                _report(
                    view,
                    nad,
                    "AB034",
                    "spec.config",
                    f"ipam provider {config.provider!r} differs from "
                    f"{derived!r}, the provider Kube-OVN derives for an IPAM-only NAD{used_by}",
                    f'set "ipam": {{"provider": "{derived}"}}',
                )
            )
        if not view.subnets_for_provider(derived):
            out.append(
                _report(
                    view,
                    nad,
                    "AB036",
                    "spec.config",
                    f"no Subnet has provider {derived!r}; Kube-OVN "
                    f'fails every pod that attaches it ("provider {derived} is not bound to any subnet")'
                    f"{used_by}",
                    f"create a Subnet with spec.provider: {derived} (its own CIDR, in "
                    f"{rules.DEFAULT_VPC} to reach the API server)",
                )
            )
    out += _shared_providers(view)
    out += _orphan_attachment_subnets(view)
    return out


def _shared_providers(view: View) -> list[Finding]:
    report = SubnetReporter(view)
    out: list[Finding] = []
    for provider, subnets in sorted(view.by_provider.items()):
        if provider == rules.OVN_PROVIDER or len(subnets) < 2:
            continue
        names = [s.name for s in subnets]
        for s in subnets:
            others = ", ".join(n for n in names if n != s.name)
            out.append(
                report(
                    "AB037",
                    s,
                    "spec.provider",
                    f"provider {provider!r} is also the provider "
                    f"of {others}; Kube-OVN attaches pods to whichever it lists first",
                    "give each NAD exactly one Subnet, or pin pods with "
                    f"{rules.provider_key(provider, rules.LOGICAL_SWITCH)}",
                )
            )
    return out


def _orphan_attachment_subnets(view: View) -> list[Finding]:
    report = SubnetReporter(view)
    out: list[Finding] = []
    for name in sorted(view.subnets):
        s = view.subnets[name]
        nad = rules.nad_of_provider(s.provider)
        if not is_attachment_subnet(s) or nad is None:
            continue
        nad_name, nad_ns = nad
        if (nad_ns, nad_name) not in view.nads:
            out.append(
                report(
                    "AB041",
                    s,
                    "spec.provider",
                    f"provider {s.provider!r} names "
                    f"NetworkAttachmentDefinition {nad_ns}/{nad_name}, which "
                    f"{view.cluster.absent(rules.NAD_KIND.kind)}",
                    f'create NAD {nad_ns}/{nad_name} with "provider": "{s.provider}", or fix the '
                    "provider to <nad>.<namespace>.ovn of an existing NAD",
                )
            )
    return out
