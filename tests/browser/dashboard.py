#!/usr/bin/python3
"""dashboard.py - the mtq dashboard (web/assets/) in headless Chromium,
against a real mtq-web over a real database with real tasks.

  dashboard.py --url URL --facts FILE --out DIR --mtq BIN --uri URI [--user U --password P]
      the checks of tests/integration/test_browser.sh: FILE is JSON the shell
      wrote (what `mtq stats --json` said, and the ids of the tasks and flow
      it made); a screenshot of each page goes to DIR; BIN and URI are the
      CLI and database it checks the actions with.
  dashboard.py --url URL --screenshots DIR [--user U --password P]
      only the screenshots, named as docs/ keeps them
      (dashboard-overview.png, -tasks, -task, -workers, -flows, -flow).

Exit 0 when every check passed; 1 with the failed check's message.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver import Browser, Timeout, WebDriverError  # noqa: E402

T0 = time.monotonic()


def log(msg):
    print("[dashboard %5.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


class Check(AssertionError):
    pass


def expect(cond, msg):
    if not cond:
        raise Check(msg)


class Dashboard:
    """The dashboard's pages as the browser shows them."""

    def __init__(self, browser, url, user=None, password=None):
        self.b, self.url = browser, url.rstrip("/") + "/"
        self.user, self.password = user, password
        self.loaded = False

    # --- navigation: the page marks what it drew (#view data-view, data-ready) ------

    def view(self):
        return self.b.js("const v = document.getElementById('view');"
                         "return v ? [v.dataset.view, v.dataset.ready, !!v.dataset.old] : null")

    def mark(self):
        """Marks the page drawn now, so that waits see the next one."""
        self.b.js("const v = document.getElementById('view'); if (v) v.dataset.old = '1';")

    def wait_view(self, name, what=None, timeout=20):
        def fresh():
            v = self.view()
            if v and v[0] == "login" and v[1] == "login" and not v[2]:
                self.login()
                return False
            return v and v[0] == name and v[1] == "yes" and not v[2]
        self.b.wait(fresh, what or "page %s drawn" % name, timeout)
        err = self.b.js("const e = document.querySelector('#view .load-error');"
                        "return e ? e.textContent : ''")
        expect(not err, "page %s: %s" % (name, err))

    def open(self, hash_, name):
        if self.loaded:
            self.mark()
        self.b.get(self.url + hash_)
        self.loaded = True
        self.wait_view(name)

    def login(self):
        expect(self.user, "the dashboard asks for a login and no --user was given")
        log("login form: logging in as %s" % self.user)
        self.b.find("#login-user").type(self.user)
        self.b.find("#login-password").type(self.password or "")
        self.mark()
        self.b.find("form.login button[type=submit]").click()

    def flash(self, kind, timeout=15):
        """The flash line's text once it is of kind ok or error."""
        return self.b.wait(lambda: self.b.js(
            "const f = document.getElementById('flash');"
            "return f.className === arguments[0] ? f.querySelector('.msg').textContent : ''", kind),
            "a flash message (%s)" % kind, timeout)

    def rows(self, table):
        """[{id, state, cells: [text...]}] of a table's data rows."""
        return self.b.js(
            "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr[data-id]'))"
            ".map(r => ({id: r.dataset.id, state: r.dataset.state,"
            " cells: Array.from(r.children).map(c => c.textContent.trim())}))", table)

    def field(self, name):
        return self.b.js("const r = document.querySelector('#fields tr[data-field=\"' + arguments[0]"
                         " + '\"] td'); return r ? r.textContent.trim() : null", name)

    def shot(self, directory, name):
        if not directory:
            return
        path = os.path.join(directory, "dashboard-%s.png" % name)
        self.b.screenshot(path)
        log("screenshot %s" % path)


# --- the checks ---------------------------------------------------------------------

def shown_counts(d):
    shown = d.b.js("return Array.from(document.querySelectorAll('#counts td[data-channel]'))"
                   ".map(c => [c.dataset.channel, c.dataset.state, c.textContent.trim()])")
    seen = {}
    for ch, state, text in shown:
        expect(re.fullmatch(r"\d+", text), "overview: count %s/%s is '%s'" % (ch, state, text))
        seen[(ch, state)] = int(text)
    return seen


