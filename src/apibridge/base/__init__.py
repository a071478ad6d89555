"""Leaf utilities with no Kubernetes or Kube-OVN knowledge: errors, TLS material, JSON Patch."""
