/** Leaf helpers every trainer folder may use; this folder imports nothing of ours. */
export { errorMessage } from './errors.ts';
export { firstNonFinite } from './finite.ts';
export { silentLogger } from './logger.ts';
export type { Logger } from './logger.ts';
