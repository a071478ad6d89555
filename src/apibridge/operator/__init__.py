"""The ApiBridge controller (kopf + kr8s) and ``doctor``, the live-cluster diagnosis.

What it does: keeps, for every ``ApiBridge``, exactly the NAD and Subnet that ``apibridge render``
would print for the same cluster objects, reports the bridge's state in ``status``, and finds (and,
with ``spec.rollout: restart``, restarts) pods that run without the attachment.

Design decisions, and why:

**Level-based, one worker.** kopf watches and caches (``handlers``); a single worker (``controller``)
plans *all* bridges from the cache on every pass with the same planner ``render`` uses and writes only the
difference (``reconcile``). ``cidrBlock: auto`` shares one pool between bridges and the inputs (the API
Service's ClusterIPs, Subnets, Vpcs, Namespaces) are shared too, so per-bridge edge handlers would each see
a partial picture; a whole-world pass has no intermediate state to lose when the process is killed.

**One active controller: our own Lease election, not kopf peering** (``leader``). kopf peering is
priority-based: replicas of one Deployment share a priority, and kopf then "issues a warning and
freezes, leaving the cluster unserved". A ``coordination.k8s.io/v1`` Lease (duration 15 s, client-go's
algorithm and timings) is what Kubernetes' own controllers use, is visible with ``kubectl get lease``,
and lets a standby take over within one lease duration. kopf runs in ``--standalone`` mode only while
this replica leads (``runner``); a deposed leader exits and comes back as a candidate. The Lease
identity is the pod name, so a container restarted in place (same pod) resumes leadership at once.

**Deletion: ownerReferences + a label-based orphan sweep, no finalizer.** The NAD and Subnet carry a
controller ownerReference to their (cluster-scoped) ApiBridge — allowed for namespaced and
cluster-scoped dependents alike — so Kubernetes' garbage collector removes them when the bridge is
deleted, even while the operator is down or uninstalled. A finalizer would instead block deleting a
bridge (and the CRD) whenever the operator is not running. What GC cannot see — an object left behind
by an old ``nadNamespace``, or created by a controller killed before it could be related — the sweep
removes: our objects are recognised by ``apibridge.dev/bridge`` + ``app.kubernetes.io/managed-by`` labels
*and* the planner's name, and a deletion is confirmed against the API server first. A foreign object
holding a planned name is never touched (condition ``Degraded``/``NameTaken``).

**Status, events, metrics.** Conditions ``Ready``/``Validated``/``Degraded`` (``status``); Events with
deterministic names, so a repeated observation is one Event (``events``); Prometheus metrics and probes on
their own ports (``metrics``, ``serve``), answered by leader and standby alike.

Module map: ``kube`` (API objects -> documents/Cluster), ``client`` (kr8s calls), ``reconcile`` (pure
desired-vs-actual), ``status``, ``drift`` (pods without the mutation, restarts), ``events``, ``controller``
(the worker), ``handlers`` (kopf); ``process/``: ``leader``, ``metrics``, ``serve``, ``runner`` (the
process); ``diagnose/``: ``doctor`` (walks one pod's chain against a live cluster), ``install`` (the
install-wide checks).
"""
