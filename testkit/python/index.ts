/**
 * Python for benches: virtual environments built from pinned requirements
 * and cached outside the repository. This file is the public face.
 */
export { COMPLETE_MARKER, DEFAULT_VENV_ROOT, ensureVenv, type Venv, VenvError, type VenvOptions, venvKey } from './venv.ts';
