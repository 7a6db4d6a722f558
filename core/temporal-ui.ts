import type { Config } from './config';

/** Where the Temporal Web UI shows a run, when TEMPORAL_UI_URL is known. */
export function runUrl(temporal: Pick<Config['temporal'], 'uiUrl' | 'namespace'>, workflowId: string, runId: string): string | undefined {
  if (!temporal.uiUrl) return undefined;
  return `${temporal.uiUrl}/namespaces/${encodeURIComponent(temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
}
