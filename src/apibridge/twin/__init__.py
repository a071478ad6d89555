"""The OVN twin: a cluster's Kube-OVN networking realized on real OVN, so real packets can be sent.

Nobody can tell whether the seed's scheme — or an ApiBridge — really gives a custom-VPC pod the API
server, or what else it opens, until it runs. The twin builds what kube-ovn-controller and
kube-ovn-cni would build from the same manifests, on Debian's OVN/OVS with the userspace datapath,
nodes and pods as Linux network namespaces:

* ``topology`` — pure: cluster + plan -> the northbound objects and pod interfaces, Kube-OVN's names;
* ``realize`` — the northbound diff against a running lab (``nb`` writes it through ovsdbapp);
* ``daemons``, ``netns``, ``proc`` — the six OVN/OVS processes, namespaces and veths of one lab, and
  the rule that a lab only ever ends what it started;
* ``apiserver``, ``hub``/``listener``, ``nsock`` — the kube-apiserver stand-in and pod listeners;
* ``lab`` — ``up`` (reconcile), ``down``, ``status``; ``verify``/``probe`` — the expected reachability
  from the intent, probed with TCP/HTTPS; ``trace`` — ovn-trace in plain words; ``graph``; ``demo``.
"""
