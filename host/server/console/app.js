// @ts-check
// The Sandflow console: sign-in, hash routes (every view's state is in the URL), and the pages.
// Talks only to this server's /console/api (session cookie + CSRF header on every POST).

import { render, paint, paintMaps } from "./graph.js";

/** @type {{ accountId: string, accessKeyId: string, region: string, csrfToken: string } | null} */
let session = null;
/** Stops live updates of the page being left. @type {Array<() => void>} */
let cleanups = [];

const main = /** @type {HTMLElement} */ (document.getElementById("main"));

const WORDS = /** @type {Record<string,string>} */ ({
  RUNNING: "Running", SUCCEEDED: "Succeeded", FAILED: "Failed", TIMED_OUT: "Timed out", ABORTED: "Aborted",
  PENDING_REDRIVE: "Pending redrive",
});
/** Words for a state's status in the graph (an execution is never "waiting"). */
const STATE_WORDS = /** @type {Record<string,string>} */ ({ ...WORDS, WAITING: "Waiting", NOT_RUN: "Not run" });

/** @param {string} s */
const word = (s) => WORDS[s] || s;

class ApiError extends Error {
  /** @param {number} status @param {any} body */
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** @param {string} path @param {any} [body] @returns {Promise<any>} */
async function api(path, body) {
  /** @type {RequestInit} */
  const init = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.method = "POST";
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json", "x-csrf-token": session ? session.csrfToken : "" };
  }
  const r = await fetch("/console/api" + path, init);
  const text = await r.text();
  let v = null;
  try { v = text ? JSON.parse(text) : null; } catch { v = null; }
  if (!r.ok) {
    if (r.status === 401 && path !== "/signin") { session = null; location.hash = "#/signin"; }
    throw new ApiError(r.status, v);
  }
  return v;
}

/** @param {string} action @param {any} params */
const sfn = (action, params) => api("/sfn/" + action, params);

/**
 * Builds an element. @param {string} tag @param {Record<string, any>} [attrs]
 * @param {...(Node|string|null|undefined)} kids @returns {HTMLElement}
 */
function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

/** @param {string} msg */
function toast(msg) {
  const t = /** @type {HTMLElement} */ (document.getElementById("toast"));
  t.textContent = msg;
  setTimeout(() => { if (t.textContent === msg) t.textContent = ""; }, 5000);
}

/** @param {number} secs */
const when = (secs) => (secs ? new Date(secs * 1000).toLocaleString() : "");
/** @param {string} arn */
const tail = (arn) => arn.split(":").pop() || arn;
/** @param {string} s */
const statusCell = (s) => h("span", { class: "status " + s, text: word(s) });
/** @param {string} text */
const pretty = (text) => { try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; } };
const execLink = (/** @type {string} */ arn, /** @type {string} */ label) =>
  h("a", { href: "#/executions/" + encodeURIComponent(arn), text: label });

/** Parses the hash: `#/page/arg?k=v`. */
function route() {
  const raw = location.hash.replace(/^#/, "") || "/machines";
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "machines", arg: parts[1], q: new URLSearchParams(query || "") };
}

/** @param {string} page @param {string|undefined} arg @param {URLSearchParams} q */
function setHash(page, arg, q) {
  const qs = q.toString();
  const next = "#/" + page + (arg ? "/" + encodeURIComponent(arg) : "") + (qs ? "?" + qs : "");
  if (location.hash !== next) history.replaceState(null, "", next);
}

async function show() {
  for (const c of cleanups) c();
  cleanups = [];
  const { page, arg, q } = route();
  if (!session && page !== "signin") {
    try { session = await api("/session"); } catch { location.hash = "#/signin"; return; }
  }
  const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
  nav.hidden = !session;
  /** @type {HTMLElement} */ (document.getElementById("signout")).hidden = !session;
  /** @type {HTMLElement} */ (document.getElementById("who")).textContent =
    session ? `${session.accessKeyId} · ${session.accountId} · ${session.region}` : "";
  for (const a of nav.querySelectorAll("a")) {
    a.classList.toggle("active", a.getAttribute("href") === "#/" + page);
    if (a.getAttribute("href") === "#/" + page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  try {
    if (page === "signin") await signInPage();
    else if (page === "machines" && arg) await machinePage(arg, q);
    else if (page === "machines") await machinesPage();
    else if (page === "executions" && arg) await executionPage(arg, q);
    else if (page === "executions") await executionsPage(q);
    else if (page === "approvals") await approvalsPage();
    else if (page === "functions") await functionsPage();
    else if (page === "topics") await topicsPage(q);
    else if (page === "usage") await usagePage();
    else main.append(h("p", { text: "No such page." }));
  } catch (e) {
    main.append(h("p", { class: "error", role: "alert", text: "Error: " + (e instanceof Error ? e.message : String(e)) }));
  }
  document.body.dataset.ready = "1";
}

async function signInPage() {
  session = null;
  const cfg = await api("/config").catch(() => ({}));
  const err = h("p", { class: "error", role: "alert" });
  const key = h("input", { id: "ak", name: "accessKeyId", autocomplete: "username", required: true, value: cfg.devAccessKeyId || "" });
  const secret = h("input", { id: "sk", name: "secretAccessKey", type: "password", autocomplete: "current-password", required: true, value: cfg.devSecretAccessKey || "" });
  const region = h("input", { id: "region", name: "region", value: "us-east-1" });
  const form = h("form", { class: "form", onsubmit: async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      session = await api("/signin", {
        accessKeyId: /** @type {HTMLInputElement} */ (key).value,
        secretAccessKey: /** @type {HTMLInputElement} */ (secret).value,
        region: /** @type {HTMLInputElement} */ (region).value,
      });
      location.hash = "#/machines";
    } catch (e) {
      err.textContent = e instanceof Error ? e.message : String(e);
    }
  } },
    h("h1", { text: "Sign in" }),
    h("label", { for: "ak", text: "Access key" }), key,
    h("label", { for: "sk", text: "Secret key" }), secret,
    h("label", { for: "region", text: "Region" }), region,
    h("p", {}, h("button", { type: "submit", class: "primary", text: "Sign in" })),
    err,
    cfg.dev ? h("p", { class: "muted", text: "Dev server: the dev keys test / test are filled in." }) : null,
  );
  main.append(form);
}

