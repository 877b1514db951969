import { Page } from '../components/Page';

export default function SessionDetail() {
  return (
    <Page title="Session">
      <p className="muted">Not built yet.</p>
    </Page>
  );
}
