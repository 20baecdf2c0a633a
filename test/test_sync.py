"""FrameSynchronizer: matching, jitter, latest-wins drops, out-of-order stamps, bounded memory."""

from perfecting_depth_ros.node.sync import FrameSynchronizer

MS = 1_000_000


def feed(s, stamp_ms, jitter_ms=(0, 0, 0)):
    for topic, j in zip(("info", "rgb", "depth"), jitter_ms):
        s.add(topic, (stamp_ms + j) * MS, f"{topic}@{stamp_ms}")


def test_exact_matching():
    s = FrameSynchronizer("exact")
    feed(s, 100)
    got = s.take(0)
    assert got.stamp_ns == 100 * MS and got.rgb == "rgb@100" and got.info == "info@100"
    feed(s, 200, (0, 1, 0))  # rgb 1 ms off: no exact match
    assert s.take(0) is None


def test_approximate_matching_with_jitter():
    s = FrameSynchronizer("approximate", slop=0.01)
    feed(s, 100, (3, -4, 0))
    assert s.take(0).rgb == "rgb@100"
    feed(s, 200, (0, 15, 0))  # 15 ms > slop
    assert s.take(0) is None


def test_latest_wins_drops_and_counts():
    s = FrameSynchronizer("exact")
    for t in (100, 200, 300):
        feed(s, t)
    got = s.take(0)
    assert got.stamp_ns == 300 * MS
    assert s.stats.dropped == 2 and s.stats.matched == 3
    assert s.take(0) is None


def test_out_of_order_stamps_are_rejected_with_reason():
    s = FrameSynchronizer("exact")
    feed(s, 200)
    s.take(0)
    assert "backwards" in s.add("depth", 150 * MS, "old")
    assert "not newer" in s.add("depth", 200 * MS, "same")
    assert s.stats.rejected_backwards == 2


def test_memory_is_bounded():
    s = FrameSynchronizer("exact", queue_size=3)
    for t in range(100):
        s.add("depth", t * MS, t)  # no partners ever
    assert len(s._queues["depth"]) == 3
    assert s.stats.discarded_unmatched == 97


def test_large_backward_jump_restarts_instead_of_blocking():
    s = FrameSynchronizer("exact", jump_reset=5.0)
    feed(s, 100_000)
    s.take(0)
    feed(s, 1_000)  # a looped bag / restarted camera: 99 s back
    assert s.take(0).stamp_ns == 1_000 * MS
    assert s.stats.time_jumps == 1


def test_configure_rejects_bad_values():
    import pytest

    s = FrameSynchronizer()
    for args in (("fuzzy", 0.1, 5), ("exact", -1, 5), ("exact", 0.1, 0)):
        with pytest.raises(ValueError):
            s.configure(*args)
