"""Kube-OVN and Multus rules, in one place.

``rules`` holds names, keys, defaults and OVN object naming exactly as kube-ovn-controller and
kube-ovn-cni use them (kube-ovn v1.17; ``rules`` cites the source file of each); ``networks``,
``routes`` and ``nadconf`` are the codecs for the annotations and NAD configs those components read.
Nothing above this package spells an annotation key or an OVN object name itself.
"""
