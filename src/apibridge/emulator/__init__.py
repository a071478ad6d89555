"""The project's own Kubernetes API server emulator, for tests and local runs.

There is no kube-apiserver on our machines, yet the operator (kopf), the mutating webhook and the CLI must
be proven against one. This package is a real HTTP(S) server, faithful enough for kopf, kr8s and kubectl:
resourceVersions, generations, watches with bookmarks and 410 Gone, patches, the status subresource,
finalizers, garbage collection, CRDs with structural schemas, discovery and — the reason it exists —
mutating/validating admission webhooks called over TLS exactly like a real API server calls them.
It is generic Kubernetes and knows nothing about apibridge (an import-linter contract keeps it that way).

Start one, hand out a kubeconfig, register a webhook::

    from apibridge.emulator import Emulator, serve

    emulator = Emulator(token="t", history_window=100,          # watch events kept before 410 Gone
                        service_resolver=lambda ns, name, port: "https://127.0.0.1:8443")
    async with serve(emulator, self_signed_tls=True) as running:  # or tls_cert_file=/tls_key_file=/ca_file=
        running.write_kubeconfig(path)                            # then KUBECONFIG=path for kopf/kr8s/kubectl
        # POST a MutatingWebhookConfiguration (clientConfig.url + caBundle, or clientConfig.service, which
        # service_resolver maps to a real address; the certificate must name <svc>.<ns>.svc) — from then on
        # matching requests call it.

or from a shell: ``python -m apibridge.emulator --port 6443 --self-signed-tls --kubeconfig-out kc.yaml``.

Modules: ``server`` (``Emulator``, ``build_app``, ``serve``), ``cluster`` (verbs and built-in controllers),
``store`` (objects, resourceVersions, history), ``watch``, ``admission``, ``matchconditions`` (CEL),
``discovery``, ``kinds``, ``crds``, ``strategies`` (per-kind defaults and rules), ``selectors``, ``patches``,
``errors``, ``wire``, ``kubeconfig``.

Known gaps (where the emulator is *not* a real cluster):

* No controllers beyond GC, namespace lifecycle, CRD cleanup, the ``default`` ServiceAccount and
  ``kube-root-ca.crt``: no scheduler or kubelet (pods stay ``Pending`` and are deleted at once, no grace
  period), no Deployment/ReplicaSet/Job controllers, no EndpointSlices for Services.
* Strategic merge patch is applied as a JSON merge patch (lists replaced, no ``$patch`` directives);
  server-side apply (``application/apply-patch+yaml``) and protobuf/CBOR bodies are refused with 415
  (so ``kubectl create deployment`` and other protobuf-speaking kubectl generators do not work; ``kubectl
  apply/get/patch/delete/wait`` do).
* Built-in kinds have no schemas: unknown fields are kept, ``fieldValidation`` only applies to custom
  resources; ``/openapi/v3`` is a schema-less stub, ``/openapi/v2`` is absent. No ``Table`` responses
  (kubectl falls back to NAME/AGE columns). No ``managedFields``.
* CRDs: no CEL (``x-kubernetes-validations``), no ``scale`` subresource, no conversion webhooks, no
  ``additionalPrinterColumns``; ``selectableFields`` are honoured by field selectors.
* Admission: ``matchConditions`` are evaluated with celpy, which has no type checker (an unknown field or
  function is an evaluation error subject to ``failurePolicy``, not a rejected configuration), no cost
  budget, no ``authorizer`` variable (an expression using it fails to evaluate) and, of Kubernetes' CEL
  libraries, only strings, regex ``find``/``findAll`` and some list functions (no URL, IP/CIDR, quantity,
  semver); ``matchPolicy: Equivalent`` does not map between versions; validating webhooks run one after
  another; no built-in admission plugins besides ServiceAccount and NamespaceLifecycle.
* Foreground deletion deletes dependents first and then the owner, without the ``foregroundDeletion``
  finalizer dance. Garbage collection runs synchronously right after the owner is removed.
* A ``continue`` token lists from the current state after the last key (no snapshot). A list with
  ``resourceVersionMatch=Exact`` is answered from the current state unless the version is compacted (410).
  A watch from a future resourceVersion simply waits.
* ``core/v1`` Events and ``events.k8s.io/v1`` Events are separate storages. No RBAC: a bearer token is
  all-or-nothing, and is only checked over HTTPS (client-go never sends tokens over plain HTTP).
"""

from __future__ import annotations

from apibridge.emulator.admission import ServiceResolver
from apibridge.emulator.kubeconfig import kubeconfig_dict, write_kubeconfig
from apibridge.emulator.server import Emulator, Running, build_app, serve

__all__ = ["Emulator", "Running", "ServiceResolver", "build_app", "kubeconfig_dict", "serve", "write_kubeconfig"]
