"""bin/run-supervised, the process runner of `make run`: a crash is restarted or stops everything, in one line."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SUPERVISOR = Path(__file__).resolve().parent.parent / "bin" / "run-supervised"


def supervise(tmp_path, procfile: str) -> subprocess.Popen:
    (tmp_path / "Procfile").write_text(procfile)
    return subprocess.Popen(
        [sys.executable, str(SUPERVISOR), "-f", "Procfile"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_crashed_worker_is_named_with_its_reason_and_restarted_and_ctrl_c_stops_everything(tmp_path):
    runner = supervise(
        tmp_path,
        "web: sleep 60\n"
        "worker: echo $$ >> pids; echo 'json.decoder.JSONDecodeError: Expecting value'; sleep 0.2; exit 3\n",
    )
    try:
        deadline = time.monotonic() + 15
        while len((tmp_path / "pids").read_text().split() if (tmp_path / "pids").exists() else []) < 2:
            assert time.monotonic() < deadline, "the worker was not restarted"
            time.sleep(0.1)
        os.killpg(runner.pid, signal.SIGINT)  # Ctrl-C
        output, _ = runner.communicate(timeout=15)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 0, output
    assert re.search(
        r"^run-supervised: worker exited with code 3 after \d+ s \(json.decoder.JSONDecodeError: Expecting value\); "
        r"restarting it in 1 s \(crash 1 in a row\)$",
        output,
        re.M,
    ), output
    assert "run-supervised: stopped web, worker" in output
    assert "web exited" not in output  # Ctrl-C is a stop, not a crash


def test_a_web_server_that_cannot_start_stops_everything_with_one_line_that_says_why(tmp_path):
    runner = supervise(
        tmp_path,
        "web: sleep 1; echo \"[ERROR] Connection in use: ('127.0.0.1', 8000)\"; exit 1\n"
        "worker: echo $$ > worker.pid; exec sleep 60\n",
    )
    try:
        output, _ = runner.communicate(timeout=20)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 1, output
    failures = [line for line in output.splitlines() if line.startswith("run-supervised: web exited")]
    assert len(failures) == 1, output
    assert re.fullmatch(
        r"run-supervised: web exited with code 1 after \d+ s "
        r"\(\[ERROR\] Connection in use: \('127.0.0.1', 8000\)\); stopping everything",
        failures[0],
    ), failures
    assert not alive(int((tmp_path / "worker.pid").read_text())), "the worker was left running"
