export * from './trainingswarm.ts';
export * from './env.ts';
export * from './subjects.ts';
export * from './protocols.ts';
export * from './telemetry.ts';
export * from './checkpoints.ts';
