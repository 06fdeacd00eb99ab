import { Liquid, type Template } from 'liquidjs';

/** Limits that keep one template from costing more than a message is worth. */
export interface RenderLimits {
  /** Longest Liquid source of one field, in characters. */
  readonly maxSourceChars: number;
  /** Longest rendered output of one field, in characters. */
  readonly maxOutputChars: number;
  /** Time one field may take to render, in ms. */
  readonly renderMs: number;
  /** Liquid's own allocation budget per render (see liquidjs `memoryLimit`). */
  readonly memory: number;
  /** Tags, outputs and text nodes rendered per field (loops count each turn). */
  readonly templateNodes: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = {
  maxSourceChars: 100_000,
  maxOutputChars: 256 * 1024,
  renderMs: 2_000,
  memory: 10_000_000,
  templateNodes: 100_000,
};

/** Thrown when rendered output is larger than `maxOutputChars`. */
export class OutputTooLarge extends Error {
  override name = 'OutputTooLarge';
}

/**
 * Liquid as templates may use it: unknown filters are errors (a typo must not silently print
 * nothing), no file system (includes, renders and layouts find nothing: the template map is
 * empty), only own properties of the data are visible, and every render has a time and memory
 * budget. One engine escapes every output for HTML (`| raw` opts out); the other does not.
 */
export class LiquidSandbox {
  private readonly plain: Liquid;
  private readonly html: Liquid;

  constructor(readonly limits: RenderLimits = DEFAULT_RENDER_LIMITS) {
    const options = {
      strictFilters: true,
      strictVariables: false,
      ownPropertyOnly: true,
      templates: {},
      relativeReference: false,
      dynamicPartials: false,
      parseLimit: limits.maxSourceChars,
      renderLimit: limits.renderMs,
      memoryLimit: limits.memory,
      timezoneOffset: 0,
    };
    this.plain = new Liquid(options);
    this.html = new Liquid({ ...options, outputEscape: 'escape' });
    for (const engine of [this.plain, this.html]) {
      // Included and rendered files would be read from the template map (empty); refusing them at
      // parse time says so plainly instead of failing at send time.
      for (const tag of ['include', 'render', 'layout']) {
        engine.registerTag(tag, {
          parse() {
            throw new Error(`the ${tag} tag is not available in templates`);
          },
          *render() {},
        });
      }
    }
  }

  /** Parses Liquid source; throws with the Liquid message on bad syntax. */
  parse(source: string, escapeHtml: boolean): Template[] {
    if (source.length > this.limits.maxSourceChars) {
      throw new Error(`is ${source.length} characters; the limit is ${this.limits.maxSourceChars}`);
    }
    return (escapeHtml ? this.html : this.plain).parse(source);
  }

  /**
   * Renders parsed templates against the variables, within the limits. Synchronously: the data is
   * all in memory, and an asynchronous render would interleave with every other one in flight, so
   * its time limit would count their time too and skip messages under load.
   */
  render(parsed: Template[], vars: object, escapeHtml: boolean): string {
    const out = (escapeHtml ? this.html : this.plain).renderSync(parsed, vars, {
      templateLimit: this.limits.templateNodes,
      renderLimit: this.limits.renderMs,
      memoryLimit: this.limits.memory,
    }) as string;
    if (out.length > this.limits.maxOutputChars) {
      throw new OutputTooLarge(
        `rendered output is ${out.length} characters; the limit is ${this.limits.maxOutputChars}`,
      );
    }
    return out;
  }
}

/** The Liquid error message without the source excerpt liquidjs appends. */
export function liquidMessage(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0]!.trim();
}
