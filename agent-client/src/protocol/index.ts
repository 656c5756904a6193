export * from './boxed.js';
export * from './parse.js';
export * from './prompt.js';
export * from './results.js';
export * from './retention.js';
export * from './rollback.js';
export * from './tokens.js';
export * from './tolerance.js';
