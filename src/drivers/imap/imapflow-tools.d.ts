// imapflow's own path and date helpers (exported as imapflow/lib/tools.js, untyped).
declare module 'imapflow/lib/tools.js' {
  export function encodePath(connection: unknown, path: string): string;
  export function normalizePath(connection: unknown, path: string, skipNamespace?: boolean): string;
  export function formatDateTime(value: Date): string | undefined;
}
