import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = 'server.json';

/** Records that a server is using a data directory, so other commands do not write behind its back. */
export function writeServerLock(dataDir: string, port: number): () => void {
  const path = join(dataDir, FILE);
  writeFileSync(path, JSON.stringify({ pid: process.pid, port }));
  return () => rmSync(path, { force: true });
}

/** The server running on this data directory, if any. */
export function runningServer(dataDir: string): { pid: number; port: number } | null {
  try {
    const info = JSON.parse(readFileSync(join(dataDir, FILE), 'utf8')) as { pid: number; port: number };
    process.kill(info.pid, 0);
    return info.pid === process.pid ? null : info;
  } catch {
    return null;
  }
}
