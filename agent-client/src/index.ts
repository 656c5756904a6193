export * from './types.js';
export * from './agent.js';
export * from './loop.js';
export { ModelClient } from './llm.js';
export { Connections } from './mcp.js';
export { defaultAgentConfig, loadAgentConfig, modelSettings } from './config.js';
export * from './protocol/index.js';
