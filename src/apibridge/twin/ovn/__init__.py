"""The twin's OVN control plane: northbound objects from the manifests, written to real OVN daemons.

``topology`` is pure (cluster + plan -> what kube-ovn-controller would create), ``realize`` turns it
into the smallest northbound write, ``nb`` performs it through ovsdbapp, ``daemons`` runs the
NB/SB/northd and chassis processes of one lab.
"""
