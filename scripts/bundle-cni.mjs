#!/usr/bin/env node
// Build step (`npm run build`, after tsc and gen-cni-validators): the standalone CNI
// executable's code as one CommonJS file, dist/cni/standalone.cjs, which bin/tsnet-cni loads.
// A standalone plugin is a fresh Node process per CNI call: resolving and loading ~90 ES
// modules and ~150 CommonJS files cost more than the plugin's work; one CommonJS file also
// compiles faster than one ES module of the same code (measured: ~8 ms per exec). Made from
// tsc's output (the code the tests run), with:
// - the generated validators inside (handed to cni/skel/config.js, loaded on first use);
// - import.meta.url as the bundle's own URL (core/paths finds the package root from it);
// - native addons found from the package folders: netlink's raw.js is handed its package's
//   folder (node-gyp-build finds the addon there), better-sqlite3 gets its addon's path from
//   store/store.ts (its `bindings` lookup stays outside and unused);
// - the netlink package reduced to the names core/netlink imports, taken from the parts that
//   export them (its index also loads the nl80211, genl and wg families: ~250 kB never
//   used); the build fails if core/netlink imports a name those parts do not export.
// - netlink's addon loaded by the path node-gyp-build finds now (relative to the bundle),
//   when that file is still there at run time; node-gyp-build's search otherwise (~1 ms).
// - `node:net` and `node:crypto` replaced, for tsnet's modules that import only isIP... /
//   createHash and randomBytes from them, by dist/cni/standalone/{net,crypto}.js: loading
//   the real modules costs ~4 ms per exec (net's streams, crypto's OpenSSL bindings).
// - a first line `// tsnet-cni-bundle <sha256 of the file>`: bin/tsnet-cni keys V8's code
//   cache of the bundle on it.
// Modules core/ loads lazily through createRequire (pino, ajv) stay outside, still lazy.
// Not for the daemon: core/link-reaper's worker (tsnetd only) is a file beside its module.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
const require = createRequire(join(root, 'package.json'));
const BUNDLE = join(dist, 'cni', 'standalone.cjs');
const VERSION_BUNDLE = join(dist, 'cni', 'standalone-version.cjs');

/** The parts of the netlink package core/netlink uses: [module, namespace name or undefined for `export *`]. */
const NETLINK_PARTS = [
  ['netlink/dist/constants.js'],
  ['netlink/dist/structs.js'],
  ['netlink/dist/netlink.js'],
  ['netlink/dist/rt/rt.js'],
  ['netlink/dist/rt/structs.js', 'rt'],
  ['netlink/dist/rt/ifla.js', 'ifla'],
];

/** The names dist/core/netlink imports from 'netlink', or undefined when an import is not `{ a, b }`. */
function netlinkImports() {
  const dir = join(dist, 'core', 'netlink');
  const names = new Set();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/^import\s+([^;]*?)\s+from\s+'netlink';/gms)) {
      const spec = /^\{([^}]*)\}$/.exec(m[1].trim());
      if (!spec) return undefined;
      for (const n of spec[1].split(',').map((s) => s.trim()).filter(Boolean)) names.add(n.split(/\s+as\s+/)[0]);
    }
  }
  return names;
}

/** The slim `netlink` module's source, or undefined (whole package) when an import is not a plain `{ ... }`. */
function slimNetlink() {
  const wanted = netlinkImports();
  if (!wanted) return undefined;
  const real = require('netlink');
  const from = new Map(); // name -> its expression in the slim module
  for (const [mod, ns] of NETLINK_PARTS) {
    if (ns && sameExports(require(mod), real[ns])) from.set(ns, { expr: `require('${mod}')`, value: real[ns] });
    else if (!ns) for (const [k, v] of Object.entries(require(mod))) from.set(k, { expr: `require('${mod}').${k}`, value: v });
  }
  const missing = [...wanted].filter((n) => !from.has(n) || from.get(n).value !== real[n]);
  if (missing.length > 0) throw new Error(`bundle-cni: core/netlink imports ${missing.join(', ')} from 'netlink': add the part that exports it to NETLINK_PARTS`);
  // CommonJS with the imported names only: esbuild's `export *` copies every export of every
  // part as a getter on first load, ~700 of them (~1 ms per exec).
  return `module.exports = {\n${[...wanted].sort().map((n) => `  ${n}: ${from.get(n).expr},`).join('\n')}\n};\n`;
}

