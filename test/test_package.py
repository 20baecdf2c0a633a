"""The ament_python package: colcon builds it, the installed files are where ros2 run/launch look,
and config/enhancer.yaml holds every declared parameter."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rclpy
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_colcon_build_install_space(tmp_path):
    colcon = Path(sys.prefix) / "bin" / "colcon"
    assert colcon.exists(), "colcon-common-extensions is in requirements/dev.txt"
    src = tmp_path / "src" / "perfecting_depth_ros"
    # every venv (.venv, and scripts/test_pythons.sh's .venv-py3.x: GBs each) and what .gitignore keeps out
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", ".whl", "runs", "data_cache", "outputs",
                                                             "build", "install", "log", "*.egg-info", "__pycache__",
                                                             ".pytest_cache", ".ruff_cache"))
    r = subprocess.run([str(colcon), "build", "--base-paths", str(tmp_path / "src")], cwd=tmp_path, env=dict(os.environ),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    prefix = tmp_path / "install" / "perfecting_depth_ros"
    for exe in _launch_executables():  # ros2 run and the launch file look here
        assert (prefix / "lib" / "perfecting_depth_ros" / exe).exists(), exe
    share = prefix / "share" / "perfecting_depth_ros"
    for f in ("package.xml", "launch/enhancer.launch.py", "config/enhancer.yaml", "config/enhancer.rviz"):
        assert (share / f).exists(), f
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "perfecting_depth_ros").exists()
    weights = list(prefix.rglob("weights/perfecting_depth.safetensors"))
    assert weights, "the shipped weights are installed with the package"


def test_venv_install_has_share_files_and_executables():
    from ament_index_python.packages import get_package_share_directory

    share = Path(get_package_share_directory("perfecting_depth_ros"))
    assert (share / "config" / "enhancer.yaml").exists() and (share / "launch" / "enhancer.launch.py").exists()
    for exe in (*_launch_executables(), "perfecting-depth"):
        assert (Path(sys.prefix) / "bin" / exe).exists(), exe


def _launch_executables() -> tuple[str, ...]:
    """The executables launch/enhancer.launch.py starts (EXECUTABLE, and MANAGED_EXECUTABLE with managed:=true)."""
    import ast

    tree = ast.parse((ROOT / "launch" / "enhancer.launch.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
            names = [t.id for t in node.targets[0].elts]
            if names == ["EXECUTABLE", "MANAGED_EXECUTABLE"]:
                return tuple(ast.literal_eval(node.value))
    raise AssertionError("launch/enhancer.launch.py names no EXECUTABLE, MANAGED_EXECUTABLE")


def test_launch_arguments_are_declared_and_used():
    """Every launch argument the launch file reads is declared (an undeclared one stops ros2 launch with "launch
    configuration ... does not exist"), every declared one is read (one that is not is silently ignored), and those
    it passes on as parameters are parameters of the node."""
    import ast

    tree = ast.parse((ROOT / "launch" / "enhancer.launch.py").read_text())
    constants = {node.targets[0].id: node.value for node in ast.walk(tree)
                 if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}

    def strings(value) -> set[str]:
        """The names a constant (a tuple, a sum of tuples, a dict's values) holds."""
        if isinstance(value, ast.BinOp):
            return strings(value.left) | strings(value.right)
        if isinstance(value, ast.Name):
            return strings(constants[value.id])
        literal = ast.literal_eval(value)
        return set(literal.values() if isinstance(literal, dict) else literal)

    declared, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument":
            declared.add(node.args[0].value)
        if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "LaunchConfiguration"
                and isinstance(node.args[0], ast.Constant)):
            read.add(node.args[0].value)
    # names read through a loop over a constant: the parameters passed on, and the remappings' arguments
    read |= strings(constants["PARAMETER_ARGS"]) | strings(constants["REMAPPINGS"])
    assert read == declared, f"read, not declared: {read - declared}; declared, never read: {declared - read}"
    # the node's parameters: config/enhancer.yaml's (the test below holds them equal) and rclpy's own use_sim_time
    cfg = yaml.safe_load((ROOT / "config" / "enhancer.yaml").read_text())["/**/depth_enhancer"]["ros__parameters"]
    assert strings(constants["PARAMETER_ARGS"]) <= set(cfg) | {"use_sim_time"}


def test_rviz_config_shows_topics_the_launch_file_gives():
    """Every topic config/enhancer.rviz displays is an output of the node, or an input as the launch file names it
    by default, in the launch file's default namespace."""
    import ast
    import re

    launch = ast.parse((ROOT / "launch" / "enhancer.launch.py").read_text())
    defaults = {}
    for node in ast.walk(launch):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument":
            kw = {k.arg: k.value for k in node.keywords}
            if "default_value" in kw and isinstance(kw["default_value"], ast.Constant):
                defaults[node.args[0].value] = kw["default_value"].value
    ns = "/" + defaults["namespace"]
    allowed = {f"{ns}/depth_enhanced/{t}" for t in ("image_rect", "uncertainty", "points", "camera_info", "source")}
    allowed |= {f"{ns}/{defaults[k]}" for k in ("rgb", "depth", "info")}
    shown = re.findall(r"Topic:\n\s+Value: (\S+)", (ROOT / "config" / "enhancer.rviz").read_text())
    assert shown and set(shown) <= allowed, set(shown) - allowed


def test_config_lists_every_declared_parameter():
    from perfecting_depth_ros.node.enhancer_node import EnhancerNode

    cfg = yaml.safe_load((ROOT / "config" / "enhancer.yaml").read_text())["/**/depth_enhancer"]["ros__parameters"]
    rclpy.init()
    try:
        node = EnhancerNode()
        declared = {n for n in node._parameters if n not in ("use_sim_time", "start_type_description_service")
                    and not n.startswith("qos_overrides.")}  # rclpy's own, one per topic and policy (README)
        for name in declared:
            assert node.describe_parameters([name])[0].description, f"{name} has no description"
            assert cfg.get(name, node.get_parameter(name).value) == node.get_parameter(name).value, name  # defaults
        node.destroy_node()
    finally:
        rclpy.shutdown()
    assert declared == set(cfg), (declared ^ set(cfg))
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in declared if f"| `{n}` |" not in readme]
    assert not missing, f"README's parameter table lacks {missing}"


