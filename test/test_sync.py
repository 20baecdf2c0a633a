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


def test_a_short_looped_bag_starts_over_after_a_few_frames():
    """A 2-s bag played with --loop jumps back 2 s, under jump_reset: three frames in a row older than the last
    start the matching over (it used to reject every frame until the stamps caught up: never, for a looped bag)."""
    s = FrameSynchronizer("exact", jump_reset=5.0)
    for t in range(0, 2000, 100):
        feed(s, 10_000 + t)
        s.take(0)
    assert s.take(0) is None
    got = []
    for t in range(0, 500, 100):  # the loop restarts at the first stamp
        feed(s, 10_000 + t)
        m = s.take(0)
        got.append(None if m is None else m.stamp_ns // MS)
    assert got[:2] == [None, None] and got[2:] == [10_200, 10_300, 10_400]
    assert s.stats.time_jumps == 1


def test_one_late_message_or_a_repeat_is_not_a_jump():
    s = FrameSynchronizer("exact")
    feed(s, 1_000)
    s.take(0)
    for _ in range(5):  # the same stamp again and again (a republished frame): rejected, never a restart
        assert "not newer" in s.add("depth", 1_000 * MS, "again")
    for t in (1_100, 1_050, 1_200, 1_150, 1_300):  # every other one late: each rejected, the rest go on
        feed(s, t)
        m = s.take(0)
        assert (m is not None) == (t % 100 == 0)
    assert s.stats.time_jumps == 0


def test_unstamped_frames_are_named_as_such():
    s = FrameSynchronizer("exact")
    feed(s, 0)
    assert s.take(0).stamp_ns == 0
    assert "header.stamp left unset" in s.add("depth", 0, "again")


def test_configure_rejects_bad_values():
    import pytest

    s = FrameSynchronizer()
    for args in (("fuzzy", 0.1, 5), ("exact", -1, 5), ("exact", 0.1, 0)):
        with pytest.raises(ValueError):
            s.configure(*args)


def test_latest_camera_info_goes_with_every_set():
    """info_sync="latest": a camera_info published once (or rarely) serves every following set, its stamp ignored,
    until a newer one comes; it survives a time jump and a runtime change of the matching."""
    s = FrameSynchronizer("exact", info_sync="latest")
    s.add("info", 5 * MS, "info@5")
    for t in (100, 200):
        s.add("rgb", t * MS, f"rgb@{t}")
        s.add("depth", t * MS, f"depth@{t}")
        got = s.take(0)
        assert got.stamp_ns == t * MS and got.info == "info@5"
    s.add("info", 1 * MS, "info@1")  # older stamp, newer message: used (a re-sent latched info, say)
    s.add("rgb", 300 * MS, "rgb@300")
    s.add("depth", 300 * MS, "depth@300")
    assert s.take(0).info == "info@1"
    s.configure("approximate", 0.01, 5)  # a runtime change keeps it
    s.add("rgb", 20_000 * MS, "rgb@20000")
    s.add("depth", 20_000 * MS, "depth@20000")
    assert s.take(0).info == "info@1"
    s.add("rgb", 1_000 * MS, "rgb@1000")  # the clock jumped back (a looped bag): start over, the info stays
    s.add("depth", 1_000 * MS, "depth@1000")
    got = s.take(0)
    assert got.stamp_ns == 1_000 * MS and got.info == "info@1" and s.stats.time_jumps == 1
    # by stamp (the default), the same feed matches nothing without an info of the depth's stamp
    s = FrameSynchronizer("exact")
    s.add("info", 5 * MS, "info@5")
    s.add("rgb", 100 * MS, "rgb@100")
    s.add("depth", 100 * MS, "depth@100")
    assert s.take(0) is None
    # switching from stamp to latest at runtime: the camera_info of the last set serves the next ones
    s.add("info", 200 * MS, "info@200")
    s.add("rgb", 200 * MS, "rgb@200")
    s.add("depth", 200 * MS, "depth@200")
    assert s.take(0).info == "info@200"
    s.configure("exact", 0.0, 5, "latest")
    s.add("rgb", 300 * MS, "rgb@300")
    s.add("depth", 300 * MS, "depth@300")
    assert s.take(0).info == "info@200"


def test_no_match_hint_names_the_offsets_and_the_setting():
    s = FrameSynchronizer("exact", 0.0, 5)
    assert s.stamp_offsets() == {} and "within the slop" in s.no_match_hint()
    s.add("depth", 10_000_000_000, "d")
    s.add("rgb", 10_040_000_000, "c")
    s.add("info", 3_000_000_000, "i")
    assert s.stamp_offsets() == {"rgb": 0.04, "info": -7.0}
    hint = s.no_match_hint()
    assert "colour +0.040 s" in hint and "camera_info -7.000 s" in hint
    assert "camera_info_sync: latest" in hint and "slop >= 0.048 s (approximate sync)" in hint
    s.add("rgb", 12_000_000_000, "c")  # 2 s apart: no slop the node allows would do
    assert "clocks differ" in s.no_match_hint()
    s.configure("approximate", 0.5, 5, "latest")  # camera_info no longer matched by stamp: not named
    assert "camera_info" not in s.no_match_hint() and set(s.stamp_offsets()) == {"rgb"}
