// ccgate dashboard: plain DOM code, no framework, no build step. Charts are small SVG drawn here
// from the API's JSON (the same numbers the tables show), so there is one source for every figure.
"use strict";
(() => {
  const API = "/ccgate/api/";
  const SVG = "http://www.w3.org/2000/svg";
  const VIEWS = ["now", "limits", "spend", "sessions"];
  const FEED_MAX = 200;
  const $ = (sel) => document.querySelector(sel);
  let current = null;
  let refreshTimer = null;
  let lastLogState = null;
  let alertTimer = null;
  const loaded = {};

  // --- formatting: numbers right-aligned, each with its unit -------------------------------
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const kid of kids) node.append(kid);
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  function withUnit(value, unit) {
    const span = el("span", {}, value);
    if (unit) span.append(el("span", { class: "unit", text: unit }));
    return span;
  }
  // One format per column: token counts always in full with separators, costs always in dollars
  // with the same number of decimals in a column (the feed's single requests: 4; totals: 2).
  function tokens(n) {
    if (n === null || n === undefined) return withUnit("–");
    return withUnit(Number(n).toLocaleString("en-US"), "tok");
  }
  function usdText(v, decimals) {
    if (v === null || v === undefined) return "unpriced";
    return "$" + v.toFixed(decimals ?? 2);
  }
  function usd(v, decimals) { return withUnit(usdText(v, decimals)); }
  function ms(v) {
    if (v === null || v === undefined) return withUnit("–");
    return v >= 10000 ? withUnit((v / 1000).toFixed(1), "s") : withUnit(String(Math.round(v)), "ms");
  }
  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(0) + "%"; }
  function clock(ts) { return new Date(ts * 1000).toLocaleTimeString([], { hour12: false }); }
  function stamp(ts) { return new Date(ts * 1000).toLocaleString([], { hour12: false }); }
  function countdown(ts) {
    let s = Math.round(ts - Date.now() / 1000);
    if (s <= 0) return "reset";
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60);
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m";
  }
  function td(content, cls) {
    const cell = el("td", cls ? { class: cls } : {});
    cell.append(content);
    return cell;
  }
  async function getJSON(path) {
    const resp = await fetch(API + path, { headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
    return resp.json();
  }

  // --- views and keyboard-reachable tabs -----------------------------------------------------
  function show(view) {
    if (!VIEWS.includes(view)) view = "now";
    current = view;
    for (const v of VIEWS) {
      const tab = $("#tab-" + v);
      tab.setAttribute("aria-selected", String(v === view));
      tab.tabIndex = v === view ? 0 : -1;
      $("#view-" + v).hidden = v !== view;
    }
    if (location.hash !== "#" + view) history.replaceState(null, "", "#" + view);
    load(view);
  }
  function load(view) {
    const fn = { now: loadNow, limits: loadLimits, spend: loadSpend, sessions: loadSessions }[view];
    fn().then(() => { loaded[view] = true; document.body.dataset[view] = "ready"; })
      .catch((err) => setConn("error: " + err.message, "down"));
  }
  function setupTabs() {
    const tabs = VIEWS.map((v) => $("#tab-" + v));
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => show(tab.dataset.view));
      tab.addEventListener("keydown", (e) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
        if (!step) return;
        const next = tabs[(i + step + tabs.length) % tabs.length];
        next.focus();
        show(next.dataset.view);
      });
    });
    window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  }

  // --- Now: the live feed ---------------------------------------------------------------------
  function setConn(text, cls) { const c = $("#conn"); c.textContent = text; c.className = "conn " + (cls || ""); }
  function setHealth(h) {
    if (!h) return;
    $("#in-flight").textContent = String(h.in_flight);
    $("#served").textContent = String(h.requests);
    const log = h.log || {};
    $("#backlog").textContent = log.enabled === false ? "off" : String(log.backlog ?? 0);
    $("#dropped").textContent = log.enabled === false ? "off" : String(log.dropped ?? 0);
    // The usage-log alarms live on the Limits view: redraw it when they change.
    const logState = (log.backlog ? 1 : 0) + ":" + (log.dropped ?? 0);
    if (lastLogState !== null && logState !== lastLogState && current === "limits") load("limits");
    lastLogState = logState;
  }
  function feedRow(r) {
    // The API says what kind of call it was and whether it failed; the page only draws it.
    const tr = el("tr", { "data-id": String(r.id ?? ""), "data-status": String(r.status), "data-call": r.call });
    const cw = (r.cache_write_5m_tokens || 0) + (r.cache_write_1h_tokens || 0) + (r.cache_write_other_tokens || 0);
    const what = r.call === "message" ? (r.model || r.request_model || "–") : r.call;
    tr.append(
      td(clock(r.ts)), td(r.profile || "–"), td(what),
      td(r.agent_id ? "agent " + r.agent_id.slice(0, 8) : "main"),
      td(String(r.status) + (r.outcome && r.outcome !== "ok" ? " " + r.outcome : ""), r.error ? "err" : ""),
    );
    if (r.call === "token count") {
      const counted = el("td", { class: "n", colspan: "5" });
      counted.append(withUnit((r.count_tokens_input ?? 0).toLocaleString("en-US"), "tok counted, no spend"));
      tr.append(counted);
    } else {
      tr.append(td(tokens(r.input_tokens), "n"), td(tokens(cw), "n"), td(tokens(r.cache_read_tokens), "n"),
        td(tokens(r.output_tokens), "n"), td(usd(r.cost_usd, 4), "n"));
    }
    tr.append(td(ms(r.ttfb_ms), "n"), td(ms(r.duration_ms), "n"));
    return tr;
  }
  function glance(accounts) {
    // The Now view: each subscription account's 5-hour and 7-day utilization in one line.
    $("#now-limits").replaceChildren(...accounts.filter((a) => a.latest).map((a) => {
      const l = a.latest;
      const box = el("div", { class: "stat", "data-account": a.account });
      box.append(el("span", { class: "label", text: a.profiles.join(", ") }));
      box.append(el("span", { class: "num", text: "5h " + pct(l.utilization_5h) + " · 7d " + pct(l.utilization_7d) }));
      return box;
    }));
  }
  function alertItem(a) {
    // An alert as the API states it (ccgate/alerts.py): what crossed, until when, what to do.
    const li = el("li", { "data-kind": a.kind, "data-severity": a.severity, text: a.message });
    if (a.until) li.append(el("span", { class: "unit", text: " · until " + stamp(a.until) }));
    if (a.fix) li.append(el("div", { class: "sub unit", text: "fix: " + a.fix }));
    return li;
  }
  function showAlerts(list, target, emptyText) {
    const items = (list || []).map(alertItem);
    if (!items.length && emptyText) items.push(el("li", { class: "none", text: emptyText }));
    target.replaceChildren(...items);
    target.hidden = items.length === 0;
  }
  async function loadNow() {
    if (loaded.now) return;
    const data = await getJSON("now?limit=50");
    setHealth(data.health);
    showAlerts(data.alerts, $("#now-alerts"), null);
    glance(data.accounts);
    const body = $("#feed tbody");
    body.replaceChildren(...data.requests.map(feedRow));
    $("#feed-empty").hidden = data.requests.length > 0;
  }
  function addLive(r) {
    const body = $("#feed tbody");
    const tr = feedRow(r);
    tr.classList.add("fresh");
    body.prepend(tr);
    while (body.rows.length > FEED_MAX) body.deleteRow(body.rows.length - 1);
    $("#feed-empty").hidden = true;
  }
  function connectLive() {
    const source = new EventSource(API + "live");
    source.addEventListener("open", () => setConn("live", "live"));
    source.addEventListener("error", () => setConn("reconnecting…", "down"));
    source.addEventListener("state", (e) => setHealth(JSON.parse(e.data)));
    source.addEventListener("request", (e) => {
      addLive(JSON.parse(e.data));
      // Other views re-read their figures while requests arrive, never more often than below.
      for (const v of ["limits", "spend", "sessions"]) loaded[v] = false;
      if (current !== "now" && !refreshTimer) {
        // Limits within a second; the report views (a full report each time) at most every 5 s.
        const delay = current === "limits" ? 1000 : 5000;
        refreshTimer = setTimeout(() => { refreshTimer = null; load(current); }, delay);
      }
      if (current === "now" && !alertTimer) {
        // A request may have crossed a budget or a limit: the Now view's alerts and glance, within a second.
        alertTimer = setTimeout(async () => {
          alertTimer = null;
          const data = await getJSON("now?limit=1");
          showAlerts(data.alerts, $("#now-alerts"), null);
          glance(data.accounts);
        }, 1000);
      }
    });
  }

  // --- Limits --------------------------------------------------------------------------------
  function meter(label, util, reset, status) {
    const box = el("div", { class: "meter" });
    const row = el("div", { class: "row" }, el("span", { text: label }));
    row.append(el("span", { class: "pct", text: pct(util) }));
    box.append(row);
    const bar = svg("svg", { viewBox: "0 0 100 10", preserveAspectRatio: "none", role: "img",
      "aria-label": label + " " + pct(util) });
    bar.append(svg("rect", { x: 0, y: 0, width: 100, height: 10, rx: 2, class: "fill-bg" }));
    if (util !== null && util !== undefined) {
      const cls = util >= 0.9 ? "fill-bad" : util >= 0.7 ? "fill-warn" : "fill-ok";
      bar.append(svg("rect", { x: 0, y: 0, width: Math.min(100, util * 100), height: 10, rx: 2, class: cls }));
    }
    box.append(bar);
    const sub = reset ? "resets in " + countdown(reset) + " (" + stamp(reset) + ")" : "no reset time reported";
    box.append(el("div", { class: "sub", text: sub + (status ? " · " + status : "") }));
    return box;
  }
  async function loadLimits() {
    const data = await getJSON("limits");
    showAlerts(data.alerts, $("#alerts"), "No current alerts.");
    const alarms = data.alarms.slice();
    const log = data.log || {};
    if (log.backlog) alarms.push({ kind: "backlog", message: log.backlog + " usage record(s) waiting to be written" });
    if (log.dropped) alarms.push({ kind: "dropped", message: log.dropped + " usage record(s) dropped: the log is incomplete" });
    $("#alarms").replaceChildren(...(alarms.length ? alarms.map((a) => {
      const li = el("li", { "data-kind": a.kind, text: a.message });
      if (a.last) li.append(el("span", { class: "unit", text: " · last " + stamp(a.last) }));
      if (a.fix) li.append(el("div", { class: "sub unit", text: "fix: " + a.fix }));
      return li;
    }) : [el("li", { class: "none", text: "No alarms in the last 24 hours." })]));
    const cards = data.accounts.map((a) => {
      const card = el("article", { class: "card", "data-profiles": a.profiles.join(" ") });
      if (a.account_id) card.dataset.account = a.account_id;
      card.append(el("h3", {}, a.profiles.join(", ") + " ", el("small", { text: a.kinds.join(", ") })));
      if (a.account_id) card.append(el("div", { class: "sub unit", text: "account " + a.account_id }));
      const l = a.latest;
      if (!l) { card.append(el("p", { class: "empty", text: "No rate-limit headers seen yet." })); return card; }
      card.append(meter("5-hour", l.utilization_5h, l.reset_5h, l.status_5h));
      card.append(meter("7-day", l.utilization_7d, l.reset_7d, l.status_7d));
      const pace = el("p", { class: "pace" });
      if (a.pace && a.pace.full_at) {
        pace.textContent = "At " + (a.pace.rate_per_hour * 100).toFixed(1) + "%/h the 5-hour limit is reached "
          + stamp(a.pace.full_at) + (a.pace.before_reset ? " — before it resets" : " — after it resets");
        if (a.pace.before_reset) pace.classList.add("bad");
      } else {
        pace.textContent = "Pace: needs readings at least 5 minutes apart in the last hour.";
      }
      card.append(pace);
      const b = a.block;
      if (b) {
        card.append(el("p", { class: "sub unit", text: "This 5-hour block: " + b.requests + " req, "
          + Math.round(b.burn_tokens_per_min) + " tok/min, " + usdText(b.burn_cost_per_hour_usd)
          + "/h, projected " + usdText(b.projected_cost_usd) }));
      }
      card.append(el("div", { class: "sub unit", text: "as of " + stamp(l.ts) }));
      return card;
    });
    $("#limits").replaceChildren(...(cards.length ? cards : [el("p", { class: "empty", text: "No subscription profiles." })]));
  }

  // --- Spend ---------------------------------------------------------------------------------
  function spendParams() {
    const f = $("#spend-form");
    const p = new URLSearchParams({ by: f.by.value, stack: f.stack.value });
    if (f.since.value) p.set("since", f.since.value);
    if (f.until.value) p.set("until", f.until.value);
    return p;
  }
  function stat(label, value) {
    const box = el("div", { class: "stat" }, el("span", { class: "label", text: label }));
    const num = el("span", { class: "num" }); num.append(value); box.append(num);
    return box;
  }
  function drawChart(rows, stacks) {
    const names = [];
    for (const row of rows) for (const name of Object.keys(stacks[row.key] || {})) if (!names.includes(name)) names.push(name);
    const W = Math.max(320, $("#spend-chart").clientWidth || 800), H = 240, L = 56, B = 22, T = 8;
    const max = Math.max(0.0001, ...rows.map((r) => r.cost_usd || 0));
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Cost per period" });
    for (let i = 0; i <= 4; i++) {
      const y = T + (H - T - B) * (1 - i / 4);
      chart.append(svg("line", { x1: L, x2: W, y1: y, y2: y, class: "grid" }));
      const label = svg("text", { x: L - 4, y: y + 4, "text-anchor": "end" });
      label.textContent = usdText(max * i / 4);
      chart.append(label);
    }
    const slot = (W - L) / Math.max(rows.length, 1);
    rows.forEach((row, i) => {
      let y = H - B;
      const bw = Math.min(slot * 0.7, 64);
      const x = L + i * slot + (slot - bw) / 2;
      names.forEach((name, j) => {
        const part = (stacks[row.key] || {})[name];
        const h = part && part.cost_usd ? (part.cost_usd / max) * (H - T - B) : 0;
        if (h <= 0) return;
        y -= h;
        const rect = svg("rect", { x, y, width: bw, height: h, class: "sw" + (j % 6) });
        const tip = svg("title"); tip.textContent = `${row.key} ${name}: ${usdText(part.cost_usd)}`;
        rect.append(tip); chart.append(rect);
      });
      if (rows.length <= 16 || i % Math.ceil(rows.length / 16) === 0) {
        const label = svg("text", { x: x + bw / 2, y: H - 6, "text-anchor": "middle" });
        label.textContent = row.key.length > 7 ? row.key.slice(5) : row.key;
        chart.append(label);
      }
    });
    $("#spend-chart").replaceChildren(chart);
    $("#spend-legend").replaceChildren(...names.map((n, j) => el("span", { class: "sw" + (j % 6), text: n })));
  }
  function spendRow(r, cellTag) {
    const tr = el("tr", { "data-key": r.key });
    const cells = [r.key, tokens(r.requests).firstChild.textContent, tokens(r.input_tokens), tokens(r.cache_write_tokens),
      tokens(r.cache_read_tokens), tokens(r.output_tokens), withUnit(r.cache_hit_ratio === null ? "–" : (r.cache_hit_ratio * 100).toFixed(1), "%"),
      usd(r.cost_usd)];
    cells.forEach((c, i) => {
      const cell = el(cellTag, i ? { class: "n" } : {});
      if (i === 1) cell.append(withUnit(String(r.requests), "req")); else cell.append(c);
      if (i === 7) cell.dataset.cost = String(r.cost_usd);
      if (i === 1) cell.dataset.requests = String(r.requests);
      tr.append(cell);
    });
    if (r.cost_basis && r.cost_basis !== "api") tr.lastChild.append(el("span", { class: "unit", text: " " + r.cost_basis }));
    return tr;
  }
  async function loadSpend() {
    const data = await getJSON("spend?" + spendParams());
    const rep = data.report;
    if (!rep) { $("#spend-summary").replaceChildren(el("p", { class: "empty", text: "The usage log is empty." })); return; }
    const t = rep.totals;
    const summary = [stat("Cost", usd(t.cost_usd)), stat("Requests", withUnit(String(t.requests), "req")),
      stat("Tokens", tokens(t.total_tokens)),
      stat("Cache hit", withUnit(t.cache_hit_ratio === null ? "–" : (t.cache_hit_ratio * 100).toFixed(1), "%"))];
    if (t.subscription_cost_usd) summary.push(stat("Subscription (API-equivalent)", usd(t.subscription_cost_usd)));
    if (t.api_cost_usd) summary.push(stat("Billed to API", usd(t.api_cost_usd)));
    if (rep.plan) summary.push(stat("Plan price for the period", usd(rep.plan.plan_cost_for_period_usd)));
    $("#spend-summary").replaceChildren(...summary);
    $("#spend-summary").dataset.total = String(t.cost_usd);
    drawChart(rep.rows, data.stacks);
    $("#spend-table tbody").replaceChildren(...rep.rows.map((r) => spendRow(r, "td")));
    $("#spend-table tfoot").replaceChildren(spendRow({ ...t, key: "Total" }, "td"));
    $("#spend-notes").replaceChildren(...rep.notes.map((n) => el("li", { text: n })));
  }
  function setupSpend() {
    const f = $("#spend-form");
    f.addEventListener("submit", (e) => { e.preventDefault(); load("spend"); });
    f.by.addEventListener("change", () => load("spend"));
    f.stack.addEventListener("change", () => load("spend"));
  }

  // --- Sessions and agent trees ----------------------------------------------------------------
  async function loadSessions() {
    const data = await getJSON("sessions?limit=50");
    $("#sessions tbody").replaceChildren(...data.sessions.map((s) => {
      const open = el("button", { class: "session-open", type: "button", "data-session": s.key,
        "aria-label": "Open session " + s.key, text: s.key.slice(0, 13) });
      open.addEventListener("click", () => openSession(s.key));
      const tr = el("tr");
      tr.append(td(open), td(stamp(s.first_ts)), td(stamp(s.last_ts)), td(s.profiles.join(", ") || "–"),
        td(s.projects.join(", ") || "–"), td(s.model_names.join(", ") || "–"),
        td(withUnit(String(s.requests), "req"), "n"), td(tokens(s.total_tokens), "n"), td(usd(s.cost_usd), "n"));
      return tr;
    }));
  }
  function treeNode(node) {
    const li = el("li", { "data-agent": node.agent_id || "main" });
    const box = el("div", { class: "node" });
    box.append(el("span", { class: "who", text: node.agent_id ? "agent " + node.agent_id : "main loop" }));
    box.append(el("span", { class: "fig", text: node.requests + " req" }));
    const tok = el("span", { class: "fig" }); tok.append(tokens(node.input_tokens + node.cache_read_tokens + node.cache_write_tokens + node.output_tokens));
    box.append(tok, el("span", { class: "fig", text: usdText(node.unpriced && !node.cost_usd ? null : node.cost_usd, 4) }));
    if (node.children.length) {
      const sub = node.subtree;
      box.append(el("span", { class: "fig sub", text: "with agents " + usdText(sub.cost_usd, 4) }));
    }
    if (node.models.length) box.append(el("span", { class: "fig", text: node.models.join(", ") }));
    li.append(box);
    if (node.children.length) li.append(el("ul", {}, ...node.children.map(treeNode)));
    return li;
  }
  async function openSession(id) {
    const data = await getJSON("sessions/" + encodeURIComponent(id));
    $("#session-id").textContent = id;
    const t = data.totals;
    $("#session-total").replaceChildren(stat("Session total", usd(t.cost_usd, 4)),
      stat("Requests", withUnit(String(t.requests), "req")), stat("Tokens", tokens(t.total_tokens)));
    $("#tree").replaceChildren(treeNode(data.tree));
    $("#session-detail").hidden = false;
    $("#session-detail").scrollIntoView({ block: "nearest" });
  }

  setupTabs();
  setupSpend();
  connectLive();
  show(location.hash.slice(1) || "now");
})();
