import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino blanks wherever they appear in a log record: credentials never reach logs. */
const redactPaths = [
  'password',
  '*.password',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
];

export interface LoggerOptions {
  /** @default 'info' */
  level?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({ level: options.level ?? 'info', redact: { paths: redactPaths, censor: '[redacted]' } });
}
