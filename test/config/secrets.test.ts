// Secrets by allow-list: the report keeps only values known to be safe, masks the secrets
// inside them by form, and the event log hides every secret it can recognise. Scans are
// linear: a 1 MB environment is cheap, and 8 times the size costs about 8 times as much.
import t from 'tap';
import fc from 'fast-check';
import { redactedEnvironment } from '../../src/capture/environment.ts';
import { collectSecrets, maskSecretSpans } from '../../src/config/secrets.ts';
import { createEventLog } from '../../src/util/event-log.ts';

/** Every log line our code could write that quotes a variable whole. */
function logLines(env: Record<string, string>): string[] {
  const lines: string[] = [];
  const log = createEventLog((line) => lines.push(line), collectSecrets(env));
  for (const [name, value] of Object.entries(env)) log.warn(`${name}=${value}`);
  return lines;
}

t.test('the forms the issue names never reach the report or the log', async (t) => {
  const env = {
    DB_PASS: 'dbpass-Zq81xK',
    SPRING_APPLICATION_JSON: JSON.stringify({ spring: { datasource: { url: 'jdbc:h2:mem', password: 'springpw-Ru27c' } } }),
    JAVA_OPTS: '-Xmx512m -Ddb.pass=javaopt-Yt55b -Dapp.mode=prod',
    JDBC_URL: 'jdbc:postgresql://db.internal:5432/shop?user=app&password=jdbcpw-Wq19a&ssl=true',
    GOOGLE_CREDENTIALS: JSON.stringify({ type: 'service_account', private_key: '-----BEGIN PRIVATE KEY-----\nMIIEvpkey-Aa77q\n-----END PRIVATE KEY-----\n' }),
    STRIPE_KEY: 'sk_live_stripekey-Pp31',
    AZURE_CREDENTIALS: 'azurecred-Mm42z',
    SERVICE_CONFIG: JSON.stringify({ nested: { private_key: 'nestedpk-Kk09d' } }),
    MEMORY_LIMIT: '1024m',
    CF_INSTANCE_INDEX: '0',
    VCAP_APPLICATION: '{"application_name":"shop","limits":{"mem":1024}}',
    PATH: '/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: 'UTC',
    PORT: '8080',
  };
  const secrets = ['dbpass-Zq81xK', 'springpw-Ru27c', 'javaopt-Yt55b', 'jdbcpw-Wq19a', 'MIIEvpkey-Aa77q', 'stripekey-Pp31', 'azurecred-Mm42z', 'nestedpk-Kk09d'];
  const report = JSON.stringify(redactedEnvironment(env));
  const log = logLines(env).join('');
  for (const secret of secrets) {
    t.notOk(report.includes(secret), `${secret} not in the report`);
    t.notOk(log.includes(secret), `${secret} not in the log`);
  }
  const out = redactedEnvironment(env);
  t.equal(out.JAVA_OPTS, '-Xmx512m -Ddb.pass=*** -Dapp.mode=prod', 'JAVA_OPTS kept, the secret option masked');
  for (const name of ['MEMORY_LIMIT', 'CF_INSTANCE_INDEX', 'VCAP_APPLICATION', 'PATH', 'LANG', 'TZ', 'PORT'] as const) t.equal(out[name], env[name], `${name} kept`);
  for (const name of ['DB_PASS', 'SPRING_APPLICATION_JSON', 'JDBC_URL', 'GOOGLE_CREDENTIALS', 'STRIPE_KEY', 'SERVICE_CONFIG'] as const) t.equal(out[name], '***', `${name} masked: not known safe`);
});

t.test('POSTMORTEM_REPORT_ENV keeps a value, with the secrets inside it still masked', async (t) => {
  const env = { DATABASE_URL: 'postgres://app:s3cr3t-pw@db.internal:5432/shop?sslmode=require', FEATURE_FLAGS: 'a,b', DB_PASSWORD: 'hunter2-hunter2' };
  const out = redactedEnvironment(env, ['DATABASE_URL', 'FEATURE_FLAGS', 'DB_PASSWORD']);
  t.equal(out.DATABASE_URL, 'postgres://app:***@db.internal:5432/shop?sslmode=require');
  t.equal(out.FEATURE_FLAGS, 'a,b');
  t.equal(out.DB_PASSWORD, '***', 'a secret-named variable is never kept, even when named');
  t.equal(redactedEnvironment(env).FEATURE_FLAGS, '***', 'not named: masked');
});

