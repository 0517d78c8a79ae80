"""``xpmbuild monitor`` against a live run: a real ``xpmbuild run`` of jobs that wait for
a file, and the real monitor command, asked over HTTP (monitorutil.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import XPMBUILD, clean_env, wait_for, xpmbuild  # noqa: E402
from monitorutil import LiveRun, Monitor, next_event  # noqa: E402

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

NODE_FIELDS = {"id", "task", "status", "tags", "dir", "started", "ended", "reasons", "deps"}


@pytest.fixture
def live(tmp_path):
    lr = LiveRun(tmp_path)
    yield lr
    lr.close()


def test_every_route_needs_the_token_and_the_host(live):
    mon = live.mon
    for path in ("/", "/static/app.js", "/api/experiments", "/api/jobs", "/api/events",
                 "/api/jobs/abcd/log/stdout"):
        status, _, body = mon.request("GET", path, auth=None)
        assert status == 401, (path, status)
        assert "token" in json.loads(body)["error"]
    assert mon.request("POST", "/api/jobs/abcd/kill", auth=None)[0] == 401
    # a wrong token, in each place
    assert mon.request("GET", "/api/jobs", auth=None,
                       headers={"Authorization": "Bearer nope"})[0] == 401
    assert mon.request("GET", "/api/jobs?token=nope", auth=None)[0] == 401
    assert mon.request("GET", "/api/jobs", auth=None,
                       headers={"Cookie": "xpmbuild_monitor=nope"})[0] == 401
    # the token as ?token= sets the cookie, which then suffices
    status, headers, body = mon.request("GET", "/", auth="query")
    assert status == 200 and b"/static/app.js" in body
    assert headers["set-cookie"].startswith(f"xpmbuild_monitor={mon.token};")
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    for auth in ("cookie", "bearer", "query"):
        status, headers, _ = mon.request("GET", "/api/experiments", auth=auth,
                                         headers={"Origin": "http://evil.example"})
        assert status == 200, auth
        assert not any(k.startswith("access-control-") for k in headers), headers
    # the address bound, also as localhost; any other Host is refused, token or not
    assert mon.request("GET", "/api/jobs", headers={"Host": f"localhost:{mon.port}"})[0] == 200
    for host in ("evil.example", f"evil.example:{mon.port}", "127.0.0.1:1"):
        status, _, body = mon.request("GET", "/api/jobs", headers={"Host": host})
        assert status == 403, host
        assert "Host" in json.loads(body)["error"]


def test_jobs_job_and_logs_follow_the_run(live):
    mon, proj = live.mon, live.proj
    one = mon.job(lambda j: j["task"] == "work" and j["tags"] == {"n": 1}
                  and j["status"] == "running", "work n=1 running")
    assert set(one) >= NODE_FIELDS
    assert one["dir"] == os.path.join(proj.ws, "jobs", "work", one["id"])
    assert one["started"] and one["ended"] is None
    # filters of the spec
    running = mon.get_json("/api/jobs?experiment=exp&status=running&task=work")
    assert one["id"] in {j["id"] for j in running}
    assert [j["id"] for j in mon.get_json("/api/jobs?task=work&tag=n=1")] == [one["id"]]
    assert mon.get_json("/api/jobs?task=nosuch") == []
    assert mon.request("GET", "/api/jobs?experiment=nosuch")[0] == 404
    page = mon.request("GET", "/api/jobs?limit=2&offset=1&sort=task")
    assert page[0] == 200 and len(json.loads(page[2])) == 2 and page[1]["x-total-count"] == "6"
    # the experiment's counts, and the same truth as `xpmbuild status --json`
    exps = mon.get_json("/api/experiments")
    assert [e["name"] for e in exps] == ["exp"] and exps[0]["jobs"] == 6
    assert exps[0]["counts"].get("running", 0) >= 1
    st = xpmbuild("status", "-w", proj.ws, "--json", cwd=proj.root, env=proj.env)
    by_id = {n["id"]: n["status"] for n in json.loads(st.stdout)["nodes"]}
    api = {j["id"]: j["status"] for j in mon.get_json("/api/jobs")}
    assert api[one["id"]] == by_id[one["id"]] == "running"
    graph = mon.get_json("/api/graph?experiment=exp")
    assert {t["task"]: t["deps"] for t in graph["tasks"]} == {"report": ["work"], "work": []}
    # one job
    job = mon.get_json(f"/api/jobs/{one['id'][:10]}")
    assert job["id"] == one["id"] and job["params"] == {"n": 1}
    assert "echo out-1" in job["command"]
    assert job["launcher"] == "local" and isinstance(job["launcher_id"], int)
    assert [h[0] for h in job["history"]] == ["queued", "running"]
    assert mon.request("GET", "/api/jobs/ffffffffff")[0] == 404
    # its stdout from offsets
    log = f"/api/jobs/{one['id']}/log/stdout"
    status, headers, body = mon.request("GET", log)
    assert (status, body, headers["x-offset"]) == (200, b"out-1\n", "6")
    assert mon.request("GET", log + "?offset=6")[2] == b""
    assert mon.request("GET", f"/api/jobs/{one['id']}/log/stderr")[2] == b"err-1\n"
    live.release(1)
    mon.job(lambda j: j["id"] == one["id"] and j["status"] == "done", "work n=1 done")
    status, headers, body = mon.request("GET", log + "?offset=6")
    assert body == b"more-1\n" and headers["x-offset"] == "13"
    job = mon.get_json(f"/api/jobs/{one['id']}")
    hist = job["history"]
    assert [h[0] for h in hist] == ["queued", "running", "done"]
    assert [h[1] for h in hist] == sorted(h[1] for h in hist)
    assert job["duration"] is not None and job["duration"] >= 0


def test_a_failed_job_shows_its_error(live):
    mon = live.mon
    two = mon.job(lambda j: j["tags"] == {"n": 2} and j["task"] == "work"
                  and j["status"] == "running", "work n=2 running")
    live.release(2)
    failed = mon.job(lambda j: j["id"] == two["id"] and j["status"] == "failed",
                     "work n=2 failed", path="/api/jobs?status=failed")
    assert failed["reasons"] == ["exit code 3"]
    assert failed["error"] == "ValueError: bad n"


def test_kill_cancels_a_running_job_through_its_launcher(live):
    mon, proj = live.mon, live.proj
    three = mon.job(lambda j: j["tags"] == {"n": 3} and j["task"] == "work"
                    and j["status"] == "running", "work n=3 running")
    pid = mon.get_json(f"/api/jobs/{three['id']}")["launcher_id"]
    assert mon.request("POST", f"/api/jobs/{three['id']}/kill", auth=None)[0] == 401
    status, _, body = mon.request("POST", f"/api/jobs/{three['id']}/kill")
    assert status == 200
    answer = json.loads(body)
    assert answer["ok"] is True and "cancelled" in answer["message"]
    mon.job(lambda j: j["id"] == three["id"] and j["status"] == "cancelled",
            "work n=3 cancelled")
    with open(os.path.join(three["dir"], "state.json")) as f:
        assert json.load(f)["status"] == "cancelled"
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), 60,
             what="the job's process to end")
    # killing it again says so
    answer = json.loads(mon.request("POST", f"/api/jobs/{three['id']}/kill")[2])
    assert answer["ok"] is False and "not running" in answer["message"]
    assert proj  # the run goes on with the others


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_the_event_stream_sees_jobs_change(live):
    mon = live.mon
    one = mon.job(lambda j: j["tags"] == {"n": 1} and j["task"] == "work"
                  and j["status"] == "running", "work n=1 running")
    events = mon.events()
    live.release(1)
    ev = next_event(events, lambda e, d: e == "job" and d["id"] == one["id"]
                    and d["status"] == "done")
    assert ev[1]["task"] == "work"
    # its dependent starts and ends: further events on the same stream
    next_event(events, lambda e, d: e == "job" and d["task"] == "report"
               and d["status"] == "done")
    events.conn.close()


def test_monitor_usage_errors(tmp_path):
    r = xpmbuild("monitor", "-w", tmp_path / "nothing", cwd=tmp_path)
    assert r.returncode == 2 and "no workspace" in r.stderr and "Traceback" not in r.stderr
    r = xpmbuild("monitor", "--port", "99999", cwd=tmp_path)
    assert r.returncode == 2


def test_given_token_and_busy_port(tmp_path):
    os.makedirs(tmp_path / "ws" / "jobs")
    env = clean_env()
    mon = Monitor(str(tmp_path / "ws"), env, "--token", "s3cret")
    try:
        assert mon.token == "s3cret"
        assert mon.get_json("/api/experiments") == []
        assert mon.get_json("/api/jobs") == []
        r = subprocess.run(XPMBUILD + ["monitor", "-w", str(tmp_path / "ws"), "--port",
                                       str(mon.port)], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2 and "cannot serve" in r.stderr, r.stderr
    finally:
        mon.stop()


def _snapshot(root):
    """Every file and folder with its size, mtime and inode — but SQLite's own companions
    of the index (-wal, -shm), which any reader of a WAL database may make, and .xpm's
    mtime, which they change."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            if name.endswith(("-wal", "-shm")):
                continue
            st = os.lstat(p)
            out[p] = (st.st_size, None if name == ".xpm" else st.st_mtime_ns, st.st_ino)
    return out


