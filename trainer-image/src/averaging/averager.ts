// Placeholder so the public face typechecks; the runner lands next.
import type { Libp2p } from '@libp2p/interface';
import type { Averager as AveragerApi, AveragerOptions, RoundResult, RoundSpec } from './index.ts';

export class Averager implements AveragerApi {
  constructor(_host: Libp2p, _opts: AveragerOptions) {}
  async run(_spec: RoundSpec, _vector: Float32Array): Promise<RoundResult> {
    throw new Error('not implemented yet');
  }
  async leave(): Promise<void> {}
  async stop(): Promise<void> {}
}
