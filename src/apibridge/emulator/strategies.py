"""Per-kind rules that kube-apiserver applies around admission: defaulting, create/update preparation, validation.

In a real server these live in each kind's *strategy* plus a few built-in admission plugins. They matter to us
because a mutating webhook sees the object *after* defaulting and the ServiceAccount plugin (so its JSON Patch
paths must match what a real cluster sends), and because an operator must not be able to write ``status``
through the main endpoint, nor see ``generation`` move on status-only changes.
Only the defaults that clients observably depend on are emulated (see the package docstring for gaps).
"""

from __future__ import annotations

import copy
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from apibridge.emulator import matchconditions
from apibridge.emulator.errors import list_item_name_causes
from apibridge.emulator.kinds import ResourceType
from apibridge.emulator.wire import Obj, StatusCause

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery utilrand: no vowels, no confusables

SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
    "selfLink",
)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(n))


def validate_name(rt: ResourceType, name: str) -> list[StatusCause]:
    if rt.name_rule == "label":
        ok, limit, what = bool(_LABEL.match(name)), 63, "RFC 1123 label"
    elif rt.name_rule == "dns1035":
        ok, limit, what = bool(_DNS1035.match(name)), 63, "RFC 1035 label"
    else:
        ok, limit, what = bool(_SUBDOMAIN.match(name)), 253, "RFC 1123 subdomain"
    if ok and len(name) <= limit:
        return []
    return [
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.name",
            "message": f'Invalid value: "{name}": a lowercase {what} must consist of lower case alphanumeric '
            "characters, "
            f"'-' or '.', and must start and end with an alphanumeric character (at most {limit} characters)",
        }
    ]


def without(obj: Obj, *keys: str) -> Obj:
    return {k: v for k, v in obj.items() if k not in keys}


def spec_changed(rt: ResourceType, old: Obj, new: Obj) -> bool:
    """Whether ``metadata.generation`` must move: any change outside metadata (and outside status, when status
    is a subresource). Custom resources without a status subresource bump on status changes too, as in k8s."""
    ignored = ("metadata", "status") if "status" in rt.subresources else ("metadata",)
    return without(old, *ignored) != without(new, *ignored)


def tracks_generation(rt: ResourceType) -> bool:
    return rt.tracks_generation or rt.custom


# ------------------------------------------------------------------------------------------ defaulting


def _image_pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    tag = tail.split(":", 1)[1] if ":" in tail else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                c.setdefault("imagePullPolicy", _image_pull_policy(str(c.get("image", ""))))
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault("resources", {})
                for port in c.get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")


def _template_spec(obj: Obj, *path: str) -> dict[str, Any] | None:
    cur: Any = obj
    for part in path:
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur if isinstance(cur, dict) else None


def apply_defaults(rt: ResourceType, obj: Obj) -> None:
    """Scheme defaults, applied on create and update before admission (webhooks see defaulted objects)."""
    spec = obj.get("spec")
    if rt.group == "" and rt.plural == "pods" and isinstance(spec, dict):
        default_pod_spec(spec)
    elif rt.group == "" and rt.plural == "secrets":
        obj.setdefault("type", "Opaque")
    elif rt.group == "" and rt.plural == "services" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        if spec["type"] != "ExternalName":
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])
    elif rt.group == "apps" and isinstance(spec, dict):
        if rt.plural in ("deployments", "statefulsets", "replicasets"):
            spec.setdefault("replicas", 1)
        if rt.plural != "replicasets":
            spec.setdefault("revisionHistoryLimit", 10)
        if rt.plural == "deployments":
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault(
                "strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
            )
        elif rt.plural == "statefulsets":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        elif rt.plural == "daemonsets":
            spec.setdefault(
                "updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
            )
        pod = _template_spec(obj, "spec", "template", "spec")
        if pod is not None:
            default_pod_spec(pod)
    elif rt.group == "batch" and isinstance(spec, dict):
        if rt.plural == "jobs":
            spec.setdefault("backoffLimit", 6)
            spec.setdefault("completionMode", "NonIndexed")
            spec.setdefault("suspend", False)
            pod = _template_spec(obj, "spec", "template", "spec")
        else:
            spec.setdefault("concurrencyPolicy", "Allow")
            spec.setdefault("suspend", False)
            spec.setdefault("successfulJobsHistoryLimit", 3)
            spec.setdefault("failedJobsHistoryLimit", 1)
            pod = _template_spec(obj, "spec", "jobTemplate", "spec", "template", "spec")
        if pod is not None:
            default_pod_spec(pod)
    elif rt.group == "admissionregistration.k8s.io":
        default_webhooks(obj, mutating=rt.plural == "mutatingwebhookconfigurations")


