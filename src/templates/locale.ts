const TAG = /^([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))*$/;

/**
 * A locale tag in its canonical case (`pt-BR`, `zh-Hant-TW`), accepting `_` for `-`; null when it
 * is not a tag at all.
 */
export function normalizeLocale(tag: string): string | null {
  if (!TAG.test(tag)) return null;
  const parts = tag.split(/[-_]/);
  return parts
    .map((p, i) =>
      i === 0
        ? p.toLowerCase()
        : p.length === 2
          ? p.toUpperCase()
          : p.length === 4
            ? p[0]!.toUpperCase() + p.slice(1).toLowerCase()
            : p.toLowerCase(),
    )
    .join('-');
}

/**
 * The locale to render in: the profile's locale if the template has it, else each shorter
 * prefix of it (`pt-BR` → `pt`), else the template's default locale.
 */
export function chooseLocale(
  available: readonly string[],
  wanted: unknown,
  defaultLocale: string,
): { locale: string; fallback: boolean } {
  if (typeof wanted === 'string') {
    const tag = normalizeLocale(wanted.trim());
    if (tag !== null) {
      const parts = tag.split('-');
      for (let n = parts.length; n > 0; n--) {
        const candidate = parts.slice(0, n).join('-');
        if (available.includes(candidate)) return { locale: candidate, fallback: n < parts.length };
      }
    }
  }
  return { locale: defaultLocale, fallback: wanted !== undefined && wanted !== null };
}