def count_mismatches(seen, stats):
    bad = []
    for ch, counts in stats.items():
        for state, n in counts.items():
            if seen.get((ch, state)) != n:
                bad.append("channel %s %s shows %s, mtq stats --json says %d"
                           % (ch, state, seen.get((ch, state), "nothing"), n))
    for (ch, state) in seen:
        if state not in stats.get(ch, {}):
            bad.append("it shows %s/%s, which mtq stats --json lacks" % (ch, state))
    return bad


def check_overview(d, facts, out):
    d.open("#/", "overview")
    stats = facts["stats"]
    # mtq-web counts every stats_interval_s and the page redraws every 5 s:
    # the counts may need a redraw to catch up with what the CLI read.
    try:
        d.b.wait(lambda: not count_mismatches(shown_counts(d), stats),
                 "the overview's counts to equal mtq stats --json", 20)
    except Timeout:
        raise Check("overview: %s" % "; ".join(count_mismatches(shown_counts(d), stats)))
    seen = shown_counts(d)
    log("ok: overview shows %d counts over %d channels, each equal to mtq stats --json"
        % (len(seen), len(stats)))
    # The chart: bars of the tasks that ended, the sums in its legend.
    sums = d.b.js("const s = {}; document.querySelectorAll('#throughput [data-sum]')"
                  ".forEach(e => s[e.dataset.sum] = Number(e.textContent)); s.bars ="
                  " document.querySelectorAll('#throughput svg .bar').length; return s")
    expect(sums.get("bars", 0) > 0, "overview: the throughput chart has no bar: %s" % sums)
    expect(sums.get("done", 0) >= facts["min_done"], "overview chart: done %s < %d"
           % (sums.get("done"), facts["min_done"]))
    expect(sums.get("failed", 0) >= facts["min_failed"], "overview chart: failed %s < %d"
           % (sums.get("failed"), facts["min_failed"]))
    log("ok: throughput chart: %d bars, %d done, %d failed in the last hour"
        % (sums["bars"], sums["done"], sums["failed"]))
    workers = d.b.js("return Array.from(document.querySelectorAll('#workers tr[data-worker]'))"
                     ".map(r => [r.dataset.worker, r.dataset.lost])")
    wmap = dict(workers)
    for w in facts["workers"]:
        expect(wmap.get(w) == "no", "overview: worker %s is %s" % (w, wmap.get(w, "missing")))
    for w in facts["lost"]:
        expect(wmap.get(w) == "yes", "overview: worker %s should be highlighted lost, is %s"
               % (w, wmap.get(w, "missing")))
    log("ok: workers %s shown, %s highlighted lost" % (facts["workers"], facts["lost"]))
    # Auto-refresh: the page redraws itself within a few seconds.
    d.b.wait(lambda: d.b.js("return document.getElementById('overview').dataset.refreshed"),
             "the overview to refresh itself", 15)
    log("ok: the overview refreshed itself")
    d.shot(out, "overview")


