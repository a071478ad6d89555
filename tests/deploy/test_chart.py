"""The Helm chart renders, under the real Helm 3 and Helm 4, to valid Kubernetes objects that fit together,
with least-privilege RBAC.

Every values combination that changes the output is rendered with ``helm template`` (both Helms, which must
agree) and linted with ``helm lint --strict``; each result is validated against the OpenAPI schemas
(``kubernetes-validate``, strict, for the oldest and newest Kubernetes we claim) and by the real API server
(``kubectl apply --dry-run=server``, in ``test_chart_install.py``). Then the references between objects are
checked the way a cluster would resolve them, and the RBAC rules against the resources the webhook and the
controller actually touch in their code.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from apibridge.admission import watch as webhook_watch
from apibridge.admission.server import MUTATE_PATH
from apibridge.base.certs import CertificateAuthority
from apibridge.cli.incluster_cmds import webhook_command
from apibridge.plan.settings import parse_settings
from kube.tools import HELMS

from .helm import NAMESPACE, HelmError, lint, merge, template
from .support import CHART, K8S_VERSIONS, REPO

CA = CertificateAuthority.create("chart-test-ca")
SERVING = CA.issue([f"apibridge-webhook.{NAMESPACE}.svc"])
TLS = {
    "webhook": {
        "tls": {
            "cert": SERVING.cert_pem().decode(),
            "key": SERVING.key_pem().decode(),
            "caBundle": CA.cert_pem().decode(),
        }
    }
}
# Every values combination that changes the output: TLS from values or cert-manager (own Issuer or a
# ClusterIssuer), excludeNamespaces default / empty / several, NetworkPolicy on / off, webhookFrom set.
ANYWHERE = {"networkPolicy": {"webhookFromAnywhere": True}}  # the documented escape
CONTROL_PLANE = {"networkPolicy": {"webhookFrom": [{"ipBlock": {"cidr": "172.18.0.0/16"}}]}}
SCENARIOS: dict[str, dict[str, Any]] = {
    "tls-from-values": merge(TLS, ANYWHERE),
    "cert-manager": merge({"certManager": {"enabled": True}}, ANYWHERE),
    "webhook-from-control-plane": merge(TLS, CONTROL_PLANE),
    "restarts-on": merge(merge(TLS, CONTROL_PLANE), {"controller": {"restarts": {"enabled": True}}}),
    "cert-manager-cluster-issuer": merge(
        {
            "certManager": {
                "enabled": True,
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "corporate-ca"},
            }
        },
        ANYWHERE,
    ),
    "fail-closed-no-netpol": merge(
        TLS,
        {
            "webhook": {"failurePolicy": "Fail", "excludeNamespaces": ["kube-system", "kube-ovn"]},
            "networkPolicy": {"enabled": False},
            "imagePullSecrets": [{"name": "regcred"}],
            "controller": {"extraArgs": ["--resync-period=600"], "nodeSelector": {"kubernetes.io/os": "linux"}},
        },
    ),
    "exclude-none": merge(merge(TLS, ANYWHERE), {"webhook": {"excludeNamespaces": []}}),
    "no-crd": merge(merge(TLS, ANYWHERE), {"crd": {"install": False}}),
    "dns-service-openshift": merge(
        merge(TLS, ANYWHERE), {"settings": {"dnsService": "openshift-dns/dns-default", "kubeProxy": False}}
    ),
}
WITHOUT_CERT_MANAGER = [name for name, values in SCENARIOS.items() if "certManager" not in values]


def default_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def render(overrides: dict[str, Any], helm: str = "helm4") -> list[dict[str, Any]]:
    return template(helm, overrides)


@pytest.fixture(params=list(SCENARIOS), scope="module")
def scenario(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    name: str = request.param
    return name, render(SCENARIOS[name])


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pods_of(docs: list[dict[str, Any]], namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
    return [
        d["spec"]["template"]
        for d in docs
        if d["kind"] == "Deployment"
        and d["metadata"]["namespace"] == namespace
        and matches(selector, d["spec"]["template"]["metadata"]["labels"])
    ]


def container_ports(template: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}


# ---- rendering --------------------------------------------------------------------------------------------
def test_the_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "apibridge"
    assert (CHART / "files" / "apibridges.apibridge.dev.yaml").is_file()
    assert not (CHART / "crds").exists(), "crds/ is never upgraded by Helm: the CRD is templates/crd.yaml"


@pytest.mark.parametrize("helm", HELMS)
def test_the_webhook_port_admits_only_named_sources_unless_the_escape_is_set(helm: str) -> None:
    with pytest.raises(HelmError, match="webhookFromAnywhere"):
        render(TLS, helm)


@pytest.mark.parametrize("helm", HELMS)
def test_without_tls_or_cert_manager_rendering_fails_and_says_how_to_fix_it(helm: str) -> None:
    with pytest.raises(HelmError, match="apibridge certs"):
        render({}, helm)


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_helm_lint_strict_passes(helm: str, name: str) -> None:
    result = lint(helm, SCENARIOS[name])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_helm_3_and_helm_4_render_the_same_objects(name: str) -> None:
    """The same objects; the order may differ (the Helms sort kinds they do not know, cert-manager's, apart)."""

    def key(doc: dict[str, Any]) -> tuple[str, str, str]:
        return doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]

    assert sorted(render(SCENARIOS[name], "helm3"), key=key) == sorted(render(SCENARIOS[name], "helm4"), key=key)


