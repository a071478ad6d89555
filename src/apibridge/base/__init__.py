"""Leaf utilities with no Kube-OVN knowledge: input errors with their coordinates, TLS certificates,
Kubernetes resource kinds."""
