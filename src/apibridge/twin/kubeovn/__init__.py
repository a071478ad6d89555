"""The twin with the real kube-ovn-controller (``lab up --kube --engine kube-ovn``)."""
