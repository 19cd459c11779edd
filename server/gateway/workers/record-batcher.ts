// Request records leave a worker thread in batches: one message per 256 records or per 50 ms, not per request.
import type { GatewayRequestRecord } from '../telemetry.ts';

const maxBatch = 256;
const maxDelayMs = 50;

export class RecordBatcher {
  private batch: GatewayRequestRecord[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly send: (batch: GatewayRequestRecord[]) => void) {}

  add(record: GatewayRequestRecord): void {
    this.batch.push(record);
    if (this.batch.length >= maxBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), maxDelayMs);
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.send(batch);
  }
}
