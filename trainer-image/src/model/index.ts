/**
 * The LeanALBERT model: config presets, the encoder with its tied MLM head,
 * and the flat-vector helpers the averaging and optimizer layers use.
 *
 *   const model = createModel(modelConfig('tiny', { vocabSize: tokenizer.vocabSize }), { seed });
 *   const { loss, grads } = await model.lossAndGradients(batch);   // grads: one Float32Array
 *   model.setFlat(averagedParams); const sum = await model.checksum();
 *
 * The trainer runs the model in a worker thread (compute.ts): the same calls, answered off the main thread.
 */
export {
  InvalidModelConfigError, type ModelConfig, MODEL_PRESETS, modelConfig, parameterCount, validateModelConfig,
} from './config.ts';
export {
  type CreateModelOptions, createModel, type LeanAlbert, type LossAndGradients, type NamedParameter, PARAMETER_NAMES, type ParameterName,
} from './lean-albert.ts';
export {
  type ComputeHost, ComputeWorker, ComputeWorkerError, type ComputeWorkerLogger, type ComputeWorkerOptions, DEFAULT_START_TIMEOUT_MS, type ModelCompute,
} from './compute.ts';
export { applyRotary, dense, gatherRows, geglu, gelu, layerNorm, matMul, rotaryTables, rotationMatrix } from './ops.ts';
export {
  assignFlat, checksum, fingerprint, flattenTensors, type ParamSpec, totalSize, unflatten,
} from './params.ts';
