"""Launch enhancer_node with config/enhancer.yaml.

ros2 launch perfecting_depth_ros enhancer.launch.py namespace:=camera \
    rgb:=/camera/camera/color/image_raw depth:=/camera/camera/aligned_depth_to_color/image_raw \
    info:=/camera/camera/color/camera_info
(a RealSense with realsense-ros 4.54+, launched with align_depth.enable:=true)

Over a compressed link (image_transport's compressed / compressedDepth topics), add
    rgb_transport:=compressed depth_transport:=compressedDepth
and keep rgb:= / depth:= the base topic names (the node adds /compressed and /compressedDepth).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

# The remappings the node gets (the end-to-end test starts the node with exactly these).
REMAPPINGS = {
    "rgb/image_rect_color": "rgb",
    "depth_registered/image_rect": "depth",
    "rgb/camera_info": "info",
}

# Launch arguments passed on as node parameters (the end-to-end test sets them the same way). They come after
# params_file, so they win over it: set these on the ros2 launch line, not in the parameters file.
TRANSPORTS = ("rgb_transport", "depth_transport")


def generate_launch_description():
    share = get_package_share_directory("perfecting_depth_ros")
    args = [
        DeclareLaunchArgument("namespace", default_value="camera", description="namespace of the node and its outputs"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "enhancer.yaml")),
        DeclareLaunchArgument("rgb", default_value="rgb/image_rect_color", description="colour image topic"),
        DeclareLaunchArgument("depth", default_value="depth_registered/image_rect", description="registered depth topic"),
        DeclareLaunchArgument("info", default_value="rgb/camera_info", description="colour camera_info topic"),
        DeclareLaunchArgument("rgb_transport", default_value="raw", description="raw | compressed (<rgb>/compressed)"),
        DeclareLaunchArgument("depth_transport", default_value="raw",
                              description="raw | compressedDepth (<depth>/compressedDepth) | compressed"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="true: the node's clock follows /clock (a bag played with --clock, a simulator)"),
    ]
    node = Node(
        package="perfecting_depth_ros",
        executable="enhancer_node",
        name="depth_enhancer",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"),
                    {name: LaunchConfiguration(name) for name in TRANSPORTS + ("use_sim_time",)}],
        remappings=[(src, LaunchConfiguration(arg)) for src, arg in REMAPPINGS.items()],
        output="screen",
    )
    return LaunchDescription(args + [node])
