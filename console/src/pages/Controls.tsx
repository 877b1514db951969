import { Page } from '../components/Page';

export default function Controls() {
  return (
    <Page title="Controls">
      <p className="muted">Not built yet.</p>
    </Page>
  );
}