async function machinesPage() {
  main.append(h("h1", { text: "State machines" }));
  const r = await sfn("ListStateMachines", { maxResults: 1000 });
  const rows = r.stateMachines.map((/** @type {any} */ m) => h("tr", {},
    h("td", {}, h("a", { href: "#/machines/" + encodeURIComponent(m.stateMachineArn), text: m.name })),
    h("td", { text: m.type }),
    h("td", { text: when(m.creationDate) }),
  ));
  main.append(rows.length
    ? h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Name" }), h("th", { text: "Type" }), h("th", { text: "Created" }))), h("tbody", {}, ...rows))
    : h("p", { class: "muted", text: "No state machines yet. Create one with the AWS CLI or an SDK." }));
}

/**
 * A graph with click-to-select and Map expand/collapse. It re-renders when a Map is toggled and
 * then calls `ctl.onRender` so the caller can paint it again.
 * @param {any} def @param {(name: string) => void} [onSelect]
 */
async function graph(def, onSelect) {
  const box = h("div", { class: "graphbox" });
  /** @type {Set<string>} */
  const expanded = new Set();
  const ctl = { box, svg: /** @type {SVGSVGElement} */ (/** @type {unknown} */ (null)), selected: "", onRender: () => {} };
  const draw = async () => {
    const { svg, ms } = await render(def, expanded);
    /** @type {any} */ (window).layoutMs = ms;
    box.dataset.layoutMs = ms.toFixed(1);
    box.replaceChildren(svg);
    ctl.svg = svg;
    const mark = () => {
      for (const n of svg.querySelectorAll("g.node")) n.classList.toggle("selected", n.getAttribute("data-state") === ctl.selected);
    };
    const act = (/** @type {Event} */ ev) => {
      const target = /** @type {Element} */ (ev.target);
      const t = target.closest("[data-toggle]");
      if (t) {
        const name = t.getAttribute("data-toggle") || "";
        if (expanded.has(name)) expanded.delete(name); else expanded.add(name);
        draw();
        return;
      }
      const g = target.closest("g.node");
      if (!g || !onSelect) return;
      ctl.selected = g.getAttribute("data-state") || "";
      mark();
      onSelect(ctl.selected);
    };
    svg.addEventListener("click", act);
    svg.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); act(ev); } });
    mark();
    ctl.onRender();
  };
  await draw();
  return ctl;
}

/** The definition of state `name`, searched through branches and processors. @param {any} def @param {string} name @returns {any} */
function findState(def, name) {
  const states = (def && def.States) || {};
  if (states[name]) return states[name];
  for (const s of Object.values(states)) {
    for (const sub of [...(/** @type {any} */ (s).Branches || []), /** @type {any} */ (s).ItemProcessor || /** @type {any} */ (s).Iterator]) {
      const found = sub && findState(sub, name);
      if (found) return found;
    }
  }
  return null;
}

