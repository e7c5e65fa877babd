"""The console's own pages (Jinja2, autoescaped), beside the report's templates they extend."""

from __future__ import annotations

_NAV = """{% if user %}<nav class="meta" id="nav" style="padding: 6px 24px; background: #eee;">
<a href="/cases">Cases</a>{% if 'runs' in permissions %} &middot; <a href="/runs">Runs</a>{% endif %}{% if 'access' in permissions %} &middot; <a href="/access">Access record</a>{% endif %}
&middot; signed in as <strong id="signed-in">{{ user.name }}</strong> ({{ user.role }})
<form method="post" action="/signout" style="display: inline"><input type="hidden" name="csrf" value="{{ csrf }}"><button type="submit" id="sign-out">Sign out</button></form>
</nav>{% endif %}"""

_SIGNIN = """{% extends "base.html" %}
{% block title %}Sign in{% endblock %}
{% block body %}
<header><h1>insiderwatch console</h1></header>
<main>
{% if message %}<p class="meta" id="message" role="alert">{{ message }}</p>{% endif %}
<form method="post" action="/signin" id="signin">
<input type="hidden" name="csrf" value="{{ csrf }}">
<p><label>User <input name="name" id="name" autocomplete="username" required maxlength="128"></label></p>
<p><label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit" id="sign-in">Sign in</button></p>
</form>
</main>
{% endblock %}
"""

_CASES = (
    """{% extends "base.html" %}
{% block title %}Cases{% endblock %}
{% block nav %}"""
    + _NAV
    + """{% endblock %}
{% block body %}
<header><h1>Cases</h1>
<div class="meta">A case opens on a subject's first alert and stays open until triage closes it (benign or confirmed).</div></header>
<main>
<form method="get" action="/cases" class="filters" id="filters">
<label>Status <select name="status" id="filter-status">{% for s in ['open', 'closed', 'all'] %}<option value="{{ s }}"{% if s == filters.status %} selected{% endif %}>{{ s }}</option>{% endfor %}</select></label>
<label><input type="checkbox" name="untriaged" value="1" id="filter-untriaged"{% if filters.untriaged %} checked{% endif %}> untriaged only</label>
<label>Vendor <select name="vendor" id="filter-vendor"><option value="">all</option>{% for v in vendors %}<option value="{{ v }}"{% if v == filters.vendor %} selected{% endif %}>{{ v }}</option>{% endfor %}</select></label>
<label>Team <select name="team" id="filter-team"><option value="">all</option>{% for v in teams %}<option value="{{ v }}"{% if v == filters.team %} selected{% endif %}>{{ v }}</option>{% endfor %}</select></label>
<label>Day <input name="day" id="filter-day" value="{{ filters.day }}" placeholder="YYYY-MM-DD" size="10" maxlength="10"></label>
<button type="submit" id="apply">Show</button>
<span class="meta">{{ cases|length }} case(s)</span>
</form>
<table id="cases">
<thead><tr><th>case</th><th>subject</th><th>vendor</th><th>team</th><th>status</th><th>triage</th><th>opened</th><th>last day</th><th class="num">days</th><th class="num">alerted</th><th class="num">top score</th><th class="num">customers exposed</th><th class="num">record views</th></tr></thead>
<tbody>
{% for c in cases %}<tr>
<td><a class="id case-link" href="/cases/{{ c.case }}"><code>{{ c.case[:12] }}</code></a></td>
<td class="id">{{ c.subject_type }} {{ c.subject_id }}</td><td>{{ c.vendor or '' }}</td><td>{{ c.team or '' }}</td>
<td>{{ c.status }}</td><td class="triage">{{ c.decision.status if c.decision else 'untriaged' }}</td><td>{{ c.opened }}</td><td>{{ c.last_day }}</td>
<td class="num">{{ c.days }}</td><td class="num">{{ c.alerted_days }}</td><td class="num">{{ '%.2f'|format(c.top_score) if c.top_score is not none else '' }}</td>
<td class="num">{{ '{:,}'.format(c.exposure.customers) }}</td><td class="num">{{ '{:,}'.format(c.exposure.records.views) }}</td>
</tr>{% endfor %}
</tbody></table>
</main>
{% endblock %}
"""
)

