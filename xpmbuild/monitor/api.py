"""The monitor's JSON routes (monitor.md): experiments, jobs (filtered, sorted, paged),
one job, its logs from an offset, kill, the task graph, the event stream, services.

Every answer comes from the job table (table.py), refreshed quickly when it is older than
its pace (events.pace), so that a burst of requests costs one refresh; the full sweeps are
the watcher's (events.py), which a request keeps going.
"""
from __future__ import annotations

import json
import os

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import views
from .events import pace

LOG_CHUNK = 1 << 20         # at most this many bytes of a log per answer
SORTS = ("id", "task", "status", "started", "ended", "duration")


def _error(code: int, message: str):
    return JSONResponse({"error": message}, status_code=code)


def _fresh(request):
    watcher = request.app.state.watcher
    table = request.app.state.table
    watcher.poke()
    table.fresh(pace(table, watcher.interval))      # quick: the watcher sweeps
    return table


def _find(table, ident: str):
    row = table.rows.get(ident)
    if row is not None:
        return row
    # list(): taken at once (the watcher's thread may add rows meanwhile)
    found = [r for i, r in list(table.rows.items()) if i.startswith(ident)] \
        if len(ident) >= 4 else []
    return found[0] if len(found) == 1 else None


def _sort_key(name: str):
    if name.startswith("tag:"):
        tag = name[4:]
        return lambda r: (tag not in r.tags, str(r.tags.get(tag, "")))
    if name == "duration":
        return lambda r: _duration(r) or 0.0
    if name in ("started", "ended"):
        return lambda r: (r.state or {}).get(name) or 0.0
    return lambda r: getattr(r, name)


def _duration(r):
    st = r.state or {}
    start, end = st.get("started"), st.get("ended")
    return (end - start) if start and end else None


def _jobs_sync(request):
    from ..jobs import filter_records, parse_tag_filters
    q = request.query_params
    table = _fresh(request)
    exp = q.get("experiment") or None
    if exp is not None and exp not in table.exps:
        return _error(404, f"no experiment {exp!r}; experiments: "
                           + (", ".join(sorted(table.exps)) or "(none)"))
    try:
        tags = parse_tag_filters(q.getlist("tag"))
    except ValueError as err:
        return _error(400, str(err))
    tasks, states = q.getlist("task"), q.getlist("status")
    if not (tasks or states or tags or q.get("q") or q.get("sort") or q.get("limit")
            or q.get("offset")):          # the whole list: kept encoded while unchanged
        body, total = table.memo(("jobs", exp), lambda: _body(table.experiment_rows(exp)))
        return Response(body, media_type="application/json",
                        headers={"X-Total-Count": str(total)})
    sort = q.get("sort")
    if sort and sort not in SORTS and not sort.startswith("tag:"):
        return _error(400, f"sort by one of {', '.join(SORTS)} or tag:NAME")
    text = (q.get("q") or "").strip().lower()

    def select():
        rows = table.experiment_rows(exp)
        if tasks or states or tags:
            rows = filter_records(rows, tasks, states, tags)
        if text:
            rows = [r for r in rows if text in r.id or text in r.task.lower()
                    or any(text in f"{k}={v}".lower() for k, v in r.tags.items())
                    or (r.error and text in r.error.lower())]
        if sort:
            rows = sorted(rows, key=_sort_key(sort), reverse=q.get("order") == "desc")
        return rows
    # kept while no row changes: paging through a sorted table sorts it once
    rows = table.memo(("select", exp, tuple(tasks), tuple(states), tuple(sorted(tags.items())),
                       text, sort, q.get("order")), select)
    total = len(rows)
    try:
        offset = max(0, int(q.get("offset") or 0))
        limit = int(q["limit"]) if q.get("limit") else None
    except ValueError:
        return _error(400, "offset and limit are numbers")
    if offset or limit is not None:
        rows = rows[offset:offset + limit if limit is not None else None]
    body = b"[" + b",".join([r.json() for r in rows]) + b"]"
    return Response(body, media_type="application/json",
                    headers={"X-Total-Count": str(total)})


def _body(rows):
    return b"[" + b",".join([r.json() for r in rows]) + b"]", len(rows)


async def jobs(request):
    return await run_in_threadpool(_jobs_sync, request)


async def experiments(request):
    table = await run_in_threadpool(_fresh, request)
    return JSONResponse(table.memo("experiments", lambda: views.experiments(table)))


async def graph(request):
    table = await run_in_threadpool(_fresh, request)
    exp = request.query_params.get("experiment") or None
    if exp is not None and exp not in table.exps:
        return _error(404, f"no experiment {exp!r}")
    return JSONResponse(table.memo(("graph", exp), lambda: views.graph(table, exp)))


def _read(path, limit=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit) if limit else f.read()
    except OSError:
        return None


