import { FathomError } from './errors.js';

/**
 * Replicas behind a balancer. A server given a name with --replica-id starts every id it hands out
 * that names state it holds (a 2025-era MCP session id, a sandbox id, a browser context id) with
 * that name and a dot: `<replica>.<rest>`. A balancer can route on it, and a replica that receives
 * an id another one handed out says so instead of answering "not found". A server without a name
 * hands out its ids as they are.
 */
export const REPLICA_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** `id` as this replica hands it out (as it is when the server has no replica name). */
export function withReplica(replica: string | undefined, id: string): string {
  return replica === undefined ? id : `${replica}.${id}`;
}

/** The replica an id names, if it names one. */
export function replicaNamedBy(id: string): string | undefined {
  const dot = id.indexOf('.');
  if (dot <= 0) return undefined;
  const named = id.slice(0, dot);
  return REPLICA_PATTERN.test(named) ? named : undefined;
}

/** The other replica `id` names, when this server is a named replica and `id` names another. */
export function foreignReplica(id: string, replica: string | undefined): string | undefined {
  if (replica === undefined) return undefined;
  const named = replicaNamedBy(id);
  return named !== undefined && named !== replica ? named : undefined;
}

/**
 * What to say of an id another replica handed out: `what` names it ("Session x", "Sandbox y"),
 * `held` what went with that replica if it stopped ("its sandboxes").
 */
export function wrongReplicaText(what: string, named: string, replica: string | undefined, held: string): string {
  return (
    `${what} was opened on replica ${named}; this is replica ${replica}: the balancer sent the request elsewhere ` +
    `(the replica may have stopped, and ${held} with it: the state is lost)`
  );
}

/** The tool error for an id another replica handed out: code `wrong_replica`. */
export function wrongReplicaError(what: string, named: string, replica: string | undefined, held: string, hint: string): FathomError {
  return new FathomError('wrong_replica', wrongReplicaText(what, named, replica, held), { hint, details: { replica: named, this_replica: replica } });
}
