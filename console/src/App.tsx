/**
 * The console's routes. Every page is its own chunk (`lazy`), so the first page loads only what
 * it shows; the frame (navigation, sign-in) is in the entry chunk.
 */
import { lazy } from 'react';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { useAuth } from './auth';
import { Layout } from './Layout';
import { Loading } from './components/Page';
import SignIn from './pages/SignIn';
import { NotFound } from './pages/NotFound';

const Overview = lazy(() => import('./pages/Overview'));
const Runs = lazy(() => import('./pages/Runs'));
const RunDetail = lazy(() => import('./pages/RunDetail'));
const Approvals = lazy(() => import('./pages/Approvals'));
const Sessions = lazy(() => import('./pages/Sessions'));
const SessionDetail = lazy(() => import('./pages/SessionDetail'));
const Playground = lazy(() => import('./pages/Playground'));
const Controls = lazy(() => import('./pages/Controls'));
const Gateway = lazy(() => import('./pages/Gateway'));
const Evals = lazy(() => import('./pages/Evals'));
const EvalDetail = lazy(() => import('./pages/EvalDetail'));

const router = createBrowserRouter([
  {
    path: '/',
    element: <Layout />,
    children: [
      { index: true, element: <Overview /> },
      { path: 'runs', element: <Runs /> },
      { path: 'runs/:id', element: <RunDetail /> },
      { path: 'approvals', element: <Approvals /> },
      { path: 'sessions', element: <Sessions /> },
      { path: 'sessions/:id', element: <SessionDetail /> },
      { path: 'evals', element: <Evals /> },
      { path: 'evals/:id', element: <EvalDetail /> },
      { path: 'playground', element: <Playground /> },
      { path: 'controls', element: <Controls /> },
      { path: 'gateway', element: <Gateway /> },
      { path: '*', element: <NotFound /> },
    ],
  },
]);

export function App() {
  const { status } = useAuth();
  if (status === 'loading') return <Loading what="Signing in" />;
  if (status === 'signed-out') return <SignIn />;
  return <RouterProvider router={router} />;
}