def test_the_monitor_writes_nothing_in_the_workspace(tmp_path):
    from buildutil import Project, write
    proj = Project(tmp_path, EXPERIMENT_FAST)
    for n in (1, 2, 3):
        write(proj.path(f"go-{n}"), "")
    proj.run("-k", expect=1)
    before = _snapshot(proj.ws)
    mon = Monitor(proj.ws, proj.env)
    try:
        jobs = mon.get_json("/api/jobs")
        assert sorted(j["status"] for j in jobs) == ["done"] * 4 + ["failed"] + ["new"]
        for j in jobs:
            mon.get_json(f"/api/jobs/{j['id']}")
            mon.request("GET", f"/api/jobs/{j['id']}/log/stderr")
        mon.get_json("/api/experiments")
        mon.get_json("/api/graph?experiment=exp")
    finally:
        mon.stop()
    assert _snapshot(proj.ws) == before


from monitorutil import EXPERIMENT as EXPERIMENT_FAST  # noqa: E402


SERVICE = """\
task t {
    n: int
    output o = "o.txt"
    shell "echo {n} > {o}"
}
service files {
    \"\"\"The jobs' folders over HTTP.\"\"\"
    runs: list[t]
    shell "exec python3 -m http.server {port} --bind 127.0.0.1 --directory {runs}"
    url "http://127.0.0.1:{port}/"
}
files(runs=[t(n=tag(1)), t(n=tag(2))])
"""