/** True when the namespace `ns` (as the package's index exports it) has the module's exports, the same values. */
function sameExports(mod, ns) {
  const keys = Object.keys(mod);
  return ns !== undefined && keys.length === Object.keys(ns).length && keys.every((k) => mod[k] === ns[k]);
}

const RAW_LOAD = "require('node-gyp-build')(__dirname + '/..')";
const RAW_SEARCH = "require('node-gyp-build')(require('node:path').dirname(require.resolve('netlink/package.json')))";

/** The bundled raw.js's addon load: the file node-gyp-build picks now, else its search at run time. */
function rawLoadBundled() {
  let found;
  try {
    found = require('node-gyp-build').resolve(dirname(require.resolve('netlink/package.json')));
  } catch {
    return RAW_SEARCH;
  }
  // __dirname inside the bundle is the bundle's folder (dist/cni), wherever the package is.
  const rel = JSON.stringify(relative(join(dist, 'cni'), found));
  return `((p) => require('node:fs').existsSync(p) ? require(p) : ${RAW_SEARCH})(require('node:path').join(__dirname, ${rel}))`;
}

function nativeParts(slim) {
  const inNetlink = `${sep}node_modules${sep}netlink${sep}`;
  const rawLoad = rawLoadBundled();
  return {
    name: 'tsnet-native-parts',
    setup(b) {
      if (slim) {
        b.onResolve({ filter: /^netlink$/ }, () => ({ path: 'netlink-slim', namespace: 'tsnet' }));
        b.onLoad({ filter: /^netlink-slim$/, namespace: 'tsnet' }, () => ({ contents: slim, resolveDir: root, loader: 'js' }));
      }
      // raw.js finds its addon from its own __dirname: inside the bundle it is given the
      // package's folder as resolved at run time (hoisting and moves included); should that
      // line change, raw.js stays a file of the package.
      b.onLoad({ filter: /[\\/]netlink[\\/]dist[\\/]raw\.js$/ }, (a) => {
        const text = readFileSync(a.path, 'utf8');
        if (text.split(RAW_LOAD).length !== 2) return undefined;
        return { contents: text.replace(RAW_LOAD, rawLoad), loader: 'js' };
      });
      b.onResolve({ filter: /^\.\/raw$/ }, (a) => {
        if (!a.importer.includes(inNetlink)) return undefined;
        return readFileSync(join(dirname(a.importer), 'raw.js'), 'utf8').includes(RAW_LOAD) ? undefined : { path: 'netlink/dist/raw.js', external: true };
      });
    },
  };
}

/**
 * Built-in modules replaced by light ones of dist/cni/standalone for importers that import
 * only what those export and pass `uses` (the light Hash has update() and digest() only).
 */
