/** Which requests count as dumps (sent to the kernel alone), errno names: pure. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errnoName, isDump } from './socket.js';

const RTM = { NEWLINK: 16, GETLINK: 18, NEWADDR: 20, GETADDR: 22, NEWROUTE: 24, GETROUTE: 26, NEWQDISC: 36, GETQDISC: 38 };
const F = { REQUEST: 1, ACK: 4, ROOT: 0x100, MATCH: 0x200, DUMP: 0x300, REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400 };

test('dumps are GETs with NLM_F_DUMP; NEW requests with EXCL or REPLACE are not', () => {
  for (const t of [RTM.GETLINK, RTM.GETADDR, RTM.GETROUTE, RTM.GETQDISC]) {
    assert.ok(isDump(t, F.REQUEST | F.ACK | F.DUMP), `get ${t} dump`);
    assert.not.ok(isDump(t, F.REQUEST | F.ACK), `get ${t} one`);
  }
  // EXCL shares MATCH's bit, REPLACE shares ROOT's: a create must not wait alone for a DONE.
  for (const t of [RTM.NEWLINK, RTM.NEWADDR, RTM.NEWROUTE, RTM.NEWQDISC]) {
    assert.not.ok(isDump(t, F.REQUEST | F.ACK | F.CREATE | F.EXCL), `new ${t} excl`);
    assert.not.ok(isDump(t, F.REQUEST | F.ACK | F.CREATE | F.REPLACE), `new ${t} replace`);
  }
});

test('errno names: libuv\'s, and the Linux ones it lacks that link requests give', () => {
  assert.equal(errnoName(17), { code: 'EEXIST', message: 'file already exists' });
  assert.equal(errnoName(54), { code: 'EXFULL', message: 'exchange full' });
  assert.equal(errnoName(200), { code: 'E200', message: 'errno 200' });
});

test.run();
