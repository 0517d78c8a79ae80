"""Services through the real path: `xpmbuild run` starts a small HTTP service over the
folder of links of the sweep's jobs, its URL answers while the jobs run, and it is
stopped when the run ends (port closed, process gone); --keep-services and
`xpmbuild services list|start|stop`; a service that exits is reported, never fails the run.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from conftest import run_cli, write_xpm

XPM = '''
arg gate: str = "gate"
arg py: str = "python3"

task train {
    seed: int = 0
    lr: float = 0.1
    gate: str
    output log = "log.txt"
    shell """
        echo "seed {seed}" > {log}
        while [ ! -e {gate} ]; do sleep 0.05; done
    """
}

service files {
    """The jobs' folders over HTTP."""
    runs: list[train]
    py: str = "python3"
    shell "exec {py} -m http.server {port} --bind 127.0.0.1 --directory {runs}"
    url "http://127.0.0.1:{port}/"
}

ms = []
for seed in range(2) {
    for lr in [0.1, 0.01] {
        ms = ms + [train(seed=tag(seed), lr=tag(lr), gate=gate)]
    }
}
files(runs=ms, py=py)
'''


def _xpm(tmp_path, text=XPM):
    return write_xpm(tmp_path, text)


def wait_for(cond, what, timeout=60.0, proc=None):
    """Poll ``cond`` until it is true (``proc``: a run that must not end meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}) before {what}")
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _state(ws, exp="main", name="files"):
    try:
        with open(os.path.join(ws, "experiments", exp, "services", name, "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except OSError:
        return None


def _port_open(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:        # a zombie is gone too (its parent has not reaped it yet)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def _run(tmp_path, *extra, text=XPM):
    ws = tmp_path / "ws"
    gate = tmp_path / "gate"
    proc = subprocess.Popen([sys.executable, "-m", "xpmbuild.cli", "run",
                             str(_xpm(tmp_path, text)),
                             "-w", str(ws), "-j", "4", "-D", f"gate={gate}",
                             "-D", f"py={sys.executable}", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, ws, gate


def test_run_starts_the_service_its_url_answers_and_it_stops_at_the_end(tmp_path):
    proc, ws, gate = _run(tmp_path)
    try:
        state = wait_for(lambda: (_state(ws) or {}).get("url") and _state(ws), "the service",
                         proc=proc)
        status, page = wait_for(lambda: _get(state["url"]), "the service's URL to answer",
                                proc=proc)
        assert status == 200
        # the links of the folder, named by the jobs' tags, while the jobs still run
        for name in ("seed=0,lr=0.1", "seed=0,lr=0.01", "seed=1,lr=0.1", "seed=1,lr=0.01"):
            assert urllib.request.quote(name) in page, page
        status, log = wait_for(lambda: _get(state["url"] + "seed=1,lr=0.01/log.txt"),
                               "a job's log through its link")
        assert log == "seed 1\n"
        listed = run_cli("services", "list", "-w", ws, "--json")
        assert listed[0] == 0, listed[2]
        [info] = json.loads(listed[1])["services"]
        assert (info["name"], info["experiment"], info["state"], info["url"], info["pid"]) == \
            ("files", "main", "running", state["url"], state["pid"])
        assert info["doc"] == "The jobs' folders over HTTP."
        gate.write_text("")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"service files: {state['url']}" in err
    assert _state(ws)["state"] == "stopped"
    assert wait_for(lambda: _gone(state["pid"]), "the service's process to end")
    assert not _port_open(state["port"])
    listed = json.loads(run_cli("services", "list", "-w", ws, "--json")[1])["services"]
    assert [(s["state"], s["url"], s["pid"]) for s in listed] == [("stopped", None, None)]


def test_keep_services_then_services_stop_and_start(tmp_path):
    (tmp_path / "gate").write_text("")          # the jobs end at once
    proc, ws, gate = _run(tmp_path, "--keep-services")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    state = _state(ws)
    assert state["state"] == "running"
    try:
        assert "left running" in err and "xpmbuild services stop" in err
        assert wait_for(lambda: _get(state["url"]), "the kept URL")[0] == 200  # after the run
        code, out, err = run_cli("services", "stop", "-w", ws, "files")
        assert code == 0, err
        assert out.strip() == "main/files: stopped"
        assert wait_for(lambda: _gone(state["pid"]), "the service's process to end")
        assert not _port_open(state["port"])
        # started again without the .xpm file: from what the run recorded
        code, out, err = run_cli("services", "start", "-w", ws, "--experiment", "main", "--json")
        assert code == 0, err
        [info] = json.loads(out)["services"]
        assert info["state"] == "running" and info["pid"] != state["pid"]
        assert wait_for(lambda: _get(info["url"]), "the restarted URL")[0] == 200
        code, out, err = run_cli("services", "stop", "-w", ws, "--experiment", "main")
        assert code == 0 and "stopped" in out, err
        assert wait_for(lambda: _gone(info["pid"]), "the restarted process to end")
    finally:
        for s in (state, _state(ws)):
            if s and not _gone(s["pid"]):
                os.killpg(s["pid"], 9)


def test_a_service_that_exits_is_reported_and_never_fails_the_run(tmp_path):
    state_file = tmp_path / "ws" / "experiments" / "main" / "services" / "broken" / "state.json"
    path = write_xpm(tmp_path, f'''