def check_tasks(d, facts, out):
    d.open("#/tasks?state=failed", "tasks")
    rows = d.rows("#tasks")
    ids = sorted(r["id"] for r in rows)
    expect(ids == sorted(facts["failed"]), "tasks?state=failed shows %s, expected %s"
           % (ids, sorted(facts["failed"])))
    for r in rows:
        expect(r["state"] == "failed", "tasks?state=failed: row %s is %s" % (r["id"], r["state"]))
        expect("rejected by worker w2" in " ".join(r["cells"]), "row %s shows no refusal: %s"
               % (r["id"], r["cells"]))
    log("ok: tasks?state=failed shows the %d failed tasks, with their errors" % len(rows))
    # The form: text in the error, then the state the select sets.
    d.mark()
    d.b.find("#f-state").click()
    d.b.js("const s = document.getElementById('f-state'); s.value = 'dead';"
           "s.dispatchEvent(new Event('change'))")
    d.wait_view("tasks", "the table filtered by state dead")
    expect("state=dead" in d.b.js("return location.hash"), "the filter is not in the hash")
    ids = sorted(r["id"] for r in d.rows("#tasks"))
    expect(ids == sorted(facts["dead"]), "state=dead shows %s, expected %s" % (ids, sorted(facts["dead"])))
    box = d.b.find("#f-error")
    box.clear()
    box.type("attempt 2")
    d.mark()
    d.b.find("#filters button[type=submit]").click()
    d.wait_view("tasks", "the table filtered by error text")
    ids = sorted(r["id"] for r in d.rows("#tasks"))
    expect(ids == sorted(facts["dead_attempt2"]), "error~'attempt 2' shows %s" % ids)
    log("ok: the filter form: state dead, then error text, %d rows" % len(ids))
    # Sorting by priority, highest first, over every task.
    d.open("#/tasks?sort=-priority&limit=200", "tasks")
    prios = [int(r["cells"][4]) for r in d.rows("#tasks")]
    expect(prios == sorted(prios, reverse=True) and prios, "sort=-priority gives %s" % prios)
    log("ok: sorted by priority, highest first: %s" % prios[:8])
    # Paging by the server's cursor: next, next, previous, first.
    d.open("#/tasks?limit=10", "tasks")
    pages = [[r["id"] for r in d.rows("#tasks")]]
    for button in ("#page-next", "#page-next", "#page-prev", "#page-first"):
        d.mark()
        d.b.find(button).click()
        d.wait_view("tasks", "the task table after %s" % button)
        pages.append([r["id"] for r in d.rows("#tasks")])
    seen = pages[0] + pages[1] + pages[2]
    expect(len(pages[0]) == 10 and len(pages[1]) == 10 and pages[2], "pages of 10: %s"
           % [len(p) for p in pages])
    expect(len(set(seen)) == len(seen), "a task is on two pages: %s" % pages[:3])
    expect(pages[3] == pages[1] and pages[4] == pages[0], "previous/first do not go back")
    log("ok: pages of 10 by cursor: %s tasks, none twice; previous and first go back"
        % [len(p) for p in pages[:3]])
    d.open("#/tasks", "tasks")
    d.shot(out, "tasks")


def check_task(d, facts, out):
    tid = facts["dead"][0]
    d.open("#/tasks?state=dead", "tasks")
    d.mark()
    d.b.find('#tasks tr[data-id="%s"] td.id a' % tid).click()
    d.wait_view("task", "the task page of %s" % tid)
    expect(d.b.find("#task-id").text == tid, "task page shows id %s" % d.b.find("#task-id").text)
    expect(d.field("func") == "fail", "task page: func %s" % d.field("func"))
    expect(d.field("status").startswith("dead"), "task page: status %s" % d.field("status"))
    expect(d.field("attempt") == "2" and d.field("max_attempts") == "2",
           "task page: attempt %s of %s" % (d.field("attempt"), d.field("max_attempts")))
    atts = d.b.js("return Array.from(document.querySelectorAll('#attempts tbody tr'))"
                  ".map(r => r.children[3].textContent)")
    expect(len(atts) == 2 and all("deliberate failure" in a for a in atts),
           "task page: errors of the attempts %s" % atts)
    hist = d.b.js("return Array.from(document.querySelectorAll('#history tbody tr'))"
                  ".map(r => [r.dataset.to, r.dataset.by])")
    tos = [h[0] for h in hist]
    expect(tos.count("running") == 2 and tos[-1] == "dead" and "retry_wait" in tos,
           "task page: audit trail %s" % hist)
    expect(d.b.find_all("#task-actions button[data-action=retry]"),
           "task page: no retry button on a dead task")
    log("ok: task page of %s: fields, 2 attempts' errors, audit trail %s" % (tid, tos))
    d.shot(out, "task")


