import type { OutboundMessage } from '../channels/outbound.ts';
import type { WorkspaceId } from '../core/ids.ts';
import type { Store } from '../store/port.ts';
import { type CompiledGuardrails, compileRules, inScope } from './compile-rules.ts';
import { decide } from './decide.ts';
import type { Decision } from './decision.ts';
import { DEFAULT_MAX_ENTRIES, type HistoryLimits } from './delivery-history.ts';
import type { GuardrailFacts, TokenBucket } from './facts.ts';
import { checkRules, InvalidRulesError, type RuleError } from './parse-rules.ts';
import { DEFAULT_RULES, type GuardrailRules } from './rules.ts';
import { takeToken } from './token-bucket.ts';

/** The workspace setting holding the rules as written, with when they were stored. */
export const GUARDRAILS_SETTING = 'guardrails';

/** A workspace's rules as the admin API shows them. */
export interface GuardrailsView {
  /** The rules as last stored (JSON; YAML bodies are stored as the JSON they parse to), or null. */
  readonly rules: unknown;
  /** The rules in force: the stored ones with every default filled in. */
  readonly effective: GuardrailRules;
  /** When the rules were stored (ms since the epoch), or null for the defaults. */
  readonly updatedAt: number | null;
  /** Set when the stored rules no longer validate; the defaults are in force meanwhile. */
  readonly errors?: readonly RuleError[];
}

interface Loaded {
  readonly view: GuardrailsView;
  readonly compiled: CompiledGuardrails;
}

/** Thrown when a workspace's rules are asked for before `load`. */
export class GuardrailsNotLoadedError extends Error {
  override name = 'GuardrailsNotLoadedError';
  constructor(readonly workspace: string) {
    super(`guardrails of workspace '${workspace}' are not loaded`);
  }
}

const DEFAULTS = compileRules(DEFAULT_RULES);

/**
 * The shell around the guardrail core: loads each workspace's rules from its settings, compiles
 * them once, and decides on messages with them. `put` validates, stores and recompiles. The
 * decision itself stays pure; only loading and storing touch the store.
 */
export class GuardrailService {
  private readonly loaded = new Map<string, Loaded>();
  private readonly listeners: ((ws: WorkspaceId, compiled: CompiledGuardrails) => void)[] = [];

  private constructor(private readonly store: Pick<Store, 'getSetting' | 'setSetting'>) {}

  /** A service with the rules of `workspaces` loaded. */
  static async open(
    store: Pick<Store, 'getSetting' | 'setSetting'>,
    workspaces: readonly WorkspaceId[],
  ): Promise<GuardrailService> {
    const service = new GuardrailService(store);
    for (const ws of workspaces) await service.load(ws);
    return service;
  }

  /** (Re)reads a workspace's rules from the store. */
  async load(ws: WorkspaceId): Promise<GuardrailsView> {
    const raw = await this.store.getSetting(ws, GUARDRAILS_SETTING);
    if (raw === null)
      return this.install(ws, { rules: null, effective: DEFAULT_RULES, updatedAt: null }, DEFAULTS);
    const stored = JSON.parse(raw) as { rules: unknown; updatedAt: number };
    const checked = checkRules(stored.rules);
    if (!checked.ok) {
      return this.install(
        ws,
        {
          rules: stored.rules,
          effective: DEFAULT_RULES,
          updatedAt: stored.updatedAt,
          errors: checked.errors,
        },
        DEFAULTS,
      );
    }
    const view = { rules: stored.rules, effective: checked.rules, updatedAt: stored.updatedAt };
    return this.install(ws, view, compileRules(checked.rules));
  }

  /** The workspace's rules as stored and in force. */
  view(ws: WorkspaceId): GuardrailsView {
    return this.get(ws).view;
  }

  /** The compiled rules in force (for calling `decide` directly). */
  compiled(ws: WorkspaceId): CompiledGuardrails {
    return this.get(ws).compiled;
  }

  /**
   * Validates and stores new rules for the workspace, effective for the next decision. Throws
   * `InvalidRulesError` naming every bad path; nothing is stored then.
   */
  async put(ws: WorkspaceId, rules: unknown, now: number): Promise<GuardrailsView> {
    const checked = checkRules(rules);
    if (!checked.ok) throw new InvalidRulesError(checked.errors);
    await this.store.setSetting(ws, GUARDRAILS_SETTING, JSON.stringify({ rules, updatedAt: now }));
    return this.install(ws, { rules, effective: checked.rules, updatedAt: now }, compileRules(checked.rules));
  }

  /** The guardrail decision for a message of a loaded workspace. */
  decide(message: OutboundMessage, facts: GuardrailFacts, now: number): Decision {
    return decide(this.compiled(message.workspaceId as WorkspaceId), message, facts, now);
  }

  /** How long and how many deliveries per profile the delivery history must keep for these rules. */
  historyLimits(ws: WorkspaceId, maxEntries = DEFAULT_MAX_ENTRIES): HistoryLimits {
    return { retentionMs: this.compiled(ws).retentionMs, maxEntries };
  }

  /**
   * The provider buckets after `message` was sent at `now`: one token taken from every rate limit
   * that applies to it. Call after a send the guardrails allowed.
   */
  takeTokens(
    message: OutboundMessage,
    buckets: Readonly<Record<string, TokenBucket>>,
    now: number,
  ): Record<string, TokenBucket> {
    const out: Record<string, TokenBucket> = { ...buckets };
    const compiled = this.compiled(message.workspaceId as WorkspaceId);
    for (const r of compiled.ruleSet(message.channel, message.category).rateLimits) {
      if (!inScope(r, message.topic, message.journey?.key ?? null)) continue;
      out[r.provider] = takeToken(out[r.provider], r, now);
    }
    return out;
  }

  /** Calls `fn` whenever a workspace's rules change (e.g. to resize the delivery history). */
  onChange(fn: (ws: WorkspaceId, compiled: CompiledGuardrails) => void): void {
    this.listeners.push(fn);
  }

  private get(ws: WorkspaceId): Loaded {
    const l = this.loaded.get(ws);
    if (l === undefined) throw new GuardrailsNotLoadedError(ws);
    return l;
  }

  private install(ws: WorkspaceId, view: GuardrailsView, compiled: CompiledGuardrails): GuardrailsView {
    this.loaded.set(ws, { view, compiled });
    for (const fn of this.listeners) fn(ws, compiled);
    return view;
  }
}
