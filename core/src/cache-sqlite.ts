import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BodyEncoding, CacheMeta, CacheStore, PruneResult, StoreStats, StoreWrite, StoredEntry } from './cache-store.js';
import { FathomError, errorMessage } from './errors.js';
import { type DatabaseSync, type Statement, StatementCache, blobBuffer, openSqlite, transaction } from './sqlite.js';

// The cache in one SQLite file (the default): bodies are content-addressed (identical bodies are
// kept once, in `blobs`), entries point at them. Several processes on one machine may share the
// file (WAL; writers queue on the busy timeout). Bodies the Cache compressed are kept compressed
// (`blobs.encoding`; files written before it have no such column and hold plain bodies); an older
// Fathom reading a file this one wrote would read a compressed body as it is, so share a cache
// file only between processes of one version.

const SCHEMA = `
CREATE TABLE IF NOT EXISTS blobs (
  hash TEXT PRIMARY KEY,
  body BLOB NOT NULL,
  size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
  namespace TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  key TEXT NOT NULL,
  blob_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  last_access INTEGER NOT NULL,
  size INTEGER NOT NULL,
  meta TEXT NOT NULL,
  PRIMARY KEY (namespace, key_hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_blob ON entries (blob_hash);
CREATE INDEX IF NOT EXISTS entries_access ON entries (last_access);
`;

interface EntryRow {
  body: Uint8Array;
  encoding: string | null;
  meta: string;
  created_at: number;
  expires_at: number | null;
}

export class SqliteStore implements CacheStore {
  readonly kind = 'sqlite';
  private readonly statements: StatementCache;

  private constructor(
    private readonly db: DatabaseSync,
    readonly location: string,
  ) {
    this.statements = new StatementCache(db);
  }

  static open(path: string): SqliteStore {
    let db: DatabaseSync;
    try {
      if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
      db = openSqlite(path, { timeoutMs: 5000 });
      try {
        db.exec(SCHEMA);
        const columns = db.prepare('PRAGMA table_info(blobs)').all() as Array<{ name: string }>;
        if (!columns.some((column) => column.name === 'encoding')) db.exec('ALTER TABLE blobs ADD COLUMN encoding TEXT');
      } catch (error) {
        db.close();
        throw error;
      }
    } catch (cause) {
      throw new FathomError('unavailable', `Cannot open the cache at ${path}: ${errorMessage(cause)}`, {
        hint: 'Check that the cache directory is writable, or set FATHOM_CACHE_MODE=off.',
        cause,
      });
    }
    return new SqliteStore(db, path);
  }

  async get(namespace: string, keyHash: string, touchAt?: number): Promise<StoredEntry | undefined> {
    const row = this.sql<[string, string], EntryRow>(
      `SELECT b.body, b.encoding, e.meta, e.created_at, e.expires_at FROM entries e JOIN blobs b ON b.hash = e.blob_hash
       WHERE e.namespace = ? AND e.key_hash = ?`,
    ).get(namespace, keyHash);
    if (!row) return undefined;
    if (touchAt !== undefined) this.sql('UPDATE entries SET last_access = ? WHERE namespace = ? AND key_hash = ?').run(touchAt, namespace, keyHash);
    return {
      body: blobBuffer(row.body),
      encoding: (row.encoding ?? 'identity') as BodyEncoding,
      meta: JSON.parse(row.meta) as CacheMeta,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }

  async set(namespace: string, keyHash: string, entry: StoreWrite, now: number): Promise<void> {
    // The blob's hash names its decoded bytes and its encoding, so a body stored both ways is two blobs.
    const blobHash = entry.encoding === 'identity' ? entry.bodyHash : `${entry.encoding}:${entry.bodyHash}`;
    transaction(
      this.db,
      () => {
        this.sql('INSERT OR IGNORE INTO blobs (hash, body, size, encoding) VALUES (?, ?, ?, ?)').run(
          blobHash,
          entry.body,
          entry.body.length,
          entry.encoding === 'identity' ? null : entry.encoding,
        );
        this.sql(
          `INSERT OR REPLACE INTO entries (namespace, key_hash, key, blob_hash, created_at, expires_at, last_access, size, meta)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(namespace, keyHash, entry.keyText, blobHash, entry.createdAt, entry.expiresAt, now, entry.body.length, JSON.stringify(entry.meta));
      },
      { immediate: true },
    );
  }

  async delete(namespace: string, keyHash: string): Promise<boolean> {
    return this.sql('DELETE FROM entries WHERE namespace = ? AND key_hash = ?').run(namespace, keyHash).changes > 0;
  }

  async prune(now: number, maxBytes: number | undefined): Promise<PruneResult> {
    const removed: PruneResult = { entries: 0, blobs: 0, bytes: 0 };
    transaction(
      this.db,
      () => {
        removed.entries += this.sql('DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now).changes;
        const freed = this.sql('DELETE FROM blobs WHERE hash NOT IN (SELECT blob_hash FROM entries) RETURNING size').all() as Array<{ size: number }>;
        removed.blobs += freed.length;
        for (const blob of freed) removed.bytes += blob.size;
        if (maxBytes === undefined) return;
        const oldest = this.sql<[], { namespace: string; key_hash: string; blob_hash: string }>(
          'SELECT namespace, key_hash, blob_hash FROM entries ORDER BY last_access ASC LIMIT 1',
        );
        const deleteEntry = this.sql('DELETE FROM entries WHERE namespace = ? AND key_hash = ?');
        const deleteUnusedBlob = this.sql<[string, string]>(
          'DELETE FROM blobs WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM entries WHERE blob_hash = ?) RETURNING size',
        );
        let bytes = this.storedBytes();
        while (bytes > maxBytes) {
          const victim = oldest.get();
          if (!victim) break;
          removed.entries += deleteEntry.run(victim.namespace, victim.key_hash).changes;
          const blob = deleteUnusedBlob.get(victim.blob_hash, victim.blob_hash) as { size: number } | undefined;
          if (blob) {
            bytes -= blob.size;
            removed.blobs++;
            removed.bytes += blob.size;
          }
        }
      },
      { immediate: true },
    );
    return removed;
  }

  async stats(): Promise<StoreStats> {
    const entries = this.sql<[], { n: number }>('SELECT count(*) AS n FROM entries').get()?.n ?? 0;
    return { entries, bytes: this.storedBytes() };
  }

  async ping(): Promise<void> {
    this.sql('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }

  private sql<P extends unknown[] = unknown[], R = unknown>(text: string): Statement<P, R> {
    return this.statements.sql<P, R>(text);
  }

  private storedBytes(): number {
    return this.sql<[], { bytes: number | null }>('SELECT sum(size) AS bytes FROM blobs').get()?.bytes ?? 0;
  }
}
