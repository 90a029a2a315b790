// @ts-check
// Lays out a big definition off the main thread: gets `{def, expanded}`, answers the layout.
import { layout } from "./graph.js";

self.onmessage = (/** @type {MessageEvent} */ ev) => {
  self.postMessage(layout(ev.data.def, new Set(ev.data.expanded)));
};
