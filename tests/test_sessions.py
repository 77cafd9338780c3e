"""The HTTP session of the product's clients: the environment's proxy and CA settings, read once per host."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import requests.sessions

from lineage.azure.sessions import EnvironmentOnceSession


def test_it_merges_what_a_plain_session_merges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corporate-ca.pem")
    plain, once = requests.Session(), EnvironmentOnceSession()
    for url in ("https://contoso.purview.azure.com/datamap/api/atlas/v2/entity/bulk",
                "https://internal.example/api", "http://127.0.0.1:10001/account/queue"):
        for verify in (None, False, "/my/ca.pem"):
            mine: dict[str, Any] = {}
            theirs: dict[str, Any] = {}
            got = once.merge_environment_settings(url, mine, None, verify, None)
            want = plain.merge_environment_settings(url, theirs, None, verify, None)
            assert got == want
            assert mine == theirs  # the caller's proxies dict is filled in the same way


def test_the_environment_is_read_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    scans = []
    real = requests.sessions.get_environ_proxies

    def counting(url: str, no_proxy: Any = None) -> Any:
        scans.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counting)
    session = EnvironmentOnceSession()
    for path in range(10):
        session.merge_environment_settings(f"https://a.example/{path}", {}, None, None, None)
        session.merge_environment_settings(f"https://b.example/{path}", {}, None, None, None)
    assert len(scans) == 2
    plain = requests.Session()
    for path in range(10):
        plain.merge_environment_settings(f"https://a.example/{path}", {}, None, None, None)
    assert len(scans) == 12  # what every request costs without it
