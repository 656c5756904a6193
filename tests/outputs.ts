import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { JsonSchemaType, JsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';

export interface OutputChecker {
  /** A real call; a result that is not an error must carry structuredContent valid against the tool's advertised outputSchema. */
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** The tools with an outputSchema that no successful call has checked yet. */
  unchecked(): string[];
}

/**
 * Checks tool results against the outputSchema each tool advertises in tools/list, with a JSON
 * Schema validator of its own (not the zod schema behind it), as a host would.
 */
export async function outputChecker(client: Client, timeout = 120_000): Promise<OutputChecker> {
  const { tools } = await client.listTools();
  const ajv = new AjvJsonSchemaValidator();
  const validators = new Map<string, JsonSchemaValidator<unknown>>();
  for (const tool of tools) if (tool.outputSchema) validators.set(tool.name, ajv.getValidator(tool.outputSchema as JsonSchemaType));
  const checked = new Set<string>();
  return {
    async call(name, args = {}) {
      const result = (await client.callTool({ name, arguments: args }, undefined, { timeout })) as CallToolResult;
      const validate = validators.get(name);
      if (validate && !result.isError) {
        if (result.structuredContent === undefined) throw new Error(`${name} advertises an outputSchema but returned no structuredContent`);
        const verdict = validate(result.structuredContent);
        if (!verdict.valid) {
          throw new Error(`${name}: structuredContent breaks its outputSchema: ${verdict.errorMessage}\n${JSON.stringify(result.structuredContent).slice(0, 2000)}`);
        }
        checked.add(name);
      }
      return result;
    },
    unchecked: () => [...validators.keys()].filter((name) => !checked.has(name)),
  };
}
