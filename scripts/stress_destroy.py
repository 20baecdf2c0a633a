#!/usr/bin/env python3
"""Stress what the node destroys while its executor spins, and its stop on SIGINT (prints figures).

Each run starts the real node in its own process (the shipped parameters file, namespace /stress) and feeds it frames
at about 30 Hz over loopback DDS for --seconds.
  --mode lazy       a reader of its outputs comes and goes every 20 frames, so lazy unsubscribes and subscribes
                    the inputs again and again;
  --mode steady     a reader all along (the stop under load alone);
  --mode lifecycle  the managed node (enhancer_lifecycle_node) taken through configure, activate, deactivate and
                    cleanup again and again through its lifecycle services (each transition must succeed), frames
                    streaming throughout.
Then it stops the node with SIGINT and reads its log for what should not be there (a traceback, rclpy's "exception
was never retrieved", an error) and for the destroy race the node passes over (node/spin.py's info line).

  python scripts/stress_destroy.py --mode lazy --runs 8
  python scripts/stress_destroy.py --mode steady --runs 8
  python scripts/stress_destroy.py --mode lifecycle --runs 2 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BAD = ("Traceback", "never retrieved", "[ERROR]", "[FATAL]")


def one_run(args, f, raw, log: Path) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from perfecting_depth_ros.node.harness import Collector, Player, spin_until, start_node, stop_node
    from perfecting_depth_ros.node.spin import PASSED_OVER

    lifecycle = args.mode == "lifecycle"
    proc = start_node(ROOT / "config" / "enhancer.yaml", "/stress",
                      params={"method": args.method, "lazy": args.mode == "lazy", "workers": args.workers}, log_path=log,
                      executable="enhancer_lifecycle_node" if lifecycle else "enhancer_node")
    rclpy.init()
    ex = SingleThreadedExecutor()
    player = Player(ns="/stress", name="stress_player")
    ex.add_node(player)
    reader, k, stamp, outputs, cycles, failed = None, 0, 1_000_000_000, 0, 0, 0
    client, pending, step = None, None, 0
    if lifecycle:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        client = player.create_client(ChangeState, "/stress/depth_enhancer/change_state")
        assert client.wait_for_service(timeout_sec=30), "no lifecycle services"
        order = [Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE, Transition.TRANSITION_DEACTIVATE,
                 Transition.TRANSITION_CLEANUP]
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        player.publish(f.rgb, raw, f.K, stamp, frame_id="cam_optical")
        stamp, k = stamp + 33_000_000, k + 1
        if lifecycle and (pending is None or pending.done()) and k % 10 == 0:  # the next transition, every 0.3 s
            if pending is not None:
                failed += not pending.result().success
                cycles += step % 4 == 0
            req = ChangeState.Request()
            req.transition.id = order[step % 4]
            pending, step = client.call_async(req), step + 1
        if reader is None and (args.mode != "lazy" or k % 40 == 20):  # lazy: a reader for 20 frames in 40
            reader = Collector("/stress", name=f"stress_reader_{k}")
            ex.add_node(reader)
        elif args.mode == "lazy" and reader is not None and k % 40 == 0:
            outputs += len(reader.complete_stamps())
            ex.remove_node(reader)
            reader.destroy_node()
            reader = None
        spin_until(ex, lambda: False, 0.033)
    rc = stop_node(proc)
    if reader is not None:
        outputs += len(reader.complete_stamps())
        reader.destroy_node()
    ex.shutdown()
    player.destroy_node()
    rclpy.shutdown()
    text = log.read_text()
    bad = [b for b in BAD if b in text]
    if bad:  # what the log says besides its INFO lines
        print("\n".join(line for line in text.splitlines() if not line.startswith("[INFO]"))[-3000:], flush=True)
    return {"rc": rc, "bad": bad, "races": text.count(PASSED_OVER), "cycles": cycles, "failed_transitions": failed,
            "lazy_switches": text.count("(lazy)") + text.count("subscribed again"), "outputs": outputs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--mode", choices=("lazy", "steady", "lifecycle"), default="lazy")
    ap.add_argument("--method", default="learned")
    ap.add_argument("--workers", type=int, default=1, help="the node's workers (frame sets at once)")
    args = ap.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(40 + os.getpid() % 50))
    from perfecting_depth_ros.data.sensors import simulate
    from perfecting_depth_ros.data.world import render_random

    f = render_random(3, 240, 320)
    raw = simulate(f, "kinect_v1", np.random.default_rng(0))
    totals = {"bad runs": 0, "runs with a race passed over": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            r = one_run(args, f, raw, Path(tmp) / f"node_{run}.log")
            print(f"run {run}: exit {r['rc']}, outputs {r['outputs']}, lazy switches {r['lazy_switches']}, "
                  f"lifecycle cycles {r['cycles']} ({r['failed_transitions']} transitions failed), "
                  f"races passed over {r['races']}, bad {r['bad'] or 'none'}", flush=True)
            totals["bad runs"] += bool(r["bad"]) or r["rc"] not in (0, -2) or r["failed_transitions"] > 0
            totals["runs with a race passed over"] += r["races"] > 0
    print(f"{args.runs} runs of {args.seconds:g} s ({args.mode}): {totals}")
    sys.exit(1 if totals["bad runs"] else 0)


if __name__ == "__main__":
    main()
