/** The message of a thrown value: an Error's (from any realm, such as a worker's), a string as is, else its JSON. */
export function errorMessage(e: unknown): string {
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  if (typeof e === 'string') return e;
  return JSON.stringify(e) ?? String(e);
}
