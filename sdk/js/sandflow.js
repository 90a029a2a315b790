// Sandflow tasks in JavaScript, built into components with componentize-js (build.mjs).
//
//   import { task, Failure, kv } from './sandflow.js';
//   export const run = task((order) => {
//     if (!order.items?.length) throw new Failure('InvalidOrder', 'the order has no items');
//     return { count: order.items.length };
//   });
//
// `Failure(error, cause)` fails the Task state with that ASL error name and cause; any other
// exception fails it named by its `name` (as AWS Lambda does). Capability helpers throw
// `Failure`s too (`Sandflow.Denied` when a capability was not granted).

import * as rawHttp from 'sandflow:task/http@0.1.0';
import * as rawKv from 'sandflow:task/kv@0.1.0';
import * as rawLog from 'sandflow:task/log@0.1.0';
import * as rawQueue from 'sandflow:task/queue@0.1.0';

export class Failure extends Error {
  constructor(error, cause = '') {
    super(`${error}: ${cause}`);
    this.error = error;
    this.cause = cause;
  }
}

const NAMES = {
  denied: 'Sandflow.Denied',
  'too-large': 'Sandflow.TooLarge',
  backend: 'Sandflow.Backend',
  'invalid-request': 'Sandflow.HttpError',
  transport: 'Sandflow.HttpError',
  timeout: 'Sandflow.HttpTimeout',
};

// Calls an import, turning its thrown `err` ({tag, val} payload) into a Failure.
function call(fn, ...args) {
  try {
    return fn(...args);
  } catch (e) {
    const p = e?.payload;
    if (p && typeof p.tag === 'string') {
      throw new Failure(NAMES[p.tag] ?? 'Sandflow.Error', p.val === undefined ? p.tag : String(p.val));
    }
    throw e;
  }
}

// Makes `handler(input) -> output` the component's `run` export.
export function task(handler) {
  return function run(input) {
    try {
      return JSON.stringify(handler(JSON.parse(input)));
    } catch (e) {
      if (e instanceof Failure) throw { error: e.error, cause: String(e.cause) };
      throw { error: e?.name ?? 'Error', cause: String(e?.message ?? e) };
    }
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export const kv = {
  get(table, key) {
    const raw = call(rawKv.get, table, key);
    return raw === undefined || raw === null ? null : JSON.parse(dec.decode(raw));
  },
  set(table, key, value) {
    call(rawKv.set, table, key, enc.encode(JSON.stringify(value)));
  },
  delete: (table, key) => call(rawKv.delete, table, key),
  list: (table, prefix = '', limit = 100) => call(rawKv.listKeys, table, prefix, limit),
};

// Message ids are u64 (BigInt in JS); as Numbers they are exact up to 2^53.
export const queue = {
  send: (name, body) => Number(call(rawQueue.send, name, JSON.stringify(body))),
  receive: (name, max = 10) =>
    call(rawQueue.receive, name, max).map((m) => ({ id: Number(m.id), body: JSON.parse(m.body) })),
};

// An HTTP request to a granted endpoint: { status, headers, body (Uint8Array), text(), json() }.
export function fetch(method, url, { body, headers = [] } = {}) {
  const r = call(rawHttp.fetch, { method, url, headers, body: body === undefined ? undefined : enc.encode(body) });
  return { ...r, text: () => dec.decode(r.body), json: () => JSON.parse(dec.decode(r.body)) };
}

export const log = (message, level = 'info') => rawLog.write(level, String(message));
