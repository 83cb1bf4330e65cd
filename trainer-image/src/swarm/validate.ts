/**
 * Field validators shared by the record and assignment codecs. Each returns
 * an error message naming the field, or undefined when the value is valid.
 * None of them throws.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { MAX_MULTIADDR_CHARS, MAX_MULTIADDRS, MAX_NAME_CHARS } from './constants.ts';

/** base58btc alphabet; libp2p's string form of Ed25519/secp256k1/RSA peer ids. */
const BASE58 = /^[1-9A-HJ-NP-Za-km-z]{40,128}$/;

export function checkPeerId(field: string, v: unknown): string | undefined {
  if (typeof v !== 'string' || !BASE58.test(v)) return `${field}: must be a base58 libp2p peer id`;
  try {
    const id = peerIdFromString(v);
    if (id.type !== 'Ed25519' && id.type !== 'secp256k1' && id.type !== 'RSA') return `${field}: unsupported peer id type ${id.type}`;
    if (id.toString() !== v) return `${field}: not in canonical form`;
  } catch (e) {
    return `${field}: not a peer id (${(e as Error).message})`;
  }
  return undefined;
}

/**
 * Multiaddrs must parse, be short, and carry no /p2p/ component other than
 * `peerId`'s, except a relay's: in a circuit address
 * (`…/p2p/<relay>/p2p-circuit/p2p/<peerId>`) the /p2p/ right before
 * /p2p-circuit names the relay, and what follows the last /p2p-circuit must
 * end with /p2p/<peerId>.
 */
export function checkMultiaddrs(field: string, v: unknown, peerId: string): string | undefined {
  if (!Array.isArray(v)) return `${field}: must be an array`;
  if (v.length > MAX_MULTIADDRS) return `${field}: at most ${MAX_MULTIADDRS} addresses`;
  for (let i = 0; i < v.length; i++) {
    const a: unknown = v[i];
    if (typeof a !== 'string' || a.length === 0 || a.length > MAX_MULTIADDR_CHARS) return `${field}[${i}]: must be a string of 1..${MAX_MULTIADDR_CHARS} chars`;
    try {
      const cs = multiaddr(a).getComponents();
      for (let k = 0; k < cs.length; k++) {
        const c = cs[k]!;
        const relayHop = cs[k + 1]?.name === 'p2p-circuit';
        if (c.name === 'p2p' && c.value !== peerId && !relayHop) return `${field}[${i}]: /p2p/ component names another peer`;
        if (c.name === 'p2p-circuit' && (k === 0 || cs[k - 1]?.name !== 'p2p')) return `${field}[${i}]: /p2p-circuit must follow the relay's /p2p/ component`;
      }
      const circuit = cs.findLastIndex((c) => c.name === 'p2p-circuit');
      if (circuit >= 0) {
        const last = cs[cs.length - 1];
        if (last?.name !== 'p2p' || last.value !== peerId || cs.length - 1 === circuit) return `${field}[${i}]: a circuit address must end with /p2p/ of the record's peer`;
      }
    } catch (e) {
      return `${field}[${i}]: not a multiaddr (${(e as Error).message})`;
    }
  }
  return undefined;
}

export function checkInt(field: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): string | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return `${field}: must be an integer in [${min}, ${max}]`;
  return undefined;
}

export function checkFinite(field: string, v: unknown, min: number): string | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) return `${field}: must be a finite number >= ${min}`;
  return undefined;
}

export function checkName(field: string, v: unknown, optional: boolean): string | undefined {
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME_CHARS) return `${field}: must be a string of 1..${MAX_NAME_CHARS} chars`;
  return undefined;
}

/** Rejects fields not in `allowed`, so that a typo or a newer writer is noticed rather than half-read. */
export function checkKnownFields(what: string, r: Record<string, unknown>, allowed: ReadonlySet<string>): string | undefined {
  for (const k of Object.keys(r)) if (!allowed.has(k)) return `${what}: unknown field ${JSON.stringify(k.slice(0, 64))}`;
  return undefined;
}

export function parseJsonObject(bytes: Uint8Array, limit: number, what: string): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  if (bytes.byteLength > limit) return { ok: false, error: `${what} is ${bytes.byteLength} bytes, limit ${limit}` };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    return { ok: false, error: `${what} is not JSON: ${(e as Error).message}` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: `${what} must be a JSON object` };
  return { ok: true, value: raw as Record<string, unknown> };
}
