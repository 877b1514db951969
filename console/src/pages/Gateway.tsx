import { Page } from '../components/Page';

export default function Gateway() {
  return (
    <Page title="Gateway">
      <p className="muted">Not built yet.</p>
    </Page>
  );
}
