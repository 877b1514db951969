/**
 * Where the signed-in key lives: `sessionStorage` (this tab only, gone when it closes), never
 * `localStorage` nor the URL. A 401 from the API signs the tab out (the key was revoked or
 * expired), and listeners (the auth provider) are told.
 */
const STORAGE_KEY = 'keel.console.key';
const listeners = new Set<() => void>();

export function currentKey(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeKey(key: string | undefined): void {
  if (key === undefined) sessionStorage.removeItem(STORAGE_KEY);
  else sessionStorage.setItem(STORAGE_KEY, key);
  for (const listener of listeners) listener();
}

/** The API said the key is no good (401): forget it. */
export function signalUnauthorized(): void {
  if (currentKey() !== undefined) storeKey(undefined);
}

export function onKeyChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
