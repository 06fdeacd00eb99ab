const HREF = /(<a\b[^>]*?\shref\s*=\s*)(["'])(.*?)\2/gis;

const decodeEntities = (s: string): string =>
  s
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');

const escapeAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

/**
 * Rewrites every `http(s)` link of `<a href>` through `redirect(url)` (which returns the signed
 * click-redirect URL), leaving alone links for which `keep(url)` is true (the unsubscribe link,
 * links already pointing at the tracking endpoints), `mailto:`, `tel:` and anchors.
 */
export function rewriteLinks(
  html: string,
  redirect: (url: string) => string,
  keep: (url: string) => boolean,
): string {
  return html.replace(HREF, (whole, before: string, _quote: string, raw: string) => {
    const url = decodeEntities(raw.trim());
    if (!/^https?:\/\//i.test(url) || keep(url)) return whole;
    return `${before}"${escapeAttr(redirect(url))}"`;
  });
}

/** Adds a 1×1 open pixel just before `</body>`, or at the end when there is no body tag. */
export function addOpenPixel(html: string, pixelUrl: string): string {
  const img = `<img src="${escapeAttr(pixelUrl)}" width="1" height="1" alt="" style="display:none;border:0" />`;
  const at = html.search(/<\/body\s*>/i);
  return at < 0 ? html + img : html.slice(0, at) + img + html.slice(at);
}
