"""Launch enhancer_node with config/enhancer.yaml.

ros2 launch perfecting_depth_ros enhancer.launch.py namespace:=camera \
    rgb:=/camera/camera/color/image_raw depth:=/camera/camera/aligned_depth_to_color/image_raw \
    info:=/camera/camera/color/camera_info
(a RealSense with realsense-ros 4.54+, launched with align_depth.enable:=true)

As a managed (lifecycle) node, configured and activated by this launch file, add managed:=true; with
autostart:=false it is left unconfigured for a lifecycle manager (Nav2's: bond_timeout 0.0, see the README).

Over a compressed link (image_transport's compressed / compressedDepth topics), add
    rgb_transport:=compressed depth_transport:=compressedDepth
and keep rgb:= / depth:= the base topic names (the node adds /compressed and /compressedDepth).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.conditions import IfCondition, UnlessCondition
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription

# The remappings the node gets (the end-to-end test starts the node with exactly these).
REMAPPINGS = {
    "rgb/image_rect_color": "rgb",
    "depth_registered/image_rect": "depth",
    "rgb/camera_info": "info",
}

# The executables: the node, and the same node managed (setup.py's entry points; a test checks both).
EXECUTABLE, MANAGED_EXECUTABLE = "enhancer_node", "enhancer_lifecycle_node"

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
        DeclareLaunchArgument("managed", default_value="false",
                              description="true: enhancer_lifecycle_node, the managed (lifecycle) node"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="with managed:=true: configure and activate it here (false: leave it to a "
                                          "lifecycle manager)"),
    ]
    common = dict(
        package="perfecting_depth_ros",
        name="depth_enhancer",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"),
                    {name: LaunchConfiguration(name) for name in TRANSPORTS + ("use_sim_time",)}],
        remappings=[(src, LaunchConfiguration(arg)) for src, arg in REMAPPINGS.items()],
        output="screen",
    )
    managed = LaunchConfiguration("managed")
    node = Node(executable=EXECUTABLE, condition=UnlessCondition(managed), **common)
    managed_node = LifecycleNode(executable=MANAGED_EXECUTABLE, condition=IfCondition(managed), **common)
    autostart = IfCondition(PythonExpression(["'", managed, "'.lower() in ('true', '1') and '",
                                              LaunchConfiguration("autostart"), "'.lower() in ('true', '1')"]))

    def transition(transition_id, condition=None):
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(managed_node),
                                           transition_id=transition_id), condition=condition)

    # activate once configure has succeeded (not after a later deactivate: start_state pins the transition)
    activate = RegisterEventHandler(OnStateTransition(target_lifecycle_node=managed_node, start_state="configuring",
                                                      goal_state="inactive",
                                                      entities=[transition(Transition.TRANSITION_ACTIVATE)]),
                                    condition=autostart)
    configure = transition(Transition.TRANSITION_CONFIGURE, autostart)
    return LaunchDescription(args + [node, managed_node, activate, configure])
