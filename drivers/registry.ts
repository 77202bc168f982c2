import { ConfigError } from '../core/index.js';
import { bridgeDriver } from './bridge.js';
import { macvlanDriver } from './macvlan.js';
import { hostDriver, noneDriver } from './host-none.js';
import type { Driver } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDriver = Driver<any>;

const DRIVERS: Record<string, AnyDriver> = {
  bridge: bridgeDriver,
  macvlan: macvlanDriver,
  host: hostDriver,
  none: noneDriver,
};

/** Drivers whose networks have IPAM pools and endpoints with addresses. */
export function usesIpam(driver: string): boolean {
  return driver === 'bridge' || driver === 'macvlan';
}

export function getDriver(name: string): AnyDriver {
  const d = DRIVERS[name];
  if (!d) throw new ConfigError(`unknown driver "${name}" (known: ${Object.keys(DRIVERS).join(', ')})`, 'driver');
  return d;
}