t.test('masking by form', async (t) => {
  t.equal(maskSecretSpans('-Dspring.datasource.password="a b c" -Dx=1'), '-Dspring.datasource.password=*** -Dx=1', 'quoted option value');
  t.equal(maskSecretSpans('jdbc:sqlserver://h;user=sa;password=Pw0rd!;encrypt=true'), 'jdbc:sqlserver://h;user=sa;password=***;encrypt=true');
  t.equal(maskSecretSpans('https://AKIA:wJal/rX+Y@host/b'), 'https://AKIA:***@host/b', 'AWS secrets contain /');
  t.equal(maskSecretSpans('https://AKIA:wJal@host/b', { urlUser: true }), 'https://***:***@host/b');
  t.equal(maskSecretSpans('{"apiKey": "k\\"ey-1", "name": "shop"}'), '{"apiKey": "***", "name": "shop"}', 'escaped quotes stay inside the value');
  t.equal(maskSecretSpans('see http://host/path?q=1 and -Xmx1g'), 'see http://host/path?q=1 and -Xmx1g', 'nothing secret: unchanged');
});

// A generated corpus: a random secret in one of the forms apps carry, under random names,
// alongside ordinary variables. No secret may appear in the report or in a log line.
const secretArb = fc.tuple(fc.stringMatching(/^[A-Za-z]{6,10}$/), fc.stringMatching(/^[0-9]{3,6}$/), fc.stringMatching(/^[A-Za-z0-9/+_~-]{4,12}$/))
  .map(([a, b, c]) => `${a}${b}${c}`);
const word = fc.stringMatching(/^[a-z]{2,8}$/);
const plainName = fc.stringMatching(/^[A-Z][A-Z0-9]{1,6}(_[A-Z0-9]{1,6}){0,2}$/);
const secretWord = fc.constantFrom('PASS', 'PASSWORD', 'SECRET', 'TOKEN', 'KEY', 'API_KEY', 'CREDENTIALS', 'PRIVATE_KEY', 'AUTH', 'PWD', 'SESSION');
const secretKey = fc.constantFrom('pass', 'password', 'secret', 'token', 'apiKey', 'api.key', 'credentials', 'private_key', 'auth', 'clientSecret', 'pwd');

type Placed = { name: string; value: string; recognisable: boolean };
const placements = (secret: string): fc.Arbitrary<Placed>[] => [
  fc.tuple(plainName, secretWord).map(([n, w]) => ({ name: `${n}_${w}`, value: secret, recognisable: true })),
  fc.tuple(fc.constantFrom('JAVA_OPTS', 'JAVA_TOOL_OPTIONS', 'JDK_JAVA_OPTIONS', 'JAVA_EXTRA_OPTS'), word, secretKey, fc.boolean())
    .map(([name, prefix, key, quoted]) => ({ name, value: `-Xmx256m -D${prefix}.${key}=${quoted ? `"${secret}"` : secret} -Dfile.encoding=UTF-8`, recognisable: true })),
  fc.tuple(plainName, word, word).map(([name, user, host]) => ({ name, value: `postgres://${user}:${secret}@${host}.internal:5432/db`, recognisable: true })),
  fc.tuple(fc.constantFrom('JAVA_OPTS', 'DB_URL', 'DATASOURCE'), secretKey, fc.constantFrom('?', '&', ';')).map(([name, key, sep]) => ({
    name, value: `${name === 'JAVA_OPTS' ? '-Dspring.datasource.url=' : ''}jdbc:mysql://db:3306/app${sep === '?' ? '' : '?ssl=true'}${sep}${key}=${secret}&x=1`, recognisable: true,
  })),
  fc.tuple(plainName, secretKey, fc.integer({ min: 0, max: 3 })).map(([name, key, depth]) => {
    let doc: unknown = { [key]: secret, other: 'value' };
    for (let i = 0; i < depth; i++) doc = { level: doc, list: [1, 'two'] };
    return { name, value: JSON.stringify(doc), recognisable: true };
  }),
  // A plain value under an ordinary name: only the allow-list keeps it out of the report.
  plainName.map((name) => ({ name, value: secret, recognisable: false })),
];

