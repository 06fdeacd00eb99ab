import { mkdirSync } from 'node:fs';
import { Command } from 'commander';
import { createApp } from '../app.ts';
import { loadConfig } from '../config/config.ts';
import { walBufferStatus } from '../store/sqlite/wal-buffer.ts';
import { runningServer, writeServerLock } from './server-lock.ts';
import { storeOptions } from './store-options.ts';

export function startCommand(): Command {
  return storeOptions(
    new Command('start')
      .description('Run the tracking API, admin API and console on one port')
      .option('-p, --port <port>', 'port to listen on (env PORT)', undefined)
      .option('--host <host>', 'address to bind (env HOST)', undefined)
      .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env LOG_LEVEL)'),
  ).action(async (opts: Record<string, string | undefined>) => {
    const config = loadConfig(opts, process.env);
    mkdirSync(config.dataDir, { recursive: true });
    if (config.store.kind === 'sqlite') {
      const other = runningServer(config.dataDir);
      if (other)
        throw new Error(
          `another server (pid ${other.pid}, port ${other.port}) already uses ${config.dataDir}`,
        );
    }
    const app = await createApp(config);
    const log = app.http.log;
    let unlock = () => {};
    const shutdown = async (signal: string) => {
      log.info({ signal }, 'shutting down: draining in-flight requests');
      const timer = setTimeout(() => {
        log.error('shutdown took longer than 10 s; exiting');
        process.exit(1);
      }, 10_000);
      timer.unref();
      await app.close();
      unlock();
      log.info('stopped');
      process.exit(0);
    };
    process.once('SIGINT', () => void shutdown('SIGINT'));
    process.once('SIGTERM', () => void shutdown('SIGTERM'));

    await app.http.listen({ port: config.port, host: config.host });
    const address = app.http.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    if (config.store.kind === 'sqlite') unlock = writeServerLock(config.dataDir, port);
    const where =
      config.store.kind === 'sqlite' ? config.store.path : config.store.url.replace(/:[^:@/]*@/, ':***@');
    const lines = [
      `Concierge listening on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port} (store: ${config.store.kind} ${where})`,
    ];
    if (config.store.kind === 'sqlite') {
      const buffer = walBufferStatus();
      if (!buffer.ok) log.warn(`the log's commits are written page by page, which is slower: ${buffer.why}`);
    }
    if (app.generatedAdminToken) {
      lines.push(
        `Admin token (shown once; set CONCIERGE_ADMIN_TOKEN to choose your own): ${app.generatedAdminToken}`,
      );
    }
    if (app.generatedWriteKey) {
      lines.push(
        `Write key of the default source (shown once; create more with POST /api/sources): ${app.generatedWriteKey}`,
      );
    }
    process.stderr.write(`${lines.join('\n')}\n`);
  });
}
