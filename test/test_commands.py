"""The user-facing commands run end to end on small inputs: eval (benchmark report) and demo (real node)."""

import json
from pathlib import Path

from perfecting_depth_ros.cli import main


def test_eval_writes_report_with_tables_and_plots(tmp_path):
    from perfecting_depth_ros.data.dataset import write_shards

    write_shards(tmp_path / "test", "test", 3, 60, 80, shard_size=3, workers=1, progress=False)
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- benchmark:start -->\nold\n<!-- benchmark:end -->\ny\n")
    rc = main(["eval", "--methods", "raw,guided_fill,learned", "--test-dir", str(tmp_path / "test"), "--frames", "3",
               "--out", str(tmp_path / "out"), "--real-dir", str(tmp_path / "no_real"), "--ref-dir", str(tmp_path / "no_ref"),
               "--readme", str(readme)])
    assert rc == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| learned |" in report and "| guided_fill |" in report
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    u = res["synthetic"]["learned"]["uncertainty"]
    assert 0 <= u["auroc_raw_wrong"] <= 1 and u["ause"] <= u["ause_random"] * 1.5
    for f in ("error_vs_range.png", "sparsification.png", "panels_synthetic.png"):
        assert (tmp_path / "out" / f).stat().st_size > 1000
    text = readme.read_text()
    assert "\nold\n" not in text and "| guided_fill |" in text and text.endswith("y\n")
    # how far the headline ratios could move on another draw of frames, in the report and the README
    r = res["synthetic"]["learned"]["per_frame"]
    assert len(r["all_n"]) == 3 and sum(r["all_n"]) > 0
    assert "the best classical fill on each resample of the 3 test frames" in text
    assert "the best classical fill on each resample of the 3 test frames" in report


def test_demo_runs_the_real_node(tmp_path):
    rc = main(["demo", "--out", str(tmp_path / "demo"), "--frames", "4", "--rate", "5", "--method", "guided_fill"])
    assert rc == 0
    s = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert s["frames_received"] >= 1 and s["method"] == "classical:guided_fill" and s["latency_ms"]["p50"] > 0
    assert Path(tmp_path / "demo" / "cloud.ply").read_bytes().startswith(b"ply")
    assert list((tmp_path / "demo").glob("panel_*.png"))


def test_bench_repeats_each_configuration_and_reports_the_median_run(tmp_path, tiny_weights):
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- bench:start -->\nold\n<!-- bench:end -->\ny\n")
    rc = main(["bench", "--sizes", "48x64", "--backends", "onnxruntime", "--runs", "2", "--repeats", "3",
               "--classical", "ip_basic",
               "--weights", str(tiny_weights), "--out", str(tmp_path / "bench.json"), "--readme", str(readme)])
    assert rc == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    learned = next(r for r in rows if r["method"] == "learned")
    assert "error" not in learned and len(learned["medians_ms"]) == 3
    assert learned["medians_ms"] == sorted(learned["medians_ms"]) and learned["median_ms"] == learned["medians_ms"][1]
    assert [r["method"] for r in rows if "fastest classical" in r["method"]] == ["ip_basic (fastest classical)"]
    off = next(r for r in rows if r["method"] == "learned, hole fusion off")
    assert "error" not in off and off["backend"] == learned["backend"]
    assert learned["cpu_ms_per_frame"] > 0 and "CPU ms / frame" in readme.read_text()
    text = readme.read_text()
    assert "--repeats 3" in text and "median of 3 runs" in text and "\nold\n" not in text


def test_info_reports_the_weights_the_backend_auto_picks_and_its_time(tmp_path, capsys):
    import shutil

    from perfecting_depth_ros.enhancer import DEFAULT_WEIGHTS

    assert main(["info", "--size", "48x64", "--runs", "1", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["weights"]["verified"] and rep["weights"]["shipped_graph"] == "current"
    assert rep["backend"]["chosen"].startswith("onnxruntime") and rep["backend"]["ms_per_frame_64x48"] > 0
    assert any(s.startswith("onnxruntime-cuda") for s in rep["backend"]["skipped"])  # and why
    assert rep["backend"]["verification"].startswith("not needed: ONNX Runtime on the CPU in FP32 is the reference")
    assert not rep["backend"]["verification_failed"]
    assert rep["opencv_ximgproc"] is True and "+hole_fusion" in rep["backend"]["description"]
    assert rep["compiled_fill"] is True and rep["libraries"]["numba"][0].isdigit()
    assert rep["tensorrt_precision"].startswith("FP16")  # onnxconverter-common is installed here
    # a corrupt copy of the weights: reported, exit code 1
    bad = tmp_path / "w"
    shutil.copytree(DEFAULT_WEIGHTS.parent, bad)
    data = bytearray((bad / DEFAULT_WEIGHTS.name).read_bytes())
    data[5000] ^= 0xFF
    (bad / DEFAULT_WEIGHTS.name).write_bytes(bytes(data))
    assert main(["info", "--weights", str(bad / DEFAULT_WEIGHTS.name), "--size", "48x64", "--runs", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "cannot be built" in out
