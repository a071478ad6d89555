"""The OVN twin: a cluster's Kube-OVN networking realized on real OVN, so real packets can be sent.

Nobody can tell whether the seed's scheme — or an ApiBridge — really gives a custom-VPC pod the API
server, or what else it opens, until it runs. The twin builds what kube-ovn-controller and
kube-ovn-cni would build from the same manifests, on Debian's OVN/OVS with the userspace datapath,
nodes and pods as Linux network namespaces. Its rooms, by role:

* ``ovn/`` — the OVN control plane: ``topology`` (pure: cluster + plan -> northbound objects and pod
  interfaces, Kube-OVN's names), ``realize`` (the northbound diff against a running lab), ``nb``
  (writes it through ovsdbapp), ``daemons`` (the OVN/OVS processes of one lab);
* ``pods/`` — what a pod is made of: ``netns`` (namespaces and veths as kube-ovn-cni wires them),
  ``nsock`` (sockets created inside a namespace), ``hub``/``listener`` (the pods' containerPorts),
  ``probe`` (real connections from inside a pod);
* ``control/`` — the Kubernetes control-plane stand-ins: ``apiserver``;
* ``proof/`` — what the lab proves and shows: ``verify`` (expected reachability from the intent,
  probed), ``trace`` (ovn-trace in plain words), ``graph`` (DOT);
* at the top: ``lab`` (``up`` = reconcile, ``down``, ``status``), ``state`` (the lab's record on
  disk), ``proc`` (subprocesses, and the rule that a lab only ever ends what it started), ``demo``
  with its embedded ``demo_scenario/``.

Lower rooms never import ``lab``; ``proof`` reads a lab through the topology and its namespaces.
"""
