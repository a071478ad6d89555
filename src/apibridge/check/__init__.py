"""The validator: findings with stable codes about the input and the plan (``validator.check``).

Kube-OVN and Multus report most mistakes late — a Subnet status condition, a pod stuck in
ContainerCreating, a route silently skipped by kube-ovn-cni. This package says them before apply,
each pinned to the object and field to edit. Codes and their meaning live in ``findings.CODES``.
"""