const LIGHT = {
  'node:net': { file: 'net.js', uses: () => true },
  'node:crypto': { file: 'crypto.js', uses: (body) => count(body, /\bcreateHash\b/g) === count(body, /\bcreateHash\('sha256'\)(?:\.update\([^;]*?\))+\.digest\(/g) },
};
const count = (text, re) => text.match(re)?.length ?? 0;

/** The names `text` imports from `spec`, or undefined when one of its imports of it is not `import { a, b } from`. */
function namedImports(text, spec) {
  const names = [];
  const quoted = spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const all = [...text.matchAll(new RegExp(`(?:from|import\\s*\\(?|require\\s*\\()\\s*['"]${quoted}['"]`, 'g'))].length;
  const named = [...text.matchAll(new RegExp(`^import\\s*\\{([^}]*)\\}\\s*from\\s*['"]${quoted}['"];`, 'gm'))];
  if (named.length !== all) return undefined;
  for (const m of named) for (const n of m[1].split(',').map((x) => x.trim()).filter(Boolean)) names.push(n.split(/\s+as\s+/)[0]);
  return names;
}

/** Resolves LIGHT's modules to their light versions where the importer (a file of dist) takes only their exports. */
async function lightBuiltins(used) {
  const exports = {};
  for (const [spec, { file }] of Object.entries(LIGHT)) exports[spec] = new Set(Object.keys(await import(join(dist, 'cni', 'standalone', file))));
  return {
    name: 'tsnet-light-builtins',
    setup(b) {
      b.onResolve({ filter: /^node:(net|crypto)$/ }, (a) => {
        if (a.kind !== 'import-statement' || !a.importer.startsWith(dist + sep) || a.importer.includes(`${sep}node_modules${sep}`)) return undefined;
        const text = readFileSync(a.importer, 'utf8');
        const names = namedImports(text, a.path);
        const light = LIGHT[a.path];
        if (!names || !names.every((n) => exports[a.path].has(n)) || !light.uses(text.replace(/^import\s[^;]*;/gm, ''))) return undefined;
        used.add(a.path);
        return { path: join(dist, 'cni', 'standalone', light.file) };
      });
    },
  };
}

// The entry: validators registered (loaded on first compileSchema), then the executable's body.
const entry = `
import { setGeneratedValidators } from './skel/config.js';
setGeneratedValidators(() => require('./skel/validators.generated.cjs'));
export { main } from './main.js';
`;

const ID_LINE = '// tsnet-cni-bundle ';
const PLACEHOLDER = '0'.repeat(64);
const slim = slimNetlink();
const light = new Set();
const result = await build({
  stdin: { contents: entry, resolveDir: join(dist, 'cni'), sourcefile: 'standalone-entry.js', loader: 'js' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: BUNDLE,
  external: ['bindings', 'netlink/package.json'],
  plugins: [await lightBuiltins(light), nativeParts(slim)],
  define: { 'import.meta.url': '__tsnetImportMetaUrl' },
  banner: { js: `${ID_LINE}${PLACEHOLDER}\nconst __tsnetImportMetaUrl = require('node:url').pathToFileURL(__filename).href;` },
  // Whitespace only: names stay (stack traces, error names), the file is half the size.
  minifyWhitespace: true,
  sourcemap: 'linked',
  charset: 'ascii',
  logLevel: 'warning',
  metafile: true,
  write: false,
});
// VERSION (no store, no kernel) loads less: main.js alone, its import()s left to dist's modules.
const version = await build({
  entryPoints: [join(dist, 'cni', 'main.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: VERSION_BUNDLE,
  plugins: [await lightBuiltins(light), {
    name: 'tsnet-version-only',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (a) => (a.kind === 'dynamic-import' ? { path: a.path, external: true } : undefined));
    },
  }],
  define: { 'import.meta.url': '__tsnetImportMetaUrl' },
  banner: { js: "const __tsnetImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  charset: 'ascii',
  logLevel: 'warning',
  metafile: true,
  write: false,
});

/** Writes a file whole (tmp + rename): plugins may be running while this builds. */
function place(path, contents) {
  writeFileSync(`${path}.tmp`, contents);
  renameSync(`${path}.tmp`, path);
}

// bin/tsnet-cni runs the bundle with V8's code cache, which loses the import() callback: every
// import() must have been resolved inside the bundle (esbuild keeps those of external modules).
const dynamic = Object.values(result.metafile.outputs).flatMap((o) => o.imports).filter((i) => i.kind === 'dynamic-import' && i.external);
if (dynamic.length > 0) throw new Error(`bundle-cni: import() of modules outside the bundle: ${dynamic.map((i) => i.path).join(', ')}`);
// The id replaces the placeholder in place: same length, same lines (the source map holds).
const out = (r, path) => r.outputFiles.find((f) => f.path === path)?.text ?? '';
const text = out(result, BUNDLE);
if (!text.startsWith(ID_LINE + PLACEHOLDER)) throw new Error('bundle-cni: the id line is not first in the bundle');
// bin/tsnet-cni reads the bundle as latin1 (cheaper than UTF-8): it must be ASCII.
const nonAscii = text.search(/[^\x00-\x7f]/);
if (nonAscii >= 0) throw new Error(`bundle-cni: non-ASCII character at offset ${nonAscii} of the bundle`);
place(`${BUNDLE}.map`, out(result, `${BUNDLE}.map`));
place(BUNDLE, ID_LINE + createHash('sha256').update(text).digest('hex') + text.slice(ID_LINE.length + PLACEHOLDER.length));
place(VERSION_BUNDLE, out(version, VERSION_BUNDLE));
const bytes = Object.entries(result.metafile.outputs).find(([f]) => f.endsWith('.cjs'))?.[1].bytes ?? 0;
const vbytes = Object.values(version.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
const lightList = [...light].sort().map((m) => `, light ${m}`).join('');
console.log(`bundle-cni: ${BUNDLE} (${Math.round(bytes / 1024)} kB, ${Object.keys(result.metafile.inputs).length} inputs${slim ? ', slim netlink' : ''}${lightList}), VERSION: ${Math.round(vbytes / 1024)} kB`);