/** A table of function invocations with their logs. @param {any[]} list @param {string} label */
function invocationsTable(list, label) {
  if (!list.length) return h("p", { class: "muted", text: "No function invocations." });
  return h("table", { "aria-label": label },
    h("thead", {}, h("tr", {}, ...["Function", "State", "Event", "Status", "Started", "Time", "Fuel", "Logs"].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...list.map((i) => h("tr", {},
      h("td", { text: i.functionName }), h("td", { text: i.stateName || "" }), h("td", { text: i.eventId ? String(i.eventId) : "" }),
      h("td", {}, statusCell(i.status)), h("td", { text: when(i.startDate) }),
      h("td", { text: `${(i.elapsedMicros / 1000).toFixed(1)} ms` }), h("td", { text: String(i.fuel) }),
      h("td", {}, i.logs ? h("pre", { text: i.logs }) : (i.error ? h("code", { text: `${i.error}: ${i.cause || ""}` }) : ""))))));
}

/** @param {string} arn @param {URLSearchParams} q */
async function machinePage(arn, q) {
  const m = await sfn("DescribeStateMachine", { stateMachineArn: arn });
  const def = JSON.parse(m.definition);
  main.append(h("h1", { text: m.name }), h("p", { class: "muted", text: `${m.type} · ${m.stateMachineArn}` }));
  const { box } = await graph(def);
  main.append(h("h2", { text: "Graph" }), box);

  const input = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: "exec-input", rows: 6, "aria-label": "Execution input" }));
  input.value = q.get("input") || "{}";
  const name = h("input", { id: "exec-name", placeholder: "(generated)" });
  const msg = h("p", { role: "alert" });
  const check = () => {
    try { JSON.parse(input.value); msg.textContent = ""; msg.className = ""; return true; }
    catch (e) { msg.textContent = "Input is not valid JSON: " + (e instanceof Error ? e.message : ""); msg.className = "error"; return false; }
  };
  input.addEventListener("input", check);
  const start = h("button", { type: "button", class: "primary", text: "Start execution", onclick: async () => {
    if (!check()) return;
    try {
      const body = /** @type {any} */ ({ stateMachineArn: arn, input: input.value });
      const n = /** @type {HTMLInputElement} */ (name).value.trim();
      if (n) body.name = n;
      const r = await sfn("StartExecution", body);
      location.hash = "#/executions/" + encodeURIComponent(r.executionArn);
    } catch (e) { msg.textContent = e instanceof Error ? e.message : String(e); msg.className = "error"; }
  } });
  main.append(h("h2", { text: "Start execution" }), h("div", { class: "panel" },
    h("label", { for: "exec-name", text: "Name" }), name,
    h("label", { for: "exec-input", text: "Input (JSON)" }), input, h("p", {}, start), msg));

  main.append(h("h2", { text: "Recent executions" }));
  const recent = await api("/executions?limit=10&stateMachineArn=" + encodeURIComponent(arn));
  main.append(executionsTable(recent.executions));
  main.append(h("p", {}, h("a", { href: "#/executions?sm=" + encodeURIComponent(arn), text: "All executions of this state machine" })));
  main.append(h("h2", { text: "Definition" }), h("pre", { "aria-label": "Definition JSON", text: JSON.stringify(def, null, 2) }));
}

