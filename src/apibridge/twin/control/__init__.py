"""Stand-ins for the Kubernetes control plane the twin's pods talk to: the kube-apiserver on each node."""
