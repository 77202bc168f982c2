#!/usr/bin/env node
// tsnet's CNI plugins in Node (standalone mode): `tsnet-cni --plugin tsnet-bridge`, or this
// file linked under a plugin name. The installed fast path is the compiled shim, which
// forwards to tsnetd and execs this when no daemon answers. Needs `npm run build`.
// bin/tsnet-cni is a symbolic link to this file: Node runs the link's target, and a .cjs
// main file spares the ES module loader (~5 ms per call).
//
// A fresh process per CNI call, so start-up is most of its cost. It runs
// dist/cni/standalone.cjs, the plugin code in one file (scripts/bundle-cni.mjs), compiled
// with V8's code cache kept in TSNET_ROOT (cni-standalone.v8cache: ~20 ms less per call);
// VERSION runs standalone-version.cjs, the same entry without the rest.
// The cache is written after a successful run of a command it does not cover yet (so it
// holds the functions ADD, DEL... compiled), keyed on the bundle's id line and Node's
// version; V8 itself rejects a cache made with other flags, which is then rewritten. Code
// is run from that file, so only one owned by this user and writable by no one else is read.
// When tsc has rebuilt dist since the bundles were made, dist/cni/main.js runs instead.
'use strict';
const { closeSync, fstatSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');

const DIST = join(__dirname, '..', 'dist', 'cni');
const BUNDLE = join(DIST, 'standalone.cjs');
const VERSION_BUNDLE = join(DIST, 'standalone-version.cjs');
const MODULES = join(DIST, 'main.js');
const ID = /^\/\/ tsnet-cni-bundle ([0-9a-f]{64})\n/;

const mtime = (path) => statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? -1;

/** The cache's covered commands and V8 data when the file is ours and made for `key`. */
function readCache(file, key) {
  let buf;
  try {
    const fd = openSync(file, 'r');
    try {
      const st = fstatSync(fd);
      if (st.uid !== process.getuid() || (st.mode & 0o022) !== 0) return undefined;
      buf = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const nl = buf.indexOf(10);
  if (nl < 0) return undefined;
  const [k, verbs = ''] = buf.toString('latin1', 0, nl).split(' ');
  return k === key ? { verbs: verbs.split(',').filter(Boolean), data: buf.subarray(nl + 1) } : undefined;
}

/** Replaces the cache atomically (plugins run concurrently); failing to is no error. */
function writeCache(file, header, script) {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${header}\n`), script.createCachedData()]), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
  }
}

/**
 * The bundle's exports, compiled as Node compiles a CommonJS file but with the code cache,
 * and what to run after a good run. The bundle has no import() left (esbuild resolved them;
 * the build checks): a script made from a code cache loses Node's import() callback.
 */
function loadBundle(env) {
  // latin1: the bundle is ASCII (the build checks) and one-byte decoding is cheaper.
  const src = readFileSync(BUNDLE, 'latin1');
  const id = ID.exec(src.slice(0, 100))?.[1];
  const file = join(env.TSNET_ROOT ?? '/var/lib/tsnet', 'cni-standalone.v8cache');
  const key = id && `${id}/${process.version}/${process.arch}`;
  const cached = key ? readCache(file, key) : undefined;
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${src}\n})`, {
    filename: BUNDLE,
    ...(cached ? { cachedData: cached.data } : {}),
  });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(BUNDLE), module, BUNDLE, DIST);
  const verbs = cached && !script.cachedDataRejected ? cached.verbs : [];
  const verb = env.CNI_COMMAND ?? '';
  const covered = !key || !/^[A-Z]+$/.test(verb) || verbs.includes(verb);
  return { main: module.exports.main, done: covered ? undefined : () => writeCache(file, `${key} ${[...verbs, verb].join(',')}`, script) };
}

/** The code to run: VERSION's small bundle, the bundle, or (after a tsc-only build) dist's modules. */
async function entry(env) {
  const compiled = Math.max(mtime(MODULES), 0);
  const fresh = (path) => mtime(path) >= compiled;
  if (env.CNI_COMMAND === 'VERSION' && fresh(VERSION_BUNDLE)) return require(VERSION_BUNDLE);
  if (fresh(BUNDLE)) return loadBundle(env);
  return import(pathToFileURL(MODULES).href);
}

entry(process.env).then(async ({ main, done }) => {
  const code = await main(process.argv);
  if (code === 0) done?.();
  process.exit(code);
}).catch((err) => {
  process.stderr.write(`tsnet-cni: ${err?.stack ?? err}\n`);
  process.stdout.write(`${JSON.stringify({ cniVersion: '1.1.0', code: 100, msg: String(err?.message ?? err) })}\n`);
  process.exit(1);
});
