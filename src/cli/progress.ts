/** A one-line progress bar on stderr; on a non-terminal it prints a line every few seconds. */
export class Progress {
  private last = 0;
  private readonly started = performance.now();
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = out.isTTY === true;
  }

  update(done: number, count: number, unit: string, force = false): void {
    const t = performance.now();
    if (!force && t - this.last < (this.tty ? 100 : 5000)) return;
    this.last = t;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const secs = (t - this.started) / 1000;
    const rate = secs > 0 ? Math.round(count / secs) : 0;
    const width = 28;
    const filled = Math.round(frac * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const line = `${this.label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${count.toLocaleString('en')} ${unit} · ${rate.toLocaleString('en')}/s`;
    if (this.tty) this.out.write(`\r${line}\u001b[K`);
    else this.out.write(`${line}\n`);
  }

  finish(): void {
    if (this.tty) this.out.write('\n');
  }
}
