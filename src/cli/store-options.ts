import type { Command } from 'commander';

/** Flags shared by every command that opens the store. */
export function storeOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'data directory for the embedded store (env CONCIERGE_DATA)')
    .option('--store <url>', "'sqlite' (default), 'sqlite:FILE' or 'postgres://…' (env CONCIERGE_STORE)")
    .option(
      '--max-user-ids <n>',
      'most user ids one profile may hold (env CONCIERGE_MAX_USER_IDS, default 1)',
    )
    .option(
      '--identifier-traits <list>',
      'comma-separated traits that identify a person (env CONCIERGE_IDENTIFIER_TRAITS, default email)',
    );
}
