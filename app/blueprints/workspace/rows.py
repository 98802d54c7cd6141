"""The executor's row of /my as HTML, written in Python once per row instead of by a Jinja macro (issue 16: the
page's 50 rows, each with its action forms, were most of its rendering). This is the one definition of the row's
markup and of its countdown badge; workspace/_rows.html builds the renderer once per rendering (`workspace_rows(...)`,
a template global) and hands it the piece that stays a Jinja macro (the status badge of _macros/badges.html, shared
with the queue's rows: called once per status a rendering).

Every value written is escaped with markupsafe.escape exactly as Jinja's autoescape would have done."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from flask_babel import lazy_gettext as _l
from jinja2 import pass_environment
from jinja2.filters import do_truncate
from markupsafe import Markup, escape

from app.formatting import local_dt

# the countdown badge's titles (translated once a rendering)
OVERDUE_TITLE = _l("Просрочка — в календарном времени; срок: %(due)s")
DUE_TITLE = _l("Срок: %(due)s")


class WorkspaceRows:
    """row(t, error=None, notice=None, open_form=None) -> Markup, for the rows of one rendering (one request):
    `texts` (the request's translated texts, URL builders and CSRF token: workspace.routes._row_context),
    `row_labels`, `resume_label`, `row_actions` (ticket → the statuses its row offers), the Jinja macro
    `status(t)`, `countdown` the SLA countdown and `now` the rendering's moment."""

    def __init__(self, env, *, texts: Mapping, row_labels: Mapping, resume_label: str, row_actions: Callable,
                 status: Callable, countdown: Callable, now):
        self.env, self.texts, self.row_actions, self.now = env, texts, row_actions, now
        self.status_macro, self.countdown = status, countdown
        self.statuses: dict = {}  # the status badge depends on the status alone (and the language)
        # the titles as {{ _("…", due=…) }} gives them under autoescape: the translation as markup, the date escaped
        self.titles = {"overdue": Markup(str(OVERDUE_TITLE)), "due": Markup(str(DUE_TITLE))}
        self.labels = {k: escape(v) for k, v in row_labels.items()}  # escaped once a rendering
        self.resume = escape(resume_label)
        self.csrf, self.comment = escape(texts["csrf"]), escape(texts["comment"])
        self.hints = {"resolved": escape(texts["resolved_hint"]), "new": escape(texts["not_ours_hint"])}

    def __call__(self, t, error=None, notice=None, open_form=None) -> Markup:
        c = self.countdown(t, self.now)
        tid, number = escape(t.id), escape(t.number)
        out = ['\n\n\n<tr id="row-', tid, '" class="cd-row-', escape(c.state), " late" if c.state == "overdue" else "",
               '">\n  <td class="num"><a href="', escape(self.texts["detail_url"](t.number)), '">', number,
               '</a></td>\n  <td class="countdown-cell">', self.badge(t, c),
               '</td>\n  <td class="summary">', escape(do_truncate(self.env, t.summary, 160))]
        if t.address:
            out += ["<br><small>", escape(t.address), "</small>"]
        out += ["</td>\n  <td>", escape(t.category.name) if t.category else "—", "</td>\n  <td>", self.status(t),
                '</td>\n  <td class="row-actions">\n    ']
        if error:
            out += ['<p class="error" role="alert">', escape(error), "</p>"]
        out.append("\n    ")
        if notice:
            out += ['<p class="notice" role="status">', escape(notice), "</p>"]
        out.append("\n    \n    ")
        url, version = escape(self.texts["act_url"](t.number)), escape(t.version)
        form = ['<form method="post" action="', url, '" hx-post="', url, '" hx-target="#row-', tid,
                '" hx-swap="outerHTML"']
        for s in self.row_actions(t):
            label, status = self.labels[s], escape(s)
            if s in ("resolved", "new"):
                out += ['\n      \n      <details class="inline-form"', " open" if open_form == s else "",
                        ">\n        <summary>", label, "</summary>\n        ", *form,
                        '>\n          <input type="hidden" name="csrf_token" value="', self.csrf,
                        '">\n          <input type="hidden" name="version" value="', version,
                        '">\n          <input type="hidden" name="status" value="', status,
                        '">\n          <textarea name="comment" required maxlength="1000" rows="2" aria-label="',
                        self.comment, '"\n                    placeholder="',
                        self.hints["resolved"] if s == "resolved" else self.hints["new"],
                        '"></textarea>\n          <button type="submit"', ' class="primary"' if s == "resolved" else "",
                        ">", label, "</button>\n        </form>\n      </details>\n      \n    "]
            else:
                out += ["\n      \n      ", *form,
                        ' class="inline">\n        <input type="hidden" name="csrf_token" value="', self.csrf,
                        '">\n        <input type="hidden" name="version" value="', version,
                        '">\n        <input type="hidden" name="status" value="', status,
                        '">\n        <button type="submit">',
                        self.resume if t.status == "waiting_resident" and s == "in_progress" else label,
                        "</button>\n      </form>\n      \n    "]
        out.append("\n  </td>\n</tr>")
        return Markup("".join(out))

    def status(self, t) -> Markup:
        got = self.statuses.get(t.status)
        if got is None:
            got = self.statuses[t.status] = self.status_macro(t)
        return got

    def badge(self, t, c) -> Markup:
        """The countdown badge: «осталось 3 ч 20 мин рабочего времени», the deadline in its title."""
        state = c.state
        out = ['\n  <span class="countdown cd-', escape(state), '"']
        if state != "closed":
            title = self.titles["overdue" if state == "overdue" else "due"]
            out += [' title="', title % {"due": local_dt(t.resolution_due_at)}, '"']
        out += [">", escape(c.text), "</span>"]
        return Markup("".join(out))


@pass_environment
def workspace_rows(env, **pieces) -> WorkspaceRows:
    """The template global workspace/_rows.html builds its `row` with (once per rendering)."""
    return WorkspaceRows(env, **pieces)
