"""The cluster as typed objects: manifests in, Kube-OVN's view of them out.

``load`` turns files into documents, ``objects`` turns documents into typed objects (applying
Kube-OVN's defaulting), ``cluster`` indexes them and answers the questions Kube-OVN answers
(which subnet and VPC a pod lands in, what the API server's ClusterIPs are).
"""