def test_services_routes_start_and_stop_a_service(tmp_path):
    import http.client
    from buildutil import Project
    proj = Project(tmp_path, SERVICE)
    proj.run()
    mon = Monitor(proj.ws, proj.env)
    try:
        assert mon.request("GET", "/api/services", auth=None)[0] == 401
        assert mon.request("POST", "/api/services/files/start", auth=None)[0] == 401
        listed = mon.get_json("/api/services")
        assert [(s["name"], s["experiment"], s["state"]) for s in listed] == \
            [("files", "exp", "stopped")]
        status, _, body = mon.request("POST", "/api/services/files/start")
        assert status == 200, body
        started = json.loads(body)
        assert started["state"] == "running" and started["url"].startswith("http://127.0.0.1:")
        port = int(started["url"].rsplit(":", 1)[1].strip("/"))

        def answers():
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/")
                return c.getresponse().status == 200
            except OSError:
                return False
        wait_for(answers, 60, what="the service to answer")
        assert mon.get_json("/api/services?experiment=exp")[0]["state"] == "running"
        status, _, body = mon.request("POST", "/api/services/files/stop?experiment=exp")
        assert status == 200 and json.loads(body)["state"] == "stopped"
        assert mon.get_json("/api/services")[0]["state"] == "stopped"
        status, _, body = mon.request("POST", "/api/services/nosuch/start")
        assert status == 404 and "nosuch" in json.loads(body)["error"]
    finally:
        mon.stop()
        from xpmbuild import services
        for s in services.list_services(proj.ws):
            if s["state"] == "running":
                services.stop_service(proj.ws, s["experiment"], s["name"])
