/**
 * NetworkManager's lazyPortTable (standalone CNI processes): published ports go straight into
 * tsnet's nft port table, created only when it is missing; without it, the table is
 * re-asserted (`nft -f`) once per process. Told apart by a PortMap whose nft program is
 * /bin/false: only the re-assertion needs it. Inside the sandbox's throwaway host netns.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { paths } from '../core/index.js';
import { PortMap } from '../core/firewall/index.js';
import { openStore } from '../store/index.js';
import { NetworkManager } from '../drivers/index.js';
import { cleanup, dropSandbox, newSandbox, publishedPorts } from './helpers.js';

const dbFile = join(paths().root, `port-table-${randomBytes(3).toString('hex')}.db`);
const noNft = () => new PortMap({ nft: '/bin/false' });

test('lazyPortTable: creates the table when missing, then adds without nft; the default re-asserts it', async () => {
  const real = NetworkManager.open(dbFile, { lazyPortTable: true });
  const ns = await newSandbox('port-table');
  try {
    await real.teardownFirewall();
    await real.createNetwork({ name: 'pt', subnets: [{ subnet: '10.233.7.0/24' }] });
    const attach = (mgr: NetworkManager, id: string, hostPort: number) => mgr.attach({
      network: 'pt', sandbox: id, id, placement: { kind: 'netns', netnsPath: ns, ifname: id }, ports: [{ proto: 'tcp', containerPort: 80, hostPort }],
    });
    // Missing table: a lazy manager creates it (through nft) and publishes.
    await attach(real, 'pt1', 18301);
    assert.ok((await publishedPorts()).some((p) => p.startsWith('tcp . 18301')), 'published, table created');
    // Table present: a lazy manager whose nft always fails still publishes (netlink only).
    const lazy = new NetworkManager({ store: openStore(dbFile), portMap: noNft(), lazyPortTable: true });
    await attach(lazy, 'pt2', 18302);
    assert.ok((await publishedPorts()).some((p) => p.startsWith('tcp . 18302')), 'published without nft');
    await lazy.detach('pt2');
    lazy.close();
    // The default manager re-asserts the table first: with nft failing, the attach fails whole.
    const eager = new NetworkManager({ store: openStore(dbFile), portMap: noNft() });
    try {
      await attach(eager, 'pt3', 18303);
      assert.unreachable('the re-assertion should have run nft');
    } catch (err) {
      assert.not.instance(err, assert.Assertion);
    } finally {
      eager.close();
    }
    assert.not.ok((await publishedPorts()).some((p) => p.startsWith('tcp . 18303')), 'nothing of the failed attach is left');
    assert.is(real.listEndpoints().length, 1);
  } finally {
    await cleanup(real, dbFile);
    dropSandbox(ns);
  }
});

test.run();
