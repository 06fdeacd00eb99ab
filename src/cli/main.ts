import { Command, CommanderError } from 'commander';
import { VERSION } from '../app.ts';
import { ConfigError } from '../config/config.ts';
import { applyCommand } from './apply-command.ts';
import { attributionCommand } from './attribution-command.ts';
import { importCommand } from './import-command.ts';
import { simulateCommand } from './simulate-command.ts';
import { startCommand } from './start-command.ts';

const program = new Command('concierge')
  .description('Customer journey orchestration: Segment-compatible events, profiles, segments, journeys')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program.addCommand(startCommand());
program.addCommand(importCommand());
program.addCommand(applyCommand());
program.addCommand(simulateCommand());
program.addCommand(attributionCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // Errors from the writer thread arrive as plain objects; their message is still the point.
  const message =
    err instanceof ConfigError || err instanceof Error
      ? err.message
      : typeof (err as { message?: unknown })?.message === 'string'
        ? (err as { message: string }).message
        : String(err);
  process.stderr.write(`concierge: ${message}\n`);
  if (process.env.CONCIERGE_DEBUG) console.error(err);
  process.exit(1);
}
