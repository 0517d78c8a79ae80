"""``xpmbuild monitor``: a web view of a workspace (monitor.md).

- table.py: the job table, kept up to date from the job folders by cheap ``stat`` polling,
  never writing or locking; judge.py: its statuses, as ``status`` gives them
  (recovery.assess); views.py: the experiments' counts and the task graph;
- server.py: the app (starlette), its guard (token, Host check) and serving (uvicorn);
- api.py: the JSON routes; events.py: the server-sent events;
- static/: the page (plain JS, shipped in the wheel, no build step).

starlette and uvicorn are imported only here, by the ``monitor`` command.
"""
