#!/bin/bash
# `make demo`: the reference cluster (three nodes in namespaces) arrives with
# the multi-node issue. Until then, say so plainly and point at what works.
cat <<'MSG'
kxdp demo: the three-node reference cluster (node130/131/132, service
test/test 12.0.182.73:5432) comes with the multi-node work (issue 3).

What runs today, on one simulated node: `make check` builds the datapath,
wires pods with kxdp-cni and Debian's host-local IPAM, and drives real
TCP/UDP traffic through a ClusterIP (see tests/e2e/test_single_node.py).
MSG
