import { useId, useState } from 'react';
import { useAuth } from '../auth';
import { ErrorView } from '../components/ErrorView';

/** Paste an API key, or follow the one-time link `keel serve` prints. */
export default function SignIn() {
  const { signIn, error } = useAuth();
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const keyId = useId();
  return (
    <main className="sign-in" id="main">
      <h1>Keel console</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          setBusy(true);
          signIn(key)
            .catch(() => undefined)
            .finally(() => setBusy(false));
        }}
      >
        <label htmlFor={keyId}>API key</label>
        <input
          id={keyId}
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="keel_sk_…"
          value={key}
          required
          onChange={(event) => setKey(event.target.value)}
        />
        <button type="submit" className="primary" disabled={busy || key.trim() === ''}>
          Sign in
        </button>
        {error !== undefined && <ErrorView error={error} title="Not signed in" />}
      </form>
      <p className="muted">
        The key is kept in this tab only (session storage). On the embedded database, <code>keel serve</code>{' '}
        prints a one-time sign-in link at start; <code>keel keys create --scopes runs:read</code> makes a
        read-only key.
      </p>
    </main>
  );
}
