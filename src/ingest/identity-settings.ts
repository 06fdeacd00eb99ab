import { type Static, Type } from '@sinclair/typebox';
import { isIdentifierTraitName } from '../core/identity.ts';
import type { WorkspaceId } from '../core/ids.ts';
import type { IdentityConfig, Store } from '../store/port.ts';

const SETTING = 'identity';

/** The body of `PUT /api/settings/identity`: the fields to change. */
export const IdentitySettingsPatch = Type.Object(
  {
    identifierTraits: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 10,
        description: 'Traits that identify a person (e.g. email, phone); profiles sharing one merge.',
      }),
    ),
    maxUserIdsPerProfile: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: 'Most user ids one profile may hold.' }),
    ),
  },
  { additionalProperties: false },
);
export type IdentitySettingsPatch = Static<typeof IdentitySettingsPatch>;

/** Thrown when identity settings name something that cannot be an identifier. */
export class InvalidIdentitySettingsError extends Error {
  override name = 'InvalidIdentitySettingsError';
}

/**
 * Each workspace's identity rules, stored with the workspace and kept in memory for the hot path.
 * Changes apply to events received afterwards; profiles already merged stay merged.
 */
export class IdentitySettings {
  private readonly byWorkspace = new Map<WorkspaceId, IdentityConfig>();

  constructor(
    private readonly store: Store,
    private readonly defaults: IdentityConfig,
  ) {}

  /** Loads a workspace's rules; explicit overrides (from flags or environment) are stored. */
  async load(ws: WorkspaceId, overrides: Partial<IdentityConfig> = {}): Promise<IdentityConfig> {
    const raw = await this.store.getSetting(ws, SETTING);
    const stored = raw === null ? {} : (JSON.parse(raw) as Partial<IdentityConfig>);
    const rules = { ...this.defaults, ...stored, ...overrides };
    if (Object.keys(overrides).length > 0) await this.store.setSetting(ws, SETTING, JSON.stringify(rules));
    this.byWorkspace.set(ws, rules);
    return rules;
  }

  /** The rules in force for a workspace. */
  get(ws: WorkspaceId): IdentityConfig {
    return this.byWorkspace.get(ws) ?? this.defaults;
  }

  async update(ws: WorkspaceId, patch: IdentitySettingsPatch): Promise<IdentityConfig> {
    for (const t of patch.identifierTraits ?? []) {
      if (!isIdentifierTraitName(t)) {
        throw new InvalidIdentitySettingsError(`identifierTraits: '${t}' is not a usable trait name`);
      }
    }
    const rules: IdentityConfig = { ...this.get(ws), ...patch };
    await this.store.setSetting(ws, SETTING, JSON.stringify(rules));
    this.byWorkspace.set(ws, rules);
    return rules;
  }
}
