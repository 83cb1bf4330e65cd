/** The swarm layer's logger shape and helpers: the trainer's common ones, under the names this layer exports. */
export { errorMessage, silentLogger } from '../common/index.ts';
export type { Logger as SwarmLogger } from '../common/index.ts';
