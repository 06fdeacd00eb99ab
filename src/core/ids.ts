/**
 * Branded identifiers. Ids are parsed once at the edge (HTTP, CLI, store rows) and carried as these
 * types, so a profile id can never be passed where a source id is expected.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type WorkspaceId = Brand<string, 'WorkspaceId'>;
export type SourceId = Brand<string, 'SourceId'>;
export type ProfileId = Brand<string, 'ProfileId'>;

export const asWorkspaceId = (s: string): WorkspaceId => s as WorkspaceId;
export const asSourceId = (s: string): SourceId => s as SourceId;
export const asProfileId = (s: string): ProfileId => s as ProfileId;

/** The workspace every row belongs to until multi-tenant hosting adds more. */
export const DEFAULT_WORKSPACE = asWorkspaceId('default');
