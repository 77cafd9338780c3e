"""The HTTP session of the product's clients: the environment's proxy and CA settings, read once per host, and REST
calls sent as ``requests`` would send them, without its cookie, netrc and redirect machinery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import requests.sessions

from lineage.azure.sessions import EnvironmentOnceSession
from lineage.local.credential import LocalCredential
from lineage.local.httpserver import LocalServer, Request, Response
from lineage.local.tls import LocalTLS


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


class _Echo(LocalServer):
    """Answers every request with what it received (method, path, query, body, headers)."""

    audience = "https://echo.example"

    def route(self, request: Request) -> Response:
        return Response(200, {"method": request.method, "path": request.path, "query": request.query,
                              "body": request.body, "headers": dict(request.headers)},
                        headers={"Set-Cookie": "ARRAffinity=abc; Path=/; Secure"})


@pytest.fixture(scope="module")
def echo(tls: LocalTLS) -> Iterator[_Echo]:
    with _Echo(tls) as server:
        yield server


def test_a_rest_call_sends_what_requests_general_path_sends(echo: _Echo) -> None:
    token = LocalCredential().get_token("https://echo.example/.default").token
    headers = {"Authorization": f"Bearer {token}", "x-ms-client-request-id": "id-1", "Accept": None}
    call: dict[str, Any] = {"params": {"api-version": "2023-09-01", "q": "a b&c"},
                            "json": {"entities": [{"typeName": "t", "name": "é"}]}, "headers": headers,
                            "timeout": 30, "allow_redirects": False}
    seen: list[int] = []

    def hook(response: requests.Response, *_: Any, **__: Any) -> requests.Response:
        seen.append(response.status_code)
        return response

    call["hooks"] = {"response": [hook]}
    direct = EnvironmentOnceSession(30.0).request("POST", f"{echo.url}/entity/bulk", **call).json()
    general = requests.Session().request("POST", f"{echo.url}/entity/bulk", **call).json()
    assert seen == [200, 200]  # response hooks run on both paths
    assert direct["method"] == "POST" and direct["path"] == "/entity/bulk"
    assert direct["query"] == general["query"] == {"api-version": ["2023-09-01"], "q": ["a b&c"]}
    assert direct["body"] == general["body"] == call["json"]
    assert direct["headers"] == general["headers"]  # the session's defaults, the caller's, none of "Accept"
    assert "Accept" not in direct["headers"] and direct["headers"]["x-ms-client-request-id"] == "id-1"


def test_a_netrc_entry_for_the_host_does_not_replace_the_bearer_token(
        echo: _Echo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    token = LocalCredential().get_token("https://echo.example/.default").token
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.Session().get(f"{echo.url}/x", headers=bearer, timeout=30).status_code == 401  # Basic instead
    answer = EnvironmentOnceSession(30.0).request("GET", f"{echo.url}/x", headers=bearer, timeout=30,
                                                  allow_redirects=False)
    assert answer.status_code == 200 and answer.json()["headers"]["Authorization"] == bearer["Authorization"]


def test_no_cookie_is_kept_or_sent_again_on_either_path(echo: _Echo) -> None:
    token = LocalCredential().get_token("https://echo.example/.default").token
    bearer = {"Authorization": f"Bearer {token}"}
    session = EnvironmentOnceSession(30.0)
    for allow_redirects in (True, False, False):  # the general path first: it is the one that would keep it
        answer = session.request("GET", f"{echo.url}/x", headers=bearer, timeout=30, allow_redirects=allow_redirects)
        assert answer.status_code == 200 and "Cookie" not in answer.json()["headers"]
        assert answer.elapsed.total_seconds() > 0
    assert len(session.cookies) == 0
