import { Page } from '../components/Page';

export default function Sessions() {
  return (
    <Page title="Sessions">
      <p className="muted">Not built yet.</p>
    </Page>
  );
}
