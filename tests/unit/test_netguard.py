from __future__ import annotations

import ipaddress

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimriz_destinations.delivery.guarded_transport import GuardedBackend
from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.netguard import UnsafeDestination, check_resolved_address, check_url, normalised_url, parse_url
from nimriz_destinations.providers.base import OutboundRequest


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "ftp://hooks.example.com/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/x",
        "https://10.1.2.3/x",
        "https://192.168.0.10/x",
        "https://172.16.5.4/x",
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://metadata.google.internal/x",
        "https://printer.local/x",
        "https://intranet/x",
        "https://user:pass@hooks.example.com/x",
        "https://224.0.0.1/x",
        "https://0.0.0.0/x",
        "https://[::ffff:127.0.0.1]/x",
        "not a url",
    ],
)
def test_unsafe_urls_are_refused_outside_the_local_stage(url: str) -> None:
    with pytest.raises(UnsafeDestination):
        check_url(url, allow_loopback=False)


def test_public_https_url_is_allowed() -> None:
    check_url("https://hooks.example.com:8443/nimriz?x=1", allow_loopback=False)


def test_loopback_and_plain_http_to_it_are_allowed_only_locally() -> None:
    check_url("http://127.0.0.1:9000/hook", allow_loopback=True)
    check_url("http://localhost:9000/hook", allow_loopback=True)
    with pytest.raises(UnsafeDestination):
        check_url("http://127.0.0.1:9000/hook", allow_loopback=False)


def test_metadata_and_private_ranges_stay_refused_locally() -> None:
    for url in ("https://169.254.169.254/", "https://10.0.0.1/", "http://192.168.1.1/"):
        with pytest.raises(UnsafeDestination):
            check_url(url, allow_loopback=True)


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "::1", "fd00::1", "100.64.0.1", "::ffff:10.0.0.1"])
def test_resolved_internal_addresses_are_refused(address: str) -> None:
    with pytest.raises(UnsafeDestination):
        check_resolved_address(address, allow_loopback=False)


def test_resolved_public_address_is_allowed() -> None:
    check_resolved_address("93.184.216.34", allow_loopback=False)


# -- the URL rule: repros accepted before, refused now (at save, in every stage) ----------------------------------

INVALID_URLS = {
    "space in host": "https://hooks .example.com/x",
    "tab in host": "https://hooks\t.example.com/x",
    "empty label": "https://example..com/x",
    "leading dot": "https://.example.com/x",
    "64-character label": f"https://{'a' * 64}.example.com/x",
    "host over 253 characters": "https://" + ".".join(["a" * 63] * 4) + ".com/x",
    "invalid IDNA label": "https://xn--.com/x",
    "invalid punycode": "https://xn--abc.com/x",
    "full-width digits": "https://１２７.０.０.１/x",
    "decimal shorthand": "https://2130706433/x",
    "hex shorthand": "https://0x7f.1/x",
    "short dotted": "https://127.1/x",
    "octal": "https://0177.0.0.1/x",
    "numeric final label": "https://example.123/x",
    "hex final label": "https://example.0x1f/x",
    "percent in host": "https://exa%6dple.com/x",
    "zone id": "https://[fe80::1%25eth0]/x",
    "userinfo": "https://hooks.example.com@evil.example/x",
    "underscore": "https://my_hooks.example.com/x",
    "hyphen at label edge": "https://-hooks.example.com/x",
    "trailing dot": "https://hooks.example.com./x",
    "control in path": "https://hooks.example.com/x\x00y",
    "newline in query": "https://hooks.example.com/x?a=1\n",
    "bidi in path": "https://hooks.example.com/\u202etxt.exe",
    "zero-width in host": "https://hoo\u200bks.example.com/x",
    "backslash": "https://hooks.example.com\\@evil.example/x",
    "bad percent escape": "https://hooks.example.com/%zz",
    "empty port": "https://hooks.example.com:/x",
    "port out of range": "https://hooks.example.com:65536/x",
    "full-width port": "https://hooks.example.com:４４３/x",
    "unclosed bracket": "https://[2001:db8::1/x",
    "IPv4 in brackets": "https://[8.8.8.8]/x",
    "no scheme separator": "https:hooks.example.com/x",
}


@pytest.mark.parametrize("url", INVALID_URLS.values(), ids=INVALID_URLS.keys())
@pytest.mark.parametrize("allow_loopback", [False, True], ids=["cloud", "local"])
def test_urls_breaking_the_url_rule_are_refused_in_every_stage(url: str, allow_loopback: bool) -> None:
    with pytest.raises(UnsafeDestination):
        check_url(url, allow_loopback=allow_loopback)


