"""What a twin pod is made of: a network namespace wired as kube-ovn-cni wires it, listeners, probes.

``netns`` creates namespaces and veths, ``nsock`` opens sockets inside a namespace without a
process per pod, ``hub``/``listener`` answer the pods' containerPorts, ``probe`` makes the real
connections a workload would make.
"""
