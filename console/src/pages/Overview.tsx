import { Page } from '../components/Page';

export default function Overview() {
  return (
    <Page title="Overview">
      <p className="muted">Not built yet.</p>
    </Page>
  );
}