def test_the_host_length_limit_is_253_characters() -> None:
    labels_of_63 = ".".join(["a" * 63] * 3)
    check_url(f"https://{labels_of_63}.{'b' * 61}/", allow_loopback=False)  # 253
    with pytest.raises(UnsafeDestination, match="253"):
        check_url(f"https://{labels_of_63}.{'b' * 62}/", allow_loopback=False)  # 254


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("HTTPS://Hooks.Example.COM/Path?Q=1#F", "https://hooks.example.com/Path?Q=1#F"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://ＨＯＯＫＳ.example。com/x", "https://hooks.example.com/x"),
        ("https://r3---sn-abc.googlevideo.com/x", "https://r3---sn-abc.googlevideo.com/x"),
        ("https://[2001:4860:4860::8888]:8443/x", "https://[2001:4860:4860::8888]:8443/x"),
        ("https://8.8.8.8/x", "https://8.8.8.8/x"),
        ("https://hooks.example.com/caf%C3%A9", "https://hooks.example.com/caf%C3%A9"),
    ],
)
def test_valid_urls_pass_in_their_normalised_form(url: str, normalised: str) -> None:
    assert check_url(url, allow_loopback=False) == normalised
    assert normalised_url(url) == normalised


# -- addresses: explicit IANA tables, IPv6 transition forms judged by the IPv4 they carry -------------------------

TRANSITION_FORMS_OF_INTERNAL_IPV4 = {
    "6to4 of metadata (Python 3.12.1 rates it global)": "2002:a9fe:a9fe::1",
    "6to4 of 10.0.0.1": "2002:a00:1::",
    "IPv4-mapped metadata": "::ffff:169.254.169.254",
    "IPv4-compatible metadata": "::169.254.169.254",
    "IPv4-compatible private": "::10.0.0.1",
    "NAT64 of metadata": "64:ff9b::a9fe:a9fe",
    "NAT64 of 192.168.1.1": "64:ff9b::c0a8:101",
    "local-use NAT64": "64:ff9b:1::a9fe:a9fe",
    "Teredo, server 10.0.0.1": "2001:0:a00:1::5efe:f7f7",
    "Teredo, client 169.254.169.254 (XOR-ed)": "2001:0:808:808:0:0:5601:5601",
    "6to4 of loopback": "2002:7f00:1::1",
    "NAT64 of this-network": "64:ff9b::1",
    "IPv4-mapped shared CGNAT": "::ffff:100.64.0.1",
}

PUBLIC_TRANSITION_FORMS = {
    "6to4 of 8.8.8.8": "2002:808:808::1",
    "IPv4-mapped 8.8.8.8": "::ffff:8.8.8.8",
    "NAT64 of 1.1.1.1": "64:ff9b::101:101",
    "Teredo, server and client public": "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
}

SPECIAL_ADDRESSES = [
    "0.0.0.0",
    "10.1.2.3",
    "100.64.0.1",
    "127.0.0.2",
    "169.254.169.254",
    "172.31.255.255",
    "192.0.0.170",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.251",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:0:10.0.0.1",
    "100::1",
    "2001:2::1",
    "2001:db8::1",
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "4000::1",
]


@pytest.mark.parametrize("address", TRANSITION_FORMS_OF_INTERNAL_IPV4.values(), ids=TRANSITION_FORMS_OF_INTERNAL_IPV4)
def test_ipv6_transition_forms_of_internal_ipv4_are_refused_at_save_and_at_send(address: str) -> None:
    with pytest.raises(UnsafeDestination):
        check_url(f"https://[{address}]/hook", allow_loopback=False)
    with pytest.raises(UnsafeDestination):
        check_resolved_address(address, allow_loopback=False)


@pytest.mark.parametrize("address", PUBLIC_TRANSITION_FORMS.values(), ids=PUBLIC_TRANSITION_FORMS)
def test_ipv6_transition_forms_of_public_ipv4_are_judged_by_that_ipv4(address: str) -> None:
    check_resolved_address(address, allow_loopback=False)
    check_url(f"https://[{address}]/hook", allow_loopback=False)


def test_the_refusal_names_the_embedded_ipv4() -> None:
    with pytest.raises(UnsafeDestination, match=r"link-local .*carries 169\.254\.169\.254"):
        check_resolved_address("2002:a9fe:a9fe::1", allow_loopback=False)