/** @param {any[]} list */
function executionsTable(list) {
  if (!list.length) return h("p", { class: "muted", text: "No executions." });
  return h("table", { "aria-label": "Executions" },
    h("thead", {}, h("tr", {}, ...["Name", "Status", "State machine", "Started", "Stopped"].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...list.map((e) => h("tr", {},
      h("td", {}, execLink(e.executionArn, e.name)),
      h("td", {}, statusCell(e.status)),
      h("td", {}, h("a", { href: "#/machines/" + encodeURIComponent(e.stateMachineArn), text: tail(e.stateMachineArn) })),
      h("td", { text: when(e.startDate) }),
      h("td", { text: when(e.stopDate) }),
    ))));
}

/** @param {URLSearchParams} q */
async function executionsPage(q) {
  main.append(h("h1", { text: "Executions" }));
  const machines = (await sfn("ListStateMachines", { maxResults: 1000 })).stateMachines;
  const sm = /** @type {HTMLSelectElement} */ (h("select", { id: "f-sm" }, h("option", { value: "", text: "All state machines" }),
    ...machines.map((/** @type {any} */ m) => h("option", { value: m.stateMachineArn, text: m.name }))));
  sm.value = q.get("sm") || "";
  const status = /** @type {HTMLSelectElement} */ (h("select", { id: "f-status" }, h("option", { value: "", text: "Any status" }),
    ...Object.keys(WORDS).filter((k) => k !== "PENDING_REDRIVE").map((k) => h("option", { value: k, text: WORDS[k] }))));
  status.value = q.get("status") || "";
  const name = /** @type {HTMLInputElement} */ (h("input", { id: "f-name", type: "search", value: q.get("name") || "" }));
  const out = h("div");
  /** Page tokens seen, so "Previous" works. @type {string[]} */
  const tokens = [];
  let token = q.get("page") || "";
  const load = async () => {
    const p = new URLSearchParams();
    if (sm.value) p.set("sm", sm.value);
    if (status.value) p.set("status", status.value);
    if (name.value) p.set("name", name.value);
    if (token) p.set("page", token);
    setHash("executions", undefined, p);
    const a = new URLSearchParams({ limit: "25" });
    if (sm.value) a.set("stateMachineArn", sm.value);
    if (status.value) a.set("status", status.value);
    if (name.value) a.set("name", name.value);
    if (token) a.set("nextToken", token);
    const r = await api("/executions?" + a);
    const prev = h("button", { type: "button", text: "Previous page", disabled: !tokens.length, onclick: () => { token = tokens.pop() || ""; load(); } });
    const next = h("button", { type: "button", text: "Next page", disabled: !r.nextToken, onclick: () => { tokens.push(token); token = r.nextToken; load(); } });
    out.replaceChildren(executionsTable(r.executions), h("p", {}, prev, " ", next));
  };
  const reset = () => { token = ""; tokens.length = 0; load(); };
  sm.addEventListener("change", reset);
  status.addEventListener("change", reset);
  name.addEventListener("input", reset);
  main.append(h("div", { class: "filters" },
    h("label", {}, "State machine ", sm), h("label", {}, "Status ", status), h("label", {}, "Name ", name)), out);
  await load();
}

/** @param {string} arn @param {URLSearchParams} q */
async function executionPage(arn, q) {
  const head = h("div");
  main.append(head);
  const d = await sfn("DescribeStateMachineForExecution", { executionArn: arn });
  const def = JSON.parse(d.definition);
  const enc = encodeURIComponent(arn);
  const selPanel = h("div", { class: "panel", id: "selected" }, h("p", { class: "muted", text: "Select a state in the graph." }));
  /** The latest overlay (at the slider's event). @type {any} */
  let ov = { states: {}, maps: {}, totalEvents: 0, execution: {} };
  const sliderLabel = h("span");
  const slider = /** @type {HTMLInputElement} */ (h("input", { type: "range", class: "slider", min: 0, max: 0, value: 0, "aria-label": "Step through events" }));
  let following = true;
  const g = await graph(def, (name) => { q.set("state", name); q.delete("it"); setHash("executions", arn, q); showState(name); });
  const repaint = () => {
    sliderLabel.textContent = `Event ${ov.at} of ${ov.totalEvents}`;
    paint(g.svg, ov.states);
    paintMaps(g.svg, ov.maps);
    for (const n of g.svg.querySelectorAll("g.node")) {
      const st = n.getAttribute("data-status") || "NOT_RUN";
      const runs = (ov.states[n.getAttribute("data-state") || ""] || {}).runs;
      n.setAttribute("aria-label", `${n.getAttribute("data-state")}: ${STATE_WORDS[st] || st}${runs > 1 ? `, ${runs} runs` : ""}`);
    }
  };
  g.onRender = repaint;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let replayTimer;
  slider.addEventListener("input", () => {
    following = Number(slider.value) === ov.totalEvents;
    clearTimeout(replayTimer);
    replayTimer = setTimeout(async () => {
      ov = await api(`/overlay?executionArn=${enc}&at=${slider.value}`);
      repaint();
    }, 120);
  });

  /** The latest run of a state: status, input, output, failure, its task logs; a Map's iterations. @param {string} name */
  const showState = async (name) => {
    const r = await api(`/state?executionArn=${enc}&name=${encodeURIComponent(name)}`);
    selPanel.replaceChildren(h("h3", { text: name }));
    if (!r.runs) { selPanel.append(h("p", { class: "muted", text: "Not run (yet)." })); return; }
    selPanel.append(h("p", {}, h("span", { class: "status " + r.status, text: STATE_WORDS[r.status] || r.status }),
      r.runs > 1 ? ` · ${r.runs} runs, the latest shown` : ""));
    if (r.input != null) selPanel.append(h("h4", { text: "Input" }), h("pre", { text: pretty(r.input) }));
    if (r.output != null) selPanel.append(h("h4", { text: "Output" }), h("pre", { text: pretty(r.output) }));
    if (r.failure) selPanel.append(h("h4", { text: "Error" }), h("pre", { text: `${r.failure.error || r.failure.type}: ${r.failure.cause || ""}` }));
    const st = findState(def, name);
    if (st && (st.Type === "Task" || r.invocations.length)) selPanel.append(h("h4", { text: "Task logs" }), invocationsTable(r.invocations, "Task logs of " + name));
    if (st && st.Type === "Map") selPanel.append(h("h4", { text: "Iterations" }), await iterationsBox(name));
  };

  /** A Map's iterations, paged on the server. @param {string} name */
  const iterationsBox = async (name) => {
    const box = h("div");
    const load = async () => {
      const at = Number(q.get("it") || 0);
      const r = await api(`/iterations?executionArn=${enc}&state=${encodeURIComponent(name)}&from=${at}&limit=25`);
      const prev = h("button", { type: "button", text: "Previous iterations", disabled: at === 0, onclick: () => { q.set("it", String(Math.max(0, at - 25))); setHash("executions", arn, q); load(); } });
      const next = h("button", { type: "button", text: "Next iterations", disabled: r.nextFrom == null, onclick: () => { q.set("it", String(r.nextFrom)); setHash("executions", arn, q); load(); } });
      box.replaceChildren(r.iterations.length ? h("table", { "aria-label": "Iterations of " + name },
        h("thead", {}, h("tr", {}, ...["Index", "Status", "Started", "Stopped", "Events"].map((t) => h("th", { text: t })))),
        h("tbody", {}, ...r.iterations.map((/** @type {any} */ it) => h("tr", {},
          h("td", { text: String(it.index) }), h("td", {}, statusCell(it.status)), h("td", { text: when(it.startDate) }), h("td", { text: when(it.stopDate) }),
          h("td", {}, h("button", { type: "button", text: `From event ${it.startedEventId}`, onclick: () => { froms.length = 0; from = it.startedEventId; loadHistory(); histBox.scrollIntoView(); } })))))) :
        h("p", { class: "muted", text: "No iterations yet." }),
        h("p", {}, prev, " ", next, ` ${r.total} iterations`));
    };
    await load();
    return box;
  };

  const stepsBox = h("div");
  const loadSteps = async () => {
    const at = Number(q.get("steps") || 0);
    const r = await api(`/steps?executionArn=${enc}&from=${at}&limit=25`);
    const go = (/** @type {number} */ n) => { q.set("steps", String(n)); setHash("executions", arn, q); loadSteps(); };
    const prev = h("button", { type: "button", text: "Previous steps", disabled: at === 0, onclick: () => go(Math.max(0, at - 25)) });
    const next = h("button", { type: "button", text: "Next steps", disabled: r.nextFrom == null, onclick: () => go(r.nextFrom) });
    stepsBox.replaceChildren(r.steps.length ? h("table", { "aria-label": "Steps" },
      h("thead", {}, h("tr", {}, ...["#", "State", "Type", "Status", "Started", "Duration"].map((t) => h("th", { text: t })))),
      h("tbody", {}, ...r.steps.map((/** @type {any} */ st, /** @type {number} */ i) => h("tr", {},
        h("td", { text: String(at + i + 1) }),
        h("td", {}, h("button", { type: "button", class: "link", text: st.name, onclick: () => {
          g.selected = st.name;
          for (const n of g.svg.querySelectorAll("g.node")) n.classList.toggle("selected", n.getAttribute("data-state") === st.name);
          q.set("state", st.name); q.delete("it"); setHash("executions", arn, q); showState(st.name);
        } })),
        h("td", { text: st.stateType }), h("td", {}, h("span", { class: "status " + st.status, text: STATE_WORDS[st.status] || st.status })),
        h("td", { text: when(st.startDate) }),
        h("td", { text: st.stopDate ? `${((st.stopDate - st.startDate) * 1000).toFixed(0)} ms` : "" }))))) :
      h("p", { class: "muted", text: "No steps yet." }),
      h("p", {}, prev, " ", next, ` ${r.total} steps`));
  };

  const histBox = h("div");
  const failedOnly = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", id: "failed-only" }));
  failedOnly.checked = q.get("failed") === "1";
  let from = 1;
  /** @type {number[]} */
  const froms = [];
  const loadHistory = async () => {
    const r = await api(`/history?executionArn=${enc}&from=${from}&limit=25${failedOnly.checked ? "&failedOnly=1" : ""}`);
    const rows = r.events.map((/** @type {any} */ e) => {
      const det = Object.entries(e).find(([k]) => k.endsWith("EventDetails"));
      return h("tr", {}, h("td", { text: String(e.id) }), h("td", { text: e.type }), h("td", { text: when(e.timestamp) }),
        h("td", {}, det ? h("code", { text: JSON.stringify(det[1]).slice(0, 200) }) : ""));
    });
    const prev = h("button", { type: "button", text: "Previous events", disabled: !froms.length, onclick: () => { from = froms.pop() || 1; loadHistory(); } });
    const next = h("button", { type: "button", text: "Next events", disabled: !r.nextFrom, onclick: () => { froms.push(from); from = r.nextFrom; loadHistory(); } });
    histBox.replaceChildren(
      h("table", { "aria-label": "Event history" }, h("thead", {}, h("tr", {}, ...["ID", "Type", "Time", "Details"].map((t) => h("th", { text: t })))), h("tbody", {}, ...rows)),
      h("p", {}, prev, " ", next, ` ${r.totalEvents} events`));
  };
  failedOnly.addEventListener("change", () => { from = 1; froms.length = 0; q.set("failed", failedOnly.checked ? "1" : "0"); setHash("executions", arn, q); loadHistory(); });

  const invBox = h("div");
  const loadInvocations = async () => {
    const r = await api("/invocations?executionArn=" + enc);
    invBox.replaceChildren(invocationsTable(r.invocations, "Task invocations"));
  };
  const auditBox = h("div");
  const loadAudit = async () => {
    const a = await api("/audit?executionArn=" + enc);
    auditBox.replaceChildren(a.decisions.length ? decisionsTable(a.decisions) : h("p", { class: "muted", text: "No approval decisions." }));
  };

  const stop = h("button", { type: "button", text: "Stop", onclick: async () => {
    if (!confirm("Stop this execution?")) return;
    try { await sfn("StopExecution", { executionArn: arn, error: "Stopped", cause: "Stopped from the console" }); toast("Stop requested"); refresh(); }
    catch (e) { toast(e instanceof Error ? e.message : String(e)); }
  } });

  const refresh = async () => {
    const latest = await api(`/overlay?executionArn=${enc}` + (following ? "" : `&at=${slider.value}`));
    ov = latest;
    const e = latest.execution;
    head.replaceChildren(h("h1", { text: e.name }),
      h("p", {}, statusCell(e.status), " · ", h("a", { href: "#/machines/" + encodeURIComponent(e.stateMachineArn), text: tail(e.stateMachineArn) }),
        ` · started ${when(e.startDate)}`, e.stopDate ? ` · stopped ${when(e.stopDate)}` : "", " ", e.status === "RUNNING" ? stop : ""),
      h("p", { class: "muted", text: e.executionArn }),
      e.error ? h("p", { class: "error", text: `${e.error}: ${e.cause || ""}` }) : "");
    slider.max = String(latest.totalEvents);
    if (following) slider.value = String(latest.totalEvents);
    repaint();
    await loadSteps();
    await loadHistory();
    await loadAudit();
    await loadInvocations();
    const sel = q.get("state");
    if (sel) showState(sel);
  };
  const sel = q.get("state");
  if (sel) g.selected = sel;
  main.append(h("h2", { text: "Graph" }), g.box, h("div", {}, slider, sliderLabel),
    h("div", { class: "row" }, h("div", { class: "panel" }, h("h3", { text: "Execution input" }), h("pre", { id: "exec-io" }))),
    h("h2", { text: "Steps" }), stepsBox,
    h("h2", { text: "Selected state" }), selPanel,
    h("h2", { text: "Event history" }), h("label", {}, failedOnly, " Failed only"), histBox,
    h("h2", { text: "Task invocations and logs" }), invBox,
    h("h2", { text: "Approval decisions" }), auditBox);
  await refresh();
  /** @type {HTMLElement} */ (document.getElementById("exec-io")).textContent = pretty(ov.execution.input) +
    (ov.execution.output ? "\n\nOutput:\n" + pretty(ov.execution.output) : "");
  if (ov.execution.status === "RUNNING") live(arn, refresh);
}

/** Live updates: SSE, falling back to polling. @param {string} arn @param {() => Promise<void>} refresh */
function live(arn, refresh) {
  // An update that arrives during a refresh is not dropped: one more refresh follows.
  let busy = false;
  let again = false;
  const kick = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try { do { again = false; await refresh(); } while (again); } finally { busy = false; }
  };
  if (typeof EventSource === "undefined") return poll();
  const es = new EventSource("/console/api/watch?executionArn=" + encodeURIComponent(arn));
  let opened = false;
  es.addEventListener("open", () => { opened = true; });
  es.addEventListener("update", (ev) => {
    kick();
    if (JSON.parse(/** @type {MessageEvent} */ (ev).data).status !== "RUNNING") es.close();
  });
  es.addEventListener("error", () => { es.close(); if (!opened) poll(); });
  cleanups.push(() => es.close());
  function poll() {
    const t = setInterval(kick, 2000);
    cleanups.push(() => clearInterval(t));
  }
}

