"""Install checks, like ``linkerd check``: is apibridge installed and working in this cluster, end to end?

``doctor POD`` walks one pod's chain; this walks the install's: the ApiBridge CRD and the version this
apibridge speaks; the MutatingWebhookConfiguration, its CA bundle and the serving certificate (validity,
expiry, signed by that bundle, for the Service's name); whether the API server *itself* reaches the webhook
(a server-side dry-run create of a pod a bridge selects: only the webhook adds the attachment, so an
answer with it proves the whole path — configuration, Service, endpoints, TLS, the webhook's snapshot);
the operator's leadership (a Lease held and renewed); every bridge's NAD, Subnet and conditions; and the
pods a bridge selects that lack the attachment.

Each check gives a result with a plain-words fix, never a traceback. It reads the cluster through a small
``Api`` interface (GET and a dry-run POST); ``ClientApi`` is that interface over the one client stack
(``apibridge.base.kubeclient``), so ``apibridge doctor`` and ``apibridge lab doctor`` run the very same checks,
and ``apibridge check --kubeconfig`` reads the cluster through the same listing (``cluster_documents``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography import x509

from apibridge.base.errors import InputError
from apibridge.base.kubeclient import Client, KubeConfig, NotFoundError
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.operator.status import DEGRADED, POLICY_DROPS_API
from apibridge.plan.mutation import BridgeIndex, pod_mutation
from apibridge.plan.planner import plan as make_plan
from apibridge.plan.types import BridgePlan, Plan

JSON = dict[str, Any]
CRD_NAME = f"apibridges.{rules.APIBRIDGE_GROUP}"
DEFAULT_NAMESPACE = "apibridge-system"
DEFAULT_LEASE = "apibridge-operator"
EXPIRY_WARNING = dt.timedelta(days=30)
PROBE_POD = "apibridge-doctor-probe"


class Api(Protocol):
    def get(self, path: str) -> JSON | None:
        """GET ``path``: the object, or None if it does not exist (404)."""

    def dry_run_create(self, path: str, body: JSON) -> JSON:
        """POST ``body`` to ``path`` with ``dryRun=All``: the object as the API server would store it."""


class ClientApi:
    """``Api`` over ``kubeclient.Client``: the checks are plain calls, so this runs the client on its own loop.

    Raises ``kubeclient.UnreachableError`` (no connection) and ``ApiError`` (a refusal other than 404) for the
    command to report.
    """

    def __init__(self, kube: KubeConfig) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self.client = self._loop.run_until_complete(Client.connect(kube))
        except BaseException:
            self._loop.close()
            raise

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> ClientApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def _split(path: str) -> tuple[str, dict[str, str] | None]:
        base, _, query = path.partition("?")
        return base, dict(urllib.parse.parse_qsl(query)) or None

    def get(self, path: str) -> JSON | None:
        base, params = self._split(path)
        try:
            out = self._loop.run_until_complete(self.client.request("GET", base, params=params))
        except NotFoundError:
            return None
        return out if isinstance(out, dict) else None

    def dry_run_create(self, path: str, body: JSON) -> JSON:
        out = self._loop.run_until_complete(self.client.request("POST", path, body=body, params={"dryRun": "All"}))
        return out if isinstance(out, dict) else {}


@dataclass(frozen=True)
class Check:
    category: str
    ok: bool
    message: str
    hint: str = ""
    warning: bool = False  # ok, but something to act on soon (a certificate near expiry)

    def to_json(self) -> JSON:
        status = "warning" if self.ok and self.warning else ("ok" if self.ok else "error")
        return {"category": self.category, "status": status, "message": self.message, "hint": self.hint}


@dataclass
class InstallReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.checks if not c.ok)

    def add(self, category: str, ok: bool, message: str, hint: str = "", *, warning: bool = False) -> None:
        self.checks.append(Check(category, ok, message, hint, warning))

    def to_json(self) -> JSON:
        return {"checks": [c.to_json() for c in self.checks], "failed": self.failed}


def _items(api: Api, path: str) -> list[JSON]:
    out = api.get(path)
    return list((out or {}).get("items") or [])


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def _parse_time(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


# --- the CRD ---------------------------------------------------------------------------------------------------
def check_crd(api: Api, report: InstallReport) -> bool:
    crd = api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
    if crd is None:
        report.add(
            "crd",
            False,
            f"CustomResourceDefinition {CRD_NAME} is missing",
            "install the chart (helm upgrade --install apibridge deploy/chart), or apply deploy/chart/files/",
        )
        return False
    version = rules.APIBRIDGE_API.split("/")[1]
    versions = {v.get("name"): v for v in (crd.get("spec") or {}).get("versions") or []}
    established = (_condition(crd, "Established") or {}).get("status") == "True"
    if version not in versions or not versions[version].get("served"):
        served = ", ".join(n for n, v in versions.items() if v.get("served")) or "none"
        report.add(
            "crd",
            False,
            f"{CRD_NAME} does not serve {version} (served: {served})",
            "upgrade the chart: helm upgrade apibridge deploy/chart (the chart upgrades its CRD)",
        )
        return False
    if not established:
        report.add("crd", False, f"{CRD_NAME} is not Established", "kubectl describe crd " + CRD_NAME)
        return False
    report.add("crd", True, f"{CRD_NAME} serves {version} and is established")
    return True


# --- certificates ------------------------------------------------
def _certs(pem: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []


def _expiry(report: InstallReport, what: str, cert: x509.Certificate, now: dt.datetime, fix: str) -> bool:
    if cert.not_valid_after_utc <= now:
        report.add("certificates", False, f"{what} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC", fix)
        return False
    if cert.not_valid_before_utc > now:
        report.add(
            "certificates",
            False,
            f"{what} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            "check the clock of the machine that issued it",
        )
        return False
    left = cert.not_valid_after_utc - now
    report.add(
        "certificates",
        True,
        f"{what} valid until {cert.not_valid_after_utc:%Y-%m-%d} ({left.days} days)",
        fix if left < EXPIRY_WARNING else "",
        warning=left < EXPIRY_WARNING,
    )
    return True


def _signed_by(cert: x509.Certificate, cas: Iterable[x509.Certificate]) -> bool:
    for ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
            return True
        except Exception:
            continue
    return False


# --- the webhook ------------------------------------------------
@dataclass(frozen=True)
class WebhookTarget:
    configuration: str
    namespace: str
    service: str
    port: int
    ca_bundle: bytes


FIX_CERT = "renew the webhook certificate (cert-manager, or apibridge certs + helm upgrade --set-file webhook.tls.*)"


def _check_serving(
    report: InstallReport,
    what: str,
    cert: x509.Certificate,
    cas: list[x509.Certificate],
    configuration: str,
    now: dt.datetime,
    host: str,
) -> None:
    """The serving certificate: valid now and for a while, signed by the caBundle, for the name dialled."""
    _expiry(report, what, cert, now, FIX_CERT)
    if cas and not _signed_by(cert, cas):
        report.add(
            "certificates",
            False,
            f"{what} is not signed by {configuration}'s caBundle",
            "the API server refuses the handshake: renew both from one CA",
        )
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]
    except x509.ExtensionNotFound:
        names = []
    if host not in names:
        report.add(
            "certificates",
            False,
            f"{what} is not for {host} (has {names})",
            f"apibridge certs --host {host}, then helm upgrade with the new files",
        )


def peer_certificate(url: str, timeout: float = 3.0) -> bytes | None:
    """The certificate (PEM) served at ``url``, read by a TLS handshake that verifies nothing: the checks
    judge it. None when nothing answers TLS there."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=parts.hostname) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    return ssl.DER_cert_to_PEM_cert(der).encode() if der else None


