import { setPriority } from 'node:os';

/** The nice value of background threads (checkpoints, index passes): 0 is the default, 19 the lowest. */
export const BACKGROUND_NICE = 10;

/**
 * Lowers the calling thread's scheduling priority, so that when every core is busy its work waits
 * for request handling, commits and segment evaluation instead of taking turns with them. On Linux
 * a priority belongs to a thread (pid 0 is the calling one), so the rest of the process keeps its
 * own. Where the system does not allow it, the thread runs as before.
 */
export function lowerThreadPriority(nice = BACKGROUND_NICE): void {
  try {
    setPriority(0, nice);
  } catch {
    // Not allowed here: no harm, the work is only less polite.
  }
}
