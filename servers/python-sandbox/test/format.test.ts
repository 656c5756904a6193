import { describe, expect, it } from 'vitest';
import type { CellOutput, KernelOutcome } from '../src/backends/types.js';
import { cellReport, describeBefore, describeStop, executionRepr, kernelLostError, shellReport } from '../src/format.js';

const restarted = (stop: KernelOutcome['stop'], files: KernelOutcome['files'] = 'kept'): KernelOutcome => ({ kernel: 'restarted', files, stop });
const empty = { text: '', bytes: 0 };
const cell = (parts: Partial<CellOutput> = {}): CellOutput => ({ stdout: empty, stderr: empty, figures: [], files: [], timedOut: false, ...parts });

describe('one wording for every backend', () => {
  it('says what stopped a run and what a fresh kernel keeps', () => {
    const kept = 'A fresh kernel was started: variables and imports are gone; files in /home/user are kept.';
    expect(describeStop(restarted({ cause: 'time_limit', limitMs: 1500 }))).toBe(`The run exceeded its 1.5 s time limit and was stopped. ${kept}`);
    expect(describeStop(restarted({ cause: 'cancelled' }))).toBe(`The run was cancelled. ${kept}`);
    expect(describeStop(restarted({ cause: 'memory', limitMb: 256 }))).toBe(`The run used more than the sandbox's 256 MB of memory and was killed. ${kept}`);
    expect(describeStop(restarted({ cause: 'disk_quota', limitMb: 64 }))).toBe(`The workspace went over its 64 MB quota, so the run was stopped. ${kept}`);
    expect(describeStop(restarted({ cause: 'channel_overflow', limitMb: 32 }))).toBe(
      `The kernel's answer grew past 32 MB without ending (something in the sandbox wrote to the kernel's own channel), so it was stopped. ${kept}`,
    );
    expect(describeStop(restarted({ cause: 'died', how: 'was killed by SIGKILL' }))).toBe(`The Python kernel was killed by SIGKILL during the run. ${kept}`);
  });

  it('says so when the files went with the kernel', () => {
    expect(describeStop({ ...restarted({ cause: 'time_limit', limitMs: 1000 }, 'lost'), ignoredInterrupt: true })).toBe(
      'The run exceeded its 1 s time limit and did not stop when interrupted. A fresh kernel was started: variables and imports are gone, and so are the files in /home/user.',
    );
    expect(describeBefore(restarted({ cause: 'died', how: 'exited with code 1' }, 'lost'))).toBe(
      'The Python kernel exited with code 1 after the previous call; variables and imports were lost before this run, and so were the files in /home/user.',
    );
    expect(kernelLostError('/home/user/a.txt', restarted({ cause: 'died', how: 'ran out of memory' }, 'lost')).message).toBe(
      'The sandbox could not handle /home/user/a.txt: its kernel ran out of memory. Its kernel was restarted (variables are gone, and so are the files in /home/user).',
    );
  });

  it('words a kernel lost between calls, and a file operation that cost the kernel', () => {
    expect(describeBefore(restarted({ cause: 'died', how: 'was killed by SIGKILL' }))).toBe(
      'The Python kernel was killed by SIGKILL after the previous call; variables and imports were lost before this run.',
    );
    const error = kernelLostError('/home/user/x', restarted({ cause: 'unresponsive' }));
    expect(error).toMatchObject({ code: 'unavailable', hint: 'Try again.' });
    expect(error.message).toBe('The sandbox could not handle /home/user/x: it did not answer. Its kernel was restarted (variables are gone, files are kept).');
    expect(kernelLostError('/home/user/x', restarted({ cause: 'channel_overflow', limitMb: 32 })).message).toContain('its answer channel overflowed.');
  });

  it('turns the interrupt of a run its kernel survived into the error of what stopped it', () => {
    const interrupt = { name: 'KeyboardInterrupt', value: '', traceback: 'Traceback (most recent call last):\n  File "<cell-3>", line 2, in <module>\nKeyboardInterrupt\n' };
    const report = cellReport(cell({ error: interrupt, timedOut: true, stopped: { kernel: 'kept', files: 'kept', stop: { cause: 'time_limit', limitMs: 2000 } } }));
    const value = 'The run exceeded its 2 s time limit and was interrupted: the rest of the cell did not run. The Python kernel is still alive: variables and imports from earlier cells are kept.';
    expect(report).toEqual({ error: { name: 'TimeoutError', value, traceback: `Traceback (most recent call last):\n  File "<cell-3>", line 2, in <module>\nTimeoutError: ${value}\n` } });
    const cancelled = cellReport(cell({ timedOut: true, stopped: { kernel: 'kept', files: 'kept', stop: { cause: 'cancelled' } } }));
    expect(cancelled.error).toMatchObject({ name: 'CancelledError', traceback: '' });
    const caught = { name: 'ValueError', value: 'later', traceback: 'ValueError: later\n' };
    expect(cellReport(cell({ error: caught, stopped: { kernel: 'kept', files: 'kept', stop: { cause: 'cancelled' } } })).error).toBe(caught);
  });

  it('gives the MiroThinker profile the same sentences inside its Execution text', () => {
    const stopped = restarted({ cause: 'time_limit', limitMs: 1000 });
    expect(executionRepr(cell({ timedOut: true, stopped }))).toBe(
      `Execution(Results: [], Logs: Logs(stdout: [], stderr: []), Error: ExecutionError(name='TimeoutError', value='${describeStop(stopped)}', traceback=''))`,
    );
    expect(executionRepr(cell({ stopped: restarted({ cause: 'died', how: 'exited with code 1' }) }))).toContain("name='KernelDiedError'");
    expect(shellReport({ exitCode: -1, stdout: empty, stderr: empty, timedOut: false, before: restarted({ cause: 'died', how: 'exited with code 9' }) })).toEqual({
      notice: 'The Python kernel exited with code 9 after the previous call; variables and imports were lost before this run.',
    });
  });
});
