import type { Template } from 'liquidjs';
import type { Channel } from '../channels/outbound.ts';
import type { JsonObject } from '../core/event.ts';
import type { RenderedContent } from './content.ts';
import { type LiquidSandbox, liquidMessage } from './liquid-sandbox.ts';
import { chooseLocale } from './locale.ts';
import type { TemplateDefinition } from './template-definition.ts';

/** What a template sees. */
export interface TemplateVariables {
  readonly profile: { readonly id: string; readonly traits: JsonObject } & JsonObject;
  readonly computed: JsonObject;
  readonly event: JsonObject | null;
  readonly journey: JsonObject | null;
  readonly context: JsonObject;
  /** About the message itself: id, channel, category, topic, and links such as `unsubscribe_url`. */
  readonly message: JsonObject;
}

/** The outcome of rendering: content to send, or a reason not to send anything. */
export type RenderOutcome =
  | { readonly kind: 'rendered'; readonly content: RenderedContent; readonly locale: string }
  | { readonly kind: 'skipped'; readonly reason: string; readonly missing?: readonly string[] };

/** A parsed field: Liquid, or (webhook bodies) JSON whose string leaves are Liquid. */
type ParsedTree =
  | { readonly kind: 'liquid'; readonly parsed: Template[] }
  | { readonly kind: 'array'; readonly items: ParsedTree[] }
  | { readonly kind: 'object'; readonly entries: [string, ParsedTree][] }
  | { readonly kind: 'value'; readonly value: unknown };

const MUST_NOT_BE_EMPTY: { readonly [C in Channel]: readonly string[] } = {
  email: ['subject'],
  sms: ['text'],
  push: ['title', 'body'],
  webpush: ['title', 'body'],
  webhook: [],
  inapp: ['body'],
};

/** A template with every field parsed once, ready to render many times. */
export class CompiledTemplate {
  private readonly parsed = new Map<string, Record<string, ParsedTree>>();

  constructor(
    readonly definition: TemplateDefinition,
    private readonly liquid: LiquidSandbox,
  ) {
    for (const [locale, content] of Object.entries(definition.locales)) {
      const fields: Record<string, ParsedTree> = {};
      for (const [field, source] of Object.entries(content as object)) {
        fields[field] = this.parseTree(source, definition.channel === 'email' && field === 'html');
      }
      this.parsed.set(locale, fields);
    }
  }

  private parseTree(v: unknown, html: boolean): ParsedTree {
    if (typeof v === 'string') return { kind: 'liquid', parsed: this.liquid.parse(v, html) };
    if (Array.isArray(v)) return { kind: 'array', items: v.map((x) => this.parseTree(x, false)) };
    if (typeof v === 'object' && v !== null) {
      return { kind: 'object', entries: Object.entries(v).map(([k, x]) => [k, this.parseTree(x, false)]) };
    }
    return { kind: 'value', value: v };
  }

  /**
   * Renders for the profile's `locale` trait (with fallback). A declared required variable that
   * is missing, null or empty skips the message, naming every missing one; so does a render that
   * breaks a limit or fails.
   */
  async render(vars: TemplateVariables): Promise<RenderOutcome> {
    const missing = this.definition.required.filter((path) => isBlank(lookup(vars, path)));
    if (missing.length > 0) {
      return {
        kind: 'skipped',
        reason: `missing required variable${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
        missing,
      };
    }
    const { locale } = chooseLocale(
      [...this.parsed.keys()],
      vars.profile.traits.locale,
      this.definition.defaultLocale,
    );
    const fields = this.parsed.get(locale)!;
    const out: Record<string, unknown> = { channel: this.definition.channel };
    try {
      for (const [field, tree] of Object.entries(fields)) {
        out[field] = await this.renderTree(
          tree,
          vars,
          this.definition.channel === 'email' && field === 'html',
        );
      }
    } catch (e) {
      return { kind: 'skipped', reason: `template failed to render: ${liquidMessage(e)}` };
    }
    // An empty message is a broken one: better skipped with a reason than sent blank.
    for (const field of MUST_NOT_BE_EMPTY[this.definition.channel]) {
      if (typeof out[field] === 'string' && out[field].trim() === '') {
        return { kind: 'skipped', reason: `rendered ${field} is empty` };
      }
    }
    if (this.definition.channel === 'email' && isBlank(out.html) && isBlank(out.text)) {
      return { kind: 'skipped', reason: 'rendered e-mail has neither html nor text' };
    }
    return { kind: 'rendered', content: out as unknown as RenderedContent, locale };
  }

  private async renderTree(tree: ParsedTree, vars: TemplateVariables, html: boolean): Promise<unknown> {
    switch (tree.kind) {
      case 'liquid':
        return this.liquid.render(tree.parsed, vars, html);
      case 'array': {
        const out: unknown[] = [];
        for (const t of tree.items) out.push(await this.renderTree(t, vars, false));
        return out;
      }
      case 'object': {
        const out: Record<string, unknown> = {};
        for (const [k, t] of tree.entries) out[k] = await this.renderTree(t, vars, false);
        return out;
      }
      case 'value':
        return tree.value;
    }
  }
}

/** Reads a dotted path (`profile.traits.first_name`) from the variables. */
export function lookup(vars: object, path: string): unknown {
  let v: unknown = vars;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

const isBlank = (v: unknown): boolean =>
  v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
