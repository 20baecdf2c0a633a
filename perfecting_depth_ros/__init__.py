"""perfecting_depth_ros: dense metric depth, per-pixel uncertainty and point clouds from raw RGB-D.

The library API has no ROS in it::

    from perfecting_depth_ros import DepthEnhancer
    out = DepthEnhancer().enhance(rgb, depth)
"""

from .enhancer import DepthEnhancer, EnhancedDepth

__all__ = ["DepthEnhancer", "EnhancedDepth"]
__version__ = "0.1.0"
