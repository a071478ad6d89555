"""apibridge: API-server access for Kube-OVN custom-VPC pods, planned, checked and proven.

Data flows one way through the package (enforced by import-linter, see pyproject.toml):

    base -> kubeovn -> model -> plan -> check -> {admission, operator, twin} -> report -> cli

``kubeovn`` is the single place for Kube-OVN and Multus rules (annotation keys, provider naming,
defaults, OVN object names); nothing above it re-derives them.
"""

__version__ = "0.1.0"
