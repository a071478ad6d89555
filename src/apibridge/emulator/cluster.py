"""The API semantics of one emulated cluster, without HTTP: the verbs and the controllers they imply.

Each verb follows kube-apiserver's pipeline — decode → defaults → mutating admission → strategy
(prepare, validate) → validating admission → optimistic write — so that clients observe the same
resourceVersions, generations, status codes and events as on a real server. The store is written only in
synchronous sections after the last ``await`` of a request, and a write whose base object changed during
admission is retried (or answered 409 when the client pinned a resourceVersion).

A few controllers that every real cluster runs and that clients notice are emulated synchronously, right
after the write that triggers them: the garbage collector (``ownerReferences``, background and orphan
propagation; foreground is treated as background after deleting dependents first), the namespace
lifecycle (``Terminating``, content deletion, ``default`` ServiceAccount and ``kube-root-ca.crt``), and the
CRD finalizer (deleting a CRD deletes its objects, then stops serving it). There is no scheduler, kubelet or
workload controller: pods stay ``Pending``, Deployments create nothing.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from apibridge.emulator import crds, errors, strategies
from apibridge.emulator.admission import Attributes, Dispatcher, Operation, ServiceResolver
from apibridge.emulator.kinds import ResourceType, ResourceTypes
from apibridge.emulator.patches import apply_patch
from apibridge.emulator.selectors import FieldSelector, Selector, fields_match, matches
from apibridge.emulator.store import StorageKey, Store
from apibridge.emulator.wire import Obj, StatusCause, UserInfo

ADMIN = UserInfo(
    username="kubernetes-admin",
    uid="00000000-0000-0000-0000-000000000001",
    groups=["system:masters", "system:authenticated"],
)
NAMESPACES: StorageKey = ("", "namespaces")
MUTATING: StorageKey = ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
VALIDATING: StorageKey = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
CRDS: StorageKey = (crds.CRD_GROUP, "customresourcedefinitions")
BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MAX_RETRIES = 10


@dataclass
class Request:
    """Who asks and how: the per-request context every verb receives."""

    user: UserInfo = field(default_factory=lambda: UserInfo(**ADMIN))
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    field_validation: str = "Warn"  # Ignore | Warn | Strict: what to do about fields a CRD schema prunes


class _RetryError(Exception):
    """The object changed while admission ran; redo the read-modify-write."""


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _finalizers(obj: Obj) -> list[str]:
    out = list(_meta(obj).get("finalizers") or [])
    if obj.get("kind") == "Namespace":
        out += list((obj.get("spec") or {}).get("finalizers") or [])
    return out


class Cluster:
    def __init__(
        self,
        *,
        history_window: int = 1000,
        service_resolver: ServiceResolver | None = None,
        root_ca_pem: str = "",
        service_cidr: str = "10.96.0.0/12",
    ) -> None:
        self.types = ResourceTypes()
        self.store = Store(history_window)
        self.webhooks = Dispatcher(service_resolver)
        self.root_ca_pem = root_ca_pem
        self._service_net = ipaddress.ip_network(service_cidr)
        self._next_ip = 10
        self._syncing: set[tuple[str, str]] = set()
        for ns in BOOTSTRAP_NAMESPACES:
            self._commit_create(
                self._type("", "namespaces"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            )
        self._commit_create(
            self._type("", "services"),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": str(self._service_net[1]),
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                },
            },
        )

    # ------------------------------------------------------------------------------------------ helpers
    def _type(self, group: str, plural: str) -> ResourceType:
        rt = self.types.preferred(group, plural)
        if rt is None:  # pragma: no cover - built-ins are always registered
            raise errors.path_not_found()
        return rt

    def type_for_storage(self, storage: StorageKey) -> ResourceType | None:
        return self.types.preferred(*storage)

    def render(self, rt: ResourceType, obj: Obj) -> Obj:
        """A copy of a stored object as seen through ``rt``'s group/version."""
        out = copy.deepcopy(obj)
        return {
            "apiVersion": rt.api_version,
            "kind": rt.kind,
            **{k: v for k, v in out.items() if k not in ("apiVersion", "kind")},
        }

    def _storage_api_version(self, rt: ResourceType) -> str:
        version = rt.storage_version or rt.version
        return f"{rt.group}/{version}" if rt.group else version

    def _get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.store.get(rt.storage_key, namespace or "", name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def _namespace_labels(self, rt: ResourceType, namespace: str, obj: Obj | None) -> dict[str, str] | None:
        if rt.storage_key == NAMESPACES:
            return dict(_meta(obj or {}).get("labels") or {})
        if not rt.namespaced:
            return None
        ns = self.store.get(NAMESPACES, "", namespace)
        return dict(_meta(ns or {}).get("labels") or {})

    def _decode(self, rt: ResourceType, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request is not a JSON object")
        obj = copy.deepcopy(body)
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if rt.custom and (not kind or not api_version):
            raise errors.bad_request(f"Object 'Kind' is missing in '{json.dumps(body)[:200]}'")
        if api_version and api_version != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rt.api_version})"
            )
        if kind and kind != rt.kind:
            raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        if not isinstance(obj.get("metadata", {}), dict):
            raise errors.bad_request("metadata must be an object")
        obj.setdefault("metadata", {})
        return obj

    def _check_namespace_open(self, rt: ResourceType, namespace: str, name: str) -> None:
        ns = self.store.get(NAMESPACES, "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if _meta(ns).get("deletionTimestamp"):
            raise errors.forbidden(
                rt.plural,
                rt.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    def _crd_terminating(self, rt: ResourceType) -> bool:
        if not rt.custom:
            return False
        crd = self.store.get(CRDS, "", f"{rt.plural}.{rt.group}")
        return bool(crd and _meta(crd).get("deletionTimestamp"))

    def _kind_causes(self, rt: ResourceType, obj: Obj, old: Obj | None, req: Request) -> list[StatusCause]:
        causes: list[StatusCause] = []
        if rt.group == "admissionregistration.k8s.io":
            causes += strategies.validate_webhooks(obj)
        elif rt.storage_key == CRDS:
            causes += crds.validate_crd(obj)
            if old is not None:
                causes += crds.validate_crd_update(old, obj)
        elif rt.custom and rt.schema:
            pruned = crds.prune_and_default(rt.schema, obj)
            unknown = [f'unknown field "{path}"' for path in pruned]
            if unknown and req.field_validation == "Strict":
                raise errors.bad_request(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    f"strict decoding error: {', '.join(unknown)}"
                )
            if req.field_validation == "Warn":
                req.warnings.extend(unknown)
            causes += crds.validate_object(rt.schema, obj)
        return causes

    async def _admit(self, a: Attributes, *, mutate: bool) -> Obj | None:
        labels = self._namespace_labels(a.rt, a.namespace, a.obj if a.obj is not None else a.old)
        if mutate:
            configs = list(self.store.list(MUTATING))
            if configs:
                return await self.webhooks.mutate(configs, a, labels)
            return a.obj
        configs = list(self.store.list(VALIDATING))
        if configs:
            await self.webhooks.validate(configs, a, labels)
        return a.obj

    # ------------------------------------------------------------------------------------------ reads
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        return self.render(rt, self._get(rt, namespace, name))

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: Selector = (),
        fields: FieldSelector = (),
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Obj:
        rv = self.store.resource_version
        start: tuple[str, str] | None = None
        if continue_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                rv, start = int(token["rv"]), (str(token["start"][0]), str(token["start"][1]))
            except (ValueError, KeyError, TypeError, IndexError):
                raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion") from None
        items = []
        for obj in self.store.list(rt.storage_key, namespace):
            meta = _meta(obj)
            key = (meta.get("namespace") or "", meta["name"])
            if start is not None and key <= start:
                continue
            if matches(labels, meta.get("labels")) and fields_match(fields, obj):
                items.append(obj)
        meta_out: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            last = _meta(items[limit - 1])
            token_data = {"rv": rv, "start": [last.get("namespace") or "", last["name"]]}
            meta_out["continue"] = base64.urlsafe_b64encode(json.dumps(token_data).encode()).decode()
            if not labels and not fields:
                meta_out["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        rendered = []
        for obj in items:
            out = self.render(rt, obj)
            if not rt.custom:  # typed lists carry apiVersion/kind on the list only
                out.pop("apiVersion", None)
                out.pop("kind", None)
            rendered.append(out)
        return {"apiVersion": rt.api_version, "kind": rt.list_kind, "metadata": meta_out, "items": rendered}

    # ------------------------------------------------------------------------------------------ create
    async def create(self, rt: ResourceType, namespace: str | None, body: Any, req: Request) -> Obj:
        obj = self._decode(rt, body)
        meta = obj["metadata"]
        ns = ""
        if rt.namespaced:
            ns = namespace or ""
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise errors.internal("resourceVersion should not be set on objects to be created")
        for key in strategies.SYSTEM_METADATA:
            meta.pop(key, None)
        display = str(meta.get("name") or meta.get("generateName") or "")
        if rt.namespaced:
            self._check_namespace_open(rt, ns, display)
        if self._crd_terminating(rt):
            raise errors.ApiError(
                405, "MethodNotAllowed", "create not allowed while custom resource definition is terminating"
            )
        strategies.apply_defaults(rt, obj)
        if rt.storage_key == ("", "pods"):
            self._service_account_plugin(obj, ns)
        a = Attributes(
            rt,
            "CREATE",
            ns,
            str(meta.get("name") or ""),
            None,
            obj,
            None,
            req.dry_run,
            {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
            req.user,
            req.warnings,
        )
        obj = await self._admit(a, mutate=True) or obj
        meta = _meta(obj)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{strategies.random_suffix()}"
            else:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "field": "metadata.name",
                            "message": "Required value: name or generateName is required",
                        }
                    ],
                )
        name = str(meta["name"])
        strategies.prepare_for_create(rt, obj)
        causes = strategies.validate_name(rt, name) + self._kind_causes(rt, obj, None, req)
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)
        if rt.storage_key == CRDS:
            meta.setdefault("finalizers", [])
            if crds.CLEANUP_FINALIZER not in meta["finalizers"]:
                meta["finalizers"].append(crds.CLEANUP_FINALIZER)
            obj["status"] = crds.crd_status(obj)
        if self.store.get(rt.storage_key, ns, name) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        a.obj, a.name = obj, name
        await self._admit(a, mutate=False)
        if self.store.get(rt.storage_key, ns, name) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        if rt.namespaced:
            self._check_namespace_open(rt, ns, name)
        if req.dry_run:
            self._stamp_new(rt, obj)
            return self.render(rt, obj)
        return self.render(rt, self._commit_create(rt, obj))

    def _service_account_plugin(self, obj: Obj, namespace: str) -> None:
        spec = obj.get("spec") or {}
        sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        if self.store.get(("", "serviceaccounts"), namespace, sa) is None:
            raise errors.forbidden(
                "pods",
                "",
                str(_meta(obj).get("name") or _meta(obj).get("generateName") or ""),
                f'error looking up service account {namespace}/{sa}: serviceaccount "{sa}" not found',
            )
        strategies.service_account_volume(obj, True)

    def _stamp_new(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = strategies.now()
        if strategies.tracks_generation(rt):
            meta["generation"] = 1
        obj["apiVersion"] = self._storage_api_version(rt)
        if rt.storage_key == ("", "services"):
            self._allocate_cluster_ip(obj)

    def _allocate_cluster_ip(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        if not spec.get("clusterIP"):
            taken = {str((o.get("spec") or {}).get("clusterIP")) for o in self.store.list(("", "services"))}
            while str(self._service_net[self._next_ip]) in taken:
                self._next_ip += 1
            spec["clusterIP"] = str(self._service_net[self._next_ip])
            self._next_ip += 1
        if spec["clusterIP"] != "None":
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")

    def _commit_create(self, rt: ResourceType, obj: Obj) -> Obj:
        """Write a new object (validated already) and run the controllers that react to creations."""
        if "uid" not in obj["metadata"]:
            self._stamp_new(rt, obj)
        if rt.storage_key == NAMESPACES:
            strategies.prepare_for_create(rt, obj)
        stored = self.store.put(rt.storage_key, obj)
        if rt.storage_key == NAMESPACES:
            self._namespace_created(_meta(stored)["name"])
        elif rt.storage_key == CRDS:
            self._serve_crd(stored)
        return stored

    # ------------------------------------------------------------------------------------------ update / patch
    async def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        req: Request,
        subresource: str | None = None,
    ) -> Obj:
        self._check_subresource(rt, subresource)
        new_in = self._decode(rt, body)
        meta = new_in["metadata"]
        if meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        pinned = str(meta.get("resourceVersion") or "")
        for _ in range(MAX_RETRIES):
            old = self._get(rt, namespace, name)
            if pinned and pinned != _meta(old)["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            if not pinned and not rt.unconditional_update:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    name,
                    [
                        {
                            "reason": "FieldValueInvalid",
                            "field": "metadata.resourceVersion",
                            "message": "Invalid value: 0x0: must be specified for an update",
                        }
                    ],
                )
            try:
                return await self._update(
                    rt,
                    old,
                    copy.deepcopy(new_in),
                    req,
                    subresource,
                    {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"},
                )
            except _RetryError:
                if pinned:
                    raise errors.conflict(rt.plural, rt.group, name) from None
        raise errors.conflict(rt.plural, rt.group, name)

    async def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: bytes,
        req: Request,
        subresource: str | None = None,
    ) -> Obj:
        self._check_subresource(rt, subresource)
        for _ in range(MAX_RETRIES):
            old = self._get(rt, namespace, name)
            patched = apply_patch(content_type, body, self.render(rt, old))
            patched["apiVersion"], patched["kind"] = rt.api_version, rt.kind
            if not isinstance(patched.get("metadata"), dict):
                patched["metadata"] = {}
            pinned = str(patched["metadata"].get("resourceVersion") or "")
            if pinned and pinned != _meta(old)["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            try:
                return await self._update(
                    rt, old, patched, req, subresource, {"kind": "PatchOptions", "apiVersion": "meta.k8s.io/v1"}
                )
            except _RetryError:
                if pinned:
                    raise errors.conflict(rt.plural, rt.group, name) from None
        raise errors.conflict(rt.plural, rt.group, name)

    def _check_subresource(self, rt: ResourceType, subresource: str | None) -> None:
        if subresource is not None and subresource not in rt.subresources:
            raise errors.path_not_found()

    async def _update(
        self, rt: ResourceType, old: Obj, new: Obj, req: Request, subresource: str | None, options: Obj
    ) -> Obj:
        meta_old = _meta(old)
        ns, name = str(meta_old.get("namespace") or ""), str(meta_old["name"])
        if subresource is None:
            strategies.apply_defaults(rt, new)
        a = Attributes(
            rt, "UPDATE", ns, name, subresource, new, self.render(rt, old), req.dry_run, options, req.user, req.warnings
        )
        new = await self._admit(a, mutate=True) or new
        new = strategies.prepare_for_update(rt, old, new, subresource)
        new["apiVersion"] = self._storage_api_version(rt)
        new["kind"] = rt.kind
        causes = strategies.validate_update(rt, old, new) + self._kind_causes(rt, new, old, req)
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)
        if strategies.tracks_generation(rt) and strategies.spec_changed(rt, old, new):
            new["metadata"]["generation"] = int(meta_old.get("generation") or 0) + 1
        if rt.storage_key == CRDS:
            new["status"] = crds.crd_status(new) if subresource is None else new.get("status")
        a.obj = self.render(rt, new)
        await self._admit(a, mutate=False)
        current = self.store.get(rt.storage_key, ns, name)
        if current is None:
            raise errors.not_found(rt.plural, rt.group, name)
        if _meta(current)["resourceVersion"] != meta_old["resourceVersion"]:
            raise _RetryError()
        if new == old:  # etcd's GuaranteedUpdate: an identical object is not written, no event, same RV
            return self.render(rt, old)
        if req.dry_run:
            return self.render(rt, new)
        if _meta(new).get("deletionTimestamp") and not _finalizers(new):
            return self.render(rt, self._remove(rt, new))
        stored = self.store.put(rt.storage_key, new)
        if rt.storage_key == CRDS:
            self._serve_crd(stored)
        if rt.storage_key == NAMESPACES:
            self._sync_namespace(name)
        return self.render(rt, stored)

    # ------------------------------------------------------------------------------------------ delete
    async def delete(
        self, rt: ResourceType, namespace: str | None, name: str, options: Obj, req: Request
    ) -> tuple[bool, Obj]:
        """Delete (or mark for deletion); returns (gone now?, the object as last seen)."""
        old = self._get(rt, namespace, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != _meta(old).get("uid"):
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {_meta(old).get('uid')}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != _meta(old).get("resourceVersion"):
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{_meta(old).get('resourceVersion')}",
            )
        policy = str(
            options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "Background")
        )
        if policy not in ("Background", "Foreground", "Orphan"):
            raise errors.bad_request(
                f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan"'
            )
        ns = str(_meta(old).get("namespace") or "")
        op: Operation = "DELETE"
        a = Attributes(
            rt,
            op,
            ns,
            name,
            None,
            None,
            self.render(rt, old),
            req.dry_run,
            {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", **options},
            req.user,
            req.warnings,
        )
        await self._admit(a, mutate=True)
        await self._admit(a, mutate=False)
        old = self._get(rt, namespace, name)
        if req.dry_run:
            out = self.render(rt, old)
            if _finalizers(old) and not _meta(out).get("deletionTimestamp"):
                out["metadata"]["deletionTimestamp"] = strategies.now()
            return (not _finalizers(old), out)
        gone, last = self.delete_now(rt, old, policy)
        return gone, self.render(rt, last)

    def delete_now(self, rt: ResourceType, old: Obj, policy: str = "Background") -> tuple[bool, Obj]:
        """The synchronous part of a deletion, shared by the API verb, the GC and the namespace controller."""
        uid = str(_meta(old).get("uid") or "")
        if policy == "Orphan":
            self._orphan_dependents(uid)
        elif policy == "Foreground":
            for dep_rt, dep in list(self._dependents(uid)):
                self.delete_now(dep_rt, dep, "Foreground")
            old = self.store.get(rt.storage_key, _meta(old).get("namespace") or "", _meta(old)["name"]) or old
        if _finalizers(old):
            if _meta(old).get("deletionTimestamp"):
                return False, old
            new = copy.deepcopy(old)
            meta = new["metadata"]
            meta["deletionTimestamp"] = strategies.now()
            meta["deletionGracePeriodSeconds"] = 0
            if int(meta.get("generation") or 0) > 0:
                meta["generation"] = int(meta["generation"]) + 1
            if rt.storage_key == NAMESPACES:
                new.setdefault("status", {})["phase"] = "Terminating"
            stored = self.store.put(rt.storage_key, new)
            if rt.storage_key == NAMESPACES:
                self._sync_namespace(meta["name"])
            elif rt.storage_key == CRDS:
                self._sync_crd(meta["name"])
            current = self.store.get(rt.storage_key, meta.get("namespace") or "", meta["name"])
            return current is None, current or stored
        return True, self._remove(rt, copy.deepcopy(old))

    def _remove(self, rt: ResourceType, final: Obj) -> Obj:
        removed = self.store.remove(rt.storage_key, final)
        meta = _meta(removed)
        uid = str(meta.get("uid") or "")
        if rt.storage_key == CRDS:
            self._unserve_crd(removed)
        if uid:
            self._collect_garbage(uid)
        if meta.get("namespace"):
            self._sync_namespace(meta["namespace"])
        if rt.custom:
            self._sync_crd(f"{rt.plural}.{rt.group}")
        return removed

    async def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: Selector,
        fields: FieldSelector,
        options: Obj,
        req: Request,
    ) -> Obj:
        listed = self.list(rt, namespace, labels, fields)
        items = []
        for item in listed["items"]:
            meta = _meta(item)
            try:
                _, last = await self.delete(rt, meta.get("namespace"), meta["name"], options, req)
            except errors.ApiError as exc:
                if exc.code == 404:
                    continue
                raise
            items.append(last)
        return {
            "apiVersion": rt.api_version,
            "kind": rt.list_kind,
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": items,
        }

    # ------------------------------------------------------------------------------------------ controllers
    def _dependents(self, owner_uid: str) -> Iterator[tuple[ResourceType, Obj]]:
        for storage in self.store.storages():
            rt = self.type_for_storage(storage)
            if rt is None:
                continue
            for obj in self.store.list(storage):
                if any(ref.get("uid") == owner_uid for ref in _meta(obj).get("ownerReferences") or []):
                    yield rt, obj

    def _orphan_dependents(self, owner_uid: str) -> None:
        for rt, dep in list(self._dependents(owner_uid)):
            new = copy.deepcopy(dep)
            refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            self.store.put(rt.storage_key, new)

    def _collect_garbage(self, owner_uid: str) -> None:
        """Background cascade: dependents whose owners are all gone are deleted; dangling refs are dropped."""
        for rt, dep in list(self._dependents(owner_uid)):
            current = self.store.get(rt.storage_key, _meta(dep).get("namespace") or "", _meta(dep)["name"])
            if current is None or _meta(current).get("uid") != _meta(dep).get("uid"):
                continue
            refs = _meta(current).get("ownerReferences") or []
            alive = [r for r in refs if self.store.by_uid(str(r.get("uid"))) is not None]
            if alive:
                new = copy.deepcopy(current)
                new["metadata"]["ownerReferences"] = alive
                self.store.put(rt.storage_key, new)
            else:
                self.delete_now(rt, current, "Background")

    def _namespace_created(self, name: str) -> None:
        """The serviceaccount and root-ca-cert-publisher controllers."""
        sa_rt, cm_rt = self._type("", "serviceaccounts"), self._type("", "configmaps")
        if self.store.get(sa_rt.storage_key, name, "default") is None:
            self._commit_create(
                sa_rt,
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}},
            )
        if self.store.get(cm_rt.storage_key, name, "kube-root-ca.crt") is None:
            self._commit_create(
                cm_rt,
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": "kube-root-ca.crt",
                        "namespace": name,
                        "annotations": {
                            "kubernetes.io/description": "Contains a CA bundle that can be used "
                            "to verify the kube-apiserver when using internal endpoints such as "
                            "the internal service IP or kubernetes.default.svc. No other usage "
                            "is guaranteed across distributions of Kubernetes clusters."
                        },
                    },
                    "data": {"ca.crt": self.root_ca_pem},
                },
            )

    def _sync_namespace(self, name: str) -> None:
        """The namespace controller: a terminating namespace loses its content, then itself."""
        if ("ns", name) in self._syncing:
            return
        ns = self.store.get(NAMESPACES, "", name)
        if ns is None or not _meta(ns).get("deletionTimestamp"):
            return
        self._syncing.add(("ns", name))
        try:
            for storage in list(self.store.storages()):
                rt = self.type_for_storage(storage)
                if rt is None or not rt.namespaced:
                    continue
                for obj in self.store.list(storage, name):
                    if not _meta(obj).get("deletionTimestamp"):
                        self.delete_now(rt, obj, "Background")
            if any(self.store.list(s, name) for s in self.store.storages() if s != NAMESPACES):
                return
            ns = self.store.get(NAMESPACES, "", name)
            if ns is None:
                return
            if (ns.get("spec") or {}).get("finalizers"):
                ns = copy.deepcopy(ns)
                ns["spec"]["finalizers"] = []
                ns = self.store.put(NAMESPACES, ns)
            if not _finalizers(ns):
                self._remove(self._type("", "namespaces"), copy.deepcopy(ns))
        finally:
            self._syncing.discard(("ns", name))

    def _serve_crd(self, crd: Obj) -> None:
        group = str((crd.get("spec") or {}).get("group"))
        plural = str(((crd.get("spec") or {}).get("names") or {}).get("plural"))
        for rt in list(self.types):
            if rt.custom and rt.group == group and rt.plural == plural:
                self.types.remove(rt.group, rt.version, rt.plural)
        for rt in crds.crd_types(crd):
            self.types.add(rt)

    def _unserve_crd(self, crd: Obj) -> None:
        group = str((crd.get("spec") or {}).get("group"))
        plural = str(((crd.get("spec") or {}).get("names") or {}).get("plural"))
        for rt in list(self.types):
            if rt.custom and rt.group == group and rt.plural == plural:
                self.types.remove(rt.group, rt.version, rt.plural)

    def _sync_crd(self, crd_name: str) -> None:
        """The CRD finalizer: a deleted CRD's objects are deleted; when none is left, the CRD goes."""
        if ("crd", crd_name) in self._syncing:
            return
        crd = self.store.get(CRDS, "", crd_name)
        if crd is None or not _meta(crd).get("deletionTimestamp"):
            return
        spec = crd.get("spec") or {}
        storage = (str(spec.get("group")), str((spec.get("names") or {}).get("plural")))
        rt = self.type_for_storage(storage)
        self._syncing.add(("crd", crd_name))
        try:
            if rt is not None:
                for obj in self.store.list(storage):
                    if not _meta(obj).get("deletionTimestamp"):
                        self.delete_now(rt, obj, "Background")
            if self.store.list(storage):
                return
            crd = self.store.get(CRDS, "", crd_name)
            if crd is None:
                return
            new = copy.deepcopy(crd)
            new["metadata"]["finalizers"] = [f for f in _finalizers(crd) if f != crds.CLEANUP_FINALIZER]
            crd_rt = self._type(*CRDS)
            if new["metadata"]["finalizers"]:
                if new != crd:
                    self.store.put(CRDS, new)
            else:
                self._remove(crd_rt, new)
        finally:
            self._syncing.discard(("crd", crd_name))
