/**
 * The page at `/`: tells whoever opens the server in a browser that it runs, what it holds, and
 * where the APIs are, with a link to the web console at `/console/`.
 */
export function homePage(info: { version: string; store: string; events: number; profiles: number }): string {
  const n = (x: number) => x.toLocaleString('en');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Concierge</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{color:#666}
</style></head><body>
<h1>Concierge is running</h1>
<dl><dt>Version</dt><dd>${info.version}</dd><dt>Store</dt><dd>${info.store}</dd>
<dt>Events</dt><dd>${n(info.events)}</dd><dt>Profiles</dt><dd>${n(info.profiles)}</dd></dl>
<h2>Send events</h2>
<p>Point any Segment-compatible SDK at this address, or
<code>curl -u "$WRITE_KEY:" ${'<span id="origin"></span>'}/v1/track -d '{"userId":"u1","event":"Signed Up"}'</code>.</p>
<h2>Look around</h2>
<ul>
<li><a href="/openapi.json">/openapi.json</a> — the tracking and admin APIs (admin calls need <code>Authorization: Bearer &lt;admin token&gt;</code>)</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics</li>
<li><a href="/healthz">/healthz</a> — readiness</li>
</ul>
<p><a href="/console/"><strong>Open the web console</strong></a> — profiles, segments, sources and settings; it asks for the admin token.</p>
<script>document.getElementById('origin').textContent = location.origin</script>
</body></html>`;
}
