"""Where the page says what an action did: the notice under the header, and a form's status line.

Each place shows only the newest word. Pressing an action's button first empties the places that action
may write, in the browser (no round trip), and the action then writes its outcome into one of them. So an
earlier action's message, an error above all, is never left beside the new one.

Gradio's page runs the listeners of one trigger one after the other, each to its end, in the order they
were added: `wire` must run before the actions are wired, or its clearing would come after their answer.
"""

from __future__ import annotations

import json
from typing import Any

from app.event_options import PRIVATE

DETAILS_ACTIONS = ("retry", "cancel", "upscale", "enhance", "star", "save_note", "open_sweep")


def clear_js(places: int) -> str:
    """A browser function answering an empty text for each of `places` outputs."""
    return f"() => {json.dumps([''] * places)}" if places > 1 else "() => ''"


def clear_on(trigger: Any, places: list[Any]) -> None:
    """`trigger` (an event listener, e.g. `button.click`) empties `places` in the browser."""
    trigger(None, None, places, js=clear_js(len(places)), **PRIVATE)


def wire(ui: dict[str, Any]) -> None:
    """Every action that answers in the notice or a form's status line clears them when it starts."""
    notice, form = ui["notice"], ui["form"]
    clear_on(form["start"].click, [notice, form["status"]])
    clear_on(ui["rerun"].click, [notice, form["status"]])
    clear_on(ui["sweep_start"].click, [notice, ui["sweep_status"]])
    for trigger in (*(ui[name].click for name in DETAILS_ACTIONS), ui["note"].submit, ui["compare_show"].click,
                    ui["compare_pick"].submit):
        clear_on(trigger, [notice])
