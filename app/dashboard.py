"""Placeholder page until the dashboard lands: the runs table and a refresh button."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from cosmos_core.api import CosmosAPI, Refresh

COLUMNS = ["id", "kind", "host", "status", "created_at"]


def runs_frame(api: CosmosAPI, refresh: Refresh) -> pd.DataFrame:
    runs = api.list_runs(refresh=refresh)
    return pd.DataFrame([{c: r[c] for c in COLUMNS} for r in runs], columns=COLUMNS)


def build_app(api: CosmosAPI) -> gr.Blocks:
    with gr.Blocks(title="Cosmos Run Dashboard") as demo:
        gr.Markdown("# Cosmos Run Dashboard")
        table = gr.Dataframe(value=lambda: runs_frame(api, Refresh.NONE), elem_id="runs-table", interactive=False)
        refresh = gr.Button("Refresh now", elem_id="refresh-now")
        refresh.click(lambda: runs_frame(api, Refresh.FORCE), outputs=table, api_visibility="private")
    return demo