def default_webhooks(obj: Obj, *, mutating: bool) -> None:
    for hook in obj.get("webhooks") or []:
        if not isinstance(hook, dict):
            continue
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("namespaceSelector", {})
        hook.setdefault("objectSelector", {})
        hook.setdefault("timeoutSeconds", 10)
        if mutating:
            hook.setdefault("reinvocationPolicy", "Never")
        service = (hook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            service.setdefault("port", 443)
        for rule in hook.get("rules") or []:
            if isinstance(rule, dict):
                rule.setdefault("scope", "*")


def validate_webhooks(obj: Obj) -> list[StatusCause]:
    causes: list[StatusCause] = []
    seen: set[str] = set()
    for i, hook in enumerate(obj.get("webhooks") or []):
        at = f"webhooks[{i}]"
        name = str(hook.get("name") or "")
        causes += list_item_name_causes(
            name,
            f"{at}.name",
            seen,
            valid=name.count(".") >= 2 and bool(_SUBDOMAIN.match(name)),
            rule="should be a domain with at least three segments separated by dots",
        )
        if hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
            causes.append(
                {
                    "reason": "FieldValueNotSupported",
                    "field": f"{at}.sideEffects",
                    "message": f"Unsupported value: {hook.get('sideEffects')!r}: supported values: "
                    '"None", "NoneOnDryRun"',
                }
            )
        if not hook.get("admissionReviewVersions"):
            causes.append(
                {
                    "reason": "FieldValueRequired",
                    "field": f"{at}.admissionReviewVersions",
                    "message": "Required value: must specify one of v1, v1beta1",
                }
            )
        cc = hook.get("clientConfig") or {}
        if bool(cc.get("url")) == bool(cc.get("service")):
            causes.append(
                {
                    "reason": "FieldValueRequired",
                    "field": f"{at}.clientConfig",
                    "message": "Required value: exactly one of url or service is required",
                }
            )
        elif cc.get("url") and not str(cc["url"]).startswith("https://"):
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": f"{at}.clientConfig.url",
                    "message": "Invalid value: 'https' is the only allowed URL scheme",
                }
            )
        timeout = hook.get("timeoutSeconds")
        if not isinstance(timeout, int) or not 1 <= timeout <= 30:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": f"{at}.timeoutSeconds",
                    "message": f"Invalid value: {timeout}: the timeout value must be between 1 and 30 seconds",
                }
            )
        causes += matchconditions.validate(hook, at)
    return causes


# ------------------------------------------------------------------------------------------ create / update


def prepare_for_create(rt: ResourceType, obj: Obj) -> None:
    """Strategy ``PrepareForCreate``: status is not writable on create when it is a subresource."""
    if "status" in rt.subresources:
        obj.pop("status", None)
    meta = obj["metadata"]
    if rt.group == "" and rt.plural == "namespaces":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif rt.group == "" and rt.plural == "pods":
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj.get("spec") or {})}


def _qos_class(spec: dict[str, Any]) -> str:
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    limits = [(c.get("resources") or {}).get("limits") or {} for c in containers]
    requests = [(c.get("resources") or {}).get("requests") or {} for c in containers]
    if not any(limits) and not any(requests):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu") and lim.get("memory") and all(req.get(k, lim[k]) == lim[k] for k in ("cpu", "memory"))
        for lim, req in zip(limits, requests, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"


def prepare_for_update(rt: ResourceType, old: Obj, new: Obj, subresource: str | None) -> Obj:
    """Strategy ``PrepareForUpdate``: the main endpoint keeps the old status, ``/status`` keeps everything else,
    and system metadata always comes from the stored object."""
    if subresource == "status":
        out = copy.deepcopy(old)
        if "status" in new:
            out["status"] = copy.deepcopy(new["status"])
        else:
            out.pop("status", None)
        return out
    out = copy.deepcopy(new)
    if "status" in rt.subresources:
        if "status" in old:
            out["status"] = copy.deepcopy(old["status"])
        else:
            out.pop("status", None)
    meta = out.setdefault("metadata", {})
    for key in SYSTEM_METADATA:
        if key in old["metadata"]:
            meta[key] = old["metadata"][key]
        else:
            meta.pop(key, None)
    meta["name"] = old["metadata"]["name"]
    if "namespace" in old["metadata"]:
        meta["namespace"] = old["metadata"]["namespace"]
    if rt.group == "" and rt.plural == "namespaces":
        out["spec"] = copy.deepcopy(old.get("spec", {}))  # spec.finalizers only changes via /finalize
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    return out


def validate_update(rt: ResourceType, old: Obj, new: Obj) -> list[StatusCause]:
    causes: list[StatusCause] = []
    if old["metadata"].get("deletionTimestamp"):
        added = set(new["metadata"].get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
        if added:
            causes.append(
                {
                    "reason": "FieldValueForbidden",
                    "field": "metadata.finalizers",
                    "message": f"Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)!r}",
                }
            )
    return causes


def service_account_volume(obj: Obj, namespace_exists_sa: bool) -> None:
    """The ServiceAccount admission plugin: name the SA and mount its token, as every real pod gets."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    if spec.get("automountServiceAccountToken") is False or not namespace_exists_sa:
        return
    mount_path = "/var/run/secrets/kubernetes.io/serviceaccount"
    containers = [c for k in ("initContainers", "containers") for c in spec.get(k) or [] if isinstance(c, dict)]
    if any(m.get("mountPath") == mount_path for c in containers for m in c.get("volumeMounts") or []):
        return
    name = f"kube-api-access-{random_suffix()}"
    spec.setdefault("volumes", []).append(
        {
            "name": name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for c in containers:
        c.setdefault("volumeMounts", []).append({"name": name, "readOnly": True, "mountPath": mount_path})
