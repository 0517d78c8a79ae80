"""monitor: the workspace in a browser (monitor.md); the library is xpmbuild.monitor."""
from __future__ import annotations

import rich_click as click

from .common import _fail, _workspace, main, workspace_option


@main.command()
@workspace_option
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to serve on (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 (every interface) only when asked for.")
@click.option("--token", help="The token the pages and the API ask for (default: random).")
@click.option("--open/--no-open", "open_browser", default=False,
              help="Open the address in a browser.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False))
def monitor(workspace, port, host, token, open_browser, settings_file):
    """Serve a live web view of the workspace: experiments, task graph, jobs, logs, kill.

    Prints one line with the address to open (with its token), then serves until
    interrupted. It only reads the workspace, and runs go on while it watches."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        _fail(f"error: the monitor needs {err.name} (pip install starlette uvicorn)")
    ws, settings = _workspace(workspace, settings_file)
    from ..launchers import status_launchers
    from ..monitor.server import serve
    try:
        serve(ws.root, host=host, port=port, token=token, open_browser=open_browser,
              launchers=status_launchers(settings))
    except OSError as err:
        _fail(f"error: cannot serve on {host}:{port}: {err.strerror or err}")
