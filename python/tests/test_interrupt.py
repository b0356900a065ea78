"""Ctrl-C stops a training run cleanly: KeyboardInterrupt in Python, nothing written."""

import os
import signal
import subprocess
import sys
import textwrap


def test_sigint_stops_training_with_keyboard_interrupt(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, sys, time, organism
        cfg = organism.Config.preset("addition").set("epochs", 1_000_000)
        def progress(r):
            if r["epoch"] == 1:
                print("training", flush=True)
        start = None
        try:
            organism.train(cfg, progress=progress).save({str(tmp_path / "run")!r})
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        print("entries:", sorted(os.listdir({str(tmp_path)!r})), flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "training"
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.splitlines() == ["interrupted", "entries: []"], out + err
