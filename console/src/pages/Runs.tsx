import { Page } from '../components/Page';

export default function Runs() {
  return (
    <Page title="Runs">
      <p className="muted">Not built yet.</p>
    </Page>
  );
}
