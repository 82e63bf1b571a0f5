"""The URL rule and SSRF guard for every outbound URL a customer supplied (webhook URL, PostHog host, GTM container
URL, and any future one).

`parse_url` is the one strict parser: RFC 3986 syntax, host names under IDNA 2008 / UTS 46 with 1–63 octet labels
and at most 253 octets, no whitespace or control characters, no user info, no numeric host shorthands. Credential
models store its normalised form, so what is saved is what is sent. `check_url` judges a URL at save time and again
at send time (scheme, loopback, internal names, literal addresses); `check_resolved_address` judges each address
the host resolves to when connecting (DNS can change after save).

Addresses are judged against explicit tables of the IANA IPv4 and IPv6 special-purpose registries, not
`ipaddress.is_global`, whose answers change between Python patch versions (3.12.1 rates the 6to4 wrapping of
169.254.169.254 global). IPv6 transition forms are judged by the IPv4 addresses they embed. Loopback (and plain http
to it) is allowed only when the stage is local; every other address that is not public unicast is refused.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import idna

_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
MAX_HOST_OCTETS = 253
MAX_LABEL_OCTETS = 63

_URL_SHAPE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?",
    re.DOTALL,
)
# ASCII allowed in path, query and fragment (RFC 3986 pchar plus "/" and "?"); non-ASCII text is percent-encoded
# by the HTTP client, like a browser does.
_ASCII_AFTER_HOST = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
# A final label that is a number makes browsers and resolvers read the whole host as an IPv4 address in some
# shorthand (2130706433, 0x7f.1, 127.1, 0177.0.0.1): those are refused; only dotted-quad literals are addresses.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


class UnsafeDestination(ValueError):
    """The URL or address must not be called (invalid under the URL rule, or not a public destination)."""


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    scheme: str  # "http" or "https"
    host: str  # lower-case A-label host name, or the address of an IP literal
    address: IPv4Address | IPv6Address | None  # set for IP literals
    port: int | None
    path: str
    query: str | None  # None when the URL has no "?"
    fragment: str | None  # None when the URL has no "#"

    @property
    def url(self) -> str:
        """The normalised URL: lower-case scheme and A-label host, the rest as given."""
        host = f"[{self.host}]" if isinstance(self.address, IPv6Address) else self.host
        port = "" if self.port is None else f":{self.port}"
        query = "" if self.query is None else f"?{self.query}"
        fragment = "" if self.fragment is None else f"#{self.fragment}"
        return f"{self.scheme}://{host}{port}{self.path}{query}{fragment}"


def parse_url(url: str) -> ParsedUrl:
    """The URL under the strict rule; UnsafeDestination naming the rule it breaks."""
    for char in url:
        if char.isspace() or unicodedata.category(char)[0] in "CZ":
            raise UnsafeDestination(
                f"the URL must not contain whitespace or control characters (found U+{ord(char):04X})"
            )
    shape = _URL_SHAPE.fullmatch(url)
    if shape is None:
        raise UnsafeDestination("not a valid URL: expected https://host/path")
    scheme = shape["scheme"].lower()
    if scheme not in ("http", "https"):
        raise UnsafeDestination("the URL must use https")
    host, address, port = _authority(shape["authority"])
    for part in (shape["path"], shape["query"], shape["fragment"]):
        if part:
            _check_after_host(part)
    return ParsedUrl(scheme, host, address, port, shape["path"], shape["query"], shape["fragment"])


def normalised_url(url: str) -> str:
    """`parse_url(url).url`: for pydantic validators of URL fields."""
    return parse_url(url).url


def check_url(url: str, *, allow_loopback: bool) -> str:
    """Judge a customer-supplied URL; returns its normalised form (the one to call) or raises UnsafeDestination."""
    parsed = parse_url(url)
    loopback = parsed.host == "localhost" or parsed.host.endswith(".localhost")
    if parsed.address is not None:
        loopback = all(_refusal(judged) == _LOOPBACK for judged in _judged(parsed.address))
    if parsed.scheme != "https" and not (loopback and allow_loopback):
        raise UnsafeDestination("the URL must use https")
    if parsed.address is not None:
        check_resolved_address(parsed.address, allow_loopback=allow_loopback)
    elif loopback:
        if not allow_loopback:
            raise UnsafeDestination("loopback hosts are not allowed")
    elif parsed.host.endswith(_INTERNAL_SUFFIXES) or "." not in parsed.host:
        raise UnsafeDestination("internal host names are not allowed")
    return parsed.url


def check_resolved_address(address: str | IPv4Address | IPv6Address, *, allow_loopback: bool) -> None:
    """Refuse an address that is not public unicast (loopback only on the local stack)."""
    try:
        ip = ip_address(address)
    except ValueError:
        raise UnsafeDestination("not an IP address") from None
    for judged in _judged(ip):
        kind = _refusal(judged)
        if kind is None or (kind == _LOOPBACK and allow_loopback):
            continue
        embedding = f" ({ip} carries {judged})" if judged != ip else ""
        raise UnsafeDestination(f"{kind} addresses are not allowed{embedding}")


# -- parsing ---------------------------------------------------------------------------------------------------


def _authority(authority: str) -> tuple[str, IPv4Address | IPv6Address | None, int | None]:
    if "@" in authority:
        raise UnsafeDestination("credentials in the URL are not allowed; use headers")
    if authority.startswith("["):
        literal, bracket, port_part = authority[1:].partition("]")
        if not bracket:
            raise UnsafeDestination("not a valid URL: unclosed [ in the host")
        if "%" in literal:
            raise UnsafeDestination("the host must not contain %")
        try:
            ipv6 = IPv6Address(literal)
        except ValueError:
            raise UnsafeDestination("not a valid IPv6 address in [ ]") from None
        return literal.lower(), ipv6, _port(port_part)
    host, colon, port_text = authority.partition(":")
    port = _port(colon + port_text)
    if not host:
        raise UnsafeDestination("the URL has no host")
    if "%" in host:
        raise UnsafeDestination("the host must not contain %")
    try:
        ipv4 = IPv4Address(host)  # dotted-quad decimal only: no shorthands, no leading zeros
    except ValueError:
        return _host_name(host), None, port
    return ipv4.compressed, ipv4, port


def _port(port_part: str) -> int | None:
    if not port_part:
        return None
    digits = port_part.removeprefix(":")
    if digits == port_part or not (digits.isascii() and digits.isdigit()) or len(digits) > 5:
        raise UnsafeDestination("not a valid port")
    port = int(digits)
    if not 0 < port < 65536:
        raise UnsafeDestination("the port must be between 1 and 65535")
    return port


def _host_name(host: str) -> str:
    """The lower-case A-label form of a host name (UTS 46 mapping, IDNA 2008 labels, STD3 letters-digits-hyphen)."""
    try:
        mapped = idna.uts46_remap(host, std3_rules=True, transitional=False)
    except idna.IDNAError:
        raise UnsafeDestination("the host has characters not allowed in host names") from None
    if mapped.endswith("."):
        raise UnsafeDestination("the host must not end with a dot")
    labels = [_a_label(label) for label in mapped.split(".")]
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise UnsafeDestination("numeric host shorthands are not allowed; write an IPv4 address as a.b.c.d")
    name = ".".join(labels)
    if len(name) > MAX_HOST_OCTETS:
        raise UnsafeDestination(f"the host is longer than {MAX_HOST_OCTETS} characters")
    return name


def _a_label(label: str) -> str:
    if not label:
        raise UnsafeDestination("the host has an empty label (two dots in a row, or a leading dot)")
    if label.isascii() and not label.startswith("xn--"):
        # Plain ASCII labels follow the DNS host name rule (RFC 1123); IDNA's stricter hyphen rule is for U-labels.
        a_label = label
        if not _LDH_LABEL.fullmatch(label):
            raise UnsafeDestination("a host label has letters, digits and inner hyphens only")
    else:
        try:
            a_label = idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise UnsafeDestination("the host has a label that is not valid under IDNA 2008") from None
    if len(a_label) > MAX_LABEL_OCTETS:
        raise UnsafeDestination(f"a host label is longer than {MAX_LABEL_OCTETS} characters")
    return a_label


def _check_after_host(part: str) -> None:
    for char in part:
        if char.isascii() and char not in _ASCII_AFTER_HOST:
            raise UnsafeDestination(f"the character {char!r} is not allowed in a URL; percent-encode it")
    if _BAD_PERCENT.search(part):
        raise UnsafeDestination("% in a URL must start a percent-encoded byte (%XX)")


# -- judging addresses -----------------------------------------------------------------------------------------

_LOOPBACK = "loopback"
_IPV4_LOOPBACK = IPv4Network("127.0.0.0/8")
_IPV6_LOOPBACK = IPv6Address("::1")

# IANA IPv4 Special-Purpose Address Registry, plus multicast. Stricter than the registry where it marks a few
# anycast services inside a refused block as global (192.0.0.9, 192.0.0.10): no webhook lives there.
_IPV4_REFUSED: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(network), kind)
    for network, kind in (
        ("0.0.0.0/8", "this-network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved or broadcast"),
    )
)

# IPv6 forms that carry IPv4 addresses: judged by what they embed.
_IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_NOT_IPV4_COMPATIBLE = (IPv6Address("::"), IPv6Address("::1"))  # unspecified and loopback, judged as themselves
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")
_TEREDO = IPv6Network("2001::/32")

# Only 2000::/3 is allocated for global unicast; inside it, the IANA IPv6 Special-Purpose Address Registry blocks
# that are not globally reachable (all of 2001::/23 apart from Teredo, which is decoded first: stricter than the
# registry for its few anycast service addresses). Outside it, the named blocks only give a clearer reason.
_IPV6_GLOBAL_UNICAST = IPv6Network("2000::/3")
_IPV6_REFUSED: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(network), kind)
    for network, kind in (
        ("::/128", "unspecified"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignment"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)


def _judged(ip: IPv4Address | IPv6Address) -> tuple[IPv4Address | IPv6Address, ...]:
    """The addresses that decide whether `ip` may be called: the IPv4 addresses an IPv6 transition form carries,
    else `ip` itself."""
    if isinstance(ip, IPv4Address):
        return (ip,)
    value = int(ip)
    if ip in _IPV4_MAPPED or ip in _NAT64 or (ip in _IPV4_COMPATIBLE and ip not in _NOT_IPV4_COMPATIBLE):
        return (IPv4Address(value & 0xFFFFFFFF),)
    if ip in _SIX_TO_FOUR:
        return (IPv4Address((value >> 80) & 0xFFFFFFFF),)
    if ip in _TEREDO:
        # Teredo: the server's IPv4 in bits 32-63, the client's IPv4 XOR-ed with all ones in the last 32 bits.
        return IPv4Address((value >> 64) & 0xFFFFFFFF), IPv4Address(~value & 0xFFFFFFFF)
    return (ip,)


def _refusal(ip: IPv4Address | IPv6Address) -> str | None:
    """The kind of special address `ip` is (`_LOOPBACK` for loopback), None for public unicast."""
    if isinstance(ip, IPv4Address):
        if ip in _IPV4_LOOPBACK:
            return _LOOPBACK
        return next((kind for network, kind in _IPV4_REFUSED if ip in network), None)
    if ip == _IPV6_LOOPBACK:
        return _LOOPBACK
    kind = next((kind for network, kind in _IPV6_REFUSED if ip in network), None)
    if kind is None and ip not in _IPV6_GLOBAL_UNICAST:
        return "reserved IPv6"
    return kind
