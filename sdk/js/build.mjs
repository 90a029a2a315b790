// Builds a JavaScript task into a component of world sandflow:task/task:
//   node sdk/js/build.mjs SOURCE.js OUT.wasm
// Every WASI feature is disabled, so the component imports only the sandflow:task
// interfaces (no stdio, clocks, randomness or fetch).
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [source, out] = process.argv.slice(2);
if (!source || !out) {
  console.error('usage: node build.mjs SOURCE.js OUT.wasm');
  process.exit(2);
}
const { component } = await componentize({
  sourcePath: source,
  witPath: join(dirname(fileURLToPath(import.meta.url)), '..', 'wit'),
  worldName: 'task',
  disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
