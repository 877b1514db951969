/**
 * Who is signed in, and what they may do. A key comes from the sign-in form (pasted) or from the
 * one-time link `keel serve` prints (`/#login=<token>`, exchanged once for a short-lived key and
 * then cleared from the address bar). `GET /v1/me` says the key's tenant and scopes; pages ask
 * `can(...)` before showing a button, so a read-only key sees none that would fail.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError } from './api/client';
import { currentKey, onKeyChange, storeKey } from './api/key-store';

export type Scope =
  | 'runs:read'
  | 'runs:read_payloads'
  | 'runs:write'
  | 'approvals'
  | 'gateway'
  | 'admin'
  | 'operator'
  | 'metrics';

export interface Me {
  key_id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  expires_at: string | null;
}

/** What each console ability needs (a key with `admin` can do all of them in its tenant). */
const ABILITIES = {
  readRuns: ['runs:read', 'admin'],
  readPayloads: ['runs:read_payloads', 'admin'],
  writeRuns: ['runs:write', 'admin'],
  decideApprovals: ['approvals', 'admin'],
  admin: ['admin'],
} as const satisfies Record<string, readonly Scope[]>;
export type Ability = keyof typeof ABILITIES;

interface AuthState {
  status: 'loading' | 'signed-out' | 'signed-in';
  me?: Me;
  /** Why the last sign-in failed (a bad key, a used link). */
  error?: ApiError;
  signIn(key: string): Promise<void>;
  signOut(): void;
  can(ability: Ability): boolean;
}

const AuthContext = createContext<AuthState | undefined>(undefined);

/** The `login` token of a `/#login=<token>` link, if the page was opened with one. */
function loginToken(): string | undefined {
  const match = /(?:^#|&)login=([^&]+)/.exec(window.location.hash);
  if (match?.[1] === undefined) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    // A mangled link (`%E0`): sent as it is, the server answers login_link_invalid.
    return match[1];
  }
}

/** The id of a key this tab bought with a link (revoked at sign-out; a pasted key never is). */
const MINTED_KEY = 'keel.console.minted-key-id';

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me>();
  const [status, setStatus] = useState<AuthState['status']>('loading');
  const [error, setError] = useState<ApiError>();

  const load = useCallback(async (key: string) => {
    const who = await api<Me>('/v1/me', { key });
    storeKey(key);
    setMe(who);
    setError(undefined);
    setStatus('signed-in');
  }, []);

  useEffect(() => {
    let cancelled = false;
    const start = async () => {
      const token = loginToken();
      if (token !== undefined) {
        // The link works once: clear it from the address bar and history before anything else.
        window.history.replaceState(null, '', window.location.pathname + window.location.search);
        try {
          const session = await api<{ key: string; key_id: string }>('/v1/console/session', {
            method: 'POST',
            body: { token },
            key: '',
          });
          if (!cancelled) {
            await load(session.key);
            sessionStorage.setItem(MINTED_KEY, session.key_id);
          }
          return;
        } catch (failure) {
          if (!cancelled && failure instanceof ApiError) setError(failure);
        }
      }
      const stored = currentKey();
      if (stored === undefined) {
        if (!cancelled) setStatus('signed-out');
        return;
      }
      try {
        if (!cancelled) await load(stored);
      } catch (failure) {
        if (cancelled) return;
        if (failure instanceof ApiError) setError(failure);
        storeKey(undefined);
        setStatus('signed-out');
      }
    };
    void start();
    // A link pasted into a tab already open on the console changes only the fragment.
    const onHashChange = () => {
      if (loginToken() !== undefined) void start();
    };
    window.addEventListener('hashchange', onHashChange);
    return () => {
      cancelled = true;
      window.removeEventListener('hashchange', onHashChange);
    };
  }, [load]);

  // A 401 anywhere (key revoked or expired) signs the tab out.
  useEffect(
    () =>
      onKeyChange(() => {
        if (currentKey() === undefined) {
          setMe(undefined);
          setStatus('signed-out');
        }
      }),
    [],
  );

  const value = useMemo<AuthState>(
    () => ({
      status,
      ...(me === undefined ? {} : { me }),
      ...(error === undefined ? {} : { error }),
      async signIn(key) {
        try {
          await load(key.trim());
          sessionStorage.removeItem(MINTED_KEY);
        } catch (failure) {
          if (failure instanceof ApiError) setError(failure);
          throw failure;
        }
      },
      signOut() {
        // A key bought with a sign-in link ends with the session; a pasted key is the user's own.
        const minted = sessionStorage.getItem(MINTED_KEY);
        sessionStorage.removeItem(MINTED_KEY);
        if (minted !== null)
          void api(`/v1/keys/${encodeURIComponent(minted)}/revoke`, { method: 'POST' })
            .catch(() => undefined)
            .finally(() => storeKey(undefined));
        else storeKey(undefined);
      },
      can(ability) {
        const scopes: readonly Scope[] = ABILITIES[ability];
        return me?.scopes.some((scope) => scopes.includes(scope)) ?? false;
      },
    }),
    [status, me, error, load],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const auth = useContext(AuthContext);
  if (auth === undefined) throw new Error('useAuth outside <AuthProvider>');
  return auth;
}
