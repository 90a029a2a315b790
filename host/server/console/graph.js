// @ts-check
// Draws an ASL definition as an SVG graph with a small layered layout of its own: states are
// ranked by their longest path from StartAt (back edges ignored), rows are centred, and
// Parallel branches and Map processors are laid out recursively inside container boxes. The
// graph is the definition, never the iterations, so its size does not grow with the data.

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 170;
const NODE_H = 40;
const GAP_X = 40;
const GAP_Y = 56;
const PAD = 16;
const HEADER = 26;

/**
 * @typedef {{ from: string, to: string, label?: string, kind?: string }} Edge
 * @typedef {{ name: string, type: string, w: number, h: number, x: number, y: number,
 *   children?: Layout[] }} Node
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

/** Lays out one machine (top level, a branch, or a Map processor). @param {any} def @returns {Layout} */
export function layout(def) {
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
      node.children = (s.Branches || []).map(layout);
    } else if (s.Type === "Map") {
      const proc = s.ItemProcessor || s.Iterator;
      node.children = proc ? [layout(proc)] : [];
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
      x: ox + n.x + n.w / 2, y: oy + n.y + (n.children ? 17 : n.h / 2 + 5), class: "node-name",
    });
    label.textContent = n.name;
    ng.appendChild(label);
    if (n.children) {
      const kind = el("text", { x: ox + n.x + 8, y: oy + n.y + 17, class: "node-kind" });
      kind.textContent = n.type;
      ng.appendChild(kind);
    }
    g.appendChild(ng);
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

/**
 * Renders the definition as an `<svg>`; returns it and the layout time in ms.
 * @param {any} def
 * @returns {{ svg: SVGSVGElement, ms: number }}
 */
export function render(def) {
  const t0 = performance.now();
  const lay = layout(def);
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
 * The status of each state after the first `upto` events (compact `[id, type, name, ts]`).
 * @param {Array<[number, string, string|null, number]>} events @param {number} upto
 * @returns {Map<string, string>}
 */
export function statuses(events, upto) {
  /** @type {Map<string, string>} */
  const st = new Map();
  /** @type {string[]} */
  const open = [];
  for (const [, type, name] of events.slice(0, upto)) {
    if (type.endsWith("StateEntered") && name) {
      st.set(name, "RUNNING");
      open.push(name);
    } else if (type.endsWith("StateExited") && name) {
      if (st.get(name) !== "FAILED") st.set(name, "SUCCEEDED");
      const i = open.lastIndexOf(name);
      if (i >= 0) open.splice(i, 1);
    } else if (/(Failed|TimedOut|Aborted)$/.test(type) && open.length) {
      const cur = open[open.length - 1];
      st.set(cur, type.endsWith("TimedOut") ? "TIMED_OUT" : type.endsWith("Aborted") ? "ABORTED" : "FAILED");
      if (type.startsWith("Execution")) open.length = 0;
    } else if (type === "TaskSubmitted" && open.length) {
      st.set(open[open.length - 1], "WAITING");
    }
  }
  return st;
}

/** Paints statuses on a rendered graph. @param {SVGSVGElement} svg @param {Map<string,string>} st */
export function paint(svg, st) {
  for (const n of svg.querySelectorAll("g.node")) {
    n.setAttribute("data-status", st.get(n.getAttribute("data-state") || "") || "NOT_RUN");
  }
}