@pytest.mark.parametrize("address", SPECIAL_ADDRESSES)
def test_special_purpose_addresses_are_refused_when_resolved(address: str) -> None:
    with pytest.raises(UnsafeDestination):
        check_resolved_address(address, allow_loopback=False)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_accepted_only_on_the_local_stage(address: str) -> None:
    check_resolved_address(address, allow_loopback=True)
    with pytest.raises(UnsafeDestination, match="loopback"):
        check_resolved_address(address, allow_loopback=False)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2620:4f:8000::1"])
def test_public_unicast_addresses_are_accepted(address: str) -> None:
    check_resolved_address(address, allow_loopback=False)


def test_address_judgement_does_not_consult_ipaddress_is_global(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever this Python's ipaddress says (3.12.1 rates 6to4 global), the tables decide.
    monkeypatch.setattr(ipaddress.IPv6Address, "is_global", property(lambda self: True))
    monkeypatch.setattr(ipaddress.IPv6Address, "is_private", property(lambda self: False))
    with pytest.raises(UnsafeDestination):
        check_resolved_address("2002:a9fe:a9fe::1", allow_loopback=False)


# -- at send: the sender's own guard calls ----------------------------------------------------------------------


@pytest.mark.parametrize("url", [INVALID_URLS["space in host"], INVALID_URLS["full-width digits"]])
def test_the_sender_refuses_an_invalid_stored_url_as_unsafe_before_any_connection(url: str) -> None:
    sender = HttpSender(allow_loopback=True)
    try:
        with pytest.raises(UnsafeDestination):
            sender.send("generic_http", OutboundRequest("POST", url, {}, b"{}", (0,)))
    finally:
        sender.close()


@pytest.mark.parametrize("address", ["2002:a9fe:a9fe::1", "64:ff9b::a9fe:a9fe", "::ffff:10.0.0.1"])
def test_the_connecting_backend_refuses_transition_forms_of_internal_addresses(address: str) -> None:
    # A numeric host resolves to itself without DNS, so this exercises the send-time guard without a network.
    with pytest.raises(UnsafeDestination):
        GuardedBackend(allow_loopback=True).connect_tcp(address, 443, timeout=1)


# -- generated URLs: refused at save, or sendable -----------------------------------------------------------------

_LABELS = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
    st.sampled_from(["bücher", "straße", "ＡＢＣ", "xn--bcher-kva", "r3---sn", "例え", "a" * 63, "a" * 64]),
    st.text(
        alphabet=st.sampled_from([*"az09-", "ü", "Ａ", "１", "\u200b", "_", "%", " ", "\t", "\u202e", "\u0301"]),
        max_size=10,
    ),
)
_HOSTS = st.one_of(
    st.builds(
        lambda labels, top: ".".join([*labels, top]),
        st.lists(_LABELS, min_size=0, max_size=4),
        st.sampled_from(["com", "example", "xn--p1ai", "рф", "123", "0x1f", "", "com.", "local", "internal"]),
    ),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
    st.sampled_from(["localhost", "[::ffff:8.8.8.8]", "[2002:a9fe:a9fe::1]", "2130706433", "１２７.０.０.１"]),
)
_URLS = st.one_of(
    st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
        st.sampled_from(["https", "HTTPS", "http", "ftp"]),
        _HOSTS,
        st.sampled_from(["", ":443", ":0", ":8443", ":", ":x"]),
        st.one_of(
            st.sampled_from(["", "/", "/hook", "/a/b?c=1&d=%2F", "/caf%C3%A9", "/x#frag", "/é?q=ü"]),
            st.text(alphabet=st.sampled_from([*"/az?#=&%2F", "é", " ", "\\", "{", "\x00"]), max_size=12),
        ),
    ),
    st.text(max_size=40),
)


@settings(max_examples=1000, deadline=None)
@given(_URLS, st.booleans())
def test_generated_urls_are_refused_or_sendable_as_judged(url: str, allow_loopback: bool) -> None:
    try:
        normalised = check_url(url, allow_loopback=allow_loopback)
    except UnsafeDestination:
        return
    built = httpx.URL(normalised)  # what the sender hands to httpx parses there
    assert built.scheme in ("https", "http") and built.userinfo == b""
    assert check_url(normalised, allow_loopback=allow_loopback) == normalised
    judged = parse_url(normalised)
    assert built.raw_host.decode("ascii") == judged.host  # httpx connects to the host the rule judged
    if _is_address(judged.host):
        check_resolved_address(judged.host, allow_loopback=allow_loopback)
    else:
        assert all(0 < len(label) <= 63 for label in judged.host.split(".")) and len(judged.host) <= 253


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
