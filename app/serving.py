"""What the web server may serve and who may log in, from the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cosmos_core.api import Config, CosmosAPI

from . import run_table
from .dashboard import build_app

SQLITE_PREFIX = "sqlite:///"
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def blocked_paths(config: Config) -> list[str]:
    """The SQLite database and its side files, which by default live inside outputs_dir."""
    url = config.storage.database
    if not url.startswith(SQLITE_PREFIX):
        return []
    database = Path(url.removeprefix(SQLITE_PREFIX)).resolve()
    return [f"{database}{suffix}" for suffix in SQLITE_SIDE_FILES]


def launch_options(config: Config) -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch`: serve files from outputs_dir only (minus the
    database), and Gradio's login when `ui.auth` is set."""
    auth = tuple(config.ui.auth.split(":", 1)) if config.ui.auth else None
    return {
        "auth": auth,
        "allowed_paths": [str(config.storage.outputs_dir)],
        "blocked_paths": blocked_paths(config),
        "footer_links": [],
        "css": run_table.table_css(),
    }


def serve(config: Config, host: str, port: int) -> None:
    """Build the page on a CosmosAPI and serve it on host:port until interrupted (the checks of what
    may be exposed are `cosmos_core.cli.serve`'s, done before this). Gradio's own lines are left out:
    they tell the user to edit `launch()`, which is not theirs to edit; one line says where the page is."""
    app = build_app(CosmosAPI(config))
    app.launch(server_name=host, server_port=port, quiet=True, prevent_thread_lock=True, **launch_options(config))
    print(f"Cosmos Run Dashboard on {app.local_url} (Ctrl+C stops it)", flush=True)
    app.block_thread()
