import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Ajv } from 'ajv';
import { PLUGINS } from '../plugins/index.js';
import { AJV_OPTIONS, compileSchema, compiledSchemas, isGenerated } from './config.js';

const base = { cniVersion: '1.0.0', name: 'n1', type: 'tsnet-bridge' };
const ranges = [[{ subnet: '10.1.0.0/24' }]];
// Valid and invalid configurations of every plugin, failing in various places and keywords.
const SAMPLES: unknown[] = [
  {}, [], 'x', { cniVersion: 1 }, { ...base, name: 'bad name' }, { ...base, name: 'x'.repeat(201) },
  { ...base, ipam: { type: 'tsnet-ipam', ranges } }, { ...base, ipam: { type: 'tsnet-ipam', ranges: [[]] } },
  { ...base, ipam: { type: 'tsnet-ipam', ranges: [[{ gateway: '10.1.0.1' }]] } }, { ...base, ipam: { ranges } },
  { ...base, ipam: { type: 'tsnet-ipam', routes: [{ gw: '10.1.0.1' }] } }, { ...base, isGateway: 'yes' }, { ...base, mtu: 1.5 },
  { ...base, vlan: 5000 }, { ...base, ipMasqBackend: 'ebpf' }, { ...base, mode: 7 }, { ...base, master: 1 },
  { ...base, runtimeConfig: { portMappings: [{ hostPort: 80 }] } }, { ...base, runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80 }] } },
  { ...base, runtimeConfig: { ipRanges: [[{ subnet: 1 }]] } }, { ...base, args: { cni: { ips: [1] } } }, { ...base, dns: { nameservers: 'x' } },
  { ...base, prevResult: [] }, { ...base, snat: 'no' }, { ...base, conditionsV4: 'x' }, { ...base, unknownField: true },
];

test('every plugin schema has a build-time validator, with the same verdicts and errors as ajv at run time', () => {
  for (const plugin of Object.values(PLUGINS)) {
    try {
      plugin.parse({});
    } catch {
      // {} is invalid; the plugin compiled its schema on the way
    }
  }
  const schemas = compiledSchemas();
  assert.ok(schemas.length >= Object.keys(PLUGINS).length, `${schemas.length} schemas for ${Object.keys(PLUGINS).length} plugins`);
  const ajv = new Ajv({ ...AJV_OPTIONS });
  for (const schema of schemas) {
    const built = compileSchema(schema);
    assert.ok(isGenerated(built), 'no generated validator: run `npm run build` (scripts/gen-cni-validators.mjs)');
    const runtime = ajv.compile(schema);
    for (const sample of SAMPLES) {
      assert.is(built(sample), runtime(sample), JSON.stringify(sample));
      assert.equal(built.errors ?? null, runtime.errors ?? null, JSON.stringify(sample));
    }
  }
});

test('a schema without a generated validator is compiled at run time', () => {
  const v = compileSchema({ type: 'object', required: ['zz'] });
  assert.not.ok(isGenerated(v));
  assert.not.ok(v({}));
  assert.is(v.errors?.[0]?.keyword, 'required');
});

test.run();
