from __future__ import annotations

import pytest

from nimriz_destinations.netguard import UnsafeDestination, check_resolved_address, check_url


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
