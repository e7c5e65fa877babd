"""Jinja2 templates of the investigator report (autoescaped: every value is text, never HTML)."""

from __future__ import annotations

_BASE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %} - insiderwatch</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1a1a1a; background: #fafafa; }
.classification { background: #8b0000; color: #fff; padding: 6px 16px; font-weight: 600; font-size: 14px; }
header, main, footer { padding: 8px 24px; }
header h1 { font-size: 22px; margin: 8px 0 4px; }
.meta { color: #555; font-size: 14px; }
table { border-collapse: collapse; background: #fff; font-size: 13px; margin: 8px 0 18px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
th[data-sort] { cursor: pointer; user-select: none; }
th[data-sort]::after { content: " \\2195"; color: #999; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.strong td { background: #fff4e5; }
.reasons li { margin: 3px 0; }
.filters label { margin-right: 14px; font-size: 14px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots figure { margin: 0; background: #fff; border: 1px solid #ddd; padding: 6px; }
figcaption { font-size: 12px; color: #555; }
code, .id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
section.day { border-top: 2px solid #ccc; margin-top: 18px; }
footer { color: #777; font-size: 12px; }
</style>
</head>
<body>
<div class="classification" id="classification">{{ classification }}</div>
{% block body %}{% endblock %}
<footer>insiderwatch {{ version }}; report generated {{ generated }} for {{ first }} to {{ last }}.
{% if not revealed %}Customer ids are pseudonymised with a keyed hash; the key is not in this report.{% endif %}</footer>
</body>
</html>
"""

_INDEX = """{% extends "base.html" %}
{% block title %}Alerts {{ first }} to {{ last }}{% endblock %}
{% block body %}
<header>
<h1>Alerts {{ first }}{% if last != first %} to {{ last }}{% endif %}</h1>
<div class="meta"><span id="agent-count">{{ rows|length }}</span> flagged agent(s), {{ groups|length }} group alert(s){% if suppressed %}; {{ suppressed }} alert(s) covered by suppressions not shown (insiderwatch suppress --list){% endif %}. <a href="run.html">Run manifest</a></div>
</header>
<main>
<div class="filters">
<label>Vendor <select data-filter="vendor" id="filter-vendor"><option value="">all</option>{% for v in vendors %}<option value="{{ v }}">{{ v }}</option>{% endfor %}</select></label>
<label>Team <select data-filter="team" id="filter-team"><option value="">all</option>{% for t in teams %}<option value="{{ t }}">{{ t }}</option>{% endfor %}</select></label>
<label>Day <select data-filter="day" id="filter-day"><option value="">all</option>{% for d in days %}<option value="{{ d }}">{{ d }}</option>{% endfor %}</select></label>
<span class="meta">showing <span id="shown">{{ rows|length }}</span></span>
</div>
{% if rows %}
<table id="alerts">
<thead><tr>
<th data-sort="num" class="num">#</th><th data-sort="text">agent</th><th data-sort="text">vendor</th><th data-sort="text">team</th><th data-sort="text">role</th><th data-sort="text">site</th>
<th data-sort="num" class="num">score</th><th data-sort="num" class="num">days flagged</th><th data-sort="text">top day</th><th>record views</th><th>first reason</th>
</tr></thead>
<tbody>
{% for r in rows %}
<tr data-vendor="{{ r.vendor or '' }}" data-team="{{ r.team or '' }}" data-days="{{ r.days|join(' ') }}">
<td class="num" data-value="{{ loop.index }}">{{ loop.index }}</td>
<td><a class="id agent-link" href="{{ r.file }}">{{ r.agent_id }}</a></td>
<td>{{ r.vendor or '' }}</td><td>{{ r.team or '' }}</td><td>{{ r.role or '' }}</td><td>{{ r.site or '' }}</td>
<td class="num" data-value="{{ '%.4f'|format(r.score) }}">{{ '%.2f'|format(r.score) }}</td>
<td class="num" data-value="{{ r.days_flagged }}">{{ r.days_flagged }}</td>
<td>{{ r.top_day }}</td>
<td><svg width="{{ r.sparkline.width }}" height="{{ r.sparkline.height }}" role="img" aria-label="daily record views"><polyline fill="none" stroke="#333" stroke-width="1.2" points="{{ r.sparkline.points }}"/>{% for m in r.sparkline.marks %}<circle cx="{{ m.x }}" cy="{{ m.y }}" r="2.5" fill="red"/>{% endfor %}</svg></td>
<td class="reason">{{ r.reason }}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p id="no-alerts">No agent was alerted in this period.</p>
{% endif %}
{% if groups %}
<h2>Group alerts</h2>
<table id="groups"><thead><tr><th>day</th><th>kind</th><th>group</th><th class="num">score</th><th>members</th><th>reason</th><th>alert key</th><th>triage</th></tr></thead><tbody>
{% for g in groups %}<tr><td>{{ g.day }}</td><td>{{ g.kind }}</td><td class="id">{{ g.subject }}</td><td class="num">{{ '%.1f'|format(g.score) }}</td><td class="id">{{ g.members|join(', ') }}</td><td>{{ g.reason }}</td><td class="id"><code>{{ g.alert_key[:12] }}</code></td><td>{% if g.decision %}<strong>{{ g.decision.status }}</strong> by {{ g.decision.author }} at {{ g.decision.at }}{% else %}<code>insiderwatch triage {{ g.alert_key[:12] }} --status ...</code>{% endif %}</td></tr>{% endfor %}
</tbody></table>
{% endif %}
<p class="meta">Score: calibrated, 2.0 means rarer than 1 in 100 of the agent-days the model learned from. Click a column header to sort; the red dots on the record-view lines are alerted days.</p>
</main>
<script>
(function () {
  "use strict";
  var table = document.getElementById("alerts");
  if (!table) { return; }
  var body = table.tBodies[0];
  var selects = document.querySelectorAll("select[data-filter]");
  function apply() {
    var shown = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var ok = true;
      Array.prototype.forEach.call(selects, function (sel) {
        if (!sel.value) { return; }
        if (sel.dataset.filter === "day") { ok = ok && row.dataset.days.split(" ").indexOf(sel.value) >= 0; }
        else { ok = ok && row.dataset[sel.dataset.filter] === sel.value; }
      });
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.getElementById("shown").textContent = String(shown);
  }
  Array.prototype.forEach.call(selects, function (sel) { sel.addEventListener("change", apply); });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
    if (!th.dataset.sort) { return; }
    th.addEventListener("click", function () {
      var numeric = th.dataset.sort === "num";
      var dir = th.dataset.dir === "asc" ? "desc" : "asc";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) { delete other.dataset.dir; });
      th.dataset.dir = dir;
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[index].dataset.value !== undefined ? a.cells[index].dataset.value : a.cells[index].textContent;
        var y = b.cells[index].dataset.value !== undefined ? b.cells[index].dataset.value : b.cells[index].textContent;
        var c = numeric ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
        return dir === "asc" ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
</script>
{% endblock %}
"""

_AGENT = """{% extends "base.html" %}
{% block title %}Agent {{ agent_id }}{% endblock %}
{% block body %}
<header>
<p><a href="index.html">&larr; all alerts</a></p>
<h1>Agent <span class="id" id="agent-id">{{ agent_id }}</span></h1>
<div class="meta">vendor {{ vendor or '(none)' }} &middot; team {{ team or '(none)' }} &middot; role {{ role or '(none)' }} &middot; site {{ site or '(none)' }} &middot; alerted on {{ flagged_days|join(', ') }}</div>
</header>
<main>
{% if views_png %}
<figure><img alt="Daily customer record views of this agent with their own baseline band and their team's band; alerted days circled in red" src="data:image/png;base64,{{ views_png }}">
<figcaption>Record views per day. Blue band: the agent's own baseline, median to 90th percentile of {{ baseline }} (what the model compared each day with). Green band: the team that day (median to 95th percentile). Red circles: alerted days.</figcaption></figure>
{% endif %}
{% for d in days %}
<section class="day" id="day-{{ d.day }}">
<h2>{{ d.day }}: score {{ '%.2f'|format(d.score) }}{% if d.rank %}, rank {{ d.rank }} that night{% endif %}</h2>
<div class="meta alert-key">alert <code>{{ d.alert_key[:12] }}</code> &middot; {% if d.decision %}triaged <strong>{{ d.decision.status }}</strong> by {{ d.decision.author }} at {{ d.decision.at }}{% else %}not triaged yet{% endif %} &middot; record a decision: <code>insiderwatch triage {{ d.alert_key[:12] }} --status confirmed|benign|escalated --note "..."</code></div>
<h3>Why</h3>
<ul class="reasons">{% for r in d.reasons %}<li>{{ r }}</li>{% endfor %}</ul>
{% if d.accumulated %}<h3>Over the last days</h3>
<p class="accumulated">{{ d.accumulated.sentence }} (since {{ d.accumulated.since }}; as one z over those days, {{ '%.1f'|format(d.accumulated.z) }}).</p>
{% if d.accumulated_png %}<figure><img alt="The measure that carries the evidence, day by day, against the agent's own normal over the last days, with the running excess" src="data:image/png;base64,{{ d.accumulated_png }}"><figcaption>{{ d.accumulated.phrase }} per day. Red: the last {{ d.accumulated.window }} days, whose excess over the agent's own normal (dashed; from the days before, in grey, less any days of an earlier sustained excess) adds up on the right-hand scale.</figcaption></figure>{% endif %}
{% endif %}
<div class="plots">
{% if d.hours_png %}<figure><img alt="Accesses per local hour on this day against the agent's usual hours" src="data:image/png;base64,{{ d.hours_png }}"><figcaption>Hour of day: this day against the mean of the baseline days ({{ baseline }}).</figcaption></figure>{% endif %}
{% if d.mix_png %}<figure><img alt="Share of record views by kind on this day against the agent's usual share" src="data:image/png;base64,{{ d.mix_png }}"><figcaption>What was opened: share of the day's record views, this day and on the baseline days.</figcaption></figure>{% endif %}
</div>
<h3>Every feature</h3>
<table class="features">
<thead><tr><th>feature</th><th class="num">this day</th><th class="num">own median</th><th class="num">own p90</th><th class="num">team median</th><th class="num">team p95</th><th class="num">role median</th><th class="num">own z</th><th class="num">peer z</th><th class="num">contribution</th></tr></thead>
<tbody>
{% for f in d.features %}<tr class="{{ 'strong' if f.strong else '' }}"><td title="{{ f.metric }}">{{ f.meaning }}</td><td class="num">{{ f.value }}</td><td class="num">{{ f.baseline }}</td><td class="num">{{ f.baseline_p90 }}</td><td class="num">{{ f.team }}</td><td class="num">{{ f.team_p95 }}</td><td class="num">{{ f.role }}</td><td class="num">{{ f.own_z }}</td><td class="num">{{ f.peer_z }}</td><td class="num">{{ f.contribution }}</td></tr>{% endfor %}
</tbody></table>
<p class="meta">Contribution: how far the anomaly score falls when the feature is set back to normal, {{ d.contributions_source }}. Highlighted rows drove the score.</p>
<h3>Evidence: records accessed on {{ d.day }}</h3>
<p class="meta">{{ d.evidence_shown }} of {{ d.evidence_total }} stored accesses, in time order (UTC).</p>
<table class="evidence">
<thead><tr><th>time</th><th>customer</th><th>action</th><th>resource</th><th>ticket</th><th>tier</th></tr></thead>
<tbody>
{% for e in d.evidence %}<tr><td>{{ e.time }}</td><td class="id">{{ e.customer }}</td><td>{{ e.action }}</td><td>{{ e.resource }}</td><td class="id">{{ e.ticket }}</td><td>{{ e.tier }}</td></tr>{% endfor %}
</tbody></table>
</section>
{% endfor %}
</main>
{% endblock %}
"""

_RUN = """{% extends "base.html" %}
{% block title %}Runs {{ first }} to {{ last }}{% endblock %}
{% block body %}
<header>
<p><a href="index.html">&larr; all alerts</a></p>
<h1>Run manifest</h1>
<div class="meta">The run(s) whose results this report shows.</div>
</header>
<main>
{% for r in runs %}
<section class="run" id="run-{{ r.run_id }}">
<h2>Run {{ r.run_id }} ({{ r.kind }}, {{ r.status }})</h2>
<table>
<tr><th>days</th><td>{{ r.days }}</td></tr>
<tr><th>started / finished</th><td>{{ r.started_at }} / {{ r.finished_at or '' }}</td></tr>
<tr><th>detector</th><td>{{ r.detector_version }}</td></tr>
<tr><th>model</th><td>{{ r.model.get('name', '') }} {{ r.model.get('params', '') }} seed {{ r.model.get('seed', '') }}</td></tr>
<tr><th>rows</th><td>{% for k, v in r.rows.items() %}{{ k }}: {{ v }}{% if not loop.last %}; {% endif %}{% endfor %}</td></tr>
<tr><th>versions</th><td>python {{ r.python or '' }}; {% for k, v in r.versions.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
<tr><th>seconds</th><td>{{ r.seconds or '' }}</td></tr>
<tr><th>roster</th><td>{% if r.roster %}<span class="id">{{ r.roster.get('path', '') }}</span>, {{ r.roster.get('size_bytes', '') }} bytes, SHA-256 <span class="id">{{ r.roster.get('sha256', '') }}</span>{% else %}none (peers were the whole desk, hours UTC){% endif %}</td></tr>
{% if r.mapping %}<tr><th>mapping</th><td>{{ r.mapping.mapping }} (SHA-256 <span class="id">{{ r.mapping.mapping_sha256 }}</span>){% if r.mapping.lookup %}; lookup <span class="id">{{ r.mapping.lookup }}</span> (SHA-256 <span class="id">{{ r.mapping.lookup_sha256 }}</span>){% endif %}</td></tr>{% endif %}
{% if r.message %}<tr><th>message</th><td>{{ r.message }}</td></tr>{% endif %}
</table>
<h3>Input files</h3>
<table><thead><tr><th>file</th><th class="num">bytes</th><th>SHA-256</th><th class="num">rows read</th><th class="num">accepted</th><th class="num">rejected</th></tr></thead><tbody>
{% for f in r.inputs %}<tr><td class="id">{{ f.get('path', '') }}</td><td class="num">{{ f.get('size_bytes', '') }}</td><td class="id">{{ f.get('sha256', '') }}</td><td class="num">{{ f.get('rows_read', '') }}</td><td class="num">{{ f.get('rows_accepted', '') }}</td><td class="num">{{ f.get('rows_rejected', '') }}</td></tr>{% endfor %}
</tbody></table>
<h3>Settings</h3>
<pre>{{ r.config }}</pre>
</section>
{% endfor %}
</main>
{% endblock %}
"""

TEMPLATES = {"base.html": _BASE, "index.html": _INDEX, "agent.html": _AGENT, "run.html": _RUN}
