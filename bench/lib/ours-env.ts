// BENCH_OURS_ENV="K=V,K=V": settings for our watchdog only (never the reference), to compare
// levers run by run (part size, MALLOC_ARENA_MAX, the memory check's interval) without a rebuild.
export function oursEnv(): Record<string, string> {
  const text = process.env['BENCH_OURS_ENV'] ?? '';
  return Object.fromEntries(text.split(',').filter((p) => p.includes('=')).map((p) => [p.slice(0, p.indexOf('=')).trim(), p.slice(p.indexOf('=') + 1).trim()]));
}