def check_webhook(
    api: Api, report: InstallReport, now: dt.datetime, dial: Callable[[str], bytes | None] | None = None
) -> WebhookTarget | None:
    configs = _items(api, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations")
    found = [(c, w) for c in configs for w in c.get("webhooks") or [] if w.get("name") == "pods.apibridge.dev"]
    if not found:
        report.add(
            "webhook",
            False,
            "no MutatingWebhookConfiguration has the webhook pods.apibridge.dev",
            "install the chart, or restore it if the release exists: helm upgrade --install apibridge deploy/chart",
        )
        return None
    config, hook = found[0]
    name = config["metadata"]["name"]
    client = hook.get("clientConfig") or {}
    service = client.get("service") or {}
    report.add(
        "webhook",
        True,
        f"MutatingWebhookConfiguration {name}: failurePolicy {hook.get('failurePolicy', 'Fail')}"
        f", timeout {hook.get('timeoutSeconds', 10)}s",
    )
    try:
        bundle = base64.b64decode(client.get("caBundle") or "")
    except (ValueError, binascii.Error):
        bundle = b""
    cas = _certs(bundle)
    fix_ca = FIX_CERT
    if not cas:
        report.add(
            "certificates",
            False,
            f"{name}: caBundle is empty or not PEM: the API server cannot trust the webhook",
            "with cert-manager: check its cainjector; else set webhook.tls.caBundle",
        )
    else:
        _expiry(report, f"{name} caBundle ({cas[0].subject.rfc4514_string()})", cas[0], now, fix_ca)
    if not service:
        url = str(client.get("url") or "")
        report.add("webhook", True, f"{name} calls {url} (clientConfig.url)")
        if dial is not None and url:
            pem = dial(url)
            if pem is None:
                report.add(
                    "certificates",
                    True,
                    f"could not read the serving certificate at {url} from here (the API server may still reach it)",
                    "the reachability check below is the API server's own view",
                    warning=True,
                )
            elif found_certs := _certs(pem):
                host = urllib.parse.urlsplit(url).hostname or ""
                _check_serving(report, f"serving certificate at {url}", found_certs[0], cas, name, now, host)
        return None
    ns, svc = service.get("namespace", DEFAULT_NAMESPACE), service.get("name", "")
    port = int(service.get("port") or 443)
    target = WebhookTarget(name, ns, svc, port, bundle)
    svc_obj = api.get(f"/api/v1/namespaces/{ns}/services/{svc}")
    if svc_obj is None:
        report.add(
            "webhook",
            False,
            f"Service {ns}/{svc} of the webhook is missing",
            "helm upgrade apibridge deploy/chart restores it",
        )
        return target
    slices = _items(
        api,
        f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{svc}",
    )
    ready = [
        a
        for s in slices
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready", True)
        for a in e.get("addresses") or []
    ]
    if not ready:
        report.add(
            "webhook",
            False,
            f"Service {ns}/{svc} has no ready endpoint: no webhook replica answers",
            f"kubectl -n {ns} get pods -l app.kubernetes.io/component=webhook; kubectl -n {ns} logs deploy/{svc}",
        )
    else:
        report.add("webhook", True, f"Service {ns}/{svc} has {len(ready)} ready endpoint(s): {', '.join(ready[:4])}")
    secret = api.get(f"/api/v1/namespaces/{ns}/secrets/{svc}-tls")
    if secret is not None:
        certs = _certs(base64.b64decode(((secret.get("data") or {}).get("tls.crt")) or ""))
        if certs:
            _check_serving(report, f"serving certificate {ns}/{svc}-tls", certs[0], cas, name, now, f"{svc}.{ns}.svc")
    return target


def check_reachable(api: Api, report: InstallReport, cluster: Cluster, the_plan: Plan, bridges: list[JSON]) -> None:
    """The API server calls the webhook: a dry-run pod a bridge selects comes back with the attachment."""
    raw = {str(b["metadata"]["name"]): b.get("spec") or {} for b in bridges}
    for name, bp in sorted(the_plan.bridges.items()):
        selector = raw.get(name, {}).get("podSelector") or {}
        if selector.get("matchExpressions"):
            continue  # a pod's labels for it are not derivable in general
        namespace = _selected_namespace(cluster, the_plan, bp)
        if namespace is None or cluster.subnets.get(bp.subnet_name) is None:
            continue
        pod: JSON = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": PROBE_POD, "namespace": namespace, "labels": dict(selector.get("matchLabels") or {})},
            "spec": {"containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]},
        }
        try:
            out = api.dry_run_create(f"/api/v1/namespaces/{namespace}/pods", pod)
        except Exception as exc:
            report.add(
                "webhook",
                False,
                f"dry-run pod in {namespace} refused: {exc}",
                "with failurePolicy Fail an unreachable webhook refuses pods; see the webhook's logs",
            )
            return
        annotations = (out.get("metadata") or {}).get("annotations") or {}
        if rules.NETWORKS_ANNOTATION in annotations:
            report.add(
                "webhook",
                True,
                f"the API server reaches the webhook: a dry-run pod in {namespace} got "
                f"{annotations[rules.NETWORKS_ANNOTATION]} (bridge {name})",
            )
        else:
            report.add(
                "webhook",
                False,
                f"the API server did not get the attachment for a dry-run pod in {namespace} "
                f"that bridge {name} selects: the webhook is unreachable from the API server, or not ready",
                "check the Service's endpoints and NetworkPolicy (webhookFrom) and the webhook's /readyz; "
                "with failurePolicy Ignore such pods are created without API access",
            )
        return
    report.add("webhook", True, "no ready bridge to probe the webhook with: reachability not probed", warning=True)


def _selected_namespace(cluster: Cluster, the_plan: Plan, bp: BridgePlan) -> str | None:
    index = BridgeIndex(cluster, the_plan)
    for namespace in sorted(cluster.namespaces):
        if bp in index.namespace_bridges(namespace):
            return str(namespace)
    return None


# --- the operator ------------------------------------------------
def check_operator(api: Api, report: InstallReport, namespace: str, lease: str, now: dt.datetime) -> None:
    obj = api.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{lease}")
    spec = (obj or {}).get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = _parse_time(str(spec.get("renewTime") or ""))
    duration = int(spec.get("leaseDurationSeconds") or 15)
    fix = f"kubectl -n {namespace} get pods -l app.kubernetes.io/component=controller; check the operator's logs"
    if obj is None or not holder:
        report.add(
            "operator", False, f"no operator holds the Lease {namespace}/{lease}: nothing reconciles bridges", fix
        )
    elif renewed is None or renewed + dt.timedelta(seconds=duration) < now:
        when = f"{renewed:%H:%M:%S} UTC" if renewed else "never"
        report.add("operator", False, f"the Lease {namespace}/{lease} of {holder} expired (last renewed {when})", fix)
    else:
        report.add(
            "operator", True, f"operator {holder} leads (Lease {namespace}/{lease} renewed {renewed:%H:%M:%S} UTC)"
        )


# --- bridges and pods ------------------------------------------------
WATCHED_PATHS = (
    "/api/v1/nodes",
    "/api/v1/namespaces",
    "/apis/discovery.k8s.io/v1/endpointslices",
    "/api/v1/services",
    "/api/v1/pods",
    f"/apis/{rules.KUBEOVN_API}/vpcs",
    f"/apis/{rules.KUBEOVN_API}/subnets",
    f"/apis/{rules.NAD_API}/network-attachment-definitions",
    f"/apis/{rules.APIBRIDGE_API}/apibridges",
    f"/apis/{rules.NETWORKING_API}/networkpolicies",
    f"/apis/{rules.ANP_API}/adminnetworkpolicies",
    f"/apis/{rules.ANP_API}/baselineadminnetworkpolicies",
)
KINDS = {path.rsplit("/", 1)[1]: rules.API_RESOURCES[path.rsplit("/", 1)[1]] for path in WATCHED_PATHS}


# Every kind ``cluster_documents`` lists, each completely: for these the listing is a closed world.
LISTED_KINDS = frozenset(kind for _, kind in KINDS.values())


def cluster_documents(api: Api, source: str = "cluster") -> list[Document]:
    """Every object of ``LISTED_KINDS`` (a kind whose CRD is not installed has none), as documents."""
    docs: list[Document] = []
    for path in WATCHED_PATHS:
        api_version, kind = KINDS[path.rsplit("/", 1)[1]]
        for obj in _items(api, path):
            body = {k: v for k, v in obj.items() if k != "metadata"}
            body["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
            docs.append(Document({**body, "apiVersion": api_version, "kind": kind}, source, len(docs)))
    return docs


def check_bridges(api: Api, report: InstallReport, bridges: list[JSON]) -> None:
    if not bridges:
        report.add(
            "bridges", True, "no ApiBridge yet", "kubectl apply -f examples/apibridge/bridges.yaml", warning=True
        )
    for bridge in sorted(bridges, key=lambda b: str(b["metadata"]["name"])):
        name = str(bridge["metadata"]["name"])
        spec = bridge.get("spec") or {}
        obj_name = rules.bridge_object_name(name)
        nad_ns = str(spec.get("nadNamespace") or rules.SEED_NAD_NAMESPACE)
        ready = _condition(bridge, "Ready") or {}
        validated = _condition(bridge, "Validated") or {}
        degraded = _condition(bridge, DEGRADED) or {}
        missing = []
        if api.get(f"/apis/{rules.NAD_API}/namespaces/{nad_ns}/network-attachment-definitions/{obj_name}") is None:
            missing.append(f"NetworkAttachmentDefinition {nad_ns}/{obj_name}")
        if api.get(f"/apis/{rules.KUBEOVN_API}/subnets/{obj_name}") is None:
            missing.append(f"Subnet {obj_name}")
        if validated.get("status") == "False":
            report.add(
                "bridges",
                False,
                f"ApiBridge {name} is invalid: {validated.get('message', '')}",
                "fix the bridge's spec (apibridge check shows the same findings)",
            )
        elif missing:
            report.add(
                "bridges",
                False,
                f"ApiBridge {name} lacks its {' and '.join(missing)}: its pods get no API access",
                "the operator recreates them when it runs and leads; check the operator check above and its logs",
            )
        elif degraded.get("status") == "True" and degraded.get("reason") == POLICY_DROPS_API:
            report.add(
                "bridges",
                False,
                f"ApiBridge {name}'s pods lose their API traffic to a tenant NetworkPolicy: "
                f"{degraded.get('message', '')}",
                "allow the API endpoints in that policy (apibridge check shows the rule to add, AB310)",
            )
        elif ready.get("status") != "True":
            report.add(
                "bridges",
                False,
                f"ApiBridge {name} is not Ready: {ready.get('reason', '')} {ready.get('message', '')}".strip(),
                f"kubectl describe apibridge {name}",
            )
        else:
            report.add(
                "bridges", True, f"ApiBridge {name}: NAD {nad_ns}/{obj_name} and Subnet {obj_name} present, Ready"
            )


def check_pods(report: InstallReport, cluster: Cluster, the_plan: Plan) -> None:
    index = BridgeIndex(cluster, the_plan)
    lacking: list[str] = []
    for pod in cluster.pods:
        if pod.meta.kind != "Pod":
            continue
        bp = index.bridge_for(pod)
        if bp is not None and pod_mutation(pod.annotations, pod.namespace, bp):
            lacking.append(f"{pod.namespace}/{pod.meta.name} (bridge {bp.bridge.name})")
    if lacking:
        shown = ", ".join(sorted(lacking)[:8]) + (" …" if len(lacking) > 8 else "")
        report.add(
            "pods",
            False,
            f"{len(lacking)} pod(s) a bridge selects lack the attachment: {shown}",
            "restart their owners (kubectl rollout restart …), or set rollout: restart on the bridge",
        )
    else:
        report.add("pods", True, "every pod a bridge selects has its attachment")


def run_checks(
    api: Api,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    lease: str = DEFAULT_LEASE,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    dial: Callable[[str], bytes | None] | None = None,
) -> InstallReport:
    """Every install check, in the order a reader fixes them. ``dial`` reads the certificate a webhook
    configured by URL serves (``peer_certificate``); without it that certificate is judged only by the
    API server's reaching the webhook."""
    report = InstallReport()
    at = now()
    crd_ok = check_crd(api, report)
    target = check_webhook(api, report, at, dial)
    check_operator(api, report, target.namespace if target else namespace, lease, at)
    if not crd_ok:
        return report
    docs = cluster_documents(api)
    try:
        cluster, _rejected = Cluster.tolerant(docs)
        the_plan = make_plan(cluster)
    except InputError as exc:
        report.add(
            "bridges", False, f"the cluster's objects cannot be planned: {exc}", "apibridge check --kubeconfig …"
        )
        return report
    bridges = [d.body for d in docs if d.body.get("kind") == "ApiBridge"]
    check_bridges(api, report, bridges)
    check_reachable(api, report, cluster, the_plan, bridges)
    check_pods(report, cluster, the_plan)
    return report


def render_text(report: InstallReport) -> str:
    """``linkerd check`` style: one line per check under its category, hints indented."""
    lines: list[str] = []
    category = ""
    order = list(dict.fromkeys(c.category for c in report.checks))
    for c in sorted(report.checks, key=lambda c: order.index(c.category)):
        if c.category != category:
            category = c.category
            lines.append(f"{category}\n{'-' * len(category)}")
        mark = "‼" if c.ok and c.warning else ("√" if c.ok else "×")
        lines.append(f"{mark} {c.message}")
        if c.hint and (not c.ok or c.warning):
            lines.append(f"    see: {c.hint}")
    lines.append("")
    lines.append("Status check results are √" if not report.failed else f"{report.failed} check(s) failed ×")
    return "\n".join(lines) + "\n"
