// Structured logs: one JSON object per line on stderr (stdout is reserved for --stdout snapshots).
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  (level: Level, event: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  return (level, event, fields = {}) => {
    const entry: Record<string, unknown> = { ts: new Date().toISOString(), level, event, ...fields };
    if (fields.error instanceof Error) entry.error = fields.error.message;
    write(JSON.stringify(entry) + '\n');
  };
}

export const silentLogger: Logger = () => undefined;
