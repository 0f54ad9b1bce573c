// Structured logs through the shared logger (@tma/logging): one JSON object per line with time, level, component
// and msg, on stderr (stdout is reserved for --stdout snapshots). The event name is the msg; it is also kept as
// `event`, the field the agent's log readers match on.
import { createLogger } from '@tma/logging';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  (level: Level, event: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const logger = createLogger({ component: 'edge-agent', destination: { write } });
  return (level, event, fields = {}) => logger[level]({ event, ...fields }, event);
}

export const silentLogger: Logger = () => undefined;