task t {{
    output o = "o.txt"
    shell """
        while ! grep -q exited {state_file}; do sleep 0.05; done
        echo ok > {{o}}
    """
}}
service broken {{
    job: t
    shell "echo cannot bind {{port}} >&2; exit 3"
    url "http://127.0.0.1:{{port}}/"
}}
broken(job=t())
''')
    code, out, err = run_cli("run", path, "-w", tmp_path / "ws", timeout=120)
    assert code == 0, err
    assert "service broken exited (exit code 3)" in err
    assert "cannot bind" in err
    assert "1 jobs: 1 done" in out
    assert json.loads(state_file.read_text())["exit_code"] == 3
    code, out, err = run_cli("services", "list", "-w", tmp_path / "ws", "--json")
    assert [s["state"] for s in json.loads(out)["services"]] == ["exited"]


def test_services_errors_are_clear(tmp_path):
    (tmp_path / "gate").write_text("")
    proc, ws, gate = _run(tmp_path)
    assert proc.wait(timeout=120) == 0
    code, out, err = run_cli("services", "start", "-w", ws, "nope")
    assert code == 2 and "no service 'nope'; services: files" in err
    code, out, err = run_cli("services", "stop", "-w", ws, "--experiment", "zz", "files")
    assert code == 2 and "no experiment 'zz'" in err
    code, out, err = run_cli("services", "start", "-w", ws)
    assert code == 2 and "name a service" in err
    assert "Traceback" not in err


def test_an_up_to_date_run_starts_no_service_and_says_how(tmp_path):
    (tmp_path / "gate").write_text("")
    proc, ws, gate = _run(tmp_path)
    assert proc.wait(timeout=120) == 0
    first = _state(ws)
    for m in (ws / ".xpm").glob("noop-*"):
        m.unlink()                  # the full path (the fast one loads no plan at all)
    proc, ws, gate = _run(tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "services not started (no job ran)" in err
    assert "xpmbuild services start --experiment main" in err
    assert _state(ws) == first      # not started again


def test_a_service_left_by_a_killed_run_is_stopped_by_the_next_run(tmp_path):
    proc, ws, gate = _run(tmp_path)
    try:
        state = wait_for(lambda: (_state(ws) or {}).get("url") and _state(ws), "the service",
                         proc=proc)
        proc.kill()                                 # kill -9: nothing stops the service
        proc.wait(timeout=30)
        assert wait_for(lambda: _get(state["url"]), "the orphaned service")[0] == 200
        second, ws, gate = _run(tmp_path)           # re-attaches the jobs, adopts the service
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(second.stderr), daemon=True)
        reader.start()
        wait_for(lambda: any("(already running)" in line for line in lines),
                 "the second run to find the service", proc=second)
        gate.write_text("")
        assert second.wait(timeout=120) == 0
        reader.join(30)
        err = "".join(lines)
        assert f"service files: {state['url']} (already running)" in err
        assert _state(ws)["state"] == "stopped"
        assert wait_for(lambda: _gone(state["pid"]), "the orphaned service to end")
    finally:
        gate.write_text("")
        if proc.poll() is None:
            proc.kill()
        s = _state(ws)
        if s and not _gone(s["pid"]):
            os.killpg(s["pid"], 9)


def test_a_service_started_by_hand_is_left_running_by_a_run(tmp_path):
    (tmp_path / "gate").write_text("")
    proc, ws, gate = _run(tmp_path)
    assert proc.wait(timeout=120) == 0
    code, out, err = run_cli("services", "start", "-w", ws, "files")
    assert code == 0, err
    state = _state(ws)
    try:
        proc, ws, gate = _run(tmp_path, "--force-all")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "(already running)" in err
        assert _state(ws)["state"] == "running" and not _gone(state["pid"])
    finally:
        run_cli("services", "stop", "-w", ws, "files")
    assert wait_for(lambda: _gone(state["pid"]), "the service to end")


def test_a_service_the_plan_no_longer_offers_is_stopped_and_unlisted(tmp_path):
    (tmp_path / "gate").write_text("")
    proc, ws, gate = _run(tmp_path, "--keep-services")
    assert proc.wait(timeout=120) == 0
    state = _state(ws)
    try:
        assert state["state"] == "running"
        proc, ws, gate = _run(tmp_path, "--force-all",
                              text=XPM.replace("files(runs=ms, py=py)\n", ""))
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert wait_for(lambda: _gone(state["pid"]), "the service to end")
        code, out, err = run_cli("services", "list", "-w", ws, "--json")
        assert json.loads(out)["services"] == []
    finally:
        if not _gone(state["pid"]):
            os.killpg(state["pid"], 9)
