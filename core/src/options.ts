import { Option } from 'commander';
import type { Command } from 'commander';
import { booleanForms, booleanWord } from './config.js';
import { FathomError } from './errors.js';

/** A commander switch that is also written `--x true|false`, `--x=true|false` and `--no-x`. */
export class BooleanOption extends Option {
  constructor(flag: `--${string}`, description: string) {
    super(flag, description);
  }

  /** The hidden `--no-x` that goes with it. */
  negation(): Option {
    return new Option(`--no-${this.name()}`).hideHelp();
  }
}

export function addBooleanOption(command: Command, flag: `--${string}`, description: string): Command {
  const option = new BooleanOption(flag, description);
  return command.addOption(option).addOption(option.negation());
}

/** The help term of a BooleanOption shows the value it can take. */
export function booleanOptionTerm(option: Option): string | undefined {
  return option instanceof BooleanOption ? `${option.flags} [true|false]` : undefined;
}

/**
 * Commander reads a switch as `--x` and `--no-x` only: rewrites `--x true|false` and
 * `--x=true|false` into those, for the switches of the subcommand argv names, up to `--`.
 */
export function normalizeBooleanArgs(program: Command, argv: readonly string[]): string[] {
  const [node, script, name, ...rest] = argv;
  const command = program.commands.find((candidate) => candidate.name() === name || candidate.aliases().includes(name ?? ''));
  if (!command || node === undefined || script === undefined || name === undefined) return [...argv];
  const switches = new Set(command.options.filter((option) => option instanceof BooleanOption).map((option) => option.name()));
  const out: string[] = [node, script, name];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--') {
      out.push(...rest.slice(i));
      break;
    }
    const [flag, inline] = arg.startsWith('--') ? (arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]) : [''];
    if (!switches.has(flag)) {
      out.push(arg);
      continue;
    }
    let value: boolean | undefined = true;
    if (inline !== undefined) {
      value = booleanWord(inline);
      if (value === undefined) {
        throw new FathomError('invalid_argument', `Option --${flag} takes true or false (got "${inline}")`, { hint: `Write ${booleanForms(flag)}.` });
      }
    } else if (rest[i + 1] !== undefined && booleanWord(rest[i + 1]!) !== undefined) {
      value = booleanWord(rest[++i]!);
    }
    out.push(value ? `--${flag}` : `--no-${flag}`);
  }
  return out;
}