@pytest.mark.parametrize("name", ["package.xml"])
def test_package_xml_is_format_3_ament_python(name):
    text = (ROOT / name).read_text()
    assert 'format="3"' in text and "<build_type>ament_python</build_type>" in text


def test_shipped_onnx_is_current_for_the_shipped_weights_and_model_code():
    """The CPU path runs the shipped graph without torch only if it was exported from these weights and
    this model code; a stale one would be re-exported at start (needing torch), so ship both together."""
    import json

    from perfecting_depth_ros.backends.base import graph_code_sha, read_metadata, sha256_file

    w = ROOT / "perfecting_depth_ros" / "weights"
    md = read_metadata(w / "perfecting_depth_k4_s2.onnx")
    assert md["model_sha256"] == sha256_file(w / "perfecting_depth.safetensors")
    assert md["graph_sha256"] == graph_code_sha(), "re-run scripts/ship_weights.sh after changing model/*.py"
    manifest = json.loads((w / "manifest.json").read_text())
    assert manifest["perfecting_depth_k4_s2.onnx"] == sha256_file(w / "perfecting_depth_k4_s2.onnx")


def test_the_robot_runtime_needs_neither_torch_nor_onnx_nor_scipy(tmp_path):
    """What a robot installs (README: onnxruntime, safetensors, OpenCV and the ROS wheels) runs the shipped model
    with its hole fusion, and the node module loads, with torch, diffusers, onnx and scipy made unimportable."""
    import os
    import subprocess
    import sys

    code = """
import sys
for m in ("torch", "diffusers", "onnx", "scipy"):
    sys.modules[m] = None  # import fails
import numpy as np
from perfecting_depth_ros import DepthEnhancer
import perfecting_depth_ros.node.enhancer_node
enh = DepthEnhancer(max_range_m=4.5)
rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3)).astype(np.uint8)
depth = np.full((120, 160), 2.0, np.float32)
depth[30:60, 40:90] = 0
out = enh.enhance(rgb, depth)
assert np.isfinite(out.depth).all() and (out.depth[depth > 0] == 2.0).mean() > 0.9
print(enh.description)
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PERFECTING_DEPTH_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "learned:onnxruntime" in r.stdout and "+hole_fusion" in r.stdout
    # K=8 has no shipped graph: exporting one needs torch, and the error says so
    code_k8 = code.split("enh = DepthEnhancer")[0] + """