_CASE = (
    """{% extends "case.html" %}
{% block nav %}"""
    + _NAV
    + """{% endblock %}
{% block actions %}
{% if revealed_customer %}<div id="revealed" role="status" style="border: 2px solid #8b0000; padding: 8px; margin: 8px 0;">
Customer <code>{{ revealed_customer.pseudonym }}</code> is <strong class="id" id="clear-id">{{ revealed_customer.customer }}</strong>.
This reveal is in the access record under your name, with your reason. Do not copy it beyond the case.</div>{% endif %}
{% if 'triage' in permissions %}
<h2>Triage</h2>
<form method="post" action="/cases/{{ key }}/triage" id="triage-form">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label>Decision <select name="status" id="triage-status"><option value="escalated">escalated (keeps it open)</option><option value="confirmed">confirmed (closes it)</option><option value="benign">benign (closes it)</option></select></label>
<label>Note <input name="note" id="triage-note" required maxlength="2000" size="60"></label>
<button type="submit" id="triage-submit">Record</button>
</form>
{% endif %}
{% if 'reveal' in permissions %}
<h2>Reveal a customer</h2>
<form method="post" action="/cases/{{ key }}/reveal" id="reveal-form">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label>Customer <input name="pseudonym" id="reveal-pseudonym" required maxlength="64" placeholder="cust-..."></label>
<label>Reason <input name="reason" id="reveal-reason" required maxlength="500" size="50"></label>
<button type="submit" id="reveal-submit">Reveal</button>
<span class="meta">one customer of this case; recorded with your name and reason</span>
</form>
{% endif %}
{% endblock %}
"""
)

_TABLE = (
    """{% extends "base.html" %}
{% block title %}{{ heading }}{% endblock %}
{% block nav %}"""
    + _NAV
    + """{% endblock %}
{% block body %}
<header><h1>{{ heading }}</h1>{% if note %}<div class="meta">{{ note }}</div>{% endif %}</header>
<main>
<table id="{{ table_id }}"><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for r in rows %}<tr>{% for c in columns %}<td>{{ r[c] if r[c] is not none else '' }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
</main>
{% endblock %}
"""
)

_MESSAGE = (
    """{% extends "base.html" %}
{% block title %}{{ heading }}{% endblock %}
{% block nav %}"""
    + _NAV
    + """{% endblock %}
{% block body %}
<header><h1 id="heading">{{ heading }}</h1></header>
<main><p id="message">{{ message }}</p><p><a href="/cases">Cases</a></p></main>
{% endblock %}
"""
)

_RUNS = (
    """{% extends "base.html" %}
{% block title %}Runs{% endblock %}
{% block nav %}"""
    + _NAV
    + """{% endblock %}
{% block body %}
<header><h1>Runs</h1><div class="meta">Verify recomputes a run from its recorded inputs and settings in a scratch store and compares every score, rank and alert (as <code>insiderwatch verify RUN</code>); it takes as long as the run did.</div></header>
<main>
{% if verification %}<h2 id="verification-heading">Verification of run {{ verification.run_id }}: {{ 'IDENTICAL' if verification.identical else 'DIFFERENT' if verification.identical is not none else 'not possible' }}</h2>
<pre id="verification">{{ verification.text }}</pre>{% endif %}
<table id="runs"><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}<th></th></tr></thead>
<tbody>{% for r in rows %}<tr>{% for c in columns %}<td>{{ r[c] if r[c] is not none else '' }}</td>{% endfor %}
<td>{% if r.status == 'complete' %}<form method="post" action="/runs/{{ r.run_id }}/verify"><input type="hidden" name="csrf" value="{{ csrf }}"><button type="submit" class="verify">Verify</button></form>{% endif %}</td></tr>{% endfor %}</tbody></table>
</main>
{% endblock %}
"""
)

_AGENT = (
    """{% extends "agent.html" %}
{% block nav %}"""
    + _NAV
    + """{% endblock %}
"""
)

CONSOLE_TEMPLATES = {"console_agent.html": _AGENT, "runs.html": _RUNS, "signin.html": _SIGNIN, "cases.html": _CASES, "console_case.html": _CASE, "table.html": _TABLE, "message.html": _MESSAGE}