def test_empty_exclude_namespaces_renders_only_the_release_namespace() -> None:
    (expr,) = one(render(SCENARIOS["exclude-none"]), "MutatingWebhookConfiguration")["webhooks"][0][
        "namespaceSelector"
    ]["matchExpressions"]
    assert expr["values"] == [NAMESPACE]


def test_the_crd_is_a_template_that_helm_keeps_on_uninstall(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    name, docs = scenario
    crds = find(docs, "CustomResourceDefinition")
    if name == "no-crd":
        assert not crds
        return
    (crd,) = crds
    source = yaml.safe_load((CHART / "files" / "apibridges.apibridge.dev.yaml").read_text())
    assert crd["spec"] == source["spec"]
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    assert crd["metadata"]["labels"]["helm.sh/chart"] == f"apibridge-{version}"


def test_every_object_is_valid_for_kubernetes(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith("cert-manager.io/"):
            check_cert_manager(doc)
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = "/".join(str(p) for p in exc.absolute_path)
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} ({version}) at {path}: {exc.message}")
        checked += 1
    assert checked >= 14


def check_cert_manager(doc: dict[str, Any]) -> None:
    """No schema for cert-manager's kinds ships with kubernetes-validate: check the fields we rely on."""
    assert doc["apiVersion"] == "cert-manager.io/v1"
    spec = doc["spec"]
    if doc["kind"] == "Issuer":
        assert spec == {"selfSigned": {}}
        return
    assert doc["kind"] == "Certificate"
    assert set(spec) <= {"secretName", "duration", "renewBefore", "privateKey", "dnsNames", "issuerRef"}
    assert spec["secretName"] and spec["dnsNames"] and spec["issuerRef"]["name"]
    assert re.fullmatch(r"\d+h", spec["duration"]) and re.fullmatch(r"\d+h", spec["renewBefore"])
    assert spec["privateKey"]["algorithm"] in ("ECDSA", "RSA", "Ed25519")


def test_names_are_unique_and_namespaced_objects_are_placed(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    cluster_scoped = {"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration"}
    cluster_scoped |= {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "PriorityClass"}
    seen = set()
    for doc in docs:
        md = doc["metadata"]
        key = (doc["kind"], md.get("namespace"), md["name"])
        assert key not in seen, key
        seen.add(key)
        assert ("namespace" in md) == (doc["kind"] not in cluster_scoped), key
        assert md["labels"]["app.kubernetes.io/instance"] == "apibridge"


# ---- references between objects ---------------------------------------------------------------------------
def test_services_select_pods_and_target_named_ports(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    for svc in find(docs, "Service"):
        pods = pods_of(docs, svc["metadata"]["namespace"], svc["spec"]["selector"])
        assert len(pods) == 1, f"Service {svc['metadata']['name']} selects {len(pods)} workloads"
        ports = container_ports(pods[0])
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{svc['metadata']['name']}: no container port {port['targetPort']}"


def test_deployments_are_consistent(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    accounts = {sa["metadata"]["name"] for sa in find(docs, "ServiceAccount")}
    priorities = {pc["metadata"]["name"]: pc for pc in find(docs, "PriorityClass")}
    for dep in find(docs, "Deployment"):
        spec = dep["spec"]
        assert matches(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
        pod = spec["template"]["spec"]
        assert pod["serviceAccountName"] in accounts
        # not preempted by the workloads it serves (issue 13): the chart's own PriorityClass, above the default
        assert priorities[pod["priorityClassName"]]["value"] > 0, pod.get("priorityClassName")
        assert pod["securityContext"]["runAsNonRoot"] is True
        ports = container_ports(spec["template"])
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["port"] in ports
    controller = one(docs, "Deployment", "apibridge-controller")
    assert controller["spec"]["replicas"] == 1
    webhook = one(docs, "Deployment", "apibridge-webhook")
    assert webhook["spec"]["replicas"] == 2
    anti = webhook["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert matches(term["labelSelector"]["matchLabels"], webhook["spec"]["template"]["metadata"]["labels"])


def _webhook_args(docs: list[dict[str, Any]]) -> dict[str, str]:
    container = one(docs, "Deployment", "apibridge-webhook")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["apibridge", "webhook"]
    args: dict[str, str] = {}
    for arg in container["args"]:
        flag, _, value = arg.partition("=")
        args[flag] = value
    return args


def test_webhook_args_are_options_of_the_webhook_command(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    known = {opt for param in webhook_command.params for opt in getattr(param, "opts", [])}
    args = _webhook_args(docs)
    assert set(args) <= known, set(args) - known
    assert "--watch" in args and "--snapshot" not in args


def test_controller_args_are_options_of_the_operator_command(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    from apibridge.cli.operator_cmds import operator_command

    container = one(docs, "Deployment", "apibridge-controller")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["apibridge", "operator"]
    known = {
        opt
        for param in operator_command.params
        for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
    }
    flags = {arg.partition("=")[0] for arg in container["args"]}
    assert flags <= known, flags - known
    env = {e["name"] for e in container["env"]}
    assert {"POD_NAME", "POD_NAMESPACE"} <= env  # --identity=$(POD_NAME), --namespace=$(POD_NAMESPACE)
    values = default_values()["controller"]
    ports = container_ports(one(docs, "Deployment", "apibridge-controller")["spec"]["template"])
    assert f"--health-port={values['healthPort']}" in container["args"] and ports["health"] == values["healthPort"]
    assert f"--metrics-port={values['metricsPort']}" in container["args"] and ports["metrics"] == values["metricsPort"]


def test_the_webhook_configuration_points_at_the_webhook(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    name, docs = scenario
    (hook,) = one(docs, "MutatingWebhookConfiguration")["webhooks"]
    ref = hook["clientConfig"]["service"]
    assert ref["path"] == MUTATE_PATH
    svc = one(docs, "Service", ref["name"])
    assert svc["metadata"]["namespace"] == ref["namespace"] == NAMESPACE
    (port,) = [p for p in svc["spec"]["ports"] if p["port"] == ref["port"]]
    template = pods_of(docs, NAMESPACE, svc["spec"]["selector"])[0]
    assert str(container_ports(template)[port["targetPort"]]) == _webhook_args(docs)["--port"]
    assert hook["admissionReviewVersions"] == ["v1"] and hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 5 and hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["failurePolicy"] == ("Fail" if name == "fail-closed-no-netpol" else "Ignore")
    assert hook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert "objectSelector" not in hook
    (expr,) = hook["namespaceSelector"]["matchExpressions"]
    assert expr["key"] == "kubernetes.io/metadata.name" and expr["operator"] == "NotIn"
    want = {NAMESPACE} if name == "exclude-none" else {NAMESPACE, "kube-system"}
    assert want <= set(expr["values"])
    (condition,) = hook["matchConditions"]
    assert "apibridge.dev/inject" in condition["expression"] and "'false'" in condition["expression"]


def test_webhook_tls_is_wired(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    name, docs = scenario
    mwc = one(docs, "MutatingWebhookConfiguration")
    deployment = one(docs, "Deployment", "apibridge-webhook")
    (volume,) = deployment["spec"]["template"]["spec"]["volumes"]
    secret_name = volume["secret"]["secretName"]
    mount = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    args = _webhook_args(docs)
    assert args["--tls-cert-file"] == f"{mount['mountPath']}/tls.crt"
    assert args["--tls-private-key-file"] == f"{mount['mountPath']}/tls.key"
    hook = mwc["webhooks"][0]
    if name.startswith("cert-manager"):
        cert = one(docs, "Certificate")
        assert cert["spec"]["secretName"] == secret_name
        svc = hook["clientConfig"]["service"]
        assert f"{svc['name']}.{svc['namespace']}.svc" in cert["spec"]["dnsNames"]  # the name the API server dials
        assert (
            mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
            == f"{cert['metadata']['namespace']}/{cert['metadata']['name']}"
        )
        assert "caBundle" not in hook["clientConfig"] and not find(docs, "Secret")
        issuer_ref = cert["spec"]["issuerRef"]
        if name == "cert-manager":
            assert issuer_ref["name"] == one(docs, "Issuer")["metadata"]["name"]
        else:
            assert issuer_ref["kind"] == "ClusterIssuer" and not find(docs, "Issuer")
    else:
        secret = one(docs, "Secret", secret_name)
        assert secret["type"] == "kubernetes.io/tls"
        assert base64.b64decode(secret["data"]["tls.crt"]) == SERVING.cert_pem()
        assert base64.b64decode(secret["data"]["tls.key"]) == SERVING.key_pem()
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == CA.cert_pem()
        assert not find(docs, "Certificate")


def test_disruption_budget_keeps_one_webhook(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    pdb = one(docs, "PodDisruptionBudget")
    webhook = one(docs, "Deployment", "apibridge-webhook")
    assert pdb["spec"]["minAvailable"] == 1 < webhook["spec"]["replicas"]
    assert pdb["spec"]["selector"]["matchLabels"] == webhook["spec"]["selector"]["matchLabels"]


def test_network_policies(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    name, docs = scenario
    policies = find(docs, "NetworkPolicy")
    if name == "fail-closed-no-netpol":
        assert not policies
        return
    assert len(policies) == 2
    selector = default_values()["networkPolicy"]["metricsNamespaceSelector"]
    for policy in policies:
        (template,) = pods_of(docs, NAMESPACE, policy["spec"]["podSelector"]["matchLabels"])
        ports = container_ports(template)
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"]["ingress"]:
            numbers = {p["port"] for p in rule["ports"]}
            if numbers == {ports.get("webhook")}:  # open to all, or to networkPolicy.webhookFrom when set
                named = name in ("webhook-from-control-plane", "restarts-on")
                want = [{"ipBlock": {"cidr": "172.18.0.0/16"}}] if named else None
                assert rule.get("from") == want
            else:
                assert rule["from"] == [{"namespaceSelector": selector}]
                assert numbers == {ports["metrics"]}
    # every container port other than health is reachable through some rule
    webhook = one(docs, "NetworkPolicy", "apibridge-webhook")
    assert {p["port"] for r in webhook["spec"]["ingress"] for p in r["ports"]} == {8443, 8080}


# ---- RBAC ---------------------------------------------------------------------------------------------------
def _bound_rules(docs: list[dict[str, Any]], account: str) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(namespace or None for cluster-wide, rule) for every rule bound to ``account``."""
    for binding in find(docs, "ClusterRoleBinding") + find(docs, "RoleBinding"):
        subjects = binding["subjects"]
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == account and s["namespace"] == NAMESPACE for s in subjects
        ):
            continue
        role_ref = binding["roleRef"]
        role = one(docs, role_ref["kind"], role_ref["name"])
        if role_ref["kind"] == "Role":
            assert role["metadata"]["namespace"] == binding["metadata"]["namespace"]
        scope = binding["metadata"].get("namespace")
        for rule in role["rules"]:
            yield scope, rule


def allowed(
    docs: list[dict[str, Any]],
    account: str,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
) -> bool:
    for scope, rule in _bound_rules(docs, account):
        if scope is not None and scope != namespace:
            continue
        if group not in rule["apiGroups"] or resource not in rule["resources"] or verb not in rule["verbs"]:
            continue
        if "resourceNames" in rule and name not in rule["resourceNames"]:
            continue
        return True
    return False


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def test_webhook_rbac_covers_its_watches_and_nothing_more(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    name, docs = scenario
    dns = SCENARIOS[name].get("settings", {}).get("dnsService")
    settings = parse_settings(dns_service=dns) if dns else None
    for res in webhook_watch.watched(settings):
        for verb in ("get", "list", "watch"):
            assert allowed(
                docs, "apibridge-webhook", verb, _group(res.api_version), res.plural, res.namespace, res.name
            ), f"webhook cannot {verb} {res.label}"
    assert not allowed(docs, "apibridge-webhook", "list", "", "services", "default", None), "services by name only"
    if dns:  # a DNS Service named by the settings: that one only, kube-system's Services not at all
        assert not allowed(docs, "apibridge-webhook", "list", "", "services", "kube-system", None)
        assert not allowed(docs, "apibridge-webhook", "list", "", "services", "openshift-dns", "other")
        args = [
            a for d in find(docs, "Deployment") for c in d["spec"]["template"]["spec"]["containers"] for a in c["args"]
        ]
        assert f"--dns-service={dns}" in args and "--no-kube-proxy" in args
    assert not allowed(docs, "apibridge-webhook", "list", "", "secrets", NAMESPACE, None)
    for _, rule in _bound_rules(docs, "apibridge-webhook"):
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule


OPERATOR = REPO / "src" / "apibridge" / "operator"
# Calls whose kind is a variable: what the variable can hold (keep in step with the operator).
DYNAMIC_KINDS = {
    "write.kind": ("NAD", "SUBNET"),  # the controller's planned writes: a bridge's NAD and Subnet
    "workload_kind": ("DEPLOYMENT", "STATEFULSET", "DAEMONSET"),  # rollout restart of a pod's owner
}
VERB_OF = {"get": "get", "list": "list", "create": "create", "replace": "update", "patch": "patch", "delete": "delete"}
NOT_IN_CLUSTER = {"doctor.py"}  # the CLI's diagnostics run with the user's kubeconfig, not the controller's account


def operator_calls() -> set[tuple[str, str, str | None]]:
    """(verb, KIND constant, subresource) for every API call in the controller's code."""
    calls: set[tuple[str, str, str | None]] = set()
    pattern = re.compile(r"client\.(get|list|create|replace|patch|delete)\(\s*([\w.]+)([^\n]*)")
    for path in sorted(OPERATOR.glob("*.py")):
        if path.name in NOT_IN_CLUSTER:
            continue
        for m in pattern.finditer(path.read_text()):
            method, kind_expr, rest = m.groups()
            sub = "status" if 'subresource="status"' in rest else None
            if kind_expr.startswith("kube."):
                kinds: tuple[str, ...] = (kind_expr.removeprefix("kube."),)
            elif kind_expr in DYNAMIC_KINDS:
                kinds = DYNAMIC_KINDS[kind_expr]
            elif kind_expr in ("kind", "self", "cls"):  # the client's own definitions
                continue
            else:
                pytest.fail(f"{path.name}: client.{method}({kind_expr} …): add it to DYNAMIC_KINDS and to the RBAC")
            calls |= {(VERB_OF[method], k, sub) for k in kinds}
    return calls


def test_controller_rbac_covers_every_call_in_its_code(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    scenario_name, docs = scenario
    from apibridge.operator import kube

    lease = default_values()["controller"]["leaseName"]
    needed: set[tuple[str, str, str | None]] = set(operator_calls())
    needed |= {
        (verb, name, None)
        for name, k in vars(kube).items()
        if isinstance(k, kube.Kind) and k in kube.WATCHED
        for verb in ("list", "watch")
    }  # kopf lists and watches each indexed kind
    assert ("patch", "APIBRIDGE", "status") in needed and ("create", "EVENT", None) in needed
    restarts = {"REPLICASET", "DEPLOYMENT", "STATEFULSET", "DAEMONSET"}
    for verb, const, sub in sorted(needed, key=str):
        k = getattr(kube, const)
        if const in restarts and scenario_name != "restarts-on":  # off by default: no permission on workloads
            assert not allowed(docs, "apibridge-controller", verb, k.group, k.plural, None, None), (verb, const)
            continue
        resource = f"{k.plural}/{sub}" if sub else k.plural
        namespace = NAMESPACE if const == "LEASE" else None  # the Lease lives in the release namespace
        name = lease if const == "LEASE" and verb != "create" else None
        assert allowed(docs, "apibridge-controller", verb, k.group, resource, namespace, name), (
            f"controller cannot {verb} {resource} ({k.api_version})"
        )
    # its own Lease only, in its own namespace
    assert not allowed(docs, "apibridge-controller", "update", "coordination.k8s.io", "leases", "kube-system", lease)
    assert not allowed(docs, "apibridge-controller", "update", "coordination.k8s.io", "leases", NAMESPACE, "other")
    assert not allowed(docs, "apibridge-controller", "get", "", "secrets", NAMESPACE)


HOST_PROCESS = merge(TLS, {"hostProcess": {"enabled": True, "webhookAddress": "198.18.0.1"}})


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_host_process_mode_has_no_deployments_and_an_endpointslice_for_the_webhook(helm: str) -> None:
    """``lab up --kube`` runs the operator and webhook as host processes: nothing for the controllers to
    turn into pods, and the webhook Service's EndpointSlice points at the host process."""
    docs = template(helm, HOST_PROCESS)
    assert not find(docs, "Deployment") and not find(docs, "PodDisruptionBudget")
    assert not find(docs, "NetworkPolicy")  # no webhook pods to select
    service = one(docs, "Service")
    assert "selector" not in service["spec"]
    eps = one(docs, "EndpointSlice")
    assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == service["metadata"]["name"]
    assert eps["addressType"] == "IPv4" and eps["endpoints"][0]["addresses"] == ["198.18.0.1"]
    # the API server resolves the webhook's Service port to the slice's port by name
    assert eps["ports"][0]["name"] == service["spec"]["ports"][0]["name"] == "https"
    assert eps["ports"][0]["port"] == service["spec"]["ports"][0]["targetPort"] == 8443
    hook = one(docs, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["service"]
    assert hook["name"] == service["metadata"]["name"]
    assert lint(helm, HOST_PROCESS).returncode == 0


def test_host_process_mode_needs_the_webhook_address() -> None:
    with pytest.raises(HelmError, match=r"hostProcess\.webhookAddress is required"):
        template("helm4", merge(TLS, {"hostProcess": {"enabled": True}}))
