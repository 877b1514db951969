import { Page } from '../components/Page';

export default function Approvals() {
  return (
    <Page title="Approvals">
      <p className="muted">Not built yet.</p>
    </Page>
  );
}
