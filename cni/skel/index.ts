/**
 * cni/skel: CNI spec 1.1 plumbing shared by tsnet's plugins (environment, configuration,
 * versions, results and their conversion, errors, dispatch). Pure: no kernel, no store.
 */
export * from './errors.js';
export * from './version.js';
export * from './env.js';
export * from './result.js';
export * from './config.js';
export * from './dispatch.js';
