"""The ROS 2 side: message conversion, synchronisation, enhancer_node and its test harness."""

from __future__ import annotations

from pathlib import Path


def shipped_config() -> Path:
    """config/enhancer.yaml: beside the sources in a checkout, else in the package's share directory (colcon or pip
    install, found through the ament index)."""
    path = Path(__file__).resolve().parents[2] / "config" / "enhancer.yaml"
    if path.exists():
        return path
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("perfecting_depth_ros")) / "config" / "enhancer.yaml"
