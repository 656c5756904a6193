import { baseConfigSchema } from '@fathom/core';
import { z } from 'zod';

export const configSchema = baseConfigSchema.extend({
  backend: z
    .enum(['auto', 'bwrap', 'pyodide', 'e2b'])
    .default('auto')
    .describe('Where code runs: auto (bwrap where bubblewrap works, else pyodide), bwrap, pyodide or e2b'),
  python: z.string().default('/usr/bin/python3').describe('Python interpreter for the bwrap backend'),
  stateDir: z.string().optional().describe('Host folder holding session workspaces (default: a folder under the system temp dir)'),
  maxLiveSessions: z.number().int().min(1).default(16).describe('Most sandboxes alive at once'),
  warmPool: z.number().int().min(0).max(32).default(2).describe('Sandboxes started ahead so create returns at once'),
  sessionTtlSeconds: z.number().int().min(10).default(600).describe('A sandbox unused this long is closed'),
  callTimeoutSeconds: z.number().positive().default(120).describe('Default time limit of one run; the kernel restarts when it is hit'),
  maxCallTimeoutSeconds: z.number().positive().default(600).describe('Largest time limit a call may ask for'),
  memoryMb: z.number().int().min(64).default(2048).describe('Memory per sandbox (all its processes)'),
  maxProcesses: z.number().int().min(8).default(256).describe('Processes and threads per sandbox'),
  cpuSeconds: z.number().int().min(1).default(3600).describe('CPU time per sandbox process'),
  maxFileMb: z.number().int().min(1).default(512).describe('Largest file a sandbox may write'),
  maxOpenFiles: z.number().int().min(16).default(1024).describe('Open files per sandbox process'),
  diskMb: z.number().int().min(1).default(2048).describe('Most megabytes the workspace may hold (a loop-mounted file system of this size when the server is root)'),
  cpus: z.number().positive().default(1).describe('CPUs a sandbox may use during a call (all its processes together; needs cgroups)'),
  idleCpus: z.number().positive().default(0.1).describe('CPUs a sandbox\'s background processes may use between calls'),
  firstUid: z.number().int().min(1000).max(4_294_000_000).default(2_000_000_000).describe('When the server runs as root, each sandbox runs as its own host uid from firstUid to firstUid+65535'),
  tmpMb: z.number().int().min(1).default(256).describe('Size of the private /tmp (memory-backed)'),
  maxOutputChars: z.number().int().min(1000).default(20_000).describe('Output shown per call; the full text is kept in the workspace'),
  maxTransferMb: z.number().int().min(1).default(100).describe('Largest upload, download or export'),
  maxExports: z.number().int().min(1).default(100).describe('Most files one sandbox may export to the host'),
  maxExportMb: z.number().int().min(1).default(1024).describe('Most megabytes one sandbox may export to the host in all'),
  preload: z.array(z.string()).default([]).describe('Modules imported in every new kernel ahead of time, e.g. numpy,pandas'),
  enableDownloadToLocal: z.boolean().default(false).describe('mirothinker profile: list download_file_from_sandbox_to_local'),
  mirothinkerRelease: z
    .enum(['latest', 'v1.0', 'v1.5', '1.7'])
    .default('latest')
    .describe("mirothinker profile: serve tool-python as MiroThinker's latest code does, or as its v1.0 release did (create_sandbox's timeout without a type, made-up sandbox ids refused)"),
  e2bApiKey: z.string().optional().describe('E2B API key for the e2b backend (env E2B_API_KEY)'),
  e2bTemplate: z.string().optional().describe('E2B sandbox template (default: the code-interpreter template)'),
});

export type Config = z.infer<typeof configSchema>;

export const envAliases = { e2bApiKey: ['E2B_API_KEY'] } as const;