from perfecting_depth_ros.backends import BackendError
try:
    DepthEnhancer(samples=8, backend="onnxruntime")
except BackendError as e:
    print("refused:", e)
"""
    r = subprocess.run([sys.executable, "-c", code_k8], env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "refused:" in r.stdout and "needs torch" in r.stdout, (r.stdout, r.stderr[-2000:])


def test_an_opencv_without_contrib_runs_the_hole_fusion_on_numba_alone(tmp_path):
    """Plain opencv-python and JetPack's OpenCV have no ximgproc. With numba the hole fusion's fill and joint_bilateral
    run compiled and give what they give with it (a flat or self-guided filter through OpenCV's core); guided_fill,
    which needs the module, is refused with the reason."""
    import os
    import subprocess
    import sys

    code = """
import cv2
import warnings
import numpy as np
from perfecting_depth_ros import DepthEnhancer
from perfecting_depth_ros.evaluate.baselines import joint_bilateral_at
rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3)).astype(np.uint8)
depth = np.full((120, 160), 2.0, np.float32)
depth[30:60, 40:90] = 0
depth[80:, :30] = 3.0
flat = np.full((60, 80, 3), 9.0, np.float32)
src = np.random.default_rng(1).random((60, 80, 3)).astype(np.float32)
need = np.ones((60, 80), bool)
before = [DepthEnhancer(max_range_m=4.5).enhance(rgb, depth).depth, DepthEnhancer("joint_bilateral").enhance(rgb, depth).depth,
          joint_bilateral_at(flat, src, 9, 20.0, need), joint_bilateral_at(src, src, 9, 20.0, need)]
del cv2.ximgproc  # this OpenCV, as plain opencv-python comes
with warnings.catch_warnings():
    warnings.simplefilter("error")
    enh = DepthEnhancer(max_range_m=4.5)
after = [enh.enhance(rgb, depth).depth, DepthEnhancer("joint_bilateral").enhance(rgb, depth).depth,
         joint_bilateral_at(flat, src, 9, 20.0, need), joint_bilateral_at(src, src, 9, 20.0, need)]
for a, b in zip(before, after):
    assert np.array_equal(a, b, equal_nan=True)
print(enh.description)
try:
    DepthEnhancer("guided_fill")
except ImportError as e:
    print("refused:", e)
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PERFECTING_DEPTH_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "+hole_fusion" in r.stdout and "without numba" not in r.stdout
    assert "refused: guided_fill needs OpenCV's contrib module" in r.stdout


def test_without_contrib_or_numba_the_hole_fusion_is_off_and_what_needs_them_is_refused(tmp_path):
    """No ximgproc and no compiled fill (PERFECTING_DEPTH_COMPILED=0, as without numba): the default learned enhancer
    runs without the fusion and says so, and what cannot run is refused with the reason."""
    import os
    import subprocess
    import sys

    code = """
import cv2
del cv2.ximgproc  # this OpenCV, as plain opencv-python comes
import warnings
import numpy as np
from perfecting_depth_ros import DepthEnhancer
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    enh = DepthEnhancer(max_range_m=4.5)
print("warned:", caught[0].message)
rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3)).astype(np.uint8)
depth = np.full((120, 160), 2.0, np.float32)
depth[30:60, 40:90] = 0
out = enh.enhance(rgb, depth)
assert np.isfinite(out.depth).all()
print(enh.description)
print(DepthEnhancer("inpaint_ns").description)
for kw in ({"method": "joint_bilateral"}, {"method": "guided_fill"}, {"fusion": True}):
    try:
        DepthEnhancer(**kw)
    except ImportError as e:
        print("refused:", e)
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PERFECTING_DEPTH_CACHE=str(tmp_path / "cache"),
               PERFECTING_DEPTH_COMPILED="0")
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "warned: hole fusion off" in r.stdout and "numba" in r.stdout
    assert "(hole fusion off: no numba, and this OpenCV has no ximgproc)" in r.stdout
    assert "classical:inpaint_ns" in r.stdout
    refusals = [line for line in r.stdout.splitlines() if line.startswith("refused:")]
    assert len(refusals) == 3 and all("opencv-contrib-python-headless" in x for x in refusals)


def test_model_card_splice_keeps_the_sections_it_was_not_asked_to_rewrite():
    """scripts/model_card.py --only: fresh benchmark sections replace the card's, every other section stays."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("model_card", ROOT / "scripts" / "model_card.py")
    mc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mc)
    old = "# Card\nintro\n## How it was made\ntable\n## Benchmark figures (eval)\nold figures\n## Limits\nlimits\n"
    new = "# Card\n\n## How it was made\n(empty: no runs here)\n## Benchmark figures (eval)\nnew figures\n" \
          "## Latency\nms\n## Limits\nlimits\n"
    out = mc.splice_sections(old, new, ["Benchmark figures", "Latency"])
    assert out == "# Card\nintro\n## How it was made\ntable\n## Benchmark figures (eval)\nnew figures\n## Latency\nms\n" \
                  "## Limits\nlimits\n"
    card = (ROOT / "perfecting_depth_ros" / "weights" / "MODEL_CARD.md").read_text()
    assert mc.splice_sections(card, card, ["Benchmark figures"]) == card