/** @param {any[]} list */
function decisionsTable(list) {
  return h("table", { "aria-label": "Decisions" },
    h("thead", {}, h("tr", {}, ...["When", "Who", "Decision", "Comment", "Execution", "State"].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...list.map((d) => h("tr", {},
      h("td", { text: when(d.decidedDate) }), h("td", { text: d.actor }),
      h("td", { text: d.decision === "APPROVED" ? "Approved" : "Rejected" }), h("td", { text: d.comment }),
      h("td", {}, execLink(d.executionArn, tail(d.executionArn))), h("td", { text: d.stateName })))));
}

async function approvalsPage() {
  main.append(h("h1", { text: "Approvals" }));
  const r = await api("/approvals");
  if (!r.approvals.length) main.append(h("p", { class: "muted", text: "Nothing is waiting for approval." }));
  else {
    const rows = r.approvals.map((/** @type {any} */ a, /** @type {number} */ i) => approvalRow(a, i));
    main.append(h("table", { "aria-label": "Approval inbox" },
      h("thead", {}, h("tr", {}, ...["Execution", "State", "Age", "Input", "Decision"].map((t) => h("th", { text: t })))),
      h("tbody", {}, ...rows)));
  }
  const audit = await api("/audit");
  main.append(h("h2", { text: "Audit" }), audit.decisions.length ? decisionsTable(audit.decisions) : h("p", { class: "muted", text: "No decisions yet." }));
}

/** @param {number} secs */
function age(secs) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - secs));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** @param {any} a @param {number} i */
function approvalRow(a, i) {
  const comment = /** @type {HTMLInputElement} */ (h("input", { id: `comment-${i}`, required: true }));
  const output = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: `output-${i}`, rows: 2 }));
  output.value = "{}";
  const error = /** @type {HTMLInputElement} */ (h("input", { id: `error-${i}`, value: "Rejected" }));
  const cause = /** @type {HTMLInputElement} */ (h("input", { id: `cause-${i}` }));
  const msg = h("p", { role: "alert" });
  const cell = h("td");
  const row = h("tr", { "data-execution": a.executionName });
  /** @param {boolean} approve */
  const decide = async (approve) => {
    msg.className = "error";
    if (!comment.value.trim()) { msg.textContent = "A comment is required."; comment.focus(); return; }
    /** @type {any} */
    const body = { taskToken: a.taskToken, decision: approve ? "approve" : "reject", comment: comment.value };
    if (approve) {
      try { JSON.parse(output.value || "{}"); } catch { msg.textContent = "The output is not valid JSON."; return; }
      body.output = output.value || "{}";
    } else { body.error = error.value; if (cause.value) body.cause = cause.value; }
    try {
      const r = await api("/approvals/decide", body);
      readOnly(r.decision);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        msg.textContent = "Conflict (HTTP 409): " + e.message;
        if (e.body && e.body.decision) readOnly(e.body.decision, msg.textContent);
      } else msg.textContent = e instanceof Error ? e.message : String(e);
    }
  };
  /** @param {any} d @param {string} [note] */
  const readOnly = (d, note) => {
    row.classList.add("readonly");
    cell.replaceChildren(h("p", { class: "decided", text: `${d.decision === "APPROVED" ? "Approved" : "Rejected"} by ${d.actor} at ${when(d.decidedDate)}: “${d.comment}”` }),
      note ? h("p", { class: "error", role: "alert", text: note }) : "");
  };
  cell.append(
    h("label", { for: `comment-${i}`, text: "Comment" }), comment,
    h("details", {}, h("summary", { text: "Output / error" }),
      h("label", { for: `output-${i}`, text: "Output JSON (approve)" }), output,
      h("label", { for: `error-${i}`, text: "Error (reject)" }), error,
      h("label", { for: `cause-${i}`, text: "Cause (reject)" }), cause),
    h("p", {}, h("button", { type: "button", class: "primary", text: "Approve", onclick: () => decide(true) }), " ",
      h("button", { type: "button", text: "Reject", onclick: () => decide(false) })),
    msg);
  row.append(
    h("td", {}, execLink(a.executionArn, a.executionName), h("div", { class: "muted", text: tail(a.stateMachineArn) })),
    h("td", { text: a.stateName }),
    h("td", { text: age(a.enteredDate), title: when(a.enteredDate) }),
    h("td", {}, h("pre", { text: pretty(a.input) })),
    cell);
  return row;
}

