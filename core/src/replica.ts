import { hostname } from 'node:os';
import { FathomError } from './errors.js';

/**
 * Replicas behind a balancer. Every id a replica hands out that names state it holds (a 2025-era
 * MCP session id, a sandbox id, a browser context id) starts with the replica's name and a dot:
 * `<replica>.<rest>`. A balancer can route on it, and a replica that receives an id another one
 * handed out says so instead of answering "not found".
 */
export const REPLICA_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The name of a replica not given one with --replica-id: the host name (characters other than
 * letters, digits, - and _ made -) and the HTTP port, or `pid<pid>` without one (stdio, in-process).
 * Stable across restarts on the same host and port, unique among the replicas of one host.
 */
export function defaultReplicaId(port?: number): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'host';
  return `${host}-${port ?? `pid${process.pid}`}`;
}

/** This process's replica: the configured name (the HTTP host sets the default once it listens), else the per-process default. */
export function replicaOf(config: { replicaId?: string | undefined }): string {
  return config.replicaId ?? defaultReplicaId();
}

/** `id` as this replica hands it out. */
export function withReplica(replica: string, id: string): string {
  return `${replica}.${id}`;
}

/** The replica an id names, if it names one. */
export function replicaNamedBy(id: string): string | undefined {
  const dot = id.indexOf('.');
  if (dot <= 0) return undefined;
  const named = id.slice(0, dot);
  return REPLICA_PATTERN.test(named) ? named : undefined;
}

/** The other replica `id` names, when it names one that is not `replica`. */
export function foreignReplica(id: string, replica: string): string | undefined {
  const named = replicaNamedBy(id);
  return named !== undefined && named !== replica ? named : undefined;
}

/**
 * What to say of an id another replica handed out: `what` names it ("Session x", "Sandbox y"),
 * `held` what went with that replica if it stopped ("its sandboxes").
 */
export function wrongReplicaText(what: string, named: string, replica: string, held: string): string {
  return (
    `${what} was opened on replica ${named}; this is replica ${replica}: the balancer sent the request elsewhere ` +
    `(the replica may have stopped, and ${held} with it: the state is lost)`
  );
}

/** The tool error for an id another replica handed out: code `wrong_replica`. */
export function wrongReplicaError(what: string, named: string, replica: string, held: string, hint: string): FathomError {
  return new FathomError('wrong_replica', wrongReplicaText(what, named, replica, held), { hint, details: { replica: named, this_replica: replica } });
}
