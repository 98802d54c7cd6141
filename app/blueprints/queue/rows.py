"""The queue's row as HTML, written in Python once per row instead of by a Jinja macro (issue 16: a page of 50 rows
spent most of its rendering in Jinja's per-expression machinery). This is the one definition of a queue row's
markup and of its SLA badge; queue/_rows.html builds the renderer once per rendering (`queue_rows(...)`, a template
global) and hands it the pieces that stay Jinja macros (the status badge of _macros/badges.html, the route chips).

Every value written is escaped with markupsafe.escape exactly as Jinja's autoescape would have done; the translated
texts are Markup, as Jinja's newstyle gettext makes them."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from jinja2 import pass_environment
from jinja2.filters import do_truncate
from markupsafe import Markup, escape

from app.formatting import Labels, local_dt, translate
from app.models import NETWORK_LABELS
from app.urls import ticket_url

_NETWORKS = Labels(NETWORK_LABELS)


class QueueRows:
    """row(t, fresh=False, oob=False, row_error=None) -> Markup, for the rows of one rendering (one request):
    `manage` (the checkbox column), `flags` (ticket id → live repeats), `offers` (ticket id → route_suggestions.Offer),
    and the Jinja macros `status(t)`, `offer(t, kind, choices)`; `repeat_badge` the flag's markup;
    `countdown` the SLA countdown (sla.countdown.describe) and `now` the rendering's moment."""

    def __init__(self, env, *, manage: bool, flags: Mapping, offers: Mapping, status: Callable,
                 offer: Callable, repeat_badge: Markup, countdown: Callable, now):
        self.env, self.manage, self.flags, self.offers = env, manage, flags or {}, offers or {}
        self.status, self.offer, self.repeat_badge = status, offer, repeat_badge
        self.countdown, self.now = countdown, now
        # the status badge depends on the ticket's status alone (_macros/badges.html `status`): drawn once per status
        # a rendering, not a macro call per row; the badge's words translated once a rendering
        self._statuses: dict = {}
        self._words: dict = {}
        self._networks: dict = {}  # network → its label, escaped (a handful a rendering)

    def __call__(self, t, fresh: bool = False, oob: bool = False, row_error=None) -> Markup:
        c = self.countdown(t, self.now)  # «overdue» is Ticket.is_overdue (sla.countdown asks it)
        tid, number = escape(t.id), escape(t.number)
        out = ['\n<tr id="row-', tid, '"', ' hx-swap-oob="true"' if oob else "", ' class="',
               "late" if c.state == "overdue" else "", " fresh" if fresh else "", '">\n  ']
        if self.manage:
            out += ['<td><input type="checkbox" name="ids" value="', tid, '" aria-label="', number, '"></td>']
        out += ['\n  <td class="num"><a href="', escape(ticket_url(t.number)), '">', number, "</a>",
                self.repeat_badge if self.flags.get(t.id) else "", '</td>\n  <td class="when">',
                escape(local_dt(t.created_at)), '</td>\n  <td class="summary">',
                escape(do_truncate(self.env, t.summary, 140))]
        if t.address:
            out += ["<br><small>", escape(t.address), "</small>"]
        o = self.offers.get(t.id)
        network = self._networks.get(t.network)
        if network is None:
            network = self._networks[t.network] = escape(_NETWORKS.get(t.network, t.network))
        out += ["</td>\n  <td>", network, '</td>\n  \n  <td class="inst">',
                escape(t.institution.short_name) if t.institution else "—"]
        if o and o.institution:
            out.append(self.offer(t, "institution", o.institution))
        out += ['</td>\n  <td class="cat">', escape(t.category.name) if t.category else "—"]
        if o and o.category:
            out.append(self.offer(t, "category", o.category))
        if row_error:
            out += ['<div class="flash error" role="alert">', escape(row_error), "</div>"]
        badge = self._statuses.get(t.status)
        if badge is None:
            badge = self._statuses[t.status] = self.status(t)
        out += ["</td>\n  <td>", badge, "</td>\n  <td>", self.sla_badge(t, c), "</td>\n</tr>"]
        return Markup("".join(out))

    def _word(self, text: str) -> Markup:
        got = self._words.get(text)
        if got is None:
            got = self._words[text] = Markup(translate(text))
        return got

    def sla_badge(self, t, c) -> Markup:
        """The SLA state of a queue row (`c`: its countdown): the state in a word, otherwise the due time."""
        if c.state == "closed" or c.state not in ("overdue", "paused", "soon", "ok"):
            return Markup('\n  <span class="due muted">—</span>')
        if c.state == "paused":
            inner = ['<span class="due paused sla-paused" title="', self._word("Ждём жителя: срок остановлен"),
                     '">⏸ ', self._word("на паузе"), "</span>"]
        else:
            due = escape(local_dt(t.resolution_due_at))
            if c.state == "overdue":
                inner = ['<span class="due overdue sla-overdue" title="', escape(c.text), '">',
                         self._word("просрочено"), " · ", due, "</span>"]
            elif c.state == "soon":
                inner = ['<span class="due soon sla-soon" title="', escape(c.text), '">',
                         self._word("скоро срок"), " · ", due, "</span>"]
            else:
                inner = ['<span class="due sla-ok" title="', escape(c.text), '">', due, "</span>"]
        return Markup("".join(["\n  ", *inner, "\n  "]))


@pass_environment
def queue_rows(env, **pieces) -> QueueRows:
    """The template global queue/_rows.html builds its `row` with (once per rendering)."""
    return QueueRows(env, **pieces)
