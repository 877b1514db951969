import { ApiError } from '../api/client';

/** An error as the console shows it: the API's code and message, never a blank page. */
export function ErrorView({ error, title = 'Something went wrong' }: { error: unknown; title?: string }) {
  const apiError = error instanceof ApiError ? error : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="error" role="alert">
      <strong>{title}</strong>
      <p>
        {apiError !== undefined && <code className="error-code">{apiError.code}</code>} {message}
      </p>
      {apiError?.requestId !== undefined && <p className="muted">Request id: {apiError.requestId}</p>}
    </div>
  );
}
