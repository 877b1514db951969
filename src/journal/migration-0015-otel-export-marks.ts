import type { Migration } from './migrations.js';

/**
 * How far a run's spans were exported to OpenTelemetry (issue 9, build 4).
 *
 * Spans are built from committed journal rows and exported in batches after the fact; a worker
 * killed between a commit and the export would lose them. After each accepted export the
 * exporter records, per run, `otel_exported_seq` (every finished step at or below it has been
 * exported) and `otel_exported_above` (finished steps above it that were exported too: parallel
 * tool calls finish out of order). The worker that resumes the run re-emits the finished steps
 * neither covers. Both null until a run's first export; nothing on the run's own path writes them.
 */
export const otelExportMarksMigration: Migration = {
  version: 15,
  name: 'otel_export_marks',
  up: (schema) => `
    ALTER TABLE ${schema}.runs ADD COLUMN otel_exported_seq integer, ADD COLUMN otel_exported_above integer[];
  `,
};
