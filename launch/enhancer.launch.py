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

log_level:=warn keeps the console to warnings and errors (debug: everything).

respawn:=true starts the node again respawn_delay seconds after it dies (a driver or GPU fault, the kernel's
out-of-memory killer); a managed node started again is configured and activated again when autostart is true.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessStart
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
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

# Launch arguments passed on as node parameters when they are given (the end-to-end test sets them the same way).
# Left empty, their default, the parameters file decides; given, they win over it.
TRANSPORTS = ("rgb_transport", "depth_transport")
PARAMETER_ARGS = TRANSPORTS + ("use_sim_time",)


def _true(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


def _nodes(context):
    """The node (or the managed node and what brings it up), with the launch arguments as they were given."""
    # as substitutions, as before: launch_ros reads their text as YAML (true: a bool), whatever its version
    given = {name: LaunchConfiguration(name) for name in PARAMETER_ARGS
             if LaunchConfiguration(name).perform(context).strip()}
    common = dict(
        package="perfecting_depth_ros",
        name="depth_enhancer",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), given],
        remappings=[(src, LaunchConfiguration(arg)) for src, arg in REMAPPINGS.items()],
        output="screen",
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        respawn=_true(LaunchConfiguration("respawn").perform(context)),
        respawn_delay=float(LaunchConfiguration("respawn_delay").perform(context)),
    )
    if not _true(LaunchConfiguration("managed").perform(context)):
        return [Node(executable=EXECUTABLE, **common)]
    node = LifecycleNode(executable=MANAGED_EXECUTABLE, **common)
    if not _true(LaunchConfiguration("autostart").perform(context)):
        return [node]

    def transition(transition_id):
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition_id))

    return [
        node,
        # configure each time the process starts (again, with respawn:=true); activate once configure has succeeded
        # (not after a later deactivate: start_state pins the transition)
        RegisterEventHandler(OnProcessStart(target_action=node,
                                            on_start=[transition(Transition.TRANSITION_CONFIGURE)])),
        RegisterEventHandler(OnStateTransition(target_lifecycle_node=node, start_state="configuring",
                                               goal_state="inactive",
                                               entities=[transition(Transition.TRANSITION_ACTIVATE)])),
    ]


def generate_launch_description():
    share = get_package_share_directory("perfecting_depth_ros")
    args = [
        DeclareLaunchArgument("namespace", default_value="camera", description="namespace of the node and its outputs"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "enhancer.yaml")),
        DeclareLaunchArgument("rgb", default_value="rgb/image_rect_color", description="colour image topic"),
        DeclareLaunchArgument("depth", default_value="depth_registered/image_rect", description="registered depth topic"),
        DeclareLaunchArgument("info", default_value="rgb/camera_info", description="colour camera_info topic"),
        DeclareLaunchArgument("rgb_transport", default_value="",
                              description="raw | compressed (<rgb>/compressed); empty: the parameters file's"),
        DeclareLaunchArgument("depth_transport", default_value="",
                              description="raw | compressedDepth (<depth>/compressedDepth) | compressed; empty: the "
                                          "parameters file's"),
        DeclareLaunchArgument("use_sim_time", default_value="",
                              description="true: the node's clock follows /clock (a bag played with --clock, a "
                                          "simulator); empty: the parameters file's, else false"),
        DeclareLaunchArgument("managed", default_value="false",
                              description="true: enhancer_lifecycle_node, the managed (lifecycle) node"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="with managed:=true: configure and activate it here (false: leave it to a "
                                          "lifecycle manager)"),
        DeclareLaunchArgument("log_level", default_value="info",
                              description="debug | info | warn | error | fatal: the node's and the package's log "
                                          "level"),
        DeclareLaunchArgument("respawn", default_value="false",
                              description="true: start the node again when it dies"),
        DeclareLaunchArgument("respawn_delay", default_value="2.0",
                              description="seconds before a respawn (with respawn:=true)"),
    ]
    return LaunchDescription(args + [OpaqueFunction(function=_nodes)])