def cli(args, facts, *words):
    p = subprocess.run([args.mtq, "--uri", args.uri] + list(words), capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check_actions(d, facts, args):
    q = facts["queued"][0]
    # From the table, without the id: the rows of the function no worker serves.
    d.open("#/tasks?func=%s" % facts["unserved"], "tasks")
    d.mark()
    d.b.find('#tasks tr[data-id="%s"] button[data-action=disable]' % q).click()
    msg = d.flash("ok")
    d.wait_view("tasks", "the table after disable")
    state = d.b.js("const r = document.querySelector('#tasks tr[data-id=\"' + arguments[0] + '\"]');"
                   "return r ? r.dataset.state : null", q)
    expect(state == "disabled", "after Disable the row of %s is %s (flash: %s)" % (q, state, msg))
    rc, out, err = cli(args, facts, "--json", "show", q)
    expect(rc == 0 and json.loads(out).get("is_enable") is False,
           "mtq show %s after Disable: is_enable is not false: %s%s" % (q, out, err))
    rc, out, err = cli(args, facts, "show", q, "--history")
    line = [ln for ln in out.splitlines() if re.search(r"\bdisabled\b", ln)]
    expect(line and "web" in line[-1], "mtq show --history lacks the web's disable: %s" % out)
    log("ok: Disable from the table: row disabled, mtq show: is_enable false, history: %s"
        % " ".join(line[-1].split()))
    # Priority, on the task page.
    d.open("#/task/%s" % q, "task")
    box = d.b.find("#task-actions input.prio")
    box.clear()
    box.type("7")
    d.mark()
    d.b.find("#task-actions button[data-action=priority]").click()
    d.flash("ok")
    d.wait_view("task", "the task page after Set priority")
    expect(d.field("priority") == "7", "task page priority %s after Set priority 7" % d.field("priority"))
    rc, out, err = cli(args, facts, "--json", "show", q)
    expect(json.loads(out).get("priority") == 7, "mtq show: priority %s" % out)
    log("ok: Set priority 7 on the task page: shown, and in mtq show")
    # Refused: another operator cancels the task while this page shows it waiting.
    r = facts["refuse"]
    d.open("#/task/%s" % r, "task")
    expect(d.b.find_all("#task-actions button[data-action=disable]"), "no Disable on a queued task")
    rc, out, err = cli(args, facts, "cancel", r)
    expect(rc == 0, "mtq cancel %s: %s" % (r, err))
    d.mark()
    d.b.find("#task-actions button[data-action=disable]").click()
    msg = d.flash("error")
    rc, out, err = cli(args, facts, "disable", r)
    cli_msg = err.strip().removeprefix("mtq: ")
    expect(rc == 1 and cli_msg, "mtq disable of a cancelled task: %d %s" % (rc, err))
    expect(cli_msg in msg, "the refusal shows '%s', the CLI says '%s'" % (msg, cli_msg))
    d.wait_view("task", "the task page after the refusal")
    expect(d.field("status").startswith("cancelled") and
           not d.b.find_all("#task-actions button[data-action=disable]"),
           "after the refusal the page shows %s" % d.field("status"))
    log("ok: refused Disable shows the server's message: %s" % msg)
    # Cancel asks first (it is final): the browser's confirm, accepted.
    c = facts["cancel"]
    d.open("#/tasks?func=%s" % facts["unserved"], "tasks")
    d.mark()
    d.b.find('#tasks tr[data-id="%s"] button[data-action=cancel]' % c).click()
    text = d.b.wait(lambda: d.b.cmd("GET", "/alert/text"), "the confirm of Cancel", 10)
    d.b.accept_alert()
    d.flash("ok")
    d.wait_view("tasks", "the table after Cancel")
    state = {r["id"]: r["state"] for r in d.rows("#tasks")}.get(c)
    rc, out, err = cli(args, facts, "--json", "show", c)
    expect(state == "cancelled" and json.loads(out).get("status") == "cancelled",
           "after Cancel the row is %s, mtq show: %s" % (state, out))
    log("ok: Cancel from the table, after its confirm ('%s'): cancelled" % text)


def check_workers(d, facts, out):
    d.open("#/workers", "workers")
    rows = d.b.js("return Array.from(document.querySelectorAll('#workers tr[data-worker]'))"
                  ".map(r => [r.dataset.worker, r.dataset.lost, r.textContent])")
    names = {r[0]: r for r in rows}
    for w in facts["workers"] + facts["lost"]:
        expect(w in names, "workers page lacks %s: %s" % (w, list(names)))
    for w in facts["lost"]:
        expect(names[w][1] == "yes", "workers page: %s not highlighted lost" % w)
    expect(any("runs" in r[2] for r in rows), "workers page: no score")
    log("ok: workers page: %d workers, scores, %s lost" % (len(rows), facts["lost"]))
    d.shot(out, "workers")


def flow_status(args, fid):
    rc, out, err = cli(args, None, "--json", "flow", "show", fid)
    return json.loads(out).get("status") if rc == 0 else err


def check_flows(d, facts, args):
    out = args.out
    fid = facts["flow"]
    d.open("#/flows", "flows")
    rows = {r["id"]: r for r in d.rows("#flows")}
    expect(fid in rows and rows[fid]["state"] == "done", "flows page: flow %s is %s"
           % (fid, rows.get(fid, {}).get("state")))
    bad = rows.get(facts["flow_failed"], {})
    expect(bad.get("state") == "failed" and facts["flow_failed_reason"] in " ".join(bad["cells"]),
           "flows page: the failed flow shows %s, not its reason '%s'" % (bad, facts["flow_failed_reason"]))
    # Suspend and resume the running flow with its buttons.
    run = facts["flow_running"]
    for action, state in (("suspend", "suspended"), ("resume", "running")):
        d.mark()
        d.b.find('#flows tr[data-id="%s"] button[data-action=%s]' % (run, action)).click()
        d.flash("ok")
        d.wait_view("flows", "the flows page after %s" % action)
        shown = {r["id"]: r["state"] for r in d.rows("#flows")}.get(run)
        expect(shown == state, "after %s the flow shows %s" % (action, shown))
        expect(flow_status(args, run) == state, "after %s mtq flow show says %s"
               % (action, flow_status(args, run)))
    log("ok: flows page: done, failed with its reason; Suspend then Resume of the running flow")
    d.shot(out, "flows")
    d.mark()
    d.b.find('#flows tr[data-id="%s"] td.id a' % fid).click()
    d.wait_view("flow", "the flow page")
    drawn = d.b.js("return Array.from(document.querySelectorAll('svg.flowgraph g.step'))"
                   ".map(g => [g.dataset.step, g.dataset.state, g.textContent])")
    steps = facts["flow_steps"]
    expect(sorted(s[0] for s in drawn) == sorted(steps), "flow graph draws %s, the flow has %s"
           % ([s[0] for s in drawn], list(steps)))
    for name, state, text in drawn:
        expect(state == steps[name]["state"], "flow graph: step %s is %s, mtq says %s"
               % (name, state, steps[name]["state"]))
        if steps[name]["shards"] > 1:
            want = "%d/%d shards" % (steps[name]["done"], steps[name]["shards"])
            expect(want in text, "flow graph: step %s shows '%s', not '%s'" % (name, text, want))
    edges = len(d.b.find_all("svg.flowgraph path.edge"))
    expect(edges == facts["flow_edges"], "flow graph: %d arrows, %d expected" % (edges, facts["flow_edges"]))
    log("ok: flow page: %d steps drawn with their states, %d arrows" % (len(drawn), edges))
    d.shot(out, "flow")


def check_functions(d, facts, out):
    """The registry page lists every version `mtq functions --json` lists,
    with the workers that serve it."""
    d.open("#/functions", "functions")
    want = facts["functions"]  # mtq --json functions: the array the API wraps
    expect(want, "mtq functions lists nothing")
    d.b.wait(lambda: len(d.b.find_all("#functions tr[data-func]")) == len(want),
             "the functions page to list %d versions" % len(want))
    rows = {}
    for tr in d.b.find_all("#functions tr[data-func]"):
        rows[(tr.attr("data-func"), tr.attr("data-version"))] = tr.text
    for f in want:
        text = rows.get((f["name"], f["version"]))
        expect(text is not None, "functions page: no row for %s@%s" % (f["name"], f["version"]))
        for w in f["workers"]:
            expect(w["id"] in text, "functions page: %s@%s does not name worker %s: %s"
                   % (f["name"], f["version"], w["id"], text))
    log("ok: functions page: the %d versions of mtq functions, with their workers" % len(want))
    d.shot(out, "functions")


def check_reader(d, facts, args):
    """As the read role: no action button, and an action sent anyway is refused."""
    d.open("#/tasks?func=%s" % facts["unserved"], "tasks")
    d.b.find("#logout").click()
    d.b.wait(lambda: (d.view() or [""])[0] == "login", "the login form after Log out")
    d.user, d.password = args.reader, args.reader_password
    d.login()
    d.wait_view("tasks", "the task table as %s" % args.reader)
    role = d.b.find("#who .role").text
    expect(role == "read", "logged in as %s, the header says role %s" % (args.reader, role))
    rows = d.rows("#tasks")
    expect(rows, "the reader sees no task")
    expect(not d.b.find_all("#tasks button"), "the reader is shown action buttons in the table")
    tid = rows[0]["id"]
    d.open("#/task/%s" % tid, "task")
    expect(not d.b.find_all("#task-actions button[data-action]"), "the reader is shown action buttons")
    # The server's check, not just the page's: a POST with the reader's token.
    status = d.b.cmd("POST", "/execute/async", {"script":
        "const done = arguments[arguments.length - 1];"
        "fetch('api/v1/tasks/' + arguments[0] + '/disable', {method: 'POST', headers:"
        " {'X-CSRF-Token': MTQ.session.csrf, 'Content-Type': 'application/json'}, body: '{}'})"
        ".then(r => r.json().then(j => done([r.status, j.error || ''])))"
        ".catch(e => done([0, String(e)]))", "args": [tid]})
    expect(status[0] == 403, "a disable sent by the reader got %s" % status)
    log("ok: as %s (read): no action buttons; a disable sent anyway: %d %s"
        % (args.reader, status[0], status[1]))


def console_problems(b):
    """Script errors and CSP refusals in the browser's console."""
    bad = []
    for e in b.console():
        m = e.get("message", "")
        if re.search(r"Content Security Policy|Uncaught|TypeError|ReferenceError|SyntaxError", m):
            bad.append(m)
    return bad


def screenshots_only(d, directory):
    d.open("#/", "overview")
    d.shot(directory, "overview")
    d.open("#/tasks", "tasks")
    d.shot(directory, "tasks")
    ids = d.rows("#tasks")
    # A task that used its attempts up shows the most: every attempt's error.
    dead = ([r["id"] for r in ids if r["state"] == "dead"] or
            [r["id"] for r in ids if r["state"] == "failed"] or [r["id"] for r in ids])
    if dead:
        d.open("#/task/%s" % dead[0], "task")
        d.shot(directory, "task")
    d.open("#/workers", "workers")
    d.shot(directory, "workers")
    d.open("#/flows", "flows")
    d.shot(directory, "flows")
    flows = d.rows("#flows")
    if flows:
        # The flow of most steps draws the most (column 3: steps done/total).
        def steps(r):
            m = re.search(r"/(\d+)", r["cells"][3])
            return int(m.group(1)) if m else 0
        d.open("#/flow/%s" % max(flows, key=steps)["id"], "flow")
        d.shot(directory, "flow")
    d.open("#/functions", "functions")
    d.shot(directory, "functions")


def run_checks(d, args):
    with open(args.facts) as f:
        facts = json.load(f)
    check_overview(d, facts, args.out)
    check_tasks(d, facts, args.out)
    check_task(d, facts, args.out)
    check_actions(d, facts, args)
    check_workers(d, facts, args.out)
    check_flows(d, facts, args)
    check_functions(d, facts, args.out)
    if args.reader:
        check_reader(d, facts, args)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--facts")
    ap.add_argument("--out")
    ap.add_argument("--screenshots")
    ap.add_argument("--mtq")
    ap.add_argument("--uri")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--reader", help="a user of the read role, checked last")
    ap.add_argument("--reader-password")
    ap.add_argument("--log", help="chromedriver's log file")
    args = ap.parse_args()
    if not args.screenshots and not (args.facts and args.mtq and args.uri):
        ap.error("give --screenshots DIR, or --facts, --mtq and --uri")
    for directory in (args.out, args.screenshots):
        if directory:
            os.makedirs(directory, exist_ok=True)
    try:
        with Browser(log_path=args.log) as b:
            d = Dashboard(b, args.url, args.user, args.password)
            try:
                if args.screenshots:
                    screenshots_only(d, args.screenshots)
                else:
                    run_checks(d, args)
                bad = console_problems(b)
                expect(not bad, "the browser's console: %s" % bad)
            except (Check, Timeout, WebDriverError):
                if args.out:  # what the page showed when it failed
                    try:
                        b.screenshot(os.path.join(args.out, "failure.png"))
                    except (OSError, WebDriverError):
                        pass
                raise
    except (Check, Timeout, WebDriverError) as e:
        print("[dashboard] FAIL: %s" % e, file=sys.stderr, flush=True)
        return 1
    log("every check passed" if not args.screenshots else "screenshots written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
