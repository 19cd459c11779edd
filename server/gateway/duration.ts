// google.protobuf.Duration in proto3 JSON: decimal seconds with an `s` suffix ("1.5s", "15s", "0.250s").
// https://protobuf.dev/programming-guides/proto3/#json

/** Milliseconds of a proto3 JSON Duration; `fallback` when absent; throws on a malformed value. */
export function durationMs(value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(value)) {
    throw new Error(`invalid duration ${JSON.stringify(value)}`);
  }
  return Math.round(Number(value.slice(0, -1)) * 1000);
}