const caseArb = secretArb.chain((secret) => fc.record({
  secret: fc.constant(secret),
  placed: fc.oneof(...placements(secret)),
  listed: fc.boolean(),
  noise: fc.dictionary(plainName, word, { maxKeys: 5 }),
}));

t.test('generated corpus: no secret byte in the report or the log', async (t) => {
  let runs = 0;
  fc.assert(fc.property(caseArb, ({ secret, placed, listed, noise }) => {
    runs += 1;
    const env: Record<string, string> = { ...noise, PATH: '/usr/bin', MEMORY_LIMIT: '512m', [placed.name]: placed.value };
    // Listed in POSTMORTEM_REPORT_ENV: the value is kept, so only a recognisable form is masked.
    const keep = listed && placed.recognisable ? [placed.name] : [];
    const report = JSON.stringify(redactedEnvironment(env, keep));
    if (report.includes(secret) || report.includes(secret.slice(0, 8))) throw new Error(`report leaks ${secret}: ${report}`);
    if (placed.recognisable) {
      const log = logLines(env).join('');
      if (log.includes(secret)) throw new Error(`log leaks ${secret}: ${log}`);
    }
  }), { numRuns: 3000, seed: 1101 });
  t.equal(runs, 3000, 'thousands of cases');
});

t.test('scrubbing is linear: a 1 MB environment is cheap, and 8 times the size costs about 8 times as much', async (t) => {
  // Shapes that made the old URL pattern quadratic (long runs of scheme characters), and
  // shapes full of the things the scans look for.
  const shapes: Record<string, (n: number) => string> = {
    letters: (n) => 'a'.repeat(n),
    schemes: (n) => 'ab://'.repeat(n / 5),
    userinfo: (n) => `x://u:${'p'.repeat(n - 10)}`,
    options: (n) => '-Dpassword'.repeat(n / 10),
    pairs: (n) => '&k=v'.repeat(n / 4),
    json: (n) => `{"password":"${'\\'.repeat(n)}`,
    quotes: (n) => '"a":"'.repeat(n / 5),
  };
  const cost = (size: number) => {
    const env: Record<string, string> = { PATH: '/usr/bin', JAVA_OPTS: '-Xmx1g' };
    for (const [name, make] of Object.entries(shapes)) env[`BIG_${name.toUpperCase()}`] = make(Math.floor(size / Object.keys(shapes).length));
    env.JAVA_TOOL_OPTIONS = shapes.options!(Math.floor(size / 8));
    const lines: string[] = [];
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const secrets = collectSecrets(env);
      redactedEnvironment(env);
      createEventLog((l) => lines.push(l), secrets).info(env.BIG_SCHEMES!.slice(0, 100_000));
      best = Math.min(best, performance.now() - started);
    }
    return best;
  };
  cost(100_000); // warm up the JIT
  const one = cost(1_000_000);
  t.comment(`1 MB environment: ${one.toFixed(1)} ms`);
  // Generous: the quadratic scan took ~35 s for 120 KB.
  t.ok(one < 1000, `1 MB in ${one.toFixed(0)} ms (< 1 s)`);
  // Linear, not quadratic: 8 times the size costs about 8 times as much (quadratic: 64 times).
  // Interleaved runs, the best of each: other processes on a shared machine slow runs, never speed them up.
  let small = Infinity;
  let big = Infinity;
  for (let round = 0; round < 4; round++) {
    small = Math.min(small, cost(500_000));
    big = Math.min(big, cost(4_000_000));
  }
  t.comment(`0.5 MB: ${small.toFixed(1)} ms; 4 MB: ${big.toFixed(1)} ms (${(big / small).toFixed(1)}x for 8x the size)`);
  t.ok(big < 24 * small + 50, `4 MB (${big.toFixed(0)} ms) costs about 8 times 0.5 MB (${small.toFixed(0)} ms), far from 64 times`);
});
