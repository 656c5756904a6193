import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';

// Node's built-in SQLite (node:sqlite: a release candidate from Node 24.15, which loads it without
// the ExperimentalWarning that 24.14 and older print, so Fathom requires 24.15) under
// the few conveniences Fathom's stores use: typed statements, a prepared-statement cache and
// transactions that nest as savepoints. No native addon to build.

export type { DatabaseSync } from 'node:sqlite';

/** A prepared statement typed by its parameters and its row. */
export interface Statement<P extends unknown[] = unknown[], R = unknown> {
  get(...params: P): R | undefined;
  all(...params: P): R[];
  run(...params: P): { changes: number; lastInsertRowid: number };
}

export interface OpenSqliteOptions {
  readOnly?: boolean;
  /** How long a write waits for another connection's lock, in ms. Default 5000. */
  timeoutMs?: number;
}

/**
 * Opens (or creates) a database file, or ':memory:'. Writable databases use WAL with NORMAL
 * synchronisation, so readers in other processes never block the writer.
 */
export function openSqlite(path: string, { readOnly = false, timeoutMs = 5000 }: OpenSqliteOptions = {}): DatabaseSync {
  const db = new DatabaseSync(path, { readOnly, timeout: timeoutMs });
  try {
    if (!readOnly) {
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
    }
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(timeoutMs))}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** Prepares `text` once per database and hands back the same statement after that. */
export class StatementCache {
  private readonly statements = new Map<string, StatementSync>();
  constructor(private readonly db: DatabaseSync) {}

  sql<P extends unknown[] = unknown[], R = unknown>(text: string): Statement<P, R> {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement as unknown as Statement<P, R>;
  }
}

/** Typed view of a statement prepared directly. */
export function prepare<P extends unknown[] = unknown[], R = unknown>(db: DatabaseSync, text: string): Statement<P, R> {
  return db.prepare(text) as unknown as Statement<P, R>;
}

let savepoints = 0;

/**
 * Runs `fn` in a transaction: committed when it returns, rolled back when it throws. `immediate`
 * takes the write lock at the start (BEGIN IMMEDIATE), so two writers queue on the busy timeout
 * instead of failing on a lock upgrade. Inside another transaction it runs as a savepoint.
 */
export function transaction<T>(db: DatabaseSync, fn: () => T, { immediate = false }: { immediate?: boolean } = {}): T {
  if (db.isTransaction) {
    const name = `fathom_${++savepoints}`;
    db.exec(`SAVEPOINT ${name}`);
    try {
      const result = fn();
      db.exec(`RELEASE ${name}`);
      return result;
    } catch (error) {
      db.exec(`ROLLBACK TO ${name}`);
      db.exec(`RELEASE ${name}`);
      throw error;
    }
  }
  db.exec(immediate ? 'BEGIN IMMEDIATE' : 'BEGIN');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

/** A BLOB column's value as a Buffer (node:sqlite returns Uint8Array), without copying. */
export function blobBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`Expected a BLOB, got ${typeof value}`);
}

/** The version of the SQLite library Node is built with. */
export function sqliteVersion(): string {
  const db = new DatabaseSync(':memory:');
  try {
    return (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  } finally {
    db.close();
  }
}

export type { SQLInputValue };
