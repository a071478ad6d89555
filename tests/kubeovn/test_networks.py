"""The Multus networks annotation codec behaves like Multus' ``ParseNetworkAnnotation``.

Multus rules (network-attachment-definition-client ``pkg/utils/net-attach-def.go``): a value with
``[``, ``{`` or ``"`` is a JSON *list* of selection objects; otherwise a comma list of
``[<namespace>/]<name>[@<ifname>]`` items, each trimmed, each part a DNS-1123 label. A missing
namespace is the pod's namespace; Multus names attachments net1, net2, ... by position.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.kubeovn import networks
from apibridge.kubeovn.networks import NetworkSelection, NetworksError

FAST = settings(max_examples=150, deadline=None)

LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?", fullmatch=True)
OPT_LABEL = st.none() | LABEL

IFNAME = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?", fullmatch=True)  # Multus: at most 15 characters
COMMA_SELECTION = st.builds(NetworkSelection, name=LABEL, namespace=OPT_LABEL, interface=st.none() | IFNAME)

JSON_SCALAR = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
# fields of NetworkSelectionElement other than name/namespace/interface, plus unknown ones (``ips``, ``mac`` and
# ``default-route`` are checked by Multus: tests/kubeovn/test_upstream_corpus.py)
EXTRA_KEYS = st.sampled_from(
    [
        "cni-args",
        "portMappings",
        "bandwidth",
        "infiniband-guid",
        "ipam-claim-reference",
        "x-custom",
    ]
)
EXTRA = st.dictionaries(EXTRA_KEYS, JSON_VALUE, max_size=4)
# JSON form does not restrict names to DNS-1123 labels (dots etc. are fine there)
JSON_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=20)
JSON_SELECTION = st.builds(
    NetworkSelection,
    name=JSON_NAME,
    namespace=st.none() | JSON_NAME,
    interface=st.none() | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=15),
    extra=EXTRA,
)

SPACES = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def comma_text(draw: st.DrawFn) -> tuple[str, list[NetworkSelection]]:
    """A comma-form value with arbitrary spacing around items, and the selections it means."""
    sels = draw(st.lists(COMMA_SELECTION, min_size=1, max_size=4))
    items = [draw(SPACES) + s.to_text() + draw(SPACES) for s in sels]
    return ",".join(items), sels


# ---- round trips ---------------------------------------------------------------------------------
@FAST
@given(st.lists(COMMA_SELECTION, max_size=5))
def test_comma_form_round_trips(sels: list[NetworkSelection]) -> None:
    ann = networks.NetworksAnnotation("comma", tuple(sels))
    text = ann.format()
    assert not any(ch in text for ch in '[{"'), "comma form must not look like JSON to Multus"
    assert networks.parse(text) == ann


@FAST
@given(st.lists(JSON_SELECTION, max_size=5))
def test_json_form_round_trips_and_keeps_extra_fields(sels: list[NetworkSelection]) -> None:
    ann = networks.NetworksAnnotation("json", tuple(sels))
    text = ann.format()
    assert networks.parse(text) == ann
    # what Multus reads: a JSON list whose elements carry every field we were given
    decoded = json.loads(text)
    assert isinstance(decoded, list)
    for element, sel in zip(decoded, sels, strict=True):
        assert element["name"] == sel.name
        for key, value in sel.extra.items():
            assert element[key] == value


@FAST
@given(comma_text())
def test_comma_text_with_spaces_parses_to_its_items(case: tuple[str, list[NetworkSelection]]) -> None:
    text, sels = case
    parsed = networks.parse(text)
    assert parsed.form == "comma"
    assert list(parsed.selections) == sels


def test_hand_written_values_parse_like_multus() -> None:
    parsed = networks.parse(" kube-system/api-ovn-nad@net5 , macvlan-conf ")
    assert parsed.form == "comma"
    assert parsed.selections == (
        NetworkSelection(name="api-ovn-nad", namespace="kube-system", interface="net5"),
        NetworkSelection(name="macvlan-conf"),
    )
    value = '[{"name":"api-ovn-nad","namespace":"kube-system","ips":["100.100.100.9"],"mac":"0a:00:00:00:00:01"}]'
    parsed = networks.parse(value)
    assert parsed.form == "json"
    (sel,) = parsed.selections
    assert (sel.name, sel.namespace, sel.interface) == ("api-ovn-nad", "kube-system", None)
    assert sel.extra == {"ips": ["100.100.100.9"], "mac": "0a:00:00:00:00:01"}


def test_json_form_allows_dots_in_names() -> None:
    (sel,) = networks.parse('[{"name":"my.nad","namespace":"ns"}]').selections
    assert sel.name == "my.nad"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_blank_value_means_no_attachments(value: str | None) -> None:
    assert networks.parse(value).selections == ()


# ---- Multus rejections -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "a/b/c",  # more than one '/'
        "ns/a@x@y",  # more than one '@'
        "a@b@c",
        "ns/my.nad",  # dots are not allowed in comma form
        "my.nad",
        "ns.x/nad",
        "nad@eth.1",
        "Nad",  # upper case
        "-nad",  # must start alphanumerically
        "nad-",
        "nad_1",
        '{"name":"a"}',  # a JSON object, not a list
        '[{"namespace":"ns"}]',  # element without name
        '[{"name":""}]',
        '["a"]',  # element is not an object
        "[not json",
        '[{"name":"a","namespace":5}]',
    ],
)
def test_values_multus_rejects_are_errors(value: str) -> None:
    with pytest.raises(NetworksError):
        networks.parse(value)


# ---- namespaces and interface names -------------------------------------------------------------------
@FAST
@given(LABEL, LABEL, OPT_LABEL)
def test_missing_namespace_resolves_to_pod_namespace(name: str, pod_ns: str, ns: str | None) -> None:
    for text in (NetworkSelection(name, ns).to_text(), json.dumps([NetworkSelection(name, ns).to_json()])):
        (sel,) = networks.parse(text).selections
        assert sel.ref(pod_ns) == (ns or pod_ns, name)
        assert sel.resolved_namespace(pod_ns) == (ns or pod_ns)


def test_interface_names_are_positional_unless_named() -> None:
    assert networks.interface_names(networks.parse("a,b@foo,c")) == ["net1", "foo", "net3"]
    assert networks.interface_names(networks.parse('[{"name":"a","interface":"api0"},{"name":"b"}]')) == [
        "api0",
        "net2",
    ]
    assert networks.interface_names(networks.parse("")) == []


@FAST
@given(st.lists(COMMA_SELECTION, max_size=6))
def test_interface_names_one_per_selection(sels: list[NetworkSelection]) -> None:
    names = networks.interface_names(networks.NetworksAnnotation("comma", tuple(sels)))
    assert len(names) == len(sels)
    for i, (sel, name) in enumerate(zip(sels, names, strict=True), start=1):
        assert name == (sel.interface or f"net{i}")


# ---- append ---------------------------------------------------------------------------------------------
@FAST
@given(comma_text(), COMMA_SELECTION)
def test_append_comma_form_keeps_text_as_prefix_and_adds_one(
    case: tuple[str, list[NetworkSelection]], new: NetworkSelection
) -> None:
    text, sels = case
    out = networks.append(text, new)
    # the user's text stays as written (trailing blanks aside: they are dropped before the comma)
    assert out.startswith(text.rstrip())
    parsed = networks.parse(out)
    assert parsed.form == "comma"
    assert list(parsed.selections) == [*sels, new]


@FAST
@given(st.lists(JSON_SELECTION, min_size=1, max_size=4), COMMA_SELECTION)
def test_append_json_form_keeps_every_element_and_adds_one(sels: list[NetworkSelection], new: NetworkSelection) -> None:
    raw: list[dict[str, Any]] = [s.to_json() for s in sels]
    text = json.dumps(raw, indent=1)  # the user's own spacing
    out = networks.append(text, new)
    parsed = networks.parse(out)
    assert parsed.form == "json"
    assert list(parsed.selections) == [*sels, new]
    decoded = json.loads(out)
    assert decoded[: len(raw)] == raw  # every original element, with every field, unchanged


@pytest.mark.parametrize("value", [None, "", "  "])
def test_append_to_nothing_gives_the_selection(value: str | None) -> None:
    out = networks.append(value, NetworkSelection("apibridge-x", "kube-system"))
    assert out == "kube-system/apibridge-x"


def test_append_rejects_values_multus_rejects() -> None:
    with pytest.raises(NetworksError):
        networks.append("a/b/c", NetworkSelection("x"))


def test_spaces_around_separators_are_trimmed_like_multus() -> None:
    (sel,) = networks.parse("kube-system / api-ovn-nad @ net1").selections
    assert (sel.namespace, sel.name, sel.interface) == ("kube-system", "api-ovn-nad", "net1")
