/**
 * Approve and Reject buttons of one pending approval, each asking for confirmation with an
 * optional comment (recorded as the decision's reason). A tool approval: the run resumes with or
 * without the call (on a rejection the model sees the comment). A budget extension: approving
 * raises the budget and the run makes its call; rejecting ends the run with stop reason `budget`.
 * Shown only to keys that may decide it (a budget extension: `admin`, as it changes a budget).
 */
import { useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { useAuth } from '../auth';
import type { Approval } from '../pages/chat-api';
import { Confirm } from './Confirm';

/** What the confirmation dialogs say, per kind of approval. */
function questions(kind: Approval['kind'], tool: string): { approve: string; reject: string } {
  if (kind === 'budget_extension')
    return {
      approve: `Extend ${tool}? Its limit is raised by what the held call needs, and the run resumes and makes the call.`,
      reject: `Refuse to extend ${tool}? The run ends with stop reason budget; your comment is kept with the decision.`,
    };
  return {
    approve: `Approve the call to ${tool}? The run resumes and makes it.`,
    reject: `Reject the call to ${tool}? The run resumes without it; the model sees your comment.`,
  };
}

export function ApprovalDecision({
  approvalId,
  kind,
  tool,
  onDecided,
}: {
  approvalId: string;
  kind: Approval['kind'];
  tool: string;
  onDecided?: () => void;
}) {
  const { can } = useAuth();
  const queryClient = useQueryClient();
  if (!can('decideApprovals')) return null;
  if (kind === 'budget_extension' && !can('admin'))
    return <p className="muted">A budget extension is decided with an admin key (it raises the budget).</p>;
  const decide = (decision: 'approve' | 'reject') => async (comment: string) => {
    const reason = comment.trim();
    await api(`/v1/approvals/${encodeURIComponent(approvalId)}`, {
      method: 'POST',
      body: { decision, ...(reason === '' ? {} : { reason }) },
    });
    await queryClient.invalidateQueries({ queryKey: ['approvals'] });
    onDecided?.();
  };
  const { approve, reject } = questions(kind, tool);
  return (
    <div className="approval-actions">
      <Confirm
        label="Approve"
        className="primary"
        question={approve}
        input={{ label: 'Comment (optional)' }}
        onConfirm={decide('approve')}
      />
      <Confirm
        label="Reject"
        danger
        question={reject}
        input={{ label: 'Comment (optional)' }}
        onConfirm={decide('reject')}
      />
    </div>
  );
}
