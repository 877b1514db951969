import { Page } from '../components/Page';

export default function RunDetail() {
  return (
    <Page title="Run">
      <p className="muted">Not built yet.</p>
    </Page>
  );
}
