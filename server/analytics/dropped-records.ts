/** Why a data plane's request record was not counted; a closed set, so the metric's labels stay bounded. */
export type DropReason =
  | 'unknown_api'
  | 'unknown_plan'
  | 'unknown_application'
  | 'node_mismatch'
  | 'minute_key_cap'
  | 'backlog_full'
  | 'out_of_window';

/** Request records dropped since start, by reason (rendered as `apip_analytics_records_dropped_total`). */
export class DroppedRecords {
  private readonly counts = new Map<DropReason, number>();

  add(reason: DropReason, records: number): void {
    if (records > 0) this.counts.set(reason, (this.counts.get(reason) ?? 0) + records);
  }

  count(reason: DropReason): number {
    return this.counts.get(reason) ?? 0;
  }

  entries(): [DropReason, number][] {
    return [...this.counts].sort(([a], [b]) => a.localeCompare(b));
  }
}
