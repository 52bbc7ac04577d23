"""forecast.scored.prefetched: the next item read in a thread, the items and errors as a plain loop gives them."""

import threading

import pytest

from modelops.forecast.scored import prefetched


def _items(n, fail_at=None, log=None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"item {i} is bad")
        if log is not None:
            log.append((i, threading.current_thread().name))
        yield i


def test_items_come_in_order_read_in_a_worker_thread():
    log = []
    assert list(prefetched(_items(5, log=log))) == [0, 1, 2, 3, 4]
    assert [i for i, _ in log] == [0, 1, 2, 3, 4]
    assert all(name.startswith("forecast-read") for _, name in log)


def test_an_error_reaches_the_caller_after_the_items_before_it():
    seen = []
    with pytest.raises(ValueError, match="item 3 is bad"):
        for item in prefetched(_items(5, fail_at=3)):
            seen.append(item)
    assert seen == [0, 1, 2]


def test_a_caller_stopping_early_reads_at_most_one_item_ahead():
    log = []
    for item in prefetched(_items(10, log=log)):
        if item == 2:
            break
    assert [i for i, _ in log] == [0, 1, 2, 3]
    assert list(prefetched(_items(0))) == []
