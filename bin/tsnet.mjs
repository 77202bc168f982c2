#!/usr/bin/env node
// The tsnet command's Node entry (bin/tsnet runs it): a client of tsnetd's API (see cli/index.ts). Needs `npm run build`.
import { main } from '../dist/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
