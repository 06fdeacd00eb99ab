import type { OutboundMessage } from '../channels/outbound.ts';
import type { JsonObject } from '../core/event.ts';
import type { WorkspaceId } from '../core/ids.ts';
import type { Store } from '../store/port.ts';
import { LiquidSandbox } from './liquid-sandbox.ts';
import { CompiledTemplate, type RenderOutcome, type TemplateVariables } from './render.ts';
import {
  checkTemplateKey,
  InvalidTemplate,
  parseTemplate,
  type StoredTemplate,
  type TemplateDefinition,
} from './template-definition.ts';

/** The settings key templates are stored under, per workspace. */
export const TEMPLATES_SETTING = 'templates';

/** The part of a profile templates see. */
export interface TemplateProfile {
  readonly id: string;
  readonly traits: JsonObject;
  readonly userIds?: readonly string[];
  readonly anonymousIds?: readonly string[];
}

/** Links a message carries that only the delivery side can make (e.g. a signed unsubscribe URL). */
export type MessageLinks = (message: OutboundMessage) => Promise<Record<string, string>>;

export interface TemplateServiceDeps {
  readonly store: Store;
  readonly now: () => number;
  readonly liquid?: LiquidSandbox;
  readonly links?: MessageLinks;
}

interface Loaded {
  readonly stored: Map<string, StoredTemplate>;
  readonly compiled: Map<string, CompiledTemplate>;
}

/**
 * Templates per workspace: stored as one JSON setting (`templates`), parsed and compiled once per
 * change, rendered for the delivery side (`render`) and for previews. Writes are serialised, so
 * two concurrent PUTs never lose one another.
 */
export class TemplateService {
  readonly liquid: LiquidSandbox;
  private readonly loaded = new Map<WorkspaceId, Promise<Loaded>>();
  private writes: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: TemplateServiceDeps) {
    this.liquid = deps.liquid ?? new LiquidSandbox();
  }

  private load(ws: WorkspaceId): Promise<Loaded> {
    let p = this.loaded.get(ws);
    if (p === undefined) {
      p = (async () => {
        const raw = await this.deps.store.getSetting(ws, TEMPLATES_SETTING);
        const stored = new Map<string, StoredTemplate>();
        const compiled = new Map<string, CompiledTemplate>();
        const all = raw === null ? {} : (JSON.parse(raw) as Record<string, StoredTemplate>);
        for (const [key, t] of Object.entries(all)) {
          stored.set(key, t);
          compiled.set(key, new CompiledTemplate(t.definition, this.liquid));
        }
        return { stored, compiled };
      })();
      p.catch(() => this.loaded.delete(ws));
      this.loaded.set(ws, p);
    }
    return p;
  }

  /** Forgets what was read, so the next call reads the store again (after an outside change). */
  reload(ws: WorkspaceId): void {
    this.loaded.delete(ws);
  }

  async list(ws: WorkspaceId): Promise<StoredTemplate[]> {
    return [...(await this.load(ws)).stored.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async get(ws: WorkspaceId, key: string): Promise<StoredTemplate | null> {
    return (await this.load(ws)).stored.get(key) ?? null;
  }

  /** Checks and stores a template; throws `InvalidTemplate` naming every bad path. */
  put(ws: WorkspaceId, key: string, body: unknown): Promise<{ created: boolean; template: StoredTemplate }> {
    const keyError = checkTemplateKey(key);
    if (keyError !== null) return Promise.reject(new InvalidTemplate([{ path: 'key', message: keyError }]));
    let definition: TemplateDefinition;
    try {
      definition = parseTemplate(body, this.liquid);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.write(ws, (loaded) => {
      const at = new Date(this.deps.now()).toISOString();
      const before = loaded.stored.get(key);
      const template: StoredTemplate = { key, definition, createdAt: before?.createdAt ?? at, updatedAt: at };
      loaded.stored.set(key, template);
      loaded.compiled.set(key, new CompiledTemplate(definition, this.liquid));
      return { created: before === undefined, template };
    });
  }

  delete(ws: WorkspaceId, key: string): Promise<boolean> {
    return this.write(ws, (loaded) => {
      loaded.compiled.delete(key);
      return loaded.stored.delete(key);
    });
  }

  private write<T>(ws: WorkspaceId, change: (loaded: Loaded) => T): Promise<T> {
    const run = this.writes.then(async () => {
      const loaded = await this.load(ws);
      const stored = new Map(loaded.stored);
      const compiled = new Map(loaded.compiled);
      const next = { stored, compiled };
      const result = change(next);
      await this.deps.store.setSetting(ws, TEMPLATES_SETTING, JSON.stringify(Object.fromEntries(stored)));
      this.loaded.set(ws, Promise.resolve(next));
      return result;
    });
    this.writes = run.catch(() => undefined);
    return run;
  }

  /**
   * Renders a message the journey runtime decided to send, for the profile it goes to. A missing
   * template, a template for another channel, a missing required variable or a failed render is a
   * skip with its reason; nothing half-filled is ever returned.
   */
  async render(
    message: OutboundMessage,
    profile: TemplateProfile,
    computed: JsonObject,
  ): Promise<RenderOutcome> {
    const compiled = (await this.load(message.workspaceId as WorkspaceId)).compiled.get(message.template);
    if (compiled === undefined) return { kind: 'skipped', reason: `no template '${message.template}'` };
    if (compiled.definition.channel !== message.channel) {
      return {
        kind: 'skipped',
        reason: `template '${message.template}' is for ${compiled.definition.channel}, not ${message.channel}`,
      };
    }
    const links = this.deps.links ? await this.deps.links(message) : {};
    return compiled.render(
      variables(profile, computed, {
        event: message.event,
        journey: message.journey as JsonObject | null,
        context: message.context,
        message: {
          id: message.id,
          channel: message.channel,
          category: message.category,
          template: message.template,
          ...(message.topic !== undefined ? { topic: message.topic } : {}),
          ...links,
        },
      }),
    );
  }

  /** Renders a stored template for a profile and sample data, as the preview API shows it. */
  async preview(
    ws: WorkspaceId,
    key: string,
    input: {
      profile: TemplateProfile;
      computed?: JsonObject;
      event?: JsonObject | null;
      journey?: JsonObject | null;
      context?: JsonObject;
    },
  ): Promise<RenderOutcome | null> {
    const compiled = (await this.load(ws)).compiled.get(key);
    if (compiled === undefined) return null;
    const d = compiled.definition;
    return compiled.render(
      variables(input.profile, input.computed ?? {}, {
        event: input.event ?? null,
        journey: input.journey ?? null,
        context: input.context ?? {},
        message: {
          id: 'preview',
          channel: d.channel,
          category: d.category ?? 'transactional',
          template: key,
          ...(d.topic !== undefined ? { topic: d.topic } : {}),
          unsubscribe_url: 'https://example.invalid/unsubscribe-preview',
        },
      }),
    );
  }
}

function variables(
  profile: TemplateProfile,
  computed: JsonObject,
  rest: Omit<TemplateVariables, 'profile' | 'computed'>,
): TemplateVariables {
  return {
    profile: {
      id: profile.id,
      traits: profile.traits,
      userId: profile.userIds?.[0] ?? null,
      anonymousId: profile.anonymousIds?.[0] ?? null,
    },
    computed,
    ...rest,
  };
}
