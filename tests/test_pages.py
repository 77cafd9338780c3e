"""Following a listing to its last page (``lineage.azure.pages``): every page once, never for ever, never elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from lineage.azure.pages import next_link, pages


class RefusedError(Exception):
    """What the pager raises through its ``fail``."""


def listing(*answers: Any) -> tuple[list[str | None], Any]:
    """A service answering these pages in turn, and the tokens (or links) it was asked with."""
    asked: list[str | None] = []

    def fetch(after: str | None) -> Any:
        asked.append(after)
        return answers[len(asked) - 1]

    return asked, fetch


def read(fetch: Any, key: str = "continuationToken", max_pages: int = 10) -> list[tuple[int, Mapping[str, Any]]]:
    return list(pages(fetch, next_key=key, max_pages=max_pages, fail=RefusedError))


def test_every_page_is_read_until_one_hands_back_no_token() -> None:
    asked, fetch = listing({"value": [1], "continuationToken": "a"}, {"value": [2], "continuationToken": "b"},
                           {"value": [3], "continuationToken": ""})
    got = read(fetch)
    assert [number for number, _ in got] == [1, 2, 3]
    assert [page["value"] for _, page in got] == [[1], [2], [3]]
    assert asked == [None, "a", "b"]


def test_a_single_page_without_a_token_is_the_whole_listing() -> None:
    asked, fetch = listing({"value": []})
    assert read(fetch, "nextLink") == [(1, {"value": []})]
    assert asked == [None]


@pytest.mark.parametrize(("answers", "reason"), [
    (({"continuationToken": "a"}, {"continuationToken": "b"}, {"continuationToken": "a"}),
     "page 3 hands back a continuation token it gave before; stopped rather than read the same pages for ever"),
    (({"nextLink": "x"}, {"nextLink": "x"}), "page 2 hands back a nextLink it gave before"),
    (({"continuationToken": 7},), "page 1's continuationToken is not text"),
    (({"value": []}, ), None),
    (([1, 2],), "page 1 is not a JSON object"),
])
def test_a_token_seen_before_or_not_text_or_a_page_not_an_object_stops_the_listing(
        answers: tuple[Any, ...], reason: str | None) -> None:
    _, fetch = listing(*answers)
    key = "nextLink" if "nextLink" in str(answers) else "continuationToken"
    if reason is None:
        assert len(read(fetch, key)) == 1
        return
    with pytest.raises(RefusedError) as refused:
        read(fetch, key)
    assert reason in str(refused.value)


def test_a_service_handing_out_tokens_without_end_is_stopped_at_the_page_limit() -> None:
    asked: list[str | None] = []

    def endless(after: str | None) -> dict[str, Any]:
        asked.append(after)
        return {"value": [], "continuationToken": f"t{len(asked)}"}

    with pytest.raises(RefusedError, match=r"^more than 3 pages; stopped$"):
        read(endless, max_pages=3)
    assert asked == [None, "t1", "t2"]


def test_a_next_link_is_followed_only_on_the_first_page_s_scheme_and_host() -> None:
    base = "https://management.azure.com"
    link = f"{base.upper()}/subscriptions/s/roleAssignments?api-version=2022-04-01&$skipToken=ab%2Bc%2F%3D%26x&k="
    # the caller sends its own api-version; the token goes back as the service encoded it, blank values too
    assert next_link(link, base, RefusedError) == "/subscriptions/s/roleAssignments?$skipToken=ab%2Bc%2F%3D%26x&k="
    assert next_link(f"{base}/x?api-version=1", base, RefusedError) == "/x"
    for elsewhere, named in (("https://attacker.example/x?$skipToken=2", "attacker.example"),
                             ("http://management.azure.com/x", "management.azure.com"),
                             ("https://management.azure.com.evil.example/x", "management.azure.com.evil.example"),
                             ("/relative/x", "none")):
        with pytest.raises(RefusedError) as refused:
            next_link(elsewhere, base, RefusedError)
        assert str(refused.value) == f"nextLink points to another host ({named}); not followed"
