import { Component, type ReactNode } from 'react';
import { ErrorView } from './ErrorView';

/**
 * Keeps a page's rendering failure (a bug, an answer of an unexpected shape) to that page: the
 * error is shown with its message, the frame and navigation stay, and going to another page
 * (a new `resetKey`) renders again. Without it React would unmount the whole app: a blank page.
 */
export class ErrorBoundary extends Component<{ resetKey: string; children: ReactNode }, { error?: unknown }> {
  override state: { error?: unknown } = {};

  static getDerivedStateFromError(error: unknown): { error: unknown } {
    return { error };
  }

  override componentDidUpdate(previous: { resetKey: string }): void {
    if (previous.resetKey !== this.props.resetKey && this.state.error !== undefined)
      this.setState({ error: undefined });
  }

  override render(): ReactNode {
    if (this.state.error !== undefined)
      return <ErrorView error={this.state.error} title="This page failed to render" />;
    return this.props.children;
  }
}
