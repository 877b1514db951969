/**
 * Approve and Reject buttons of one pending approval, each asking for confirmation with an
 * optional comment (recorded as the decision's reason; on a rejection the model sees it). Shown
 * only to keys that may decide approvals.
 */
import { useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { useAuth } from '../auth';
import { Confirm } from './Confirm';

export function ApprovalDecision({
  approvalId,
  tool,
  onDecided,
}: {
  approvalId: string;
  tool: string;
  onDecided?: () => void;
}) {
  const { can } = useAuth();
  const queryClient = useQueryClient();
  if (!can('decideApprovals')) return null;
  const decide = (decision: 'approve' | 'reject') => async (comment: string) => {
    const reason = comment.trim();
    await api(`/v1/approvals/${encodeURIComponent(approvalId)}`, {
      method: 'POST',
      body: { decision, ...(reason === '' ? {} : { reason }) },
    });
    await queryClient.invalidateQueries({ queryKey: ['approvals'] });
    onDecided?.();
  };
  return (
    <div className="approval-actions">
      <Confirm
        label="Approve"
        className="primary"
        question={`Approve the call to ${tool}? The run resumes and makes it.`}
        input={{ label: 'Comment (optional)' }}
        onConfirm={decide('approve')}
      />
      <Confirm
        label="Reject"
        danger
        question={`Reject the call to ${tool}? The run resumes without it; the model sees your comment.`}
        input={{ label: 'Comment (optional)' }}
        onConfirm={decide('reject')}
      />
    </div>
  );
}
