"""Jinja2 templates of the investigator report (autoescaped: every value is text, never HTML)."""

from __future__ import annotations

_BASE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{% if csp %}{{ csp }}{% else %}default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'{% endif %}">
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
{% block nav %}{% endblock %}
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
{% if cases %}
<h2>Cases</h2>
<p class="meta">A case opens on a subject's first alert and stays open until triage closes it (benign or confirmed); it keeps every night the subject stood out again, alerted or not.</p>
<div class="filters"><label><input type="checkbox" id="filter-untriaged"> untriaged only</label> <span class="meta">showing <span id="cases-shown">{{ cases|length }}</span> of {{ cases|length }}</span></div>
<table id="cases">
<thead><tr><th>case</th><th>subject</th><th>status</th><th>triage</th><th>opened</th><th>last day</th><th class="num">days</th><th class="num">alerted</th><th class="num">top score</th><th class="num">customers exposed</th><th class="num">record views</th></tr></thead>
<tbody>
{% for c in cases %}<tr data-triage="{{ c.triage }}" data-status="{{ c.status }}">
<td><a class="id case-link" href="{{ c.file }}"><code>{{ c.key[:12] }}</code></a></td>
<td class="id">{% if c.subject_file %}<a href="{{ c.subject_file }}">{{ c.subject }}</a>{% else %}{{ c.subject }}{% endif %}</td>
<td>{{ c.status }}</td><td class="triage">{{ c.triage }}</td><td>{{ c.opened }}</td><td>{{ c.last_day }}</td>
<td class="num">{{ c.days }}</td><td class="num">{{ c.alerted_days }}</td><td class="num">{{ '%.2f'|format(c.top_score) }}</td>
<td class="num">{{ '{:,}'.format(c.customers) }}</td><td class="num">{{ '{:,}'.format(c.records) }}</td>
</tr>{% endfor %}
</tbody></table>
{% endif %}
<h2>Agents alerted</h2>
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
  var cases = document.getElementById("cases");
  var untriaged = document.getElementById("filter-untriaged");
  if (cases && untriaged) {
    untriaged.addEventListener("change", function () {
      var shown = 0;
      Array.prototype.forEach.call(cases.tBodies[0].rows, function (row) {
        row.hidden = untriaged.checked && row.dataset.triage !== "untriaged";
        if (!row.hidden) { shown += 1; }
      });
      document.getElementById("cases-shown").textContent = String(shown);
    });
  }
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
{% if not standalone %}<p><a href="index.html">&larr; all alerts</a></p>{% endif %}
<h1>Agent <span class="id" id="agent-id">{{ agent_id }}</span></h1>
<div class="meta">vendor {{ vendor or '(none)' }} &middot; team {{ team or '(none)' }} &middot; role {{ role or '(none)' }} &middot; site {{ site or '(none)' }} &middot; {% if flagged_days %}alerted on {{ flagged_days|join(', ') }}{% else %}no alert of their own{% endif %}{% if group_cases %} &middot; a member of {{ group_cases|join(', ') }}{% endif %}</div>
{% if cases %}<div class="meta" id="agent-cases">case(s): {% for c in cases %}<a class="case-link" href="{{ c.file }}"><code>{{ c.key[:12] }}</code> {{ c.subject }}</a>{% if not loop.last %}, {% endif %}{% endfor %}</div>{% endif %}
</header>
<main>
{% if views_png %}
<figure><img alt="Daily customer record views of this agent with their own baseline band and their team's band; alerted days circled in red" src="data:image/png;base64,{{ views_png }}">
<figcaption>Record views per day. Blue band: the agent's own baseline, median to 90th percentile of {{ baseline }} (what the model compared each day with). Green band: the team that day (median to 95th percentile). Red circles: alerted days.</figcaption></figure>
{% endif %}
{% for d in days %}
<section class="day" id="day-{{ d.day }}">
<h2>{{ d.day }}: score {{ '%.2f'|format(d.score) }}{% if d.rank %}, rank {{ d.rank }} that night{% endif %}{% if d.kind == 'kept' %}, kept on the case{% elif d.kind == 'member' %}, member of {{ d.member_of }}{% endif %}</h2>
<div class="meta alert-key">{% if d.kind == 'kept' %}stood out again while the case was open: kept on it with its reasons and evidence, not raised (the night's budget went to new subjects) &middot; {% elif d.kind == 'member' %}no alert of their own this day: named by the {{ d.member_of }} group alert &middot; {% endif %}alert <code>{{ d.alert_key[:12] }}</code>{% if d.case_key %} &middot; case <a class="case-link" href="{{ d.case_file }}"><code>{{ d.case_key[:12] }}</code></a>{% endif %} &middot; {% if d.decision %}case triaged <strong>{{ d.decision.status }}</strong> by {{ d.decision.author }} at {{ d.decision.at }}{% if d.decision.note %}: &ldquo;<span class="note">{{ d.decision.note }}</span>&rdquo;{% endif %}{% if d.case_file %} (<a href="{{ d.case_file }}#decisions">history</a>){% endif %}{% else %}not triaged yet{% endif %} &middot; record a decision: <code>insiderwatch triage {{ (d.case_key or d.alert_key)[:12] }} --status confirmed|benign|escalated --note "..."</code></div>
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
<p class="meta">Contribution: how far the anomaly score falls when the feature is set back to normal, {{ d.contributions_source }}. Highlighted rows drove the score. {{ z_words }}</p>
<h3>Evidence: records accessed on {{ d.day }}</h3>
<p class="meta">{{ d.evidence_shown }} of {{ d.evidence_total }} stored accesses, in time order; local time of the agent ({{ d.zone }}) with its UTC offset, and UTC. Every access: <code>insiderwatch export case {{ (d.case_key or d.alert_key)[:12] }} --out DIR</code>.</p>
<table class="evidence">
<thead><tr><th>local time</th><th>UTC</th><th>customer</th><th>action</th><th>resource</th><th>ticket</th><th>tier</th></tr></thead>
<tbody>
{% for e in d.evidence %}<tr><td>{{ e.time }}</td><td>{{ e.utc }}</td><td class="id">{{ e.customer }}</td><td>{{ e.action }}</td><td>{{ e.resource }}</td><td class="id">{{ e.ticket }}</td><td>{{ e.tier }}</td></tr>{% endfor %}
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

_CASE = """{% extends "base.html" %}
{% block title %}Case {{ key[:12] }}{% endblock %}
{% block body %}
<header>
{% if not standalone %}<p><a href="index.html">&larr; all cases and alerts</a></p>{% endif %}
<h1>Case <code id="case-key">{{ key[:12] }}</code>: <span class="id">{% if case.subject_file %}<a href="{{ case.subject_file }}">{{ subject }}</a>{% else %}{{ subject }}{% endif %}</span></h1>
<div class="meta" id="case-status">{{ case.status }}{% if closed_on %} (closed on {{ closed_on }}){% endif %} &middot; triage: {{ case.triage }} &middot; opened {{ case.opened }} &middot; last day {{ case.last_day }} &middot; {{ case.days }} day(s), {{ case.alerted_days }} of them alerted &middot; full key <code>{{ key }}</code></div>
</header>
<main>
{% block actions %}{% endblock %}
<h2>Exposure so far</h2>
<table id="exposure"><tbody>
<tr><th>distinct customers</th><td class="num">{{ '{:,}'.format(exposure.customers) }}</td></tr>
{% for k, label in exposure_kinds.items() %}<tr><th>{{ label }}</th><td class="num">{{ '{:,}'.format(exposure.records.get(k, 0)) }}</td></tr>{% endfor %}
<tr><th>first access (UTC)</th><td>{{ exposure.first_access or '' }}</td></tr>
<tr><th>last access (UTC)</th><td>{{ exposure.last_access or '' }}</td></tr>
</tbody></table>
<h2>Timeline</h2>
<table id="timeline">
<thead><tr><th>day</th><th></th><th class="num">score</th><th class="num">rank</th><th class="num">record views</th><th class="num">accesses stored</th><th class="num">customers</th><th>what drove it</th></tr></thead>
<tbody>
{% for t in timeline %}<tr class="{{ 'strong' if t.kind == 'alerted' else '' }}"><td><a href="#day-{{ t.day }}">{{ t.day }}</a></td><td>{{ t.kind }}</td><td class="num">{{ '%.2f'|format(t.score) if t.score is not none else '' }}</td><td class="num">{{ t.rank if t.rank is not none else '' }}</td><td class="num">{{ '{:,}'.format(t.views) }}</td><td class="num">{{ '{:,}'.format(t.accesses) if t.accesses is not none else '' }}</td><td class="num">{{ '{:,}'.format(t.customers) if t.customers is not none else '' }}</td><td>{{ t.reason }}</td></tr>{% endfor %}
</tbody></table>
<p class="meta">alerted: raised that night; kept: stood out again (score at or above the night's bar) while the case was open, kept with its reasons and evidence but not raised, as the night's budget goes to new subjects. Score: calibrated for an agent (2.0 = rarer than 1 in 100 of the agent-days the model learned from); for a team or site, robust deviations of its excess above the other groups that day. {{ z_words }}</p>
{% if members %}
<h2>Members</h2>
<ul id="members">{% for m in members %}<li>{% if m.file %}<a class="id member-link" href="{{ m.file }}">{{ m.agent_id }}</a>{% else %}<span class="id">{{ m.agent_id }}</span>{% endif %}</li>{% endfor %}</ul>
<h3>Customers shared between members</h3>
{% if shared %}<table id="shared"><thead><tr><th>customer</th><th>members who opened their records</th></tr></thead><tbody>
{% for c in shared %}<tr><td class="id">{{ c.customer }}</td><td class="id">{{ c.members|join(', ') }}</td></tr>{% endfor %}
</tbody></table>{% else %}<p class="meta">No customer's records were opened by two members in the stored evidence.</p>{% endif %}
{% endif %}
<h2>Triage</h2>
{% if decisions %}<table id="decisions"><thead><tr><th>#</th><th>when (UTC)</th><th>decision</th><th>by</th><th>note</th><th>supersedes</th></tr></thead><tbody>
{% for d in decisions %}<tr><td>{{ d.id }}</td><td>{{ d.decided_at }}</td><td><strong>{{ d.status }}</strong></td><td class="id">{{ d.author }}</td><td>{{ d.note }}</td><td>{{ d.supersedes }}</td></tr>{% endfor %}
</tbody></table>{% else %}<p class="meta">No decision yet.</p>{% endif %}
<p class="meta">Record one: <code>insiderwatch triage {{ key[:12] }} --status confirmed|benign|escalated --note "..."</code>; hand the case over: <code>insiderwatch export case {{ key[:12] }} --out DIR</code>.</p>
<h2>Suppressions</h2>
{% if suppressions %}<table id="suppressions"><thead><tr><th>#</th><th>agent</th><th>until</th><th>pattern</th><th>reason</th><th>ticket</th><th>owner</th><th>created (UTC)</th></tr></thead><tbody>
{% for x in suppressions %}<tr><td>{{ x.id }}</td><td class="id">{{ x.agent_id }}</td><td>{{ x.until }}</td><td>{{ x.pattern or 'any' }}</td><td>{{ x.reason }}</td><td class="id">{{ x.ticket }}</td><td class="id">{{ x.owner }}</td><td>{{ x.created_at }}</td></tr>{% endfor %}
</tbody></table>{% else %}<p class="meta">None covers its agents.</p>{% endif %}
<h2>Evidence, day by day</h2>
{% for d in by_day %}
<section class="day" id="day-{{ d.day }}">
<h3>{{ d.day }} ({{ d.kind }}): {{ d.rows|length }} of {{ d.total }} stored accesses</h3>
{% if d.rows %}<table class="evidence"><thead><tr><th>local time (UTC offset)</th><th>UTC</th><th>agent</th><th>customer</th><th>action</th><th>resource</th><th>ticket</th><th>tier</th></tr></thead><tbody>
{% for e in d.rows %}<tr><td>{{ e.time }}</td><td>{{ e.utc }}</td><td class="id">{{ e.agent }}</td><td class="id">{{ e.customer }}</td><td>{{ e.action }}</td><td>{{ e.resource }}</td><td class="id">{{ e.ticket }}</td><td>{{ e.tier }}</td></tr>{% endfor %}
</tbody></table>{% else %}<p class="meta">No accesses stored for this day.</p>{% endif %}
</section>
{% endfor %}
</main>
{% endblock %}
"""

TEMPLATES = {"base.html": _BASE, "index.html": _INDEX, "agent.html": _AGENT, "run.html": _RUN, "case.html": _CASE}