def _load_script(name: str):
    import importlib.util
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_model_card_follows_a_head_average_back_to_the_run_it_came_from(tmp_path):
    """The card's training chain: an ``init`` inside a run gives that run; an ``init`` that is a head average
    (scripts/average_heads.py metadata) gives the run of the first checkpoint it averaged; no metadata, no run."""
    import json

    import numpy as np
    from safetensors.numpy import save_file

    mc = _load_script("model_card")
    run = tmp_path / "errorhead_a"
    run.mkdir()
    (run / "config.json").write_text("{}")
    save_file({"x": np.zeros(1, np.float32)}, str(run / "model.safetensors"))
    assert mc._init_run(str(run / "model.safetensors")) == run
    soup = tmp_path / "head_soup"
    soup.mkdir()
    meta = {"meta": json.dumps({"averaged_from": [str(run / "model.safetensors"), "elsewhere.safetensors"]})}
    save_file({"x": np.zeros(1, np.float32)}, str(soup / "avg.safetensors"), metadata=meta)
    assert mc._init_run(str(soup / "avg.safetensors")) == run
    save_file({"x": np.zeros(1, np.float32)}, str(soup / "plain.safetensors"))
    assert mc._init_run(str(soup / "plain.safetensors")) is None


def test_shadow_holes_are_the_raw_holes_in_an_occlusion_band():
    """validate_gap.shadow_holes: for stereo and structured light, raw holes beside a near object (left of it, where
    the second view is blocked); never for time of flight, and never a valid raw pixel."""
    import numpy as np

    from perfecting_depth_ros.data.sensors import SENSORS, simulate
    from perfecting_depth_ros.data.world import render_random

    vg = _load_script("validate_gap")
    f = render_random(3, 96, 128)
    f.depth[:] = 3.0
    f.depth[30:70, 60:90] = 0.8  # a near box in front of a wall
    for name, sensor in SENSORS.items():
        raw = simulate(f, name, np.random.default_rng(0))
        sh = vg.shadow_holes(f, raw, sensor.max_range_m)
        assert not (sh & (raw > 0)).any()
        if sensor.shadow:
            assert sh[30:70, 40:60].sum() > 0 and sh[30:70, 92:].sum() == 0  # beside the box, on its left only
        else:
            assert not sh.any()


def test_real_wrong_probe_classes_split_every_pixel_once():
    """scripts/probe_real_wrong.frame_features: the edge band follows the reference's depth steps, the hole rim the
    raw holes, the range bins the raw range, and the classes split every pixel exactly once."""
    import numpy as np

    pr = _load_script("probe_real_wrong")
    ref = np.full((60, 80), 1.5, np.float32)
    ref[:, 40:] = 2.5  # a step of 1 m at column 40
    raw = ref.copy()
    raw[10:20, 10:20] = 0  # a raw hole on the near side
    raw[40:, 60:] = 3.2  # a far patch, away from the step
    f = pr.frame_features(raw, ref)
    classes = ["edge", "hole_rim", *(b[0] for b in pr.RANGE_BINS_M)]
    counts = sum(f[c].astype(int) for c in classes)
    assert (counts == 1).all()
    assert f["edge"][:, 39:41].all() and not f["edge"][:, :30].any() and not f["edge"][:, 50:].any()
    assert f["hole_rim"][8, 15] and f["hole_rim"][15, 15] and not f["hole_rim"][30, 15]
    assert f["other_under_2m"][30, 15] and f["other_2_3m"][10, 70] and f["other_3m_on"][50, 70]
    # the cues: a hole's neighbour is nearer to it than a pixel far away, the raw range is large only at the step
    assert f["cue_hole_nearness"][21, 15] > f["cue_hole_nearness"][50, 15]
    assert f["cue_raw_range5"][30, 40] > 0.9 and f["cue_raw_range5"][30, 5] == 0
    # the tolerant error: a raw step 2 px off the reference's is wrong by 1 m as it stands, right within 2 px, and a
    # raw pixel off everything near it stays wrong at every tolerance
    moved = ref.copy()
    moved[:, 38:40] = 2.5
    moved[5, 5] = 1.8
    assert np.isclose(np.abs(moved - ref)[30, 38], 1.0)
    assert np.isclose(pr.tolerant_error(moved, ref, 1)[30, 38], 1.0) and pr.tolerant_error(moved, ref, 2)[30, 38] == 0
    assert all(np.isclose(pr.tolerant_error(moved, ref, px)[5, 5], 0.3) for px in (1, 2, 4))
    assert pr.tolerant_error(moved, ref, 2)[30, 70] == 0  # far from the image's edge and the step: its own value


