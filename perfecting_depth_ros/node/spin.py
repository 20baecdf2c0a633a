"""Spinning an executor through rclpy's race between destroying an entity and taking from it.

The node destroys its input subscriptions while its executor spins: ``lazy`` when the last reader leaves, a managed
node on deactivate and cleanup. An executor that has already picked such a subscription as ready then takes from a
destroyed handle and raises ``InvalidHandle`` ("cannot use Destroyable because destruction was requested"), out of
``executor.spin()``. Humble's rclpy does not catch it in the take (ros2/rclpy#1150 does, from Jazzy on), and no
release catches it for every kind of entity (QoS event handlers are waitables, destroyed with their subscription or
publisher; ros2/rclpy#1206). Uncaught, it ends the node's spin: the process exits with a traceback. Nothing is lost
by spinning on, since the entity is gone. The failed take also leaves the entity's callback group entered, so
whatever the node destroys while spinning has groups of its own, new each time (the inputs; the outputs, whose QoS
event handlers are waitables), and its timers are never destroyed before the node is (see ``Stream`` and
``bring_up`` in enhancer_node): a group left entered holds only dead entities.
"""

from __future__ import annotations

from rclpy.exceptions import InvalidHandle
from rclpy.executors import ExternalShutdownException

PASSED_OVER = "rclpy took from an entity destroyed under it"  # the log line's start (scripts/stress_destroy.py counts)


def spin_through_destroy_races(executor, logger=None) -> int:
    """``executor.spin()``, spun again after each ``InvalidHandle`` it raises, until it returns or its context is shut
    down (a signal, rclpy.shutdown(): the single-threaded executor raises ``ExternalShutdownException`` then, the
    multi-threaded one returns; both return here); any other exception propagates. Returns how many were passed
    over; each is logged (at info level, the race being harmless here, at most once a minute, on ``logger``: an rclpy
    logger, when given)."""
    passed = 0
    while True:
        try:
            executor.spin()
            return passed
        except ExternalShutdownException:
            return passed
        except InvalidHandle as e:
            passed += 1
            if logger is not None:
                logger.info(f"{PASSED_OVER} (InvalidHandle: {e}), as it may when lazy or "
                            "a lifecycle transition unsubscribes the inputs; passed over", throttle_duration_sec=60.0)
