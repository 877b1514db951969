/**
 * What an operator can do to a run, each shown only when the key may do it and the run is in a
 * state where it makes sense, each confirmed first and audited by the API: cancel (a run not yet
 * ended), commit or reject its outcome (an ended run without one), leave feedback.
 */
import { useId, useState } from 'react';
import { api } from '../api/client';
import { useAuth } from '../auth';
import { Confirm } from '../components/Confirm';
import { TERMINAL, type Run } from './runs-api';

export function RunActions({ run, onChanged }: { run: Run; onChanged(): void }) {
  const { can } = useAuth();
  if (!can('writeRuns')) return null;
  const path = `/v1/runs/${encodeURIComponent(run.id)}`;
  const ended = TERMINAL.has(run.status);
  const decide = (status: 'committed' | 'rejected') => async () => {
    await api(`${path}/outcome`, { method: 'POST', body: { status } });
    onChanged();
  };
  return (
    <>
      {!ended && (
        <Confirm
          label="Cancel run"
          danger
          question={`Cancel run ${run.id}? It stops at its next step.`}
          confirmLabel="Cancel the run"
          onConfirm={async () => {
            await api(`${path}/cancel`, { method: 'POST' });
            onChanged();
          }}
        />
      )}
      {ended && (run.outcome === null || run.outcome === undefined) && (
        <>
          <Confirm
            label="Commit outcome"
            className="primary"
            question={`Commit the result of run ${run.id}? This is final.`}
            onConfirm={decide('committed')}
          />
          <Confirm
            label="Reject outcome"
            danger
            question={`Reject the result of run ${run.id}? This is final.`}
            onConfirm={decide('rejected')}
          />
        </>
      )}
    </>
  );
}

/** Thumbs, a 0-1 score and a comment, sent as one piece of feedback after a confirmation. */
export function FeedbackForm({ runId, onSent }: { runId: string; onSent(): void }) {
  const { can } = useAuth();
  const id = useId();
  const [thumbs, setThumbs] = useState<'' | 'up' | 'down'>('');
  const [score, setScore] = useState('');
  const [comment, setComment] = useState('');
  if (!can('writeRuns')) return null;
  const scoreValue = score === '' ? undefined : Number(score);
  const scoreValid = scoreValue === undefined || (scoreValue >= 0 && scoreValue <= 1);
  const empty = thumbs === '' && score === '' && comment.trim() === '';
  const body = {
    ...(thumbs === '' ? {} : { thumbs }),
    ...(scoreValue === undefined ? {} : { score: scoreValue }),
    ...(comment.trim() === '' ? {} : { comment: comment.trim() }),
  };
  return (
    <fieldset className="feedback-form">
      <legend>Leave feedback</legend>
      <div className="thumbs" role="radiogroup" aria-label="Thumbs">
        {(['up', 'down'] as const).map((value) => (
          <label key={value}>
            <input
              type="radio"
              name={`${id}-thumbs`}
              value={value}
              checked={thumbs === value}
              onChange={() => setThumbs(value)}
            />
            {value === 'up' ? 'Thumbs up' : 'Thumbs down'}
          </label>
        ))}
      </div>
      <p>
        <label htmlFor={`${id}-score`}>Score (0 to 1)</label>
        <input
          id={`${id}-score`}
          type="number"
          min={0}
          max={1}
          step={0.05}
          value={score}
          aria-invalid={!scoreValid}
          onChange={(event) => setScore(event.target.value)}
        />
      </p>
      <p>
        <label htmlFor={`${id}-comment`}>Comment</label>
        <textarea
          id={`${id}-comment`}
          rows={2}
          maxLength={4000}
          value={comment}
          onChange={(event) => setComment(event.target.value)}
        />
      </p>
      <Confirm
        label="Send feedback"
        className="primary"
        disabled={empty || !scoreValid}
        question={`Send this feedback on run ${runId}?`}
        onConfirm={async () => {
          await api(`/v1/runs/${encodeURIComponent(runId)}/feedback`, { method: 'POST', body });
          setThumbs('');
          setScore('');
          setComment('');
          onSent();
        }}
      />
    </fieldset>
  );
}
