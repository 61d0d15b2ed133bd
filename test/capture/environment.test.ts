import t from 'tap';
import { redactedEnvironment } from '../../src/capture/environment.ts';

t.test('no secret survives into the report\'s environment', async (t) => {
  const env = {
    DB_PASSWORD: 'hunter2-hunter2',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG',
    JAVA_OPTS: '-Xmx1g -Djavax.net.ssl.keyStorePassword=changeit-now -Dapp.mode=prod',
    DATABASE_URL: 'postgres://app:s3cr3t-pw@db.internal:5432/shop',
    SOME_TOKEN: 'tok-123456',
    VCAP_SERVICES: JSON.stringify({ 'user-provided': [{ name: 'crash-store', label: 'user-provided', credentials: { secret_access_key: 'vcap-secret-value', bucket: 'b' } }] }),
    MEMORY_LIMIT: '1024m',
    PATH: '/usr/bin',
  };
  const out = redactedEnvironment(env);
  const text = JSON.stringify(out);
  for (const secret of ['hunter2-hunter2', 'wJalrXUtnFEMI/K7MDENG', 'changeit-now', 's3cr3t-pw', 'tok-123456', 'vcap-secret-value']) {
    t.notOk(text.includes(secret), `${secret} not in the report`);
  }
  t.equal(out.MEMORY_LIMIT, '1024m', 'ordinary values kept');
  t.match(out.JAVA_OPTS, /-Xmx1g -Djavax\.net\.ssl\.keyStorePassword=\*\*\* -Dapp\.mode=prod/);
  t.equal(out.DATABASE_URL, '***', 'not known safe: masked whole');
  t.match(redactedEnvironment(env, ['DATABASE_URL']).DATABASE_URL, /postgres:\/\/app:\*\*\*@db\.internal/, 'named in POSTMORTEM_REPORT_ENV: kept, password masked');
  t.equal(out.VCAP_SERVICES, 'bound services: crash-store (user-provided) (credentials omitted)');
});
