"""Discovery documents (``/api``, ``/apis``, ``/apis/<group>[/<version>]``, ``/version``).

kopf scans these at startup to map its handlers' selectors to resources (and to learn that a resource has a
``status`` subresource, which changes how it patches); kr8s and kubectl resolve kinds and short names from
them. They are generated from the live ``ResourceTypes`` registry, so CRDs appear and disappear here the
moment they are created or deleted. Only the legacy (unaggregated) discovery format is served: clients that
ask for aggregated discovery (``apidiscovery.k8s.io/v2``) fall back to it, as they do on older servers.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from apibridge.emulator.kinds import STANDARD_VERBS, SUBRESOURCE_VERBS, ResourceTypes
from apibridge.emulator.wire import APIGroup, APIResource, GroupVersionForDiscovery

KUBERNETES_VERSION = (1, 32, 0)


def version_info() -> dict[str, str]:
    major, minor, patch = KUBERNETES_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.{patch}-apibridge-emulator",
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(types: ResourceTypes, group: str) -> APIGroup | None:
    versions = types.versions_of(group)
    if not versions:
        return None
    gvs: list[GroupVersionForDiscovery] = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(types: ResourceTypes) -> dict[str, Any]:
    groups = [g for g in (api_group(types, name) for name in types.groups()) if g is not None]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _hash(group: str, version: str, kind: str) -> str:
    return base64.b64encode(hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()[:8]).decode()


def resource_list(types: ResourceTypes, group: str, version: str) -> dict[str, Any] | None:
    served = types.in_group_version(group, version)
    if not served:
        return None
    resources: list[APIResource] = []
    for rt in served:
        entry: APIResource = {
            "name": rt.plural,
            "singularName": rt.singular_name,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(STANDARD_VERBS),
            "storageVersionHash": _hash(rt.group, rt.storage_version or rt.version, rt.kind),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in sorted(rt.subresources):
            resources.append(
                {
                    "name": f"{rt.plural}/{sub}",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(SUBRESOURCE_VERBS),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# ------------------------------------------------------------------------------ OpenAPI v3 (minimal)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_root(types: ResourceTypes) -> dict[str, Any]:
    """``/openapi/v3``: one entry per served group/version. kubectl needs it to decide how to validate."""
    gvs = sorted({(rt.group, rt.version) for rt in types})
    return {
        "paths": {
            _gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={_hash(g, v, '')}"}
            for g, v in gvs
        }
    }


def openapi_group_version(types: ResourceTypes, group: str, version: str) -> dict[str, Any] | None:
    """A schema-less OpenAPI document for one group/version.

    Its PATCH operations carry ``x-kubernetes-group-version-kind`` and a ``fieldValidation`` parameter, which
    is how kubectl decides that the server validates fields itself (it then sends ``fieldValidation=Strict``
    instead of validating client-side against ``/openapi/v2``, which the emulator does not serve). The
    schemas themselves are open objects: the emulator has no built-in schemas.
    """
    served = types.in_group_version(group, version)
    if not served:
        return None
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for rt in served:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        schemas[f"{rt.group or 'core'}.{rt.version}.{rt.kind}"] = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-group-version-kind": [gvk],
        }
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        paths[f"{prefix}{scope}/{rt.plural}/{{name}}"] = {
            "patch": {
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (apibridge emulator)", "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }
