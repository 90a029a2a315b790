// @ts-check
// Draws an ASL definition as an SVG graph with a small layered layout of its own: states are
// ranked by their longest path from StartAt (back edges ignored), rows are centred, and
// Parallel branches and expanded Map processors are laid out recursively inside container
// boxes. A Map is one node with a count bar of its iterations until it is expanded. The graph
// is the definition, never the iterations, so its size does not grow with the data. Layout
// touches no DOM, so big definitions are laid out in a worker (layout-worker.js).

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 170;
const NODE_H = 40;
const GAP_X = 40;
const GAP_Y = 56;
const PAD = 16;
const HEADER = 26;
const BAR = 18;
/** Definitions with more states than this are laid out off the main thread. */
const BIG = 60;

/**
 * @typedef {{ from: string, to: string, label?: string, kind?: string }} Edge
 * @typedef {{ name: string, type: string, w: number, h: number, x: number, y: number,
 *   children?: Layout[], collapsed?: boolean }} Node
 * @typedef {{ nodes: Map<string, Node>, edges: Edge[], w: number, h: number }} Layout
 */

/** @param {string} tag @param {Record<string, string|number>} attrs */
function el(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** A short description of a Choice rule, for its edge label. @param {any} r @returns {string} */
export function ruleText(r) {
  if (!r || typeof r !== "object") return "";
  if (r.Condition) return String(r.Condition).slice(0, 40);
  if (r.And) return r.And.map(ruleText).join(" and ");
  if (r.Or) return r.Or.map(ruleText).join(" or ");
  if (r.Not) return "not " + ruleText(r.Not);
  const op = Object.keys(r).find((k) => k !== "Variable" && k !== "Next" && k !== "Comment");
  if (!op) return "";
  const ops = /** @type {Record<string,string>} */ ({
    Equals: "==", GreaterThan: ">", GreaterThanEquals: ">=", LessThan: "<", LessThanEquals: "<=",
  });
  const m = op.match(/^(String|Numeric|Boolean|Timestamp)(Equals|GreaterThanEquals|GreaterThan|LessThanEquals|LessThan)(Path)?$/);
  if (m) return `${r.Variable} ${ops[m[2]]} ${m[3] ? r[op] : JSON.stringify(r[op])}`;
  return `${r.Variable} ${op}${r[op] === true ? "" : " " + JSON.stringify(r[op])}`;
}

/** The edges leaving a state. @param {string} name @param {any} s @returns {Edge[]} */
function edgesOf(name, s) {
  /** @type {Edge[]} */
  const out = [];
  if (s.Type === "Choice") {
    for (const c of s.Choices || []) if (c.Next) out.push({ from: name, to: c.Next, label: ruleText(c) });
    if (s.Default) out.push({ from: name, to: s.Default, label: "Default" });
  } else if (s.Next) {
    out.push({ from: name, to: s.Next });
  }
  for (const c of s.Catch || []) {
    if (c.Next) out.push({ from: name, to: c.Next, label: "Catch " + (c.ErrorEquals || []).join(", "), kind: "catch" });
  }
  return out;
}

/**
 * Lays out one machine (top level, a branch, or a Map processor); Maps not in `expanded` stay
 * one node. @param {any} def @param {Set<string>} [expanded] @returns {Layout}
 */
export function layout(def, expanded = new Set()) {
  const states = def && typeof def.States === "object" && def.States ? def.States : {};
  const names = Object.keys(states);
  /** @type {Edge[]} */
  const edges = names.flatMap((n) => edgesOf(n, states[n])).filter((e) => e.to in states);
  /** @type {Map<string, Edge[]>} */
  const out = new Map(names.map((n) => [n, []]));
  for (const e of edges) out.get(e.from)?.push(e);
  // Depth-first from StartAt: edges into a state on the current path are back edges.
  const rank = new Map();
  const order = [];
  const onPath = new Set();
  const back = new Set();
  /** @param {string} n */
  const visit = (n) => {
    onPath.add(n);
    order.push(n);
    rank.set(n, rank.get(n) ?? 0);
    for (const e of out.get(n) || []) {
      if (onPath.has(e.to)) { back.add(e); continue; }
      if (!rank.has(e.to)) visit(e.to);
    }
    onPath.delete(n);
  };
  const start = def.StartAt in states ? def.StartAt : names[0];
  if (start !== undefined) visit(start);
  for (const n of names) if (!rank.has(n)) visit(n);
  // Longest path over the forward edges (relaxed until stable; graphs are small).
  for (let changed = true, guard = 0; changed && guard < names.length + 2; guard++) {
    changed = false;
    for (const e of edges) {
      if (back.has(e)) continue;
      const r = rank.get(e.from) + 1;
      if (r > rank.get(e.to)) { rank.set(e.to, r); changed = true; }
    }
  }
  /** @type {Map<string, Node>} */
  const nodes = new Map();
  for (const n of order) {
    const s = states[n];
    /** @type {Node} */
    const node = { name: n, type: s.Type, w: NODE_W, h: NODE_H, x: 0, y: 0 };
    if (s.Type === "Parallel") {
      node.children = (s.Branches || []).map((/** @type {any} */ b) => layout(b, expanded));
    } else if (s.Type === "Map" && expanded.has(n)) {
      const proc = s.ItemProcessor || s.Iterator;
      node.children = proc ? [layout(proc, expanded)] : [];
    } else if (s.Type === "Map") {
      node.collapsed = true;
      node.h = NODE_H + BAR;
    }
    if (node.children) {
      const kids = node.children;
      node.w = Math.max(NODE_W, kids.reduce((a, k) => a + k.w, 0) + GAP_X * Math.max(0, kids.length - 1) + 2 * PAD);
      node.h = HEADER + PAD + Math.max(0, ...kids.map((k) => k.h)) + PAD;
    }
    nodes.set(n, node);
  }
  /** @type {Node[][]} */
  const rows = [];
  for (const n of order) (rows[rank.get(n)] ||= []).push(/** @type {Node} */ (nodes.get(n)));
  let y = 0;
  let width = 0;
  const rowsDone = rows.filter(Boolean);
  for (const row of rowsDone) width = Math.max(width, row.reduce((a, n) => a + n.w, 0) + GAP_X * (row.length - 1));
  for (const row of rowsDone) {
    const rw = row.reduce((a, n) => a + n.w, 0) + GAP_X * (row.length - 1);
    let x = (width - rw) / 2;
    const rh = Math.max(...row.map((n) => n.h));
    for (const n of row) {
      n.x = x;
      n.y = y + (rh - n.h) / 2;
      x += n.w + GAP_X;
    }
    y += rh + GAP_Y;
  }
  return { nodes, edges, w: Math.max(width, NODE_W), h: Math.max(0, y - GAP_Y) };
}

/**
 * Draws a layout into `g`, offset by (ox, oy).
 * @param {SVGGElement} g @param {Layout} lay @param {number} ox @param {number} oy
 */
function draw(g, lay, ox, oy) {
  const edgeLayer = el("g", { class: "edges" });
  g.appendChild(edgeLayer);
  for (const e of lay.edges) {
    const a = lay.nodes.get(e.from);
    const b = lay.nodes.get(e.to);
    if (!a || !b) continue;
    const x1 = ox + a.x + a.w / 2;
    const y1 = oy + a.y + a.h;
    const x2 = ox + b.x + b.w / 2;
    const y2 = oy + b.y;
    let d;
    if (y2 > y1) {
      const my = (y1 + y2) / 2;
      d = `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`;
    } else {
      // Back edge: around the right side.
      const side = ox + Math.max(a.x + a.w, b.x + b.w) + 24;
      d = `M${ox + a.x + a.w},${oy + a.y + a.h / 2} C${side},${oy + a.y + a.h / 2} ${side},${oy + b.y + b.h / 2} ${ox + b.x + b.w},${oy + b.y + b.h / 2}`;
    }
    const path = el("path", { d, class: "edge" + (e.kind ? " " + e.kind : ""), "marker-end": "url(#arrow)" });
    edgeLayer.appendChild(path);
    if (e.label) {
      const t = el("text", {
        // Near the target, so labels of edges leaving one Choice do not overlap.
        x: x1 + (x2 - x1) * 0.7 + 4, y: y2 > y1 ? y1 + (y2 - y1) * 0.7 : (oy + a.y + oy + b.y) / 2,
        class: "edge-label",
      });
      t.textContent = e.label.length > 44 ? e.label.slice(0, 43) + "…" : e.label;
      edgeLayer.appendChild(t);
    }
  }
  for (const n of lay.nodes.values()) {
    const ng = /** @type {SVGGElement} */ (el("g", {
      class: "node type-" + n.type.toLowerCase() + (n.children ? " container" : ""),
      "data-state": n.name, "data-status": "NOT_RUN", role: "button", tabindex: 0,
      "aria-label": `${n.name} (${n.type})`,
    }));
    ng.appendChild(el("rect", { x: ox + n.x, y: oy + n.y, width: n.w, height: n.h, rx: n.type === "Choice" ? 16 : 6 }));
    const label = el("text", {
      x: ox + n.x + n.w / 2, y: oy + n.y + (n.children ? 17 : n.collapsed ? 20 : n.h / 2 + 5), class: "node-name",
    });
    label.textContent = n.name;
    ng.appendChild(label);
    if (n.children) {
      const kind = el("text", { x: ox + n.x + 8, y: oy + n.y + 17, class: "node-kind" });
      kind.textContent = n.type;
      ng.appendChild(kind);
    }
    g.appendChild(ng);
    if (n.type === "Map") {
      // The count bar: filled in by paintMaps from the execution's iteration counts.
      const bx = ox + n.x + 8;
      const by = oy + n.y + (n.collapsed ? NODE_H - 6 : 6);
      const bw = n.collapsed ? n.w - 60 : 80;
      const bar = /** @type {SVGGElement} */ (el("g", {
        class: "countbar", "data-map": n.name, role: "img", "aria-label": `${n.name} iterations: none yet`,
        transform: `translate(${n.collapsed ? bx : ox + n.x + n.w - bw - 70},${by})`,
      }));
      bar.appendChild(el("rect", { class: "track", x: 0, y: 0, width: bw, height: 8, rx: 3, "data-width": bw }));
      for (const k of ["succeeded", "failed", "running"]) bar.appendChild(el("rect", { class: k, x: 0, y: 0, width: 0, height: 8 }));
      const count = el("text", { class: "count", x: bw + 4, y: 8 });
      bar.appendChild(count);
      g.appendChild(bar);
      const tg = el("text", {
        class: "toggle", role: "button", tabindex: 0, "data-toggle": n.name,
        x: ox + n.x + n.w - 14, y: oy + n.y + 16,
        "aria-label": `${n.collapsed ? "Expand" : "Collapse"} ${n.name}`, "aria-expanded": String(!n.collapsed),
      });
      tg.textContent = n.collapsed ? "+" : "−";
      g.appendChild(tg);
    }
    if (n.children) {
      let cx = ox + n.x + PAD;
      const inner = n.children.reduce((a, k) => a + k.w, 0) + GAP_X * Math.max(0, n.children.length - 1);
      cx += (n.w - 2 * PAD - inner) / 2;
      for (const k of n.children) {
        const sub = /** @type {SVGGElement} */ (el("g", { class: "branch" }));
        g.appendChild(sub);
        draw(sub, k, cx, oy + n.y + HEADER + PAD);
        cx += k.w + GAP_X;
      }
    }
  }
}

/** How many states a definition has, branches and processors included. @param {any} def @returns {number} */
export function stateCount(def) {
  const states = def && typeof def.States === "object" && def.States ? Object.values(def.States) : [];
  return states.reduce((/** @type {number} */ a, /** @type {any} */ s) => a + 1 +
    (s.Branches || []).reduce((/** @type {number} */ b, /** @type {any} */ x) => b + stateCount(x), 0) +
    (s.ItemProcessor || s.Iterator ? stateCount(s.ItemProcessor || s.Iterator) : 0), 0);
}

/** Lays out `def`, in a worker when it is big. @param {any} def @param {Set<string>} expanded @returns {Promise<Layout>} */
function layoutAuto(def, expanded) {
  if (stateCount(def) <= BIG || typeof Worker === "undefined") return Promise.resolve(layout(def, expanded));
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./layout-worker.js", import.meta.url), { type: "module" });
    w.onmessage = (ev) => { w.terminate(); resolve(ev.data); };
    w.onerror = (ev) => { w.terminate(); reject(new Error(ev.message || "layout worker failed")); };
    w.postMessage({ def, expanded: [...expanded] });
  });
}

/**
 * Renders the definition as an `<svg>`; returns it and the layout time in ms (in the worker's
 * round trip, for big definitions).
 * @param {any} def @param {Set<string>} [expanded] Map states drawn open
 * @returns {Promise<{ svg: SVGSVGElement, ms: number }>}
 */
export async function render(def, expanded = new Set()) {
  const t0 = performance.now();
  const lay = await layoutAuto(def, expanded);
  const ms = performance.now() - t0;
  const m = 20;
  const svg = /** @type {SVGSVGElement} */ (el("svg", {
    class: "graph", viewBox: `${-m} ${-m} ${lay.w + 2 * m + 40} ${lay.h + 2 * m}`,
    width: lay.w + 2 * m + 40, height: lay.h + 2 * m, role: "img", "aria-label": "State machine graph",
  }));
  const defs = el("defs");
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  const g = /** @type {SVGGElement} */ (el("g"));
  svg.appendChild(g);
  draw(g, lay, 0, 0);
  return { svg, ms };
}

/**
 * Paints each state's status (from the server's overlay) on a rendered graph.
 * @param {SVGSVGElement} svg @param {Record<string, {status: string}>} states
 */
export function paint(svg, states) {
  for (const n of svg.querySelectorAll("g.node")) {
    const s = states[n.getAttribute("data-state") || ""];
    n.setAttribute("data-status", s ? s.status : "NOT_RUN");
  }
}

/**
 * Fills each Map's count bar. @param {SVGSVGElement} svg
 * @param {Record<string, {total: number, running: number, succeeded: number, failed: number, aborted: number}>} maps
 */
export function paintMaps(svg, maps) {
  for (const bar of svg.querySelectorAll("g.countbar")) {
    const name = bar.getAttribute("data-map") || "";
    const c = maps[name] || { total: 0, running: 0, succeeded: 0, failed: 0, aborted: 0 };
    const track = /** @type {SVGRectElement} */ (bar.querySelector("rect.track"));
    const w = Number(track.getAttribute("data-width"));
    const total = Math.max(c.total, c.succeeded + c.failed + c.aborted + c.running, 1);
    let x = 0;
    for (const [k, n] of [["succeeded", c.succeeded], ["failed", c.failed + c.aborted], ["running", c.running]]) {
      const r = /** @type {SVGRectElement} */ (bar.querySelector("rect." + k));
      const rw = (w * Number(n)) / total;
      r.setAttribute("x", String(x));
      r.setAttribute("width", String(rw));
      x += rw;
    }
    const done = c.succeeded + c.failed + c.aborted;
    /** @type {Element} */ (bar.querySelector("text.count")).textContent = `${done}/${c.total}`;
    bar.setAttribute("aria-label", `${name} iterations: ${c.succeeded} succeeded, ${c.failed} failed, ` +
      `${c.aborted} aborted, ${c.running} running, of ${c.total}`);
  }
}
