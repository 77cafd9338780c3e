"""Full collections are held back while a run's lineage is built, and the collector is left as it was found."""

from __future__ import annotations

import gc
import threading

from lineage.extract.gc_pause import no_full_collections


def test_thresholds_are_restored_after_nested_sections() -> None:
    before = gc.get_threshold()
    with no_full_collections():
        assert gc.get_threshold()[:2] == before[:2]
        assert gc.get_threshold()[2] > 1_000_000
        with no_full_collections():
            assert gc.get_threshold()[2] > 1_000_000
        assert gc.get_threshold()[2] > 1_000_000  # the outer section still holds the pause
    assert gc.get_threshold() == before


def test_concurrent_sections_share_one_pause() -> None:
    before = gc.get_threshold()
    inside, release = threading.Barrier(3), threading.Event()

    def section() -> None:
        with no_full_collections():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=section) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert gc.get_threshold()[2] > 1_000_000
    release.set()
    for thread in threads:
        thread.join()
    assert gc.get_threshold() == before


def test_a_decorated_function_is_paused_while_it_runs() -> None:
    @no_full_collections()
    def threshold() -> int:
        return gc.get_threshold()[2]

    assert threshold() > 1_000_000
    assert gc.get_threshold()[2] < 1_000_000
