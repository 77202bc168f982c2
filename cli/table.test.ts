import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderTable } from './table.js';

test('columns are padded to longest + 3, at least 10 wide; the last is not padded', () => {
  const out = renderTable(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], [
    ['1a2b3c4d5e6f', 'bridge', 'bridge', 'local'],
    ['aaaaaaaaaaaa', 'a-much-longer-name', 'macvlan', 'local'],
  ]);
  assert.is(
    out,
    'NETWORK ID     NAME                 DRIVER    SCOPE\n' +
      '1a2b3c4d5e6f   bridge               bridge    local\n' +
      'aaaaaaaaaaaa   a-much-longer-name   macvlan   local\n',
  );
});

test('headers only, ragged rows and empty last cells', () => {
  assert.is(renderTable(['A', 'B'], []), 'A         B\n');
  assert.is(renderTable(['A', 'B', 'C'], [['x'], ['y', 'z', '']]), 'A         B         C\nx\ny         z\n');
});

test.run();