def test_sevenscenes_registration_warp_and_its_fit_score():
    """data.real.warp_similarity magnifies about the centre, then shifts; scripts/fit_7scenes_registration.py's
    alignment score is highest where the colour image, warped back, puts its edges on the depth edges."""
    import cv2
    import numpy as np

    from perfecting_depth_ros.data.real import SEVENSCENES_RGB_TO_DEPTH, register_sevenscenes_rgb, warp_similarity

    img = np.zeros((120, 160), np.float32)
    img[70, 100] = 1.0  # 20 px right of and 10 px below the centre (80, 60)
    y, x = np.unravel_index(np.argmax(warp_similarity(img, 1.1, 7.0, 1.0)), img.shape)
    assert (x, y) == (80 + round(1.1 * 20 + 7), 60 + round(1.1 * 10 + 1))
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    assert np.array_equal(register_sevenscenes_rgb(rgb), warp_similarity(rgb, *SEVENSCENES_RGB_TO_DEPTH))
    fit = _load_script("fit_7scenes_registration")
    depth = np.full((120, 160), 3.0, np.float32)
    depth[30:90, 50:110] = 1.0  # a near box: its outline is the depth edge
    aligned = np.where(depth < 2, 200, 40).astype(np.uint8)
    aligned = cv2.cvtColor(aligned, cv2.COLOR_GRAY2RGB)
    s, dx, dy = 1.1, 6.0, -3.0
    raw_rgb = warp_similarity(aligned, 1 / s, -dx / s, -dy / s)  # what an unregistered camera would give
    frames = [fit.edge_maps(raw_rgb, depth)]
    assert fit.alignment(frames, s, dx, dy) > 1.5 * fit.alignment(frames, 1.0, 0.0, 0.0)


def test_validation_sets_never_share_frames_or_draws():
    """scripts/validate_gap.py: every set in VAL_SETS (and the calibration frames) uses disjoint synthetic seeds and
    hold-out draws, so a confirmation never re-reads what chose. The gap block's frames (ten offsets of every tenth
    frame) are disjoint across the first ten sets; the later ones reuse them with draws of their own."""
    vg = _load_script("validate_gap")
    sets = list(vg.VAL_SETS.values())
    seeds = [set(range(first, first + vg.N_VAL)) for first, _, _ in sets] + [set(range(5000, 5000 + vg.N_CAL))]
    for i in range(len(seeds)):
        for j in range(i + 1, len(seeds)):
            assert not seeds[i] & seeds[j]
    gap_frames = [set(list(vg.GAP)[offset::10]) for _, offset, _ in sets]
    first_ten = gap_frames[:10]
    assert all(not a & b for k, a in enumerate(first_ten) for b in first_ten[k + 1:])
    assert set().union(*first_ten) == set(vg.GAP)
    draws = [set(range(h, h + len(g))) for (_, _, h), g in zip(sets, gap_frames)]
    assert all(not a & b for k, a in enumerate(draws) for b in draws[k + 1:])
    # pooled sets (--sets) read each set's frames in turn, the same frames and draws as each set alone
    assert list(vg.set_frames((0, 10))) == list(vg.set_frames((0,))) + list(vg.set_frames((10,)))
    assert [i for i, _ in vg.set_frames((10,))] == list(vg.GAP)[0::10]
