"""Latest-wins matching of RGB + depth + camera_info by header stamp (no ROS types inside).

message_filters cannot be installed from PyPI, so this is our own small policy:

- ``exact``: the three stamps are equal; ``approximate``: all within ``slop`` seconds of the depth
  stamp (the closest candidates win).
- Memory is bounded: each topic keeps at most ``queue_size`` messages.
- Latest wins: a matched set waits in a one-slot mailbox; a newer set replaces it and the older one
  is counted as dropped, so a slow consumer never builds a queue (and latency does not grow).
- A message whose stamp is not newer than the last one on its topic is rejected and counted
  ("stamp went backwards"); so is one older than the last emitted set. But time that really went back (a looped
  bag, a restarted camera or simulation) starts the matching over: a jump back of more than ``jump_reset`` s, or
  ``JUMP_RUN`` messages in a row on one topic older than its last (a bag of any length looped).
- ``info_sync="latest"``: camera_info is not matched by stamp; the newest one received goes with every set (for
  drivers or recordings that publish it rarely, or once). It is kept until a newer one replaces it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TOPICS = ("rgb", "depth", "info")
JUMP_RUN = 3  # messages in a row older than their topic's last: time went back, not one message out of order
_NO_INFO = object()  # no camera_info to go with a set (a message may be anything, None included)


@dataclass
class MatchedSet:
    """One synchronised frame: the three messages and the depth stamp (nanoseconds)."""

    stamp_ns: int
    rgb: Any
    depth: Any
    info: Any


@dataclass
class SyncStats:
    received: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOPICS, 0))
    matched: int = 0
    dropped: int = 0  # matched sets replaced before the worker took them
    rejected_backwards: int = 0
    time_jumps: int = 0  # time went back (see the module docstring): a restarted camera or a looped bag
    discarded_unmatched: int = 0  # messages that aged out of a queue without a partner


class FrameSynchronizer:
    """Thread-safe matcher; ``add`` from subscription callbacks, ``take`` from the worker thread."""

    def __init__(self, mode: str = "approximate", slop: float = 0.02, queue_size: int = 5, jump_reset: float = 5.0,
                 on_ready: Callable[[], None] | None = None, info_sync: str = "stamp"):
        """``on_ready`` is called (under the lock: keep it short, e.g. ``Event.set``) whenever a set is ready, for a
        consumer that waits on several synchronisers. ``info_sync``: "stamp" (matched like the images) or
        "latest" (see the module docstring)."""
        self.on_ready = on_ready
        self.configure(mode, slop, queue_size, info_sync)
        self.jump_reset_ns = int(jump_reset * 1e9)
        self.stats = SyncStats()
        self._last_stamp: dict[str, int] = {}
        self._behind: dict[str, int] = dict.fromkeys(TOPICS, 0)  # messages in a row older than their topic's last
        self._last_emitted = -1
        self._mailbox: MatchedSet | None = None
        self._latest_info: Any = _NO_INFO  # the newest camera_info received, whatever its stamp (info_sync="latest")
        self._cv = threading.Condition()

    def configure(self, mode: str, slop: float, queue_size: int, info_sync: str | None = None) -> None:
        if mode not in ("exact", "approximate"):
            raise ValueError(f"sync mode must be 'exact' or 'approximate', got {mode!r}")
        info_sync = info_sync or getattr(self, "info_sync", "stamp")
        if info_sync not in ("stamp", "latest"):
            raise ValueError(f"info_sync must be 'stamp' or 'latest', got {info_sync!r}")
        self.info_sync = info_sync
        if not 0 <= slop <= 10:
            raise ValueError(f"slop must be within 0..10 s, got {slop}")
        if not 1 <= queue_size <= 1000:
            raise ValueError(f"queue_size must be within 1..1000, got {queue_size}")
        self.mode, self.slop_ns, self.queue_size = mode, int(slop * 1e9), queue_size
        self._queues: dict[str, deque] = {t: deque(maxlen=queue_size) for t in TOPICS}

    def add(self, topic: str, stamp_ns: int, msg: Any) -> str | None:
        """Offer one message. Returns None if accepted, or the reason it was rejected."""
        with self._cv:
            self.stats.received[topic] += 1
            if topic == "info":  # kept apart from the queues: no reset loses it (it may never come again)
                self._latest_info = msg
                if self.info_sync == "latest":  # no stamp rules: the newest one goes with every set
                    self._match()
                    return None
            last = self._last_stamp.get(topic)
            older = (last is not None and stamp_ns < last) or (topic == "depth" and stamp_ns < self._last_emitted)
            self._behind[topic] = self._behind[topic] + 1 if older else 0
            if older and (self._behind[topic] >= JUMP_RUN or last is not None and stamp_ns < last - self.jump_reset_ns):
                self.stats.time_jumps += 1  # time went back: start over rather than reject until it catches up
                self._start_over()
                last = None
            if last is not None and stamp_ns < last:
                self.stats.rejected_backwards += 1
                return f"{topic} stamp went backwards by {(last - stamp_ns) / 1e6:.1f} ms"
            if stamp_ns <= self._last_emitted and topic == "depth":
                self.stats.rejected_backwards += 1
                if stamp_ns == 0:  # a driver that leaves header.stamp unset: every frame looks like the first
                    return "depth stamp is 0 (header.stamp left unset by the driver): frames cannot be told apart"
                return f"{topic} stamp is not newer than the last processed frame"
            self._last_stamp[topic] = stamp_ns
            q = self._queues[topic]
            if len(q) == q.maxlen:
                self.stats.discarded_unmatched += 1
            q.append((stamp_ns, msg))
            self._match()
            return None

    def _closest(self, topic: str, stamp: int) -> tuple[int, int] | None:
        best = None
        for i, (s, _) in enumerate(self._queues[topic]):
            dt = abs(s - stamp)
            if (dt == 0 if self.mode == "exact" else dt <= self.slop_ns) and (best is None or dt < best[1]):
                best = (i, dt)
        return best

    def _match(self) -> None:
        # newest depth first: the freshest complete set wins
        for di in range(len(self._queues["depth"]) - 1, -1, -1):
            stamp, dmsg = self._queues["depth"][di]
            r = self._closest("rgb", stamp)
            if r is None:
                continue
            rgb_stamp, rgb = self._queues["rgb"][r[0]]
            # everything up to and including this set is consumed (the latest camera_info stays for the next sets)
            used = [("depth", stamp), ("rgb", rgb_stamp)]
            if self.info_sync == "latest":
                info = self._latest_info
            else:
                c = self._closest("info", stamp)
                info_stamp, info = self._queues["info"][c[0]] if c is not None else (None, _NO_INFO)
                used.append(("info", info_stamp))
            if info is _NO_INFO:
                continue
            for t, upto in used:
                q = self._queues[t]
                while q and q[0][0] <= upto:
                    q.popleft()
            self._last_emitted = stamp
            self.stats.matched += 1
            if self._mailbox is not None:
                self.stats.dropped += 1
            self._mailbox = MatchedSet(stamp, rgb, dmsg, info)
            self._cv.notify_all()
            if self.on_ready is not None:
                self.on_ready()
            return

    def stamp_offsets(self) -> dict[str, float]:
        """Seconds from the newest depth stamp to the newest colour stamp (``rgb``) and, when camera_info is matched
        by stamp, camera_info stamp (``info``), of those received: why sets do not match, when they do not."""
        with self._cv:
            d = self._last_stamp.get("depth")
            topics = ("rgb", "info") if self.info_sync == "stamp" else ("rgb",)
            return {} if d is None else {t: (self._last_stamp[t] - d) / 1e9 for t in topics if t in self._last_stamp}

    def no_match_hint(self) -> str:
        """What keeps the inputs from matching, from their newest stamps, and the setting that would match them."""
        off = self.stamp_offsets()
        slop = self.slop_ns / 1e9 if self.mode == "approximate" else 0.0
        far = {t: dt for t, dt in off.items() if abs(dt) > slop}
        if not far:
            return "their newest stamps are within the slop: sets should match soon"
        said = ", ".join(f"{'colour' if t == 'rgb' else 'camera_info'} {dt:+.3f} s" for t, dt in far.items())
        hints = []
        if "info" in far:
            hints.append("camera_info stamped apart from the images: camera_info_sync: latest")
        if "rgb" in far:
            need = abs(far["rgb"]) * 1.2
            hints.append(f"colour and depth stamped apart: slop >= {need:.3f} s (approximate sync)" if need <= 1.0
                         else "colour and depth stamped more than a slop apart: their clocks differ; fix the driver")
        return f"newest stamps from depth's: {said}; " + "; ".join(hints)

    def take(self, timeout: float | None = None) -> MatchedSet | None:
        """Wait up to ``timeout`` s for the newest matched set; None if there is none."""
        with self._cv:
            if self._mailbox is None:
                self._cv.wait(timeout)
            s, self._mailbox = self._mailbox, None
            return s

    def wake(self) -> None:
        """Wake a waiting ``take`` (used at shutdown)."""
        with self._cv:
            self._cv.notify_all()

    def reset(self) -> None:
        """Forget every message and stamp, and the set waiting in the mailbox."""
        with self._cv:
            self._start_over()
            self._mailbox = None

    def _start_over(self) -> None:
        """Empty the queues and forget the stamps seen (the caller holds the lock; the newest camera_info stays)."""
        for q in self._queues.values():
            q.clear()
        self._last_stamp.clear()
        self._behind = dict.fromkeys(TOPICS, 0)
        self._last_emitted = -1