/** Topics with their subscriptions, and the outbox: each published message's deliveries. @param {URLSearchParams} q */
async function topicsPage(q) {
  main.append(h("h1", { text: "Topics" }));
  const r = await api("/topics");
  if (!r.topics.length) { main.append(h("p", { class: "muted", text: "No topics yet. Create one with the SNS API (CreateTopic)." })); return; }
  main.append(h("table", { "aria-label": "Topics" },
    h("thead", {}, h("tr", {}, ...["Name", "Subscriptions"].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...r.topics.map((/** @type {any} */ t) => h("tr", {},
      h("td", { text: t.name }),
      h("td", {}, t.subscriptions.length ? h("ul", {}, ...t.subscriptions.map((/** @type {any} */ s) =>
        h("li", { text: `${s.protocol}: ${s.endpoint}${s.pendingConfirmation ? " (pending confirmation)" : ""}` }))) : h("span", { class: "muted", text: "none" })))))));
  const pick = /** @type {HTMLSelectElement} */ (h("select", { id: "f-topic" }, h("option", { value: "", text: "All topics" }),
    ...r.topics.map((/** @type {any} */ t) => h("option", { value: t.topicArn, text: t.name }))));
  pick.value = q.get("topic") || "";
  const out = h("div");
  const load = async () => {
    const p = new URLSearchParams();
    if (pick.value) p.set("topic", pick.value);
    setHash("topics", undefined, p);
    const o = await api("/outbox" + (pick.value ? "?topic=" + encodeURIComponent(pick.value) : ""));
    out.replaceChildren(o.Messages.length ? h("table", { "aria-label": "Outbox" },
      h("thead", {}, h("tr", {}, ...["Published", "Topic", "Subject", "Message", "Deliveries"].map((t) => h("th", { text: t })))),
      h("tbody", {}, ...o.Messages.map((/** @type {any} */ m) => h("tr", {},
        h("td", { text: when(m.Published / 1000) }), h("td", { text: tail(m.TopicArn) }), h("td", { text: m.Subject || "" }),
        h("td", {}, h("pre", { text: m.Message.length > 400 ? m.Message.slice(0, 400) + "…" : m.Message })),
        h("td", {}, h("ul", {}, ...m.Deliveries.map((/** @type {any} */ d) => h("li", {},
          h("span", { class: "delivery " + d.State, text: d.State }),
          ` ${d.Protocol}: ${d.Endpoint} · ${d.Attempts} attempt${d.Attempts === 1 ? "" : "s"}`,
          d.LastError ? h("div", { class: "error", text: d.LastError }) : "")))))))) :
      h("p", { class: "muted", text: "Nothing published yet." }));
  };
  pick.addEventListener("change", load);
  main.append(h("h2", { text: "Outbox" }),
    h("p", { class: "muted", text: "Every delivery of every message: pending ones are retried with backoff; email waits here while the server has no SMTP relay." }),
    h("div", { class: "filters" }, h("label", {}, "Topic ", pick)), out);
  await load();
}

async function functionsPage() {
  main.append(h("h1", { text: "Functions" }));
  const r = await api("/functions");
  if (!r.functions.length) { main.append(h("p", { class: "muted", text: "No functions yet. Upload one with the Lambda API (CreateFunction)." })); return; }
  main.append(h("table", { "aria-label": "Functions" },
    h("thead", {}, h("tr", {}, ...["Name", "ABI", "Size", "Memory", "Timeout", "Grants", "Recent invocations"].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...r.functions.map((/** @type {any} */ f) => h("tr", {},
      h("td", { text: f.functionName }), h("td", { text: f.abi }),
      h("td", { text: `${(f.codeSize / 1024).toFixed(1)} KiB` }), h("td", { text: `${f.memoryMiB} MiB` }),
      h("td", { text: `${f.timeoutSeconds} s` }), h("td", {}, h("code", { text: JSON.stringify(f.grants) })),
      h("td", {}, ...f.recentInvocations.map((/** @type {any} */ i) =>
        h("div", {}, statusCell(i.status), ` ${when(i.startDate)} · ${(i.elapsedMicros / 1000).toFixed(1)} ms · fuel ${i.fuel}${i.error ? " · " + i.error : ""}`))))))));
}

async function usagePage() {
  main.append(h("h1", { text: "Usage" }));
  const r = await api("/usage?days=30");
  const days = r.days;
  if (!days.length) { main.append(h("p", { class: "muted", text: "No usage metered in the last 30 days." })); return; }
  const W = 640, H = 200, pad = 30;
  const max = Math.max(1, ...days.map((/** @type {any} */ d) => d.transitions));
  const bw = (W - pad) / days.length;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", `0 0 ${W} ${H + 20}`);
  svg.setAttribute("width", String(W));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "State transitions per day");
  /** @param {string} tag @param {Record<string, any>} at @param {string} [text] */
  const add = (tag, at, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(at)) e.setAttribute(k, String(v));
    if (text) e.textContent = text;
    svg.append(e);
    return e;
  };
  add("line", { x1: pad, y1: H, x2: W, y2: H });
  add("text", { x: 0, y: 12 }, String(max));
  days.forEach((/** @type {any} */ d, /** @type {number} */ i) => {
    const bh = (d.transitions / max) * (H - 20);
    const bar = add("rect", { class: "bar", x: pad + i * bw + 2, y: H - bh, width: Math.max(2, bw - 4), height: bh });
    const t = document.createElementNS(NS, "title");
    t.textContent = `${d.date}: ${d.transitions} transitions`;
    bar.append(t);
    add("text", { x: pad + i * bw + 2, y: H + 14 }, d.date.slice(5));
  });
  main.append(h("h2", { text: "State transitions per day" }), svg,
    h("table", { "aria-label": "Usage per day" },
      h("thead", {}, h("tr", {}, ...["Date", "Transitions", "Task invocations", "Fuel", "Task wall ms"].map((t) => h("th", { text: t })))),
      h("tbody", {}, ...days.map((/** @type {any} */ d) => h("tr", {}, h("td", { text: d.date }), h("td", { text: String(d.transitions) }),
        h("td", { text: String(d.taskInvocations) }), h("td", { text: String(d.fuel) }), h("td", { text: String(d.taskWallMs) }))))));
}

/** @type {HTMLElement} */ (document.getElementById("signout")).addEventListener("click", async () => {
  try { await api("/signout", {}); } catch { /* signed out either way */ }
  session = null;
  location.hash = "#/signin";
});
const theme = /** @type {HTMLElement} */ (document.getElementById("theme"));
const setTheme = (/** @type {boolean} */ dark) => {
  document.documentElement.classList.toggle("dark", dark);
  theme.textContent = dark ? "Light mode" : "Dark mode";
  theme.setAttribute("aria-pressed", String(dark));
};
setTheme(localStorage.getItem("theme") ? localStorage.getItem("theme") === "dark" : matchMedia("(prefers-color-scheme: dark)").matches);
theme.addEventListener("click", () => {
  const dark = !document.documentElement.classList.contains("dark");
  localStorage.setItem("theme", dark ? "dark" : "light");
  setTheme(dark);
});
window.addEventListener("hashchange", () => { document.body.dataset.ready = ""; show(); });
show();
