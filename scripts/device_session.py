#!/usr/bin/env python3
"""Everything a session lent a GPU does, in one call of the device tool that fits its budget.

A drawn task gets 15 minutes of device time in all, the machine's start (a minute or more) included, and one command
may run 10 minutes: room for one full call, not for a check and then a training call. So this one call
1. renders the training frames on all cores but one (in the background: no GPU needed),
2. meanwhile runs the device checks (scripts/device_check.py --steps 0: torch on the GPU against ONNX Runtime on the
   CPU, differences and latency at 320x240 and 640x480, and frames/s at 640x480 with the hole fusion when 1-4
   threads enhance at once, as the node's ``workers`` do),
3. measures the seconds per step of stage 2 at scale (config/train/stage2_scale.yaml) over a short probe,
4. trains a schedule of as many steps as the time left holds (the learning-rate schedule ends when the time does,
   rather than a long schedule cut short), warm-started from the config's init, or resumes a run carried back in
   the config's out_dir (runs/stage2_scale for the default config),
5. leaves in --out what comes back (at most 8 files, at most 2 folders down): device_check.json, session.json (the
   timings and the schedule), log.txt, and run/ (model.safetensors, model_step*.safetensors at half way,
   train_state.pt to resume, log.jsonl, config.json).
Back here: copy the run to runs/stage2_scale and score it with scripts/validate_gap.py against the config's rule.

  On the GPU machine (.whl: the pinned diffusers wheel, see scripts/device_check.sh):
    run(command="bash scripts/device_session.sh", carry=[".whl"], timeout_s=560)
  The next session lent one (config/train/stage2_scale2.yaml says why; the first call's command with --config):
    run(command="bash scripts/device_session.sh --config config/train/stage2_scale2.yaml", carry=[".whl"],
        timeout_s=560)
  A second call with the time left (the thirtieth session: 6 minutes after the first call and the machine's start):
    run(command="BUDGET_S=262 FRAMES=8000 bash scripts/device_session.sh --config config/train/stage2_scale_mixed.yaml
        --alt-frames 6000 --skip-check --s-per-step 0.075", carry=[".whl", "runs/stage2_scale/model.safetensors"],
        timeout_s=280)
  Here, to check the script itself (CPU, tiny):
    DEVICE=cpu BUDGET_S=240 FRAMES=96 PROBE_STEPS=30 BATCH=8 bash scripts/device_session.sh
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "train" / "stage2_scale.yaml"
# --max-minutes counts from the first step: the process's start (imports, loading the frames, the loader workers)
# comes before it. The thirtieth session's second call (alternate world-v1 loaders too) spent more than the 20 s
# margin there and was stopped from outside, a checkpoint short of its schedule.
START_S = 40
KEEP = ("model.safetensors", "train_state.pt", "log.jsonl", "config.json")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "perfecting_depth_ros.cli", *args]


def _run(cmd: list[str], log, timeout: float) -> int:
    """Run ``cmd``, its output into ``log`` (progress bars left out); its exit code (124 when it ran out of time)."""
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=max(timeout, 1))
    except subprocess.TimeoutExpired as e:
        log.write((e.stdout or "") if isinstance(e.stdout, str) else "")
        log.write(f"(stopped after {timeout:.0f} s)\n")
        return 124
    log.write("".join(line + "\n" for line in r.stdout.replace("\r", "\n").splitlines() if "%|" not in line))
    log.flush()
    return r.returncode


def _derived_config(base: dict, path: Path, **overrides) -> Path:
    """The ``base`` config with ``overrides``, written to ``path``."""
    path.write_text(yaml.safe_dump({**base, **overrides}, sort_keys=False))
    return path


def seconds_per_step(log_jsonl: Path, skip: int) -> float:
    """From a run's log.jsonl (one line per ``log_every`` steps with the run's time_s): the seconds per step after
    the first ``skip`` steps (start-up and the first kernels' compilation left out)."""
    rows = [json.loads(x) for x in log_jsonl.read_text().splitlines() if '"loss"' in x]
    rows = [r for r in rows if r["step"] >= skip]
    if len(rows) < 2:
        raise ValueError(f"{log_jsonl}: too few logged steps past {skip} to time")
    return (rows[-1]["time_s"] - rows[0]["time_s"]) / (rows[-1]["step"] - rows[0]["step"])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--out", default=os.environ.get("OUT", "outputs/device_session"))
    ap.add_argument("--budget-s", type=float, default=500, help="this call's wall time, all included")
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--probe-steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, help="instead of the config's (a check of this script on a CPU)")
    ap.add_argument("--work", default="/tmp/device_session")
    ap.add_argument("--config", default=str(CONFIG), help="the training config the probe and the run derive from")
    ap.add_argument("--alt-frames", type=int, default=0,
                    help="also render this many world-version-1 frames, every second batch (the config's alt_*)")
    ap.add_argument("--skip-check", action="store_true", help="leave out the device checks (a second call)")
    ap.add_argument("--s-per-step", type=float, help="the seconds per step, measured before: no probe")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    left = lambda: a.budget_s - (time.monotonic() - t0)  # noqa: E731
    out, work = Path(a.out), Path(a.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    session: dict = {"device": a.device, "budget_s": a.budget_s}
    batch = {"batch_size": a.batch_size} if a.batch_size else {}
    base = yaml.safe_load(Path(a.config).read_text())  # config/train/stage2_scale.yaml unless told
    session["config"] = a.config
    log = open(out / "log.txt", "a")
    data = work / "frames"
    workers = max(1, (os.cpu_count() or 2) - 1)
    render = None
    if not any(data.glob("train-*.npz")):
        log.write(f"rendering {a.frames} frames with {workers} workers\n")
        render = subprocess.Popen(_cli("data", "--out", str(data), "--frames", str(a.frames), "--world-version", "2",
                                       "--workers", str(workers)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
    renders = [render] if render is not None else []
    alt_data = work / "frames_v1"
    if a.alt_frames and not any(alt_data.glob("train-*.npz")):
        renders.append(subprocess.Popen(_cli("data", "--out", str(alt_data), "--frames", str(a.alt_frames),
                                             "--world-version", "1", "--workers", str(max(1, workers // 2))),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    if a.alt_frames:
        base["alt_data_dir"] = str(alt_data)
    if not a.skip_check:
        t = time.monotonic()
        session["check_rc"] = _run([sys.executable, str(ROOT / "scripts" / "device_check.py"), "--device", a.device,
                                    "--steps", "0", "--runs", "5", "--out", str(out)], log, min(120, left() / 3))
        session["check_s"] = round(time.monotonic() - t, 1)
    for proc in renders:
        err = proc.communicate(timeout=max(left() - 60, 1))[1]
        session["render_s"] = round(time.monotonic() - t0, 1)
        if proc.returncode != 0:
            log.write(err[-3000:])
            session["error"] = "rendering failed"
            (out / "session.json").write_text(json.dumps(session, indent=1))
            return 1
    run = work / "run"
    for stale in (run, work / "probe"):  # a warm machine's earlier call: resume only what was carried back
        shutil.rmtree(stale, ignore_errors=True)
    carried = ROOT / base["out_dir"]  # this config's run brought back from an earlier lent machine, to resume
    resume = carried / "train_state.pt"
    if a.s_per_step:  # measured by an earlier call: the whole time left goes to the run
        steps = min(int(0.85 * max(left() - START_S - 20, 0) / a.s_per_step), int(base["steps"]))
        session["s_per_step"] = a.s_per_step
    elif resume.exists():  # a carried run: its own schedule goes on where it stopped
        shutil.copytree(carried, run, dirs_exist_ok=True)
        steps = json.loads((carried / "config.json").read_text())["steps"]
        session["resumed_from"] = str(carried)
    else:  # a schedule that ends when the time does
        probe = _derived_config(base, work / "probe.yaml", stop_after=a.probe_steps, log_every=10, ckpt_every=10**9,
                                snapshot_every=0, **batch)
        t = time.monotonic()
        rc = _run(_cli("train", "stage2", "--config", str(probe), "--data-dir", str(data), "--out-dir",
                       str(work / "probe"), "--device", a.device), log, left() - 30)
        session["probe_s"] = round(time.monotonic() - t, 1)
        if rc != 0:
            session["error"] = f"probe exited {rc}"
            (out / "session.json").write_text(json.dumps(session, indent=1))
            return 1
        sps = seconds_per_step(work / "probe" / "log.jsonl", skip=min(20, a.probe_steps // 3))
        session["s_per_step"] = round(sps, 4)
        # the time left, less start-up (about what the probe spent beyond its steps) and saving
        overhead = max(session["probe_s"] - sps * a.probe_steps, 5.0)
        steps = int(0.9 * max(left() - overhead - 20, 0) / sps)  # 0.9: the probe ran a little faster than runs
        steps = min(steps, int(base["steps"]))
        if steps < 100:
            session["error"] = f"time for {steps} steps only"
            (out / "session.json").write_text(json.dumps(session, indent=1))
            return 1
    session["steps"] = steps
    cfg = _derived_config(base, work / "run.yaml", steps=steps, snapshot_every=max(steps // 2, 1), log_every=25, **batch)
    t = time.monotonic()
    rc = _run(_cli("train", "stage2", "--config", str(cfg), "--data-dir", str(data), "--out-dir", str(run),
                   "--device", a.device, "--max-minutes", f"{max(left() - START_S - 20, 6) / 60:.3f}"), log, left() - 5)
    session.update(train_rc=rc, train_s=round(time.monotonic() - t, 1))
    (out / "run").mkdir(exist_ok=True)
    snapshots = sorted(run.glob("model_step*.safetensors"), key=lambda p: int(p.stem.removeprefix("model_step")))
    kept = [p for p in run.glob("*") if p.name in KEEP] + snapshots[:1]  # the half-way one (the end: model.*)
    for p in kept:
        shutil.copy2(p, out / "run" / p.name)
    if (run / "log.jsonl").exists():
        rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
        losses = [r["loss"] for r in rows if "loss" in r]
        session.update(steps_done=max((r["step"] for r in rows), default=0),
                       first_loss=losses[0] if losses else None, last_loss=losses[-1] if losses else None)
    session["wall_s"] = round(time.monotonic() - t0, 1)
    (out / "session.json").write_text(json.dumps(session, indent=1))
    log.write(json.dumps(session) + "\n")
    log.close()
    print(json.dumps(session, indent=1))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