def _job_sync(request):
    table = _fresh(request)
    row = _find(table, request.path_params["id"])
    if row is None:
        return _error(404, f"no job {request.path_params['id']!r}")
    table.recheck(row)
    st = table.ws.read_state(row.dir) or {}         # the whole record
    try:
        params = json.loads(_read(row.dir + "/params.json") or "null")
    except ValueError:
        params = None
    doc = dict(row.document())
    doc.update({
        "params": (params or {}).get("params", {}) if isinstance(params, dict) else {},
        "outputs": row.outputs,
        "command": _read(row.dir + "/command.sh", 200_000),
        "launcher": st.get("launcher"), "launcher_id": st.get("launcher_id"),
        "history": st.get("history") or [], "exit_code": st.get("exit_code"),
        "resources": {k: st[k] for k in ("host", "gpus", "cpus", "requires") if k in st},
        "build_reasons": st.get("reasons") or [],
        "experiments": sorted(n for n, e in table.exps.items()
                              if any(i == row.id for i, _t, _g in e.ids)),
        "duration": _duration(row)})
    return JSONResponse(doc)


async def job(request):
    return await run_in_threadpool(_job_sync, request)


def _log_sync(request):
    which = request.path_params["which"]
    if which not in ("stdout", "stderr"):
        return _error(404, "logs are stdout and stderr")
    table = request.app.state.table
    row = _find(table, request.path_params["id"])
    if row is None:
        table.fresh(0)
        row = _find(table, request.path_params["id"])
    if row is None:
        return _error(404, f"no job {request.path_params['id']!r}")
    try:
        offset = max(0, int(request.query_params.get("offset") or 0))
    except ValueError:
        return _error(400, "offset is a number of bytes")
    data = b""
    try:
        with open(os.path.join(row.dir, f"{which}.log"), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offset > size:           # the log was started again (a new build)
                offset = 0
            f.seek(offset)
            data = f.read(LOG_CHUNK)
    except OSError:
        offset = 0
    return Response(data, media_type="text/plain; charset=utf-8",
                    headers={"X-Offset": str(offset + len(data))})


async def log(request):
    return await run_in_threadpool(_log_sync, request)


def _kill_sync(request):
    from ..jobs import kill as kill_job
    from ..status import JobRecord
    from ..workspace import Workspace
    table = request.app.state.table
    table.fresh(0)
    row = _find(table, request.path_params["id"])
    if row is None:
        return _error(404, f"no job {request.path_params['id']!r}")
    table.recheck(row)
    rec = JobRecord(row.id, row.task, row.dir, row.status, row.reasons, row.deps or [],
                    row.tags, table.ws.read_state(row.dir))     # the whole record
    try:
        message = kill_job(Workspace(table.root), rec, request.app.state.launchers)
    except Exception as err:         # a launcher that cannot be reached
        return JSONResponse({"ok": False, "message": f"{rec.short}: {err}"})
    table.recheck(row)
    return JSONResponse({"ok": message.endswith("cancelled"), "message": message})


async def kill(request):
    return await run_in_threadpool(_kill_sync, request)


def _services_sync(request, action=None):
    try:
        from .. import services
    except ImportError:
        return _error(501, "services are not available in this version of xpmbuild")
    root = request.app.state.root
    exp = request.query_params.get("experiment") or None
    try:
        if action is None:
            return JSONResponse(services.list_services(root, exp))
        name = request.path_params["name"]
        if exp is None:
            found = [s for s in services.list_services(root) if s.get("name") == name]
            if len(found) != 1:
                return _error(404 if not found else 400,
                              f"no service {name!r}" if not found else
                              f"service {name!r} is in several experiments: give ?experiment=")
            exp = found[0]["experiment"]
        fn = services.start_service if action == "start" else services.stop_service
        return JSONResponse(fn(root, exp, name))
    except services.ServiceError as err:
        return _error(400, str(err))


async def services_list(request):
    return await run_in_threadpool(_services_sync, request)


async def service_start(request):
    return await run_in_threadpool(_services_sync, request, "start")


async def service_stop(request):
    return await run_in_threadpool(_services_sync, request, "stop")


def routes(watcher):
    async def events(request):
        return StreamingResponse(watcher.stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store",
                                          "x-accel-buffering": "no"})
    return [
        Route("/api/experiments", experiments),
        Route("/api/jobs", jobs),
        Route("/api/graph", graph),
        Route("/api/jobs/{id}", job),
        Route("/api/jobs/{id}/log/{which}", log),
        Route("/api/jobs/{id}/kill", kill, methods=["POST"]),
        Route("/api/events", events),
        Route("/api/services", services_list),
        Route("/api/services/{name}/start", service_start, methods=["POST"]),
        Route("/api/services/{name}/stop", service_stop, methods=["POST"]),
    ]
