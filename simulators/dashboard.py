"""The dashboard page at /__sandbox/: what the simulator saw, its faults, clock and states, at a glance."""

from __future__ import annotations

from html import escape
from typing import Any

from .core.engine import Simulator

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2433}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e3e6ec;padding:.3rem .5rem;text-align:left}
th{background:#f4f6f9}.s2{color:#11763b}.s4{color:#a15c00}.s5,.lost{color:#b3261e;font-weight:600}
code{background:#f4f6f9;padding:0 .25rem;border-radius:3px}.muted{color:#6b7385}
"""


def _status_class(status: Any) -> str:
    return f"s{str(status)[0]}" if status else "lost"


def render(sim: Simulator, recent: int = 50) -> str:
    """A self-contained HTML page; it refreshes itself every 3 seconds."""
    journal = sim.journal.query_recent(recent) if hasattr(sim.journal, "query_recent") else None
    entries = (journal or sim.store.journal_entries())[-recent:][::-1]
    stats = sim.store.journal_stats()
    rows = "".join(
        f"<tr><td>{e['seq']}</td><td>{escape(str(e.get('time', '')))}</td><td>{escape(e.get('kind', ''))}</td>"
        f"<td>{escape(str(e.get('operation') or ''))}</td><td><code>{escape(e.get('method', ''))} "
        f"{escape(e.get('path', e.get('url', '')))}</code></td>"
        f"<td class='{_status_class(e.get('status'))}'>{escape(str(e.get('status') or e.get('lost') or 'lost'))}</td>"
        f"<td>{escape(', '.join(e.get('faults') or []))}</td><td>{e.get('duration_ms', '')}</td>"
        f"<td class='muted'>{escape(str(e.get('correlation_id', ''))[:16])}</td></tr>"
        for e in entries
    )
    faults = "".join(
        f"<tr><td>{escape(r.get('id', ''))}</td><td>{escape(r.get('name', ''))}</td>"
        f"<td><code>{escape(str(r.get('match', {})))}</code></td>"
        f"<td><code>{escape(str([x.get('type') for x in r.get('effects', [])]))}</code></td>"
        f"<td>{r.get('hits', '')}/{r.get('fired', '')}</td></tr>"
        for r in sim.faults.list()
    ) or "<tr><td colspan=5 class=muted>no active fault rules</td></tr>"
    states = ", ".join(f"<code>{escape(s)}</code>" for s in (sim.behaviours.states if sim.behaviours else [])) or "none"
    clock = sim.clock.state()
    c = sim.contract
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<title>{escape(sim.name)} simulator</title><style>{_STYLE}</style></head><body>
<h1>{escape(sim.name)} simulator <span class="muted">— {escape(c.title)} {escape(c.version)}</span></h1>
<p>Clock: <code>{escape(clock['now'])}</code> ({'frozen' if clock['frozen'] else 'running'}) · operations: {len(c.operations)} ·
journal: {stats['size']}/{stats['capacity']} entries, {stats['evicted']} evicted · provider states: {states}</p>
<h2>Active fault rules</h2><table><tr><th>id</th><th>name</th><th>match</th><th>effects</th><th>hits/fired</th></tr>
{faults}</table>
<h2>Journal (newest first)</h2><table><tr><th>#</th><th>time</th><th>kind</th><th>operation</th><th>request</th>
<th>status</th><th>faults</th><th>ms</th><th>correlation id</th></tr>{rows}</table>
</body></html>"""
