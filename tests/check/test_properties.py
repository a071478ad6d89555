"""Property tests: the fast rules agree with obvious brute-force references on random inputs."""

from __future__ import annotations

import ipaddress
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.check.intervals import PointIndex, RangeIndex, overlap_partners, span
from apibridge.check.objects.subnets import SubnetReporter, overlap_findings
from apibridge.kubeovn.dualstack import IPNetwork

from .kit import by_code, run, subnet, vpc

# small CIDRs inside 10.0.0.0/16 so that random sets overlap often
cidrs = st.builds(
    lambda prefix, offset: ipaddress.ip_network(
        (0x0A000000 + (offset << (32 - prefix)) % (1 << 16), prefix), strict=False
    ),
    st.integers(min_value=16, max_value=28),
    st.integers(min_value=0, max_value=1 << 12),
)


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 40)), max_size=40))
def test_overlap_partners_matches_brute_force_on_intervals(raw: list[tuple[int, int]]) -> None:
    spans = [(start, start + length) for start, length in raw]
    partners = overlap_partners(spans)
    expected = {i for i, a in enumerate(spans) if any(j != i and _overlaps(a, b) for j, b in enumerate(spans))}
    assert set(partners) == expected
    for i, j in partners.items():
        assert i != j and _overlaps(spans[i], spans[j])


@given(st.lists(cidrs, max_size=30), cidrs)
def test_range_index_finds_an_overlap_iff_there_is_one(nets: list[IPNetwork], probe: IPNetwork) -> None:
    index = RangeIndex([(n, f"n{i}") for i, n in enumerate(nets)])
    found = list(index.overlapping(probe))
    truth = {f"n{i}" for i, n in enumerate(nets) if n.overlaps(probe)}
    assert {key for key, _ in found} <= truth
    assert bool(found) == bool(truth)
    # CIDRs nest or are disjoint: everything starting inside the probe is listed
    inside = {f"n{i}" for i, n in enumerate(nets) if span(probe)[0] <= span(n)[0] <= span(probe)[1]}
    assert inside <= {key for key, _ in found}


@given(st.lists(st.ip_addresses(v=4), max_size=30), cidrs)
def test_point_index_matches_brute_force(ips: list[ipaddress.IPv4Address], net: IPNetwork) -> None:
    index = PointIndex([(ip, f"k{i}") for i, ip in enumerate(ips)])
    assert sorted(index.within(net)) == sorted((str(ip), f"k{i}") for i, ip in enumerate(ips) if ip in net)


@settings(max_examples=60, deadline=None)
@given(st.lists(cidrs, min_size=1, max_size=12))
def test_subnet_overlap_rule_matches_brute_force(nets: list[IPNetwork]) -> None:
    docs = [vpc("t", "ns-t", cidr="192.168.0.0/24")]
    docs += [subnet(f"s{i}", str(n), vpc="t") for i, n in enumerate(nets)]
    flagged = {f.obj for f in by_code(run(*docs), "AB016")}
    expected = {f"Subnet/s{i}" for i, n in enumerate(nets) if any(j != i and n.overlaps(m) for j, m in enumerate(nets))}
    assert flagged == expected


@settings(max_examples=80, deadline=None)
@given(
    st.integers(min_value=8, max_value=30),
    st.integers(min_value=0, max_value=(1 << 24) - 1),
    st.integers(min_value=0, max_value=(1 << 25) - 1),
)
def test_gateway_rules_match_a_reference(prefix: int, net_offset: int, gw_offset: int) -> None:
    cidr = ipaddress.ip_network((0x0A000000 + (net_offset << (32 - prefix)) % (1 << 24), prefix), strict=False)
    gw = ipaddress.ip_address(0x0A000000 + gw_offset % (1 << 25))  # 10.0.0.0 - 10.1.255.255
    found = {
        f.code for f in run(subnet("s", str(cidr), gateway=str(gw), vpc="t"), vpc("t", "ns-t")) if f.obj == "Subnet/s"
    }
    assert ("AB001" in found) == (gw not in cidr)
    assert ("AB002" in found) == (gw in cidr and gw in (cidr.network_address, cidr.broadcast_address))
    assert "AB003" not in found


def test_overlap_of_ten_thousand_subnets_is_fast() -> None:
    """The benchmark's shape: 10,000 subnets, most disjoint, some nested — sorted once, not compared pairwise."""
    from apibridge.check.index import build_view
    from apibridge.model.cluster import Cluster
    from apibridge.model.load import parse_text
    from apibridge.plan.planner import plan

    docs = [vpc("t", "ns-t", cidr="192.168.0.0/24")]
    docs += [subnet(f"s{i}", f"10.{i // 256}.{i % 256}.0/24", vpc="t") for i in range(10_000)]
    docs += [subnet("wide", "10.3.0.0/16", vpc="t")]
    cluster = Cluster.from_documents(parse_text("\n---\n".join(docs), "big.yaml"))
    view = build_view(cluster, plan(cluster))
    started = time.perf_counter()
    findings = overlap_findings(SubnetReporter(view), list(view.subnets.values()))
    elapsed = time.perf_counter() - started
    assert len(findings) == 257  # "wide" and the 256 /24s inside it
    assert elapsed < 1.0, elapsed
    assert span(ipaddress.ip_network("10.3.0.0/16")) == (0x0A030000, 0x0A03FFFF)
