import { Page } from '../components/Page';

export default function Playground() {
  return (
    <Page title="Playground">
      <p className="muted">Not built yet.</p>
    </Page>
  );
}
