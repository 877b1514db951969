import { Suspense } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import { useAuth } from './auth';
import { ErrorBoundary } from './components/ErrorBoundary';
import { Loading } from './components/Page';

const NAV = [
  { to: '/', label: 'Overview', end: true },
  { to: '/runs', label: 'Runs' },
  { to: '/approvals', label: 'Approvals' },
  { to: '/sessions', label: 'Sessions' },
  { to: '/evals', label: 'Evals' },
  { to: '/playground', label: 'Playground' },
  { to: '/controls', label: 'Controls' },
  { to: '/gateway', label: 'Gateway' },
] as const;

/** The frame of every page: skip link, navigation, who is signed in, the page. */
export function Layout() {
  const { me, signOut } = useAuth();
  const { pathname } = useLocation();
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Keel</span>
        <nav aria-label="Console">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <NavLink to={item.to} end={'end' in item ? item.end : false}>
                  {item.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span title={me?.scopes.join(', ')}>
            {me?.name || me?.prefix} · tenant <strong>{me?.tenant_id}</strong>
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary resetKey={pathname}>
          <Suspense fallback={<Loading />}>
            <Outlet />
          </Suspense>
        </ErrorBoundary>
      </main>
    </div>
  );
}
