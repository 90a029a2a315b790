// Builds a JavaScript task into a component of world sandflow:task/task:
//   node sdk/js/build.mjs SOURCE.js OUT.wasm
// Every WASI feature is disabled, so the component imports only the sandflow:task
// interfaces (no stdio, clocks, randomness or fetch).
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [source, out] = process.argv.slice(2);
if (!source || !out) {
  console.error('usage: node build.mjs SOURCE.js OUT.wasm');
  process.exit(2);
}
const outPath = resolve(out);
// componentize-js resolves the source's relative imports (the SDK) from the working
// directory, so build from the repository root with the source named relative to it.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sourcePath = relative(root, resolve(source));
process.chdir(root);
const { component } = await componentize({
  sourcePath,
  witPath: join(root, 'sdk', 'wit'),
  worldName: 'task',
  disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
});
await writeFile(outPath, component);
