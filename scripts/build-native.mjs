// Builds native/walbuf.c, the SQLite extension that writes the log's write-ahead log in large
// pieces (see the file), into native/build/. Runs after `npm ci`/`npm install`. Without a C
// compiler the store still works, with SQLite's own writes; the server says so when it starts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const headers = join(dirname(require.resolve('better-sqlite3/package.json')), 'deps', 'sqlite3');
const source = join(root, 'native', 'walbuf.c');
const out = join(root, 'native', 'build', process.platform === 'darwin' ? 'walbuf.dylib' : 'walbuf.so');

if (process.platform === 'win32') {
  console.log('native/walbuf: not built on Windows; the store uses SQLite as it is');
  process.exit(0);
}
if (!existsSync(join(headers, 'sqlite3ext.h'))) {
  console.log(`native/walbuf: not built: no sqlite3ext.h in ${headers}`);
  process.exit(0);
}
mkdirSync(dirname(out), { recursive: true });
const cc = process.env.CC || 'cc';
const args = ['-O2', '-fPIC', '-shared', '-Wall', '-I', headers, '-o', out, source];
if (process.platform === 'darwin') args.unshift('-undefined', 'dynamic_lookup');
const r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.error || r.status !== 0) {
  console.log(
    `native/walbuf: not built (${r.error?.message ?? `${cc} exited with ${r.status}`}); the store uses SQLite as it is`,
  );
  process.exit(0);
}
console.log(`native/walbuf: built ${out}`);
