/**
 * A button whose action asks for confirmation first (every change an operator makes from the
 * console does), in a native `<dialog>`: modal, focus kept inside, Escape cancels. An optional
 * text field (a reason, a comment) is passed to the action; the action's error is shown in the
 * dialog with its code.
 */
import { useId, useRef, useState, type ReactNode } from 'react';
import { ErrorView } from './ErrorView';

export interface ConfirmProps {
  /** The button's label. */
  label: string;
  /** What the dialog asks ("Disable tool weather for every agent?"). */
  question: ReactNode;
  /** The confirm button's label (default: the button's). */
  confirmLabel?: string;
  /** Ask for a text (reason, comment) and pass it to `onConfirm`. */
  input?: { label: string; required?: boolean; placeholder?: string };
  danger?: boolean;
  disabled?: boolean;
  className?: string;
  onConfirm(text: string): Promise<unknown>;
}

export function Confirm({
  label,
  question,
  confirmLabel = label,
  input,
  danger = false,
  disabled = false,
  className,
  onConfirm,
}: ConfirmProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const titleId = useId();
  const inputId = useId();
  const close = () => {
    dialog.current?.close();
    setError(undefined);
    setText('');
  };
  return (
    <>
      <button
        type="button"
        className={[danger ? 'danger' : '', className ?? ''].join(' ').trim() || undefined}
        disabled={disabled}
        onClick={() => dialog.current?.showModal()}
      >
        {label}
      </button>
      <dialog ref={dialog} aria-labelledby={titleId} onClose={() => setError(undefined)}>
        <form
          method="dialog"
          onSubmit={(event) => {
            event.preventDefault();
            setBusy(true);
            onConfirm(text)
              .then(close, setError)
              .finally(() => setBusy(false));
          }}
        >
          <h2 id={titleId}>{question}</h2>
          {input !== undefined && (
            <p>
              <label htmlFor={inputId}>{input.label}</label>
              <input
                id={inputId}
                value={text}
                required={input.required}
                placeholder={input.placeholder}
                onChange={(event) => setText(event.target.value)}
              />
            </p>
          )}
          {error !== undefined && <ErrorView error={error} title="Not done" />}
          <div className="actions">
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className={danger ? 'danger' : 'primary'} disabled={busy}>
              {confirmLabel}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
